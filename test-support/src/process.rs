//! The daemons as separate processes, built by Cargo next to the tests: for what an in-process
//! daemon cannot show (process-wide settings such as telemetry or proxy variables, and SIGTERM).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A binary of the workspace, built by Cargo into the same profile directory as the running test
/// (`target/<profile>/`, one up from the test's own `deps/`).
///
/// Cargo builds a package's binaries only for that package's own integration tests, so these,
/// which live in another package, need them built beforehand: `scripts/test.sh` runs
/// `cargo build --workspace --bins --tests` first. A binary older than any source file it was
/// built from (the list Cargo writes beside it, `<name>.d`) is stale, and is refused rather than
/// tested.
pub fn binary(name: &str) -> PathBuf {
    const BUILD: &str = "cargo build --workspace --bins --tests";
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let path = profile_dir.join(name);
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap_or_else(|_| {
        panic!(
            "{} is missing: build it first with `{BUILD}` (scripts/test.sh does)",
            path.display()
        )
    });
    if let Some((source, changed)) = newest_source(&profile_dir.join(format!("{name}.d")))
        && changed > built
    {
        panic!(
            "{} is older than {source}, which it is built from: rebuild it with `{BUILD}` (scripts/test.sh does)",
            path.display()
        );
    }
    path
}

/// The most recently changed of the files listed in a Cargo dep-info file (`target: src …`, the
/// workspace sources a binary was built from, spaces in paths escaped), and when it changed.
/// `None` when the file is missing or lists nothing readable.
fn newest_source(dep_info: &std::path::Path) -> Option<(String, std::time::SystemTime)> {
    let text = std::fs::read_to_string(dep_info).ok()?;
    let (_, sources) = text.lines().next()?.split_once(": ")?;
    sources
        .replace("\\ ", "\0")
        .split_whitespace()
        .map(|p| p.replace('\0', " "))
        .filter_map(|p| {
            let changed = std::fs::metadata(&p).and_then(|m| m.modified()).ok()?;
            Some((p, changed))
        })
        .max_by_key(|(_, changed)| *changed)
}

pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A daemon in its own process: stopped with SIGTERM (as Kubernetes does) by `terminate`,
/// killed if dropped.
pub struct Daemon {
    name: &'static str,
    child: Child,
}

impl Daemon {
    pub fn start(name: &'static str, env: &[(&str, String)]) -> Self {
        let child = Command::new(binary(name))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self { name, child }
    }

    /// SIGTERM, then waits for a clean exit (which flushes the spans still batched).
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{} exited with {status}", self.name);
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(40), "{} did not stop", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

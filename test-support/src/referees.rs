//! The referees: OpenSSL and pkilint judge what certctl emits, never certctl's own parsers.

/// A CSR made with OpenSSL, the way a client would: returns (csr_pem, key_pem).
pub fn openssl_csr(dir: &std::path::Path, key_args: &[&str], cn: &str) -> (String, String) {
    let key = dir.join("key.pem");
    let csr = dir.join("csr.pem");
    let out = std::process::Command::new("openssl")
        .args(["req", "-new", "-newkey"])
        .args(key_args)
        .args(["-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .args(["-subj", &format!("/CN={cn}")])
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(csr).expect("csr"),
        std::fs::read_to_string(key).expect("key"),
    )
}

/// Runs `openssl` with `args`: (success, stdout and stderr).
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &std::path::Path, name: &str, contents: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p.to_string_lossy().into_owned()
}

/// Runs a pkilint linter; any ERROR or FATAL finding fails.
pub fn pkilint(tool: &str, args: &[&str], file: &str) {
    let out = std::process::Command::new(tool)
        .arg("lint")
        .args(args)
        .arg(file)
        .output()
        .expect("pkilint must be on PATH (scripts/test.sh installs it into .venv)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("(ERROR)")
            && !text.contains("(FATAL)")
            && !text.contains("Traceback")
            && !text.contains("usage:"),
        "{tool} on {file}:\n{text}"
    );
}

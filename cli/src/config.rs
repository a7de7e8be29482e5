//! Contexts, as kubectl has them: named sets of server, key and CA bundle in
//! `$CERTCTL_CONFIG`, else `$XDG_CONFIG_HOME/certctl/config.toml`, else
//! `~/.config/certctl/config.toml`. The file is written with mode 0600, since a context may
//! hold a key.
//!
//! ```toml
//! current-context = "dev"
//!
//! [contexts.dev]
//! server = "http://127.0.0.1:8080"
//! api-key-file = "/home/me/.certctl-dev-key"   # or api-key = "…"
//! ca-bundle = "/etc/ssl/certctl-ca.pem"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Context {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
}

/// Where the configuration lives.
pub fn path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("CERTCTL_CONFIG") {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").context("HOME is not set; set CERTCTL_CONFIG")?).join(".config"),
    };
    Ok(base.join("certctl").join("config.toml"))
}

impl Config {
    /// The configuration at `path`, empty if there is no file yet.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("{} is not a valid certctl config", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the configuration, readable by its owner only.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let text = toml::to_string_pretty(self)?;
        write_private(path, text.as_bytes())
    }

    /// The context in use: `name` if given, else the current one; none is fine (flags and
    /// environment variables may say everything).
    pub fn context(&self, name: Option<&str>) -> anyhow::Result<Option<&Context>> {
        match name.or(self.current_context.as_deref()) {
            None => Ok(None),
            Some(n) => self
                .contexts
                .get(n)
                .map(Some)
                .with_context(|| format!("no context named `{n}`; `certctl config get-contexts` lists them")),
        }
    }
}

/// Writes a file only its owner can read (keys, configs holding keys).
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    use std::os::unix::fs::PermissionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its mode on open: narrow it too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(contents)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_round_trips_and_names_its_current_context() {
        let dir = std::env::temp_dir().join(format!("certctl-cli-config-{}", uuid::Uuid::new_v4()));
        let path = dir.join("config.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        let mut c = Config::default();
        c.contexts.insert(
            "dev".into(),
            Context {
                server: Some("http://127.0.0.1:8080".into()),
                api_key_file: Some("/tmp/k".into()),
                ..Context::default()
            },
        );
        c.current_context = Some("dev".into());
        c.save(&path).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        let back = Config::load(&path).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            back.context(None).unwrap().unwrap().server.as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert!(back.context(Some("prod")).is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}

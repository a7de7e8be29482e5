//! Writes the seed corpus of the `ocsp_request` target into `corpus/ocsp_request/` (or the
//! directory given as the first argument): requests from `build_request`, SHA-256 ones, and, when
//! `openssl` is on the PATH, requests written by `openssl ocsp -reqout`.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`

use std::path::PathBuf;
use std::process::Command;

use certctl_fuzz::{Fixture, GOOD, REVOKED};
use certctl_pki::ocsp::parse_request;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/ocsp_request"));
    std::fs::create_dir_all(&dir)?;
    let f = Fixture::get();
    for (name, der) in certctl_fuzz::seeds(f.identity()) {
        assert!(parse_request(&der).is_ok(), "{name} parses");
        std::fs::write(dir.join(name), der)?;
    }
    let tmp = std::env::temp_dir().join(format!("certctl-fuzz-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let ca = tmp.join("ca.pem");
    std::fs::write(&ca, &f.ca_pem)?;
    let hex = |s: &[u8]| s.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let runs: [(&str, Vec<String>); 3] = [
        (
            "openssl-sha1-nonce",
            vec!["-serial".into(), format!("0x{}", hex(GOOD[0]))],
        ),
        (
            "openssl-sha1-no-nonce-two",
            vec![
                "-no_nonce".into(),
                "-serial".into(),
                format!("0x{}", hex(GOOD[1])),
                "-serial".into(),
                format!("0x{}", hex(REVOKED[1])),
            ],
        ),
        (
            "openssl-sha256-nonce",
            vec!["-sha256".into(), "-serial".into(), format!("0x{}", hex(REVOKED[0]))],
        ),
    ];
    for (name, args) in runs {
        let out = dir.join(name);
        let status = Command::new("openssl")
            .arg("ocsp")
            .arg("-issuer")
            .arg(&ca)
            .args(&args)
            .arg("-reqout")
            .arg(&out)
            .status();
        match status {
            Ok(s) if s.success() => {
                let der = std::fs::read(&out)?;
                assert!(parse_request(&der).is_ok(), "{name} parses");
            }
            _ => eprintln!("openssl ocsp failed or is missing; {name} skipped"),
        }
    }
    std::fs::remove_dir_all(&tmp)?;
    println!("seeds written to {}", dir.display());
    Ok(())
}

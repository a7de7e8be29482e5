//! certctl's test kit, for the integration and system tests of every crate (a dev-dependency
//! only): fresh databases cloned from a migrated template, readiness polling, the OpenSSL and
//! pkilint referees, a recording HTTP receiver, a TCP proxy to cut connections, and the daemons
//! as processes.
//!
//! A missing service makes a test fail loudly, never skip: PostgreSQL on 127.0.0.1:5432 and
//! RabbitMQ on 127.0.0.1:5672 (scripts/test.sh starts them), `openssl` and pkilint on PATH.

#![allow(clippy::unwrap_used)]

pub mod db;
pub mod process;
pub mod proxy;
pub mod receiver;
pub mod referees;

use std::time::Duration;

use base64::Engine;

/// Waits for `GET {base}/readyz` to answer 200, polling every 25 ms for up to `within`; panics
/// naming `what` otherwise.
pub async fn wait_ready(http: &reqwest::Client, base: &str, what: &str, within: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < within {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not become ready at {base} within {within:?}");
}

/// A random secret of 40 URL-safe characters (an admin key, say).
pub fn random_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand_bytes::<30>())
}

pub fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("random");
    b
}

/// A new empty directory under the system temporary directory.
pub fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("certctl-it-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    dir
}

//! The daemons as processes (from the test kit), and readiness by admin address.

use std::time::Duration;

pub use certctl_test_support::process::{Daemon, free_addr};

/// Waits for the daemon whose admin listener is `admin` (`host:port`) to be ready.
pub async fn wait_ready(http: &reqwest::Client, admin: &str, what: &str) {
    certctl_test_support::wait_ready(http, &format!("http://{admin}"), what, Duration::from_secs(20)).await;
}

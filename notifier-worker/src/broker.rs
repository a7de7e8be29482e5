//! The RabbitMQ connection, kept up by a supervisor that reconnects with capped backoff.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Clone, Default)]
pub struct Broker {
    conn: Arc<RwLock<Option<Arc<Connection>>>>,
}

impl Broker {
    pub fn connected(&self) -> bool {
        self.conn
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|c| c.status().connected())
    }

    /// Keeps a connection open until `shutdown`, then closes it.
    pub async fn supervise(self, url: String, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(250);
        loop {
            let attempt = tokio::select! {
                () = shutdown.cancelled() => break,
                r = Connection::connect(&url, ConnectionProperties::default()) => r,
            };
            match attempt {
                Ok(conn) => {
                    tracing::info!("connected to RabbitMQ");
                    backoff = Duration::from_millis(250);
                    let conn = Arc::new(conn);
                    *self.conn.write().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
                    while conn.status().connected() {
                        tokio::select! {
                            () = shutdown.cancelled() => {
                                let _ = conn.close(200, "worker shutting down".into()).await;
                                return;
                            }
                            () = tokio::time::sleep(Duration::from_millis(500)) => {}
                        }
                    }
                    tracing::warn!("lost the RabbitMQ connection; reconnecting");
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "failed to connect to RabbitMQ");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

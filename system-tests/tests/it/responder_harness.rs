//! Revocation test harness: the real responder in-process, and OpenSSL as the client.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use certctl_revocation_responder::config::ResponderConfig;
use certctl_revocation_responder::{Listeners, run};
use certctl_shared::config::Env;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestApp, id};

pub struct Responder {
    pub base: String,
    pub admin_base: String,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Responder {
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    pub fn ocsp_url(&self, issuer: &str) -> String {
        format!("{}/.well-known/pki/ocsp/{issuer}", self.base)
    }

    pub async fn crl(&self, http: &reqwest::Client, issuer: &str) -> Option<Vec<u8>> {
        let r = http
            .get(format!("{}/.well-known/pki/crl/{issuer}", self.base))
            .send()
            .await
            .unwrap();
        (r.status() == 200).then_some(())?;
        Some(r.bytes().await.unwrap().to_vec())
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// Starts a responder on this app's database (or `db_url`), waiting until it is ready.
    pub async fn responder_on(&self, db_url: &str, extra: &[(&str, &str)]) -> Responder {
        let mut vars: HashMap<String, String> = HashMap::from([
            ("CERTCTL_DATABASE_URL".into(), db_url.to_owned()),
            ("CERTCTL_DATABASE_MAX_CONNECTIONS".into(), "3".into()),
            (
                "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY".into(),
                crate::helpers::responder_kek(),
            ),
            ("CERTCTL_RESPONDER_REFRESH_INTERVAL".into(), "250ms".into()),
        ]);
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = ResponderConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).expect("responder config");
        let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", public.local_addr().unwrap());
        let admin_base = format!("http://{}", admin.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(config, Listeners { public, admin }, shutdown.clone()));
        let responder = Responder {
            base,
            admin_base,
            shutdown,
            task: Some(task),
        };
        for _ in 0..400 {
            if let Ok(r) = self.http.get(format!("{}/readyz", responder.admin_base)).send().await
                && r.status() == 200
            {
                return responder;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("responder did not become ready");
    }

    pub async fn responder(&self) -> Responder {
        self.responder_on(&self.db_url.clone(), &[]).await
    }

    /// Waits until the issuer has a CRL and an OCSP signer (the worker must be running).
    pub async fn wait_published(&self, issuer: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let crls = self
                .scalar_i64(&format!("SELECT count(*) FROM crls WHERE issuer_id = '{issuer}'"))
                .await;
            let signers = self
                .scalar_i64(&format!(
                    "SELECT count(*) FROM ocsp_signers WHERE issuer_id = '{issuer}'"
                ))
                .await;
            if crls > 0 && signers > 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "issuer {issuer} not published within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn revoke(&self, cert: &Value, reason: &str) {
        let (s, v) = self
            .post(
                &format!("/api/v1/certificates/{}/revoke", id(cert)),
                &self.admin_key,
                serde_json::json!({ "reason": reason }),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
}

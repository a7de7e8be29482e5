//! A typed client of the certctl REST API, for the CLI and the MCP server.
//!
//! Each method is one operation of the API, taking and returning the bodies of `certctl-types`
//! (the types the server itself serialises, so client and server cannot drift). Every response
//! also keeps the JSON exactly as the server sent it ([`Reply::raw`]), which `--output json|yaml`
//! and the MCP tools pass on unchanged.

use std::path::Path;
use std::time::Duration;

use certctl_types::api::access::{ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut, AuditEventOut, AuditQuery, MeOut};
use certctl_types::api::certificates::{
    AwaitingApprovalOut, BulkRevokeIn, BulkRevokeOut, CertificateOut, CertificateQuery, DecisionIn, IssueIn, IssuedOut,
    JobOut, JobQuery, RenewIn, RevokeIn,
};
use certctl_types::api::discovery::{
    DiscoveredCertificateOut, DiscoveredQuery, DiscoveryDecisionIn, ScanTargetIn, ScanTargetOut,
};
use certctl_types::api::notifications::{
    ChannelIn, ChannelOut, ChannelPatch, NotificationDetailOut, NotificationOut, NotificationQuery,
};
use certctl_types::api::policy::{IssuerIn, IssuerOut, ProfileIn, ProfileOut};
use certctl_types::api::renewal::{CertificatePolicyIn, JobCsrIn, RenewalKeyOut, RenewalPolicyIn, RenewalPolicyOut};
use certctl_types::api::{ListOut, Problem, SummaryOut, VersionOut};
use certctl_types::ids::{
    ApiKeyId, CertificateId, ChannelId, DiscoveredCertificateId, IssuerId, JobId, NotificationId, ProfileId,
    RenewalPolicyId, ScanTargetId,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Whether a failed call may have left nothing behind or, with an idempotency key, may be sent
/// again: no answer at all, or a gateway's or an unavailable server's answer.
fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Transport { .. } => true,
        ClientError::Api { problem } => matches!(problem.status, 502..=504),
        ClientError::Unexpected(_) => false,
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with a problem (RFC 9457).
    #[error("{} ({}): {} [{}]", .problem.title, .problem.status, .problem.detail, .problem.code)]
    Api { problem: Problem },
    /// The request did not get an answer: connection, TLS, timeout.
    #[error("cannot reach {server}: {message}")]
    Transport { server: String, message: String },
    /// The answer was not what the API describes.
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
}

impl ClientError {
    /// The problem's code, when the API gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { problem } => Some(&problem.code),
            _ => None,
        }
    }
}

/// A decoded answer and the JSON it was decoded from.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub value: T,
    pub raw: Value,
}

/// What issuing or renewing gave: a certificate, or a job waiting for an approver.
#[derive(Debug, Clone)]
pub enum Issued {
    Certificate(Box<IssuedOut>),
    AwaitingApproval(AwaitingApprovalOut),
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    key: Option<String>,
}

impl Client {
    /// A client of the server at `server` (e.g. `https://certctl.example.com`), authenticating
    /// with `key` when given, trusting the CAs in `ca_bundle` besides the system's.
    pub fn new(server: &str, key: Option<String>, ca_bundle: Option<&Path>) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("certctl-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_bundle {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read the CA bundle {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| anyhow::anyhow!("{} holds no usable PEM certificates: {e}", path.display()))?;
            builder = builder.tls_certs_merge(certs);
        }
        Ok(Self {
            http: builder.build()?,
            server: server.trim_end_matches('/').to_owned(),
            key,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: Option<&(dyn erased::Query + Sync)>,
        body: Option<Value>,
    ) -> Result<(StatusCode, reqwest::Response), ClientError> {
        self.send_with(method, path, query, body, None).await
    }

    async fn send_with(
        &self,
        method: Method,
        path: &str,
        query: Option<&(dyn erased::Query + Sync)>,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(StatusCode, reqwest::Response), ClientError> {
        let mut req = self.http.request(method, format!("{}{path}", self.server));
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        if let Some(q) = query {
            req = req.query(&q.pairs());
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| ClientError::Transport {
            server: self.server.clone(),
            message: error_chain(&e),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok((status, resp));
        }
        let text = resp.text().await.unwrap_or_default();
        let problem = serde_json::from_str::<Problem>(&text).unwrap_or_else(|_| Problem {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: text.chars().take(500).collect(),
            code: "http_error".to_owned(),
        });
        Err(ClientError::Api { problem })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Option<&(dyn erased::Query + Sync)>,
        body: Option<Value>,
    ) -> Result<(StatusCode, Reply<T>), ClientError> {
        let (status, resp) = self.send(method, path, query, body).await?;
        let raw: Value = resp
            .json()
            .await
            .map_err(|e| ClientError::Unexpected(format!("the body is not JSON: {e}")))?;
        let value = serde_json::from_value(raw.clone()).map_err(|e| ClientError::Unexpected(e.to_string()))?;
        Ok((status, Reply { value, raw }))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Reply<T>, ClientError> {
        Ok(self.json(Method::GET, path, None, None).await?.1)
    }

    async fn list<T: DeserializeOwned, Q: Serialize + Sync>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<Reply<ListOut<T>>, ClientError> {
        Ok(self.json(Method::GET, path, Some(&erased::Wrap(query)), None).await?.1)
    }

    async fn post<T: DeserializeOwned, B: Serialize>(&self, path: &str, body: &B) -> Result<Reply<T>, ClientError> {
        let body = serde_json::to_value(body).map_err(|e| ClientError::Unexpected(e.to_string()))?;
        Ok(self.json(Method::POST, path, None, Some(body)).await?.1)
    }

    async fn put<T: DeserializeOwned, B: Serialize>(&self, path: &str, body: &B) -> Result<Reply<T>, ClientError> {
        let body = serde_json::to_value(body).map_err(|e| ClientError::Unexpected(e.to_string()))?;
        Ok(self.json(Method::PUT, path, None, Some(body)).await?.1)
    }

    async fn issued(&self, path: &str, body: Value) -> Result<Reply<Issued>, ClientError> {
        self.issued_with(path, body, None).await
    }

    async fn issued_with(&self, path: &str, body: Value, key: Option<&str>) -> Result<Reply<Issued>, ClientError> {
        let (status, resp) = self.send_with(Method::POST, path, None, Some(body), key).await?;
        let raw: Value = resp
            .json()
            .await
            .map_err(|e| ClientError::Unexpected(format!("the body is not JSON: {e}")))?;
        let decode = |e: serde_json::Error| ClientError::Unexpected(e.to_string());
        let value = if status == StatusCode::ACCEPTED {
            Issued::AwaitingApproval(serde_json::from_value(raw.clone()).map_err(decode)?)
        } else {
            Issued::Certificate(Box::new(serde_json::from_value(raw.clone()).map_err(decode)?))
        };
        Ok(Reply { value, raw })
    }

    pub async fn version(&self) -> Result<Reply<VersionOut>, ClientError> {
        self.get("/api/v1/version").await
    }

    pub async fn me(&self) -> Result<Reply<MeOut>, ClientError> {
        self.get("/api/v1/auth/me").await
    }

    pub async fn summary(&self) -> Result<Reply<SummaryOut>, ClientError> {
        self.get("/api/v1/stats/summary").await
    }

    // Certificates

    pub async fn list_certificates(&self, q: &CertificateQuery) -> Result<Reply<ListOut<CertificateOut>>, ClientError> {
        self.list("/api/v1/certificates", q).await
    }

    pub async fn get_certificate(&self, id: CertificateId) -> Result<Reply<CertificateOut>, ClientError> {
        self.get(&format!("/api/v1/certificates/{id}")).await
    }

    /// The certificate and its chain, PEM.
    pub async fn certificate_pem(&self, id: CertificateId) -> Result<String, ClientError> {
        let (_, resp) = self
            .send(Method::GET, &format!("/api/v1/certificates/{id}/pem"), None, None)
            .await?;
        resp.text().await.map_err(|e| ClientError::Unexpected(e.to_string()))
    }

    pub async fn issue(&self, body: &IssueIn) -> Result<Reply<Issued>, ClientError> {
        let body = serde_json::to_value(body).map_err(|e| ClientError::Unexpected(e.to_string()))?;
        self.issued("/api/v1/certificates", body).await
    }

    /// Issues with an `Idempotency-Key`, so the request is safe to send again: when no answer
    /// arrives (the connection failed or was cut) or a proxy answers 502, 503 or 504, it is sent
    /// again with the same key, up to `attempts` times with growing pauses. The server issues at
    /// most one certificate for the key and returns it to every retry.
    pub async fn issue_idempotent(
        &self,
        body: &IssueIn,
        key: &str,
        attempts: u32,
        on_retry: impl Fn(&ClientError, Duration),
    ) -> Result<Reply<Issued>, ClientError> {
        let body = serde_json::to_value(body).map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let mut pause = Duration::from_secs(1);
        for attempt in 1.. {
            match self.issued_with("/api/v1/certificates", body.clone(), Some(key)).await {
                Err(e) if attempt < attempts && retryable(&e) => {
                    on_retry(&e, pause);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
                other => return other,
            }
        }
        unreachable!("the loop returns")
    }

    pub async fn renew(&self, id: CertificateId, body: &RenewIn) -> Result<Reply<Issued>, ClientError> {
        let body = serde_json::to_value(body).map_err(|e| ClientError::Unexpected(e.to_string()))?;
        self.issued(&format!("/api/v1/certificates/{id}/renew"), body).await
    }

    pub async fn revoke(&self, id: CertificateId, body: &RevokeIn) -> Result<Reply<CertificateOut>, ClientError> {
        self.post(&format!("/api/v1/certificates/{id}/revoke"), body).await
    }

    pub async fn bulk_revoke(&self, body: &BulkRevokeIn) -> Result<Reply<BulkRevokeOut>, ClientError> {
        self.post("/api/v1/certificates/bulk-revoke", body).await
    }

    // Issuers and profiles

    pub async fn list_issuers(&self) -> Result<Reply<ListOut<IssuerOut>>, ClientError> {
        self.get("/api/v1/issuers").await
    }

    pub async fn get_issuer(&self, id: IssuerId) -> Result<Reply<IssuerOut>, ClientError> {
        self.get(&format!("/api/v1/issuers/{id}")).await
    }

    pub async fn create_issuer(&self, body: &IssuerIn) -> Result<Reply<IssuerOut>, ClientError> {
        self.post("/api/v1/issuers", body).await
    }

    pub async fn set_issuer_disabled(&self, id: IssuerId, disabled: bool) -> Result<Reply<IssuerOut>, ClientError> {
        let verb = if disabled { "disable" } else { "enable" };
        self.post(&format!("/api/v1/issuers/{id}/{verb}"), &serde_json::json!({}))
            .await
    }

    // Discovery

    pub async fn list_scan_targets(&self) -> Result<Reply<ListOut<ScanTargetOut>>, ClientError> {
        self.get("/api/v1/scan-targets").await
    }

    pub async fn get_scan_target(&self, id: ScanTargetId) -> Result<Reply<ScanTargetOut>, ClientError> {
        self.get(&format!("/api/v1/scan-targets/{id}")).await
    }

    pub async fn create_scan_target(&self, body: &ScanTargetIn) -> Result<Reply<ScanTargetOut>, ClientError> {
        self.post("/api/v1/scan-targets", body).await
    }

    pub async fn replace_scan_target(
        &self,
        id: ScanTargetId,
        body: &ScanTargetIn,
    ) -> Result<Reply<ScanTargetOut>, ClientError> {
        self.put(&format!("/api/v1/scan-targets/{id}"), body).await
    }

    pub async fn delete_scan_target(&self, id: ScanTargetId) -> Result<(), ClientError> {
        self.send(Method::DELETE, &format!("/api/v1/scan-targets/{id}"), None, None)
            .await?;
        Ok(())
    }

    pub async fn scan_target_now(&self, id: ScanTargetId) -> Result<Reply<ScanTargetOut>, ClientError> {
        self.post(&format!("/api/v1/scan-targets/{id}/scan"), &serde_json::json!({}))
            .await
    }

    pub async fn list_discovered(
        &self,
        q: &DiscoveredQuery,
    ) -> Result<Reply<ListOut<DiscoveredCertificateOut>>, ClientError> {
        self.list("/api/v1/discovered-certificates", q).await
    }

    pub async fn get_discovered(
        &self,
        id: DiscoveredCertificateId,
    ) -> Result<Reply<DiscoveredCertificateOut>, ClientError> {
        self.get(&format!("/api/v1/discovered-certificates/{id}")).await
    }

    /// Claims (`true`) or dismisses a discovered certificate.
    pub async fn decide_discovered(
        &self,
        id: DiscoveredCertificateId,
        claim: bool,
        body: &DiscoveryDecisionIn,
    ) -> Result<Reply<DiscoveredCertificateOut>, ClientError> {
        let verb = if claim { "claim" } else { "dismiss" };
        self.post(&format!("/api/v1/discovered-certificates/{id}/{verb}"), body)
            .await
    }

    // Renewal policies

    pub async fn list_policies(&self) -> Result<Reply<ListOut<RenewalPolicyOut>>, ClientError> {
        self.get("/api/v1/renewal-policies").await
    }

    pub async fn get_policy(&self, id: RenewalPolicyId) -> Result<Reply<RenewalPolicyOut>, ClientError> {
        self.get(&format!("/api/v1/renewal-policies/{id}")).await
    }

    pub async fn create_policy(&self, body: &RenewalPolicyIn) -> Result<Reply<RenewalPolicyOut>, ClientError> {
        self.post("/api/v1/renewal-policies", body).await
    }

    pub async fn replace_policy(
        &self,
        id: RenewalPolicyId,
        body: &RenewalPolicyIn,
    ) -> Result<Reply<RenewalPolicyOut>, ClientError> {
        self.put(&format!("/api/v1/renewal-policies/{id}"), body).await
    }

    pub async fn delete_policy(&self, id: RenewalPolicyId) -> Result<(), ClientError> {
        self.send(Method::DELETE, &format!("/api/v1/renewal-policies/{id}"), None, None)
            .await?;
        Ok(())
    }

    pub async fn set_certificate_policy(
        &self,
        id: CertificateId,
        body: &CertificatePolicyIn,
    ) -> Result<Reply<CertificateOut>, ClientError> {
        self.put(&format!("/api/v1/certificates/{id}/renewal-policy"), body)
            .await
    }

    pub async fn list_profiles(&self) -> Result<Reply<ListOut<ProfileOut>>, ClientError> {
        self.get("/api/v1/profiles").await
    }

    pub async fn get_profile(&self, id: ProfileId) -> Result<Reply<ProfileOut>, ClientError> {
        self.get(&format!("/api/v1/profiles/{id}")).await
    }

    pub async fn create_profile(&self, body: &ProfileIn) -> Result<Reply<ProfileOut>, ClientError> {
        self.post("/api/v1/profiles", body).await
    }

    pub async fn replace_profile(&self, id: ProfileId, body: &ProfileIn) -> Result<Reply<ProfileOut>, ClientError> {
        self.put(&format!("/api/v1/profiles/{id}"), body).await
    }

    // Jobs

    pub async fn list_jobs(&self, q: &JobQuery) -> Result<Reply<ListOut<JobOut>>, ClientError> {
        self.list("/api/v1/jobs", q).await
    }

    pub async fn get_job(&self, id: JobId) -> Result<Reply<JobOut>, ClientError> {
        self.get(&format!("/api/v1/jobs/{id}")).await
    }

    /// Gives a renewal waiting for a CSR its CSR.
    pub async fn submit_csr(&self, id: JobId, body: &JobCsrIn) -> Result<Reply<JobOut>, ClientError> {
        self.post(&format!("/api/v1/jobs/{id}/csr"), body).await
    }

    /// Collects a rotated key, once.
    pub async fn collect_key(&self, id: JobId) -> Result<Reply<RenewalKeyOut>, ClientError> {
        self.post(&format!("/api/v1/jobs/{id}/key"), &serde_json::json!({}))
            .await
    }

    /// Approves (`true`) or rejects a job.
    pub async fn decide(&self, id: JobId, approve: bool, body: &DecisionIn) -> Result<Reply<JobOut>, ClientError> {
        let verb = if approve { "approve" } else { "reject" };
        self.post(&format!("/api/v1/jobs/{id}/{verb}"), body).await
    }

    // Notifications and channels

    pub async fn list_notifications(
        &self,
        q: &NotificationQuery,
    ) -> Result<Reply<ListOut<NotificationOut>>, ClientError> {
        self.list("/api/v1/notifications", q).await
    }

    pub async fn get_notification(&self, id: NotificationId) -> Result<Reply<NotificationDetailOut>, ClientError> {
        self.get(&format!("/api/v1/notifications/{id}")).await
    }

    pub async fn requeue(&self, id: NotificationId) -> Result<Reply<NotificationOut>, ClientError> {
        self.post(&format!("/api/v1/notifications/{id}/requeue"), &serde_json::json!({}))
            .await
    }

    pub async fn purge_dead(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Reply<certctl_types::api::notifications::PurgeOut>, ClientError> {
        self.post(
            "/api/v1/notifications/purge-dead",
            &certctl_types::api::notifications::PurgeDeadIn { created_before: before },
        )
        .await
    }

    pub async fn list_channels(&self) -> Result<Reply<ListOut<ChannelOut>>, ClientError> {
        self.get("/api/v1/notification-channels").await
    }

    pub async fn get_channel(&self, id: ChannelId) -> Result<Reply<ChannelOut>, ClientError> {
        self.get(&format!("/api/v1/notification-channels/{id}")).await
    }

    pub async fn create_channel(&self, body: &ChannelIn) -> Result<Reply<ChannelOut>, ClientError> {
        self.post("/api/v1/notification-channels", body).await
    }

    pub async fn update_channel(&self, id: ChannelId, body: &ChannelPatch) -> Result<Reply<ChannelOut>, ClientError> {
        let body = serde_json::to_value(body).map_err(|e| ClientError::Unexpected(e.to_string()))?;
        Ok(self
            .json(
                Method::PATCH,
                &format!("/api/v1/notification-channels/{id}"),
                None,
                Some(body),
            )
            .await?
            .1)
    }

    pub async fn delete_channel(&self, id: ChannelId) -> Result<(), ClientError> {
        self.send(
            Method::DELETE,
            &format!("/api/v1/notification-channels/{id}"),
            None,
            None,
        )
        .await?;
        Ok(())
    }

    pub async fn test_channel(&self, id: ChannelId) -> Result<Reply<NotificationOut>, ClientError> {
        self.post(
            &format!("/api/v1/notification-channels/{id}/test"),
            &serde_json::json!({}),
        )
        .await
    }

    // Audit and keys

    pub async fn list_audit(&self, q: &AuditQuery) -> Result<Reply<ListOut<AuditEventOut>>, ClientError> {
        self.list("/api/v1/audit", q).await
    }

    pub async fn list_keys(&self) -> Result<Reply<ListOut<ApiKeyOut>>, ClientError> {
        self.get("/api/v1/api-keys").await
    }

    pub async fn create_key(&self, body: &ApiKeyIn) -> Result<Reply<ApiKeyCreatedOut>, ClientError> {
        self.post("/api/v1/api-keys", body).await
    }

    pub async fn disable_key(&self, id: ApiKeyId) -> Result<Reply<ApiKeyOut>, ClientError> {
        self.post(&format!("/api/v1/api-keys/{id}/disable"), &serde_json::json!({}))
            .await
    }
}

/// The message of an error and of everything that caused it, e.g. "error sending request: tcp
/// connect error: Connection refused".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Query strings through one non-generic path (`send` takes them as a trait object).
mod erased {
    use serde::Serialize;

    pub trait Query {
        fn pairs(&self) -> Vec<(String, String)>;
    }

    pub struct Wrap<'a, Q>(pub &'a Q);

    impl<Q: Serialize> Query for Wrap<'_, Q> {
        fn pairs(&self) -> Vec<(String, String)> {
            let Ok(serde_json::Value::Object(map)) = serde_json::to_value(self.0) else {
                return Vec::new();
            };
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unanswered_requests_and_gateway_answers_are_retried() {
        let api = |status: u16| ClientError::Api {
            problem: Problem {
                kind: "about:blank".into(),
                title: String::new(),
                status,
                detail: String::new(),
                code: String::new(),
            },
        };
        let transport = ClientError::Transport {
            server: "http://127.0.0.1:1".into(),
            message: "connection closed before message completed".into(),
        };
        assert!(retryable(&transport));
        for status in [502, 503, 504] {
            assert!(retryable(&api(status)), "{status}");
        }
        for status in [400, 401, 409, 500] {
            assert!(!retryable(&api(status)), "{status}");
        }
        assert!(!retryable(&ClientError::Unexpected("x".into())));
    }
}

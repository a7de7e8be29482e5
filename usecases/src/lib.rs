//! Use cases: issue, renew, revoke, decide a job, requeue a notification, manage keys, issuers,
//! profiles and channels. Each runs in one transaction (or one statement) with its audit row and
//! the notifications it causes, publishes after commit, and returns the rows it wrote or a domain
//! error. Nothing here knows about HTTP: the REST handlers call these functions, and so do the
//! other front doors (EST, SCEP, ACME) and the worker's scheduled loops (renewal), each with an
//! [`Actor`] saying who acts, with which credential, through which protocol. Each front door maps
//! the domain errors to its own wire format; the REST mapping is the table in the API server's
//! `error` module.

pub mod acme_endpoints;
pub mod api_keys;
pub mod cache;
pub mod channels;
pub mod discovery;
pub mod enrollment;
pub mod issuance;
pub mod issuers;
pub mod jobs;
pub mod notifications;
pub mod profiles;
pub mod renewal;
pub mod revocation;
pub mod secrets;

use std::sync::Arc;

use certctl_pki::PkiUrls;
use certctl_shared::crypto::KeyEncryptionKeys;
use certctl_shared::model::{AcmeAccountId, ApiKeyId, EnrollmentProfileId, NotificationId};
use certctl_shared::queue::Publisher;
use certctl_shared::repo::audit::{self, NewAuditEvent};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, SqlErr};

/// What the use cases run on: the database, the keys that seal CA keys, the URLs certificates
/// point at, this process's caches, and the publisher for committed notifications. The API
/// server holds one inside its state; the worker holds one for its renewal loop.
#[derive(Clone)]
pub struct Core {
    pub db: DatabaseConnection,
    pub keys: KeyEncryptionKeys,
    pub urls: Arc<PkiUrls>,
    /// Issuers with their opened keys, and profiles as last read (see [`cache::Caches`]).
    pub caches: Arc<cache::Caches>,
    /// Publishes notification ids after their rows are committed.
    pub publisher: Publisher,
    pub counters: Arc<Counters>,
}

/// The metrics the use cases themselves count, registered in the registry of the process
/// running them.
pub struct Counters {
    pub certificates_issued: IntCounterVec,
    pub publish_failures: IntCounter,
}

impl Counters {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let c = Self {
            certificates_issued: IntCounterVec::new(
                Opts::new(
                    "certctl_certificates_issued_total",
                    "certificates issued, by key algorithm",
                ),
                &["key_algorithm"],
            )?,
            publish_failures: IntCounter::new(
                "certctl_notification_publish_failures_total",
                "notifications committed but not published (the relay republishes them)",
            )?,
        };
        registry.register(Box::new(c.certificates_issued.clone()))?;
        registry.register(Box::new(c.publish_failures.clone()))?;
        Ok(c)
    }
}

impl Core {
    /// Publishes committed notifications in the background. The caller does not wait on the
    /// broker: if publishing fails (the broker is down, say), the rows stay `pending` and the
    /// worker's relay loop republishes them after its grace period.
    pub fn dispatch(&self, ids: Vec<NotificationId>) {
        if ids.is_empty() {
            return;
        }
        let publisher = self.publisher.clone();
        let counters = self.counters.clone();
        // Publish inside the caller's span, so its W3C trace context travels in the headers.
        let span = tracing::Span::current();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                for id in ids {
                    if let Err(e) = publisher.publish(id).await {
                        counters.publish_failures.inc();
                        tracing::warn!(notification.id = %id, error = %e, "failed to publish a notification; the relay will retry it");
                    }
                }
            },
            span,
        ));
    }
}

/// The way in through which an actor came, recorded on every audit row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// The REST API, with an API key (the CLI, the console and MCP come this way too).
    Api,
    /// certctl itself: start-up tasks, the scheduled loops.
    System,
    /// EST (RFC 7030), authenticated by an enrollment profile's password or a client certificate.
    Est,
    /// SCEP (RFC 8894), authenticated by an enrollment profile's challenge password or, for a
    /// renewal, by the certificate being renewed.
    Scep,
    /// ACME (RFC 8555), authenticated by an account key registered at an ACME endpoint.
    Acme,
}

impl Protocol {
    /// What a certificate issued through this protocol records as its `source`. certctl's own
    /// actions (renewals by the scheduled loops to come) count as the API's.
    pub fn certificate_source(self) -> certctl_shared::model::CertificateSource {
        use certctl_shared::model::CertificateSource;
        match self {
            Protocol::Api | Protocol::System => CertificateSource::Api,
            Protocol::Est => CertificateSource::Est,
            Protocol::Scep => CertificateSource::Scep,
            Protocol::Acme => CertificateSource::Acme,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Api => "api",
            Protocol::System => "system",
            Protocol::Est => "est",
            Protocol::Scep => "scep",
            Protocol::Acme => "acme",
        }
    }
}

/// The credential an actor presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    ApiKey(ApiKeyId),
    /// An EST or SCEP client, through this enrollment profile.
    Enrollment(EnrollmentProfileId),
    /// An ACME client, by its account key.
    AcmeAccount(AcmeAccountId),
}

/// Who is acting, for audit rows and approvals: the principal (the name a person or system
/// answers to), the credential it presented (what audit rows can be traced back to with
/// certainty) and the protocol it came through.
#[derive(Clone, Debug)]
pub struct Actor {
    pub principal: String,
    pub credential: Option<Credential>,
    pub protocol: Protocol,
    pub request_id: Option<String>,
}

impl Actor {
    /// A caller of the REST API, authenticated by an API key.
    pub fn api_key(principal: &str, key_id: ApiKeyId, request_id: Option<String>) -> Self {
        Self {
            principal: principal.to_owned(),
            credential: Some(Credential::ApiKey(key_id)),
            protocol: Protocol::Api,
            request_id,
        }
    }

    /// certctl itself (`system:<what>`).
    pub fn system(what: &str) -> Self {
        Self {
            principal: format!("system:{what}"),
            credential: None,
            protocol: Protocol::System,
            request_id: None,
        }
    }

    /// An EST or SCEP client: `principal` is `est:<profile name>/<user or subject>` or
    /// `scep:<profile name>`.
    pub fn enrollment(principal: String, protocol: Protocol, profile: EnrollmentProfileId) -> Self {
        Self {
            principal,
            credential: Some(Credential::Enrollment(profile)),
            protocol,
            request_id: None,
        }
    }

    /// An ACME client: `principal` is `acme:<endpoint name>/<account id>`.
    pub fn acme(principal: String, account: AcmeAccountId) -> Self {
        Self {
            principal,
            credential: Some(Credential::AcmeAccount(account)),
            protocol: Protocol::Acme,
            request_id: None,
        }
    }

    /// The API key the actor presented, if it presented one.
    pub fn key_id(&self) -> Option<ApiKeyId> {
        match self.credential {
            Some(Credential::ApiKey(id)) => Some(id),
            _ => None,
        }
    }

    /// A successful-action audit row, to be written by the caller.
    pub fn event(
        &self,
        action: &str,
        resource_type: &str,
        resource_id: impl ToString,
        details: serde_json::Value,
    ) -> NewAuditEvent {
        NewAuditEvent {
            actor: self.principal.clone(),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: Some(resource_id.to_string()),
            outcome: "success",
            details,
            request_id: self.request_id.clone(),
            key_id: self.key_id(),
            protocol: self.protocol.as_str(),
        }
    }

    /// An audit row for something this actor was refused, to be written by the caller.
    pub fn denial(
        &self,
        action: &str,
        resource_type: &str,
        resource_id: impl ToString,
        details: serde_json::Value,
    ) -> NewAuditEvent {
        NewAuditEvent {
            outcome: "denied",
            ..self.event(action, resource_type, resource_id, details)
        }
    }

    /// Appends a successful-action audit row on `conn` (the change's own transaction).
    pub async fn audit(
        &self,
        conn: &impl ConnectionTrait,
        action: &str,
        resource_type: &str,
        resource_id: impl ToString,
        details: serde_json::Value,
    ) -> Result<(), DbErr> {
        audit::append(conn, self.event(action, resource_type, resource_id, details))
            .await
            .map(|_| ())
    }
}

/// A failure of the machinery under a use case (the database, key sealing, building a
/// certificate), as opposed to a refusal of the request: no caller can fix it by asking
/// differently. The REST API answers an unreachable database with 503 and the rest with 500.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("{0:#}")]
    Internal(#[from] anyhow::Error),
}

impl From<certctl_shared::crypto::SealError> for Fault {
    fn from(e: certctl_shared::crypto::SealError) -> Self {
        Fault::Internal(e.into())
    }
}

/// Gives a use-case error type `From` conversions for everything that is a [`Fault`], so `?`
/// works on database and sealing results. The type needs a `Fault(Fault)` variant.
macro_rules! faults {
    ($($error:ty),+ $(,)?) => {$(
        impl From<sea_orm::DbErr> for $error {
            fn from(e: sea_orm::DbErr) -> Self {
                Self::Fault(crate::Fault::Database(e))
            }
        }
        impl From<certctl_shared::crypto::SealError> for $error {
            fn from(e: certctl_shared::crypto::SealError) -> Self {
                Self::Fault(e.into())
            }
        }
        impl From<anyhow::Error> for $error {
            fn from(e: anyhow::Error) -> Self {
                Self::Fault(crate::Fault::Internal(e))
            }
        }
    )+};
}
pub(crate) use faults;

/// Whether a write failed because a unique name is already taken.
pub fn name_taken(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(detail)) if detail.contains("_name_key"))
}

/// Names and principals: 1–100 printable characters without spaces at the ends. The error says
/// what is wrong with `field`.
pub fn check_identifier(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.chars().count() > 100 || value.trim() != value || value.chars().any(char::is_control) {
        return Err(format!(
            "{field} must be 1-100 printable characters without leading or trailing spaces"
        ));
    }
    Ok(())
}

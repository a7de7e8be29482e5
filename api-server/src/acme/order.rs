//! Orders and what hangs off them (RFC 8555 §7.4-7.6): new orders checked against the endpoint
//! and the profile, authorizations and challenges, finalization through the issuance use case
//! (or its approval gate), certificate download, revocation, and renewal information (RFC 9773).

use std::collections::BTreeSet;
use std::net::IpAddr;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certctl_pki::names::{SanRules, check_names, is_dns_name};
use certctl_pki::parse_csr;
use certctl_shared::entities::acme_account::Model as AcmeAccount;
use certctl_shared::entities::acme_authorization::Model as AcmeAuthz;
use certctl_shared::entities::acme_challenge::Model as AcmeChallenge;
use certctl_shared::entities::acme_order::Model as AcmeOrder;
use certctl_shared::entities::certificate::Model as Certificate;
use certctl_shared::model::{
    AcmeAuthzId, AcmeChallengeId, AcmeOrderId, CertificateId, CertificateStatus, RevocationReason,
};
use certctl_shared::repo::{acme, certificates, profiles, revocations};
use chrono::{Duration, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, KeyMode, Post, Problem, Signer, authenticate, b64url_field, json_response, objects};
use crate::service::issuance::{self, IssueError, IssueInput, KeySource, ProfileRead, Rule};
use crate::service::issuers::MAX_COMMON_NAME;
use crate::service::revocation::{self, RevokeError};
use crate::service::{Actor, Protocol};
use crate::state::AppState;

/// How long an order (and its authorizations) may take to be finalized.
const ORDER_LIFETIME_HOURS: i64 = 24;
/// At most this many identifiers per order.
const MAX_IDENTIFIERS: usize = 100;
/// What a client polling an order that awaits approval is asked to wait.
const RETRY_AFTER_APPROVAL_SECS: u64 = 30;
/// What a client polling a challenge or an order being validated is asked to wait.
const RETRY_AFTER_PROCESSING_SECS: u64 = 1;

/// One identifier of an order, checked and in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Identifier {
    kind: &'static str,
    /// As certified: `*.example.com` for a wildcard, the IP address's canonical text.
    value: String,
    /// What is validated: the name without `*.`.
    base: String,
}

impl Identifier {
    fn wildcard(&self) -> bool {
        self.value.starts_with("*.")
    }

    fn to_json(&self) -> Value {
        json!({ "type": self.kind, "value": self.value })
    }
}

#[derive(Deserialize)]
struct RawIdentifier {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

fn rejected(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "rejectedIdentifier", detail)
}

/// Whether `ip` falls in the CIDR range `range` (stored normalised, `10.0.0.0/8`).
fn in_range(range: &str, ip: IpAddr) -> bool {
    let Some((net, prefix)) = range.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(prefix)) = (net.parse::<IpAddr>(), prefix.parse::<u32>()) else {
        return false;
    };
    let bits = |a: IpAddr| match a {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32u32),
        IpAddr::V6(v6) => (u128::from(v6), 128u32),
    };
    let (n, width) = bits(net);
    let (a, a_width) = bits(ip);
    if width != a_width || prefix > width {
        return false;
    }
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    n & mask == a & mask
}

/// Checks an order's identifiers against RFC 8555/8738, the endpoint's allowed sets and the
/// profile's name rules; returns them canonical and deduplicated, in a stable order.
fn check_identifiers(
    endpoint: &certctl_shared::entities::acme_endpoint::Model,
    rules: &SanRules,
    raw: Vec<RawIdentifier>,
) -> Result<Vec<Identifier>, Problem> {
    if raw.is_empty() {
        return Err(Problem::malformed("an order needs at least one identifier"));
    }
    if raw.len() > MAX_IDENTIFIERS {
        return Err(rejected(format!("at most {MAX_IDENTIFIERS} identifiers per order")));
    }
    let mut out = BTreeSet::new();
    for r in raw {
        let shown: String = r.value.chars().take(64).collect();
        let id = match r.kind.as_str() {
            "dns" => {
                let value = r.value.trim_end_matches('.').to_ascii_lowercase();
                let base = value.strip_prefix("*.").unwrap_or(&value).to_owned();
                if !is_dns_name(&base) || base.contains('*') {
                    return Err(rejected(format!("`{shown}` is not a DNS name")));
                }
                if base.parse::<IpAddr>().is_ok() {
                    return Err(rejected(format!("`{shown}` is an IP address: use an ip identifier")));
                }
                if !endpoint.allowed_dns_suffixes.is_empty()
                    && !endpoint
                        .allowed_dns_suffixes
                        .iter()
                        .any(|s| base == *s || base.ends_with(&format!(".{s}")))
                {
                    return Err(rejected(format!(
                        "`{shown}` is outside the names this endpoint issues for"
                    )));
                }
                Identifier {
                    kind: "dns",
                    value,
                    base,
                }
            }
            "ip" => {
                let ip: IpAddr = r
                    .value
                    .parse()
                    .map_err(|_| rejected(format!("`{shown}` is not an IP address")))?;
                if !endpoint.allowed_ip_ranges.is_empty()
                    && !endpoint.allowed_ip_ranges.iter().any(|range| in_range(range, ip))
                {
                    return Err(rejected(format!(
                        "{ip} is outside the address ranges this endpoint issues for"
                    )));
                }
                Identifier {
                    kind: "ip",
                    value: ip.to_string(),
                    base: ip.to_string(),
                }
            }
            other => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "unsupportedIdentifier",
                    format!(
                        "identifier type `{}` is not supported (dns, ip)",
                        other.chars().take(20).collect::<String>()
                    ),
                ));
            }
        };
        out.insert(id);
    }
    let ids: Vec<Identifier> = out.into_iter().collect();
    let values: Vec<String> = ids.iter().map(|i| i.value.clone()).collect();
    check_names(rules, &values).map_err(rejected)?;
    Ok(ids)
}

fn random_token() -> Result<String, Problem> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| {
        Problem::from(crate::service::Fault::Internal(anyhow::anyhow!(
            "the system random generator failed"
        )))
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrder {
    identifiers: Vec<RawIdentifier>,
    #[serde(default)]
    not_before: Option<String>,
    #[serde(default)]
    not_after: Option<String>,
    #[serde(default)]
    replaces: Option<String>,
}

fn signer_account(signer: Signer) -> Result<AcmeAccount, Problem> {
    match signer {
        Signer::Account(a) => Ok(a),
        Signer::Key(_) => Err(Problem::malformed("sign with the account key named by kid")),
    }
}

post_handler!(new_order => create_order);

async fn create_order(post: &Post) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Account).await?;
    let account = signer_account(signer)?;
    let req: NewOrder = jws.payload_json()?;
    if req.not_before.is_some() || req.not_after.is_some() {
        return Err(Problem::malformed(
            "this server sets validity from the certificate profile: leave out notBefore and notAfter",
        ));
    }
    let profile = profiles::find_by_id(&ctx.state.db, ctx.endpoint.profile_id)
        .await?
        .ok_or_else(|| {
            Problem::from(crate::service::Fault::Internal(anyhow::anyhow!(
                "the endpoint's profile is gone"
            )))
        })?;
    let rules: SanRules = serde_json::from_value(profile.san_rules.clone()).map_err(|e| {
        Problem::from(crate::service::Fault::Internal(anyhow::anyhow!(
            "unreadable san_rules: {e}"
        )))
    })?;
    let ids = check_identifiers(&ctx.endpoint, &rules, req.identifiers)?;
    let replaces = match &req.replaces {
        Some(cert_id) => Some(replaced_certificate(ctx, &account, cert_id, &ids).await?),
        None => None,
    };
    let now = Utc::now();
    let expires = now + Duration::hours(ORDER_LIFETIME_HOURS);
    let order_row = AcmeOrder {
        id: AcmeOrderId::new(),
        account_id: account.id,
        endpoint_id: ctx.endpoint.id,
        status: "pending".into(),
        identifiers: Value::Array(ids.iter().map(Identifier::to_json).collect()),
        not_before: None,
        not_after: None,
        expires_at: expires,
        error: None,
        job_id: None,
        certificate_id: None,
        replaces_certificate_id: replaces,
        created_at: now,
        updated_at: now,
    };
    let txn = ctx.state.db.begin().await?;
    let order = acme::insert_order(&txn, order_row).await?;
    let mut authzs = Vec::with_capacity(ids.len());
    for id in &ids {
        let authz = acme::insert_authorization(
            &txn,
            AcmeAuthz {
                id: AcmeAuthzId::new(),
                order_id: order.id,
                account_id: account.id,
                identifier_type: id.kind.into(),
                identifier_value: id.base.clone(),
                wildcard: id.wildcard(),
                status: "pending".into(),
                expires_at: expires,
                created_at: now,
            },
        )
        .await?;
        // RFC 8555 §7.1.4 / RFC 8738 §7: a wildcard only by DNS, an IP address not by DNS.
        let kinds: &[&str] = match (id.kind, id.wildcard()) {
            ("ip", _) => &["http-01", "tls-alpn-01"],
            (_, true) => &["dns-01"],
            _ => &["http-01", "dns-01", "tls-alpn-01"],
        };
        for kind in kinds {
            acme::insert_challenge(
                &txn,
                AcmeChallenge {
                    id: AcmeChallengeId::new(),
                    authz_id: authz.id,
                    kind: (*kind).into(),
                    token: random_token()?,
                    status: "pending".into(),
                    attempts: 0,
                    next_attempt_at: None,
                    claimed_until: None,
                    validated_at: None,
                    error: None,
                    created_at: now,
                },
            )
            .await?;
        }
        authzs.push(authz);
    }
    ctx.actor(&account)
        .audit(
            &txn,
            "acme_order.create",
            "acme_order",
            order.id,
            json!({ "identifiers": order.identifiers, "replaces": replaces, "endpoint": ctx.endpoint.name }),
        )
        .await?;
    txn.commit().await?;
    let url = ctx.url(&format!("order/{}", order.id));
    Ok(json_response(
        StatusCode::CREATED,
        order_json(ctx, &order, &authzs),
        Some(&url),
    ))
}

fn order_json(ctx: &Ctx, order: &AcmeOrder, authzs: &[AcmeAuthz]) -> Value {
    let mut body = objects::order(ctx, order, authzs);
    if let Some(replaced) = order.replaces_certificate_id {
        body["replaces"] = json!(replaced.to_string());
    }
    body
}

/// Parses an RFC 9773 certificate identifier: base64url(AKI key id) "." base64url(serial).
fn parse_cert_id(text: &str) -> Result<(Vec<u8>, Vec<u8>), Problem> {
    let (aki, serial) = text
        .split_once('.')
        .ok_or_else(|| Problem::malformed("a certificate identifier is base64url(AKI).base64url(serial)"))?;
    let aki = b64url_field(aki, "the certificate identifier's key identifier")?;
    let serial = b64url_field(serial, "the certificate identifier's serial")?;
    if aki.is_empty() || serial.is_empty() || serial.len() > 21 {
        return Err(Problem::malformed("the certificate identifier is malformed"));
    }
    Ok((aki, serial))
}

/// The certificate of this endpoint's issuer an RFC 9773 identifier names (its AKI checked).
async fn certificate_by_cert_id(ctx: &Ctx, text: &str) -> Result<Option<Certificate>, Problem> {
    let (aki, serial) = parse_cert_id(text)?;
    let Some(cert) = issuance::find_by_raw_serial(&ctx.state.db, ctx.endpoint.issuer_id, &serial).await? else {
        return Ok(None);
    };
    let matches = x509_parser::parse_x509_certificate(&cert.certificate_der)
        .ok()
        .and_then(|(_, c)| {
            c.extensions().iter().find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                    a.key_identifier.as_ref().map(|k| k.0 == aki.as_slice())
                }
                _ => None,
            })
        })
        .unwrap_or(false);
    Ok(matches.then_some(cert))
}

/// RFC 9773 §5: the certificate an order replaces must be this account's, share an identifier
/// with the order, and not be replaced by another order already.
async fn replaced_certificate(
    ctx: &Ctx,
    account: &AcmeAccount,
    cert_id: &str,
    ids: &[Identifier],
) -> Result<CertificateId, Problem> {
    let cert = certificate_by_cert_id(ctx, cert_id)
        .await?
        .ok_or_else(|| Problem::malformed("replaces names no certificate this endpoint issued"))?;
    let owner = acme::find_order_by_certificate(&ctx.state.db, cert.id).await?;
    if owner.map(|o| o.account_id) != Some(account.id) {
        return Err(Problem::unauthorized(
            "replaces names a certificate this account did not order",
        ));
    }
    if !ids
        .iter()
        .any(|i| cert.sans.iter().any(|s| s.eq_ignore_ascii_case(&i.value)))
    {
        return Err(Problem::malformed(
            "the order shares no identifier with the certificate it replaces",
        ));
    }
    if acme::find_replacing_order(&ctx.state.db, cert.id).await?.is_some() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "alreadyReplaced",
            "another order already replaces this certificate",
        ));
    }
    Ok(cert.id)
}

/// The order, brought up to date: expired if past due, and, when it awaits approval, moved on
/// by the job's decision.
async fn current_order(state: &AppState, mut order: AcmeOrder) -> Result<AcmeOrder, Problem> {
    let now = Utc::now();
    if matches!(order.status.as_str(), "pending" | "ready") && order.expires_at <= now {
        order.status = "invalid".into();
        order.error = Some(
            Problem::new(
                StatusCode::FORBIDDEN,
                "malformed",
                "the order expired before it was finalized",
            )
            .to_json(),
        );
        order.updated_at = now;
        return Ok(acme::update_order(&state.db, order).await?);
    }
    match (order.status.as_str(), order.job_id) {
        // Decided jobs settle their orders as they are decided; this catches up any that lag.
        ("processing", Some(job)) if acme::settle_job_orders(&state.db, job).await? > 0 => {
            acme::find_order(&state.db, order.id)
                .await?
                .ok_or_else(|| Problem::not_found("order"))
        }
        _ => Ok(order),
    }
}

/// The account's own order, by the id in the URL.
async fn own_order(ctx: &Ctx, account: &AcmeAccount, id: &str) -> Result<AcmeOrder, Problem> {
    let id: AcmeOrderId = id.parse().map_err(|_| Problem::not_found("order"))?;
    let order = acme::find_order(&ctx.state.db, id)
        .await?
        .filter(|o| o.endpoint_id == ctx.endpoint.id)
        .ok_or_else(|| Problem::not_found("order"))?;
    if order.account_id != account.id {
        return Err(Problem::unauthorized("this order belongs to another account"));
    }
    current_order(&ctx.state, order).await
}

fn with_retry_after(mut resp: Response, secs: u64) -> Response {
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// An order answer; one still `processing` says when to ask again.
async fn order_response(ctx: &Ctx, order: &AcmeOrder, status: StatusCode) -> Result<Response, Problem> {
    let authzs = acme::list_authorizations(&ctx.state.db, order.id).await?;
    let url = ctx.url(&format!("order/{}", order.id));
    let resp = json_response(status, order_json(ctx, order, &authzs), Some(&url));
    Ok(match order.status.as_str() {
        "processing" if order.job_id.is_some() => with_retry_after(resp, RETRY_AFTER_APPROVAL_SECS),
        "processing" | "pending" => with_retry_after(resp, RETRY_AFTER_PROCESSING_SECS),
        _ => resp,
    })
}

post_handler!(order => read_order, id);

/// POST-as-GET of an order.
async fn read_order(post: &Post, id: &str) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Account).await?;
    super::require_post_as_get(&jws)?;
    let account = signer_account(signer)?;
    let order = own_order(ctx, &account, id).await?;
    order_response(ctx, &order, StatusCode::OK).await
}

#[derive(Deserialize)]
struct Finalize {
    csr: String,
}

post_handler!(finalize => finalize_order, id);

fn bad_csr(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "badCSR", detail)
}

impl From<IssueError> for Problem {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Fault(f) => f.into(),
            IssueError::Refused(Rule::Names, m) => rejected(m),
            IssueError::Refused(Rule::Csr | Rule::CsrSignature | Rule::KeyType, m) => bad_csr(m),
            IssueError::KeyCompromised => bad_csr(e.to_string()),
            IssueError::Refused(_, m) => Problem::new(StatusCode::FORBIDDEN, "unauthorized", m),
            other => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "serverInternal", other.to_string()),
        }
    }
}

/// RFC 8555 §7.4: checks the CSR names exactly the order's identifiers, then issues under the
/// endpoint's profile (or files the approval job), recording the outcome on the order in the
/// same transaction, so a crash leaves either both or neither.
async fn finalize_order(post: &Post, id: &str) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Account).await?;
    let account = signer_account(signer)?;
    let order = own_order(ctx, &account, id).await?;
    if order.status != "ready" {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "orderNotReady",
            format!(
                "the order is {}, not ready: every authorization must be valid first",
                order.status
            ),
        ));
    }
    let req: Finalize = jws.payload_json()?;
    let der = b64url_field(&req.csr, "csr").map_err(|_| bad_csr("the csr is not base64url DER"))?;
    let csr = parse_csr(&der).map_err(|e| bad_csr(e.to_string()))?;
    let wanted: BTreeSet<String> = order
        .identifiers
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let canonical = |n: &str| match n.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => n.trim_end_matches('.').to_ascii_lowercase(),
    };
    let mut asked: BTreeSet<String> = csr.requested_names.iter().map(|n| canonical(n)).collect();
    if let Some(cn) = &csr.common_name {
        let cn = canonical(cn);
        if !wanted.contains(&cn) {
            return Err(bad_csr(format!(
                "the CSR's common name `{}` is not an identifier of the order",
                cn.chars().take(64).collect::<String>()
            )));
        }
        asked.insert(cn);
    }
    if asked != wanted {
        return Err(bad_csr(format!(
            "the CSR names {} but the order is for {}",
            asked.iter().cloned().collect::<Vec<_>>().join(", "),
            wanted.iter().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    // The CSR's common name, else the first identifier that fits in one (a DNS name before a
    // wildcard or an address): certctl always certifies a common name, as a SAN too.
    let fits = |n: &&String| n.chars().count() <= MAX_COMMON_NAME;
    let common_name = match csr.common_name.as_deref().map(canonical) {
        Some(cn) => cn,
        None => wanted
            .iter()
            .filter(fits)
            .find(|n| !n.starts_with("*.") && n.parse::<IpAddr>().is_err())
            .or_else(|| wanted.iter().find(fits))
            .cloned()
            .ok_or_else(|| {
                bad_csr(format!(
                    "no identifier fits in a common name ({MAX_COMMON_NAME} characters)"
                ))
            })?,
    };
    let actor = ctx.actor(&account);
    let input = IssueInput {
        issuer_id: ctx.endpoint.issuer_id,
        profile_id: ctx.endpoint.profile_id,
        common_name,
        sans: Some(wanted.iter().cloned().collect()),
        ttl_seconds: None,
        key: KeySource::Csr(crate::enroll::csr_pem(&der)),
        idempotency_key: None,
    };
    let state = &ctx.state;
    for _ in 0..3 {
        let txn = state.db.begin().await?;
        let Some(mut locked) = acme::find_order_for_update(&txn, order.id).await? else {
            return Err(Problem::not_found("order"));
        };
        if locked.status != "ready" {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "orderNotReady",
                format!("the order is {}", locked.status),
            ));
        }
        let (issuer, profile, mut checked) = issuance::check(state, &txn, input.clone(), ProfileRead::Fresh).await?;
        if let Some(old) = locked.replaces_certificate_id
            && certificates::find_by_id(&txn, old)
                .await?
                .is_some_and(|c| issuance::RENEWABLE.contains(&c.status))
        {
            checked.renew_of = Some(old);
        }
        locked.updated_at = Utc::now();
        if profile.requires_approval {
            let kind = if checked.renew_of.is_some() { "renew" } else { "issue" };
            let (job, notifications) = issuance::file_job_in(&txn, &actor, kind, checked).await?;
            locked.status = "processing".into();
            locked.job_id = Some(job.id);
            let locked = acme::update_order(&txn, locked).await?;
            txn.commit().await?;
            state.dispatch(notifications);
            state.metrics.enrollments.with_label_values(&["acme", "pending"]).inc();
            return order_response(ctx, &locked, StatusCode::OK).await;
        }
        let provenance = issuance::Provenance::direct(&actor);
        match issuance::sign_and_store(state, &txn, &actor, &issuer, &profile, &checked, provenance).await {
            Ok(issued) => {
                locked.status = "valid".into();
                locked.certificate_id = Some(issued.certificate.id);
                let locked = acme::update_order(&txn, locked).await?;
                txn.commit().await?;
                issued.count(state);
                state.dispatch(issued.notifications.clone());
                state.metrics.enrollments.with_label_values(&["acme", "issued"]).inc();
                return order_response(ctx, &locked, StatusCode::OK).await;
            }
            Err(IssueError::ProfileChanged) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(IssueError::ProfileChanged.into())
}

post_handler!(authorization => read_or_deactivate_authorization, id);

/// POST-as-GET of an authorization, or its deactivation (RFC 8555 §7.5.2).
async fn read_or_deactivate_authorization(post: &Post, id: &str) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Account).await?;
    let account = signer_account(signer)?;
    let mut authz = own_authz(ctx, &account, id).await?;
    if !jws.is_post_as_get() {
        #[derive(Deserialize)]
        struct Update {
            status: String,
        }
        let update: Update = jws.payload_json()?;
        if update.status != "deactivated" {
            return Err(Problem::malformed(
                "an authorization's status can only be set to deactivated",
            ));
        }
        authz = acme::deactivate_authorization(&ctx.state.db, authz.id)
            .await?
            .ok_or_else(|| {
                Problem::malformed(format!(
                    "the authorization is {}, so it cannot be deactivated",
                    authz.status
                ))
            })?;
        ctx.actor(&account)
            .audit(
                &ctx.state.db,
                "acme_authorization.deactivate",
                "acme_authorization",
                authz.id,
                json!({ "identifier": authz.identifier_value }),
            )
            .await?;
    }
    let challenges = acme::list_challenges(&ctx.state.db, authz.id).await?;
    let resp = json_response(StatusCode::OK, objects::authorization(ctx, &authz, &challenges), None);
    Ok(if challenges.iter().any(|c| c.status == "processing") {
        with_retry_after(resp, RETRY_AFTER_PROCESSING_SECS)
    } else {
        resp
    })
}

async fn own_authz(ctx: &Ctx, account: &AcmeAccount, id: &str) -> Result<AcmeAuthz, Problem> {
    let id: AcmeAuthzId = id.parse().map_err(|_| Problem::not_found("authorization"))?;
    let mut authz = acme::find_authorization(&ctx.state.db, id)
        .await?
        .ok_or_else(|| Problem::not_found("authorization"))?;
    if authz.account_id != account.id {
        return Err(Problem::unauthorized("this authorization belongs to another account"));
    }
    if authz.status == "pending" && authz.expires_at <= Utc::now() {
        authz.status = "expired".into();
    }
    Ok(authz)
}

post_handler!(challenge => respond_to_challenge, id);

/// POST-as-GET of a challenge, or the client's "ready" (`{}`), which schedules validation.
async fn respond_to_challenge(post: &Post, id: &str) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Account).await?;
    let account = signer_account(signer)?;
    let id: AcmeChallengeId = id.parse().map_err(|_| Problem::not_found("challenge"))?;
    let mut chall = acme::find_challenge(&ctx.state.db, id)
        .await?
        .ok_or_else(|| Problem::not_found("challenge"))?;
    let authz = own_authz(ctx, &account, &chall.authz_id.to_string()).await?;
    if !jws.is_post_as_get() {
        // RFC 8555 §7.5.1: the client says it is ready with an empty object.
        let _: serde_json::Map<String, Value> = jws.payload_json()?;
        if chall.status == "pending" {
            if authz.status != "pending" {
                return Err(Problem::malformed(format!("the authorization is {}", authz.status)));
            }
            if acme::request_validation(&ctx.state.db, chall.id).await? {
                ctx.state.acme_wake.notify_one();
            }
            chall = acme::find_challenge(&ctx.state.db, id)
                .await?
                .ok_or_else(|| Problem::not_found("challenge"))?;
        }
    }
    let up = ctx.url(&format!("authz/{}", authz.id));
    let mut resp = json_response(StatusCode::OK, objects::challenge(ctx, &chall), None);
    if let Ok(v) = HeaderValue::from_str(&format!("<{up}>;rel=\"up\"")) {
        resp.headers_mut().append(header::LINK, v);
    }
    Ok(if chall.status == "processing" {
        with_retry_after(resp, RETRY_AFTER_PROCESSING_SECS)
    } else {
        resp
    })
}

post_handler!(certificate => download_certificate, id);

/// The certificate and its chain (POST-as-GET), for the account that ordered it.
async fn download_certificate(post: &Post, id: &str) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Account).await?;
    super::require_post_as_get(&jws)?;
    let account = signer_account(signer)?;
    let id: CertificateId = id.parse().map_err(|_| Problem::not_found("certificate"))?;
    let owner = acme::find_order_by_certificate(&ctx.state.db, id).await?;
    if owner.as_ref().map(|o| o.account_id) != Some(account.id) {
        return Err(Problem::not_found("certificate"));
    }
    let cert = certificates::find_by_id(&ctx.state.db, id)
        .await?
        .ok_or_else(|| Problem::not_found("certificate"))?;
    let chain = crate::service::issuers::chain_pem(&ctx.state.db, cert.issuer_id).await?;
    let mut body = cert.certificate_pem.clone();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    body.push_str(&chain);
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pem-certificate-chain"),
    );
    Ok(resp)
}

#[derive(Deserialize)]
struct Revoke {
    certificate: String,
    #[serde(default)]
    reason: Option<u8>,
}

post_handler!(revoke => revoke_certificate);

/// RFC 8555 §7.6: by the account that ordered the certificate, or by the certificate's own key.
async fn revoke_certificate(post: &Post) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Either).await?;
    let req: Revoke = jws.payload_json()?;
    let reason = match req.reason.unwrap_or(0) {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        9 => RevocationReason::PrivilegeWithdrawn,
        other => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "badRevocationReason",
                format!("reason {other} is not accepted (0, 1, 3, 4, 5 or 9)"),
            ));
        }
    };
    let der = b64url_field(&req.certificate, "certificate")?;
    let cert = issuance::find_issued(&ctx.state.db, ctx.endpoint.issuer_id, &der)
        .await?
        .ok_or_else(|| Problem::not_found("certificate issued by this endpoint's CA"))?;
    let actor = match signer {
        Signer::Account(account) => {
            let owner = acme::find_order_by_certificate(&ctx.state.db, cert.id).await?;
            if owner.map(|o| o.account_id) != Some(account.id) {
                return Err(Problem::unauthorized(
                    "this account did not order the certificate; sign with the certificate's key instead",
                ));
            }
            ctx.actor(&account)
        }
        Signer::Key(key) => {
            if key.spki_der() != cert.public_key_der.as_slice() {
                return Err(Problem::unauthorized("the JWS key is not the certificate's key"));
            }
            Actor {
                principal: format!("acme:{}/certificate-key:{}", ctx.endpoint.name, &key.thumbprint()[..16]),
                credential: None,
                protocol: Protocol::Acme,
                request_id: ctx.request_id.clone(),
            }
        }
    };
    match revocation::revoke(&ctx.state, &actor, cert.id, reason).await {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(RevokeError::AlreadyRevoked(_)) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "alreadyRevoked",
            "the certificate is already revoked",
        )),
        Err(RevokeError::NotFound) => Err(Problem::not_found("certificate")),
        Err(RevokeError::Fault(f)) => Err(f.into()),
    }
}

/// How long an ARI client waits before asking again (RFC 9773 §4.3 suggests hours).
const ARI_RETRY_AFTER_SECS: u64 = 6 * 3600;

/// RFC 9773: when to renew. Two thirds into the lifetime for a sixth of it (a 90-day certificate:
/// days 60 to 75); a revoked certificate now.
pub async fn renewal_info(
    State(state): State<AppState>,
    Path((label, id)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (req, _) = req.into_parts();
    let ctx = match super::context(&state, &label, &req).await {
        Ok(ctx) => ctx,
        Err(resp) => return resp,
    };
    let result = async {
        let cert = certificate_by_cert_id(&ctx, &id)
            .await?
            .ok_or_else(|| Problem::not_found("certificate issued by this endpoint's CA"))?;
        let now = Utc::now();
        let lifetime = cert.not_after - cert.not_before;
        let (start, end, explanation) = if cert.status == CertificateStatus::Revoked {
            let reason = revocations::find_by_certificate(&ctx.state.db, cert.id)
                .await?
                .map(|r| r.reason);
            (
                now - Duration::hours(1),
                now,
                format!("the certificate is revoked ({}): renew now", reason.unwrap_or_default()),
            )
        } else {
            let start = cert.not_after - lifetime / 3;
            (
                start,
                start + lifetime / 6,
                "two thirds into the certificate's lifetime".to_owned(),
            )
        };
        let body = json!({
            "suggestedWindow": { "start": objects::time(start), "end": objects::time(end) },
            "explanation": explanation,
        });
        let retry = if cert.status == CertificateStatus::Revoked {
            60
        } else {
            ARI_RETRY_AFTER_SECS.min(u64::try_from(lifetime.num_seconds() / 10).unwrap_or(60).max(60))
        };
        Ok(with_retry_after(json_response(StatusCode::OK, body, None), retry))
    }
    .await;
    ctx.finish(result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges_contain_their_addresses_only() {
        assert!(in_range("10.0.0.0/8", "10.255.0.1".parse().unwrap()));
        assert!(!in_range("10.0.0.0/8", "11.0.0.1".parse().unwrap()));
        assert!(in_range("0.0.0.0/0", "8.8.8.8".parse().unwrap()));
        assert!(in_range("fd00::/8", "fd12::1".parse().unwrap()));
        assert!(!in_range("fd00::/8", "10.0.0.1".parse().unwrap()));
        assert!(!in_range("10.0.0.0/8", "::ffff:10.0.0.1".parse().unwrap()));
        assert!(!in_range("garbage", "10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn certificate_identifiers_are_two_base64url_parts() {
        assert!(parse_cert_id("aGVsbG8.AQID").is_ok());
        assert!(parse_cert_id("aGVsbG8").is_err());
        assert!(parse_cert_id(".AQID").is_err());
        assert!(parse_cert_id("aGVsbG8.!!").is_err());
    }
}

//! `certctl demo seed`: fills a running certctl with a realistic demo estate: issuers, renewal
//! policies, profiles, notification channels and certificates in every state.
//!
//! It goes through the public API only, with the caller's own admin key, so everything it makes is
//! audited under the caller like the work of any script. It is idempotent: every object is looked
//! up by name (certificates by common name) before it is made, and a revocation, renewal or policy
//! override is made only where it is not there yet, so running it again creates nothing and leaves
//! every count as it was.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use certctl_types::api::MAX_PAGE;
use certctl_types::api::access::ApiKeyIn;
use certctl_types::api::certificates::{
    CertificateOut, CertificateQuery, DecisionIn, IssueIn, JobOut, JobQuery, RenewIn, RevokeIn,
};
use certctl_types::api::notifications::{ChannelIn, ChannelOut, NotificationQuery};
use certctl_types::api::policy::{IssuerIn, ProfileIn, SanRules};
use certctl_types::api::renewal::{CertificatePolicyIn, RenewalPolicyIn};
use certctl_types::ids::{ApiKeyId, ChannelId, IssuerId, JobId, ProfileId, RenewalPolicyId};
use certctl_types::vocab::{CertificateStatus, ChannelKind, Eku, EventType, JobStatus, KeyAlgorithm, Role};
use clap::Subcommand;
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use crate::client::{Client, ClientError, Issued, Reply};
use crate::output::{self, Format, Table};

use super::{Failure, Page, pages, progress};

#[derive(Debug, Subcommand)]
pub enum Demo {
    /// Fills this instance with a demo estate: issuers, renewal policies, profiles, channels and
    /// certificates in every state. Running it again creates nothing. Needs an admin key.
    Seed {
        /// How many certificate names to fill (20-10000); a few approval requests come on top.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(20..=10_000))]
        certificates: u32,
        /// Seed even though channels other than the demo's are enabled: they receive the demo's
        /// notifications (issuances, revocations, renewals, warnings), hundreds of them.
        #[arg(long)]
        notify_other_channels: bool,
    },
}

/// How the caller's own connection trusts the server, for the second connection `seed` opens
/// as the requester key (see [`Requester`]).
#[derive(Debug, Default)]
pub struct Trust {
    pub ca_bundle: Option<PathBuf>,
    pub context: Option<String>,
}

/// Every demo certificate name is under this domain, which the demo profiles allow.
const DOMAIN: &str = "demo.internal";
/// Requests in flight while certificates are seeded: enough to fill 300 names in seconds without
/// queueing a small server's connection pool.
const IN_FLIGHT: usize = 8;
/// The demo policies open a certificate's window after this share of its lifetime: about 9 s for
/// a one-day certificate, 17 s for a two-day one. So the worker's states appear at its next tick
/// after seeding rather than days later. Far too early for real use, and only for the demo.
const DEMO_FRACTION: f64 = 0.0001;
const DAY: i64 = 86_400;
/// Test notifications the failing channel should hold: they are the dead letters every demo has,
/// whichever events happened.
const CHANNEL_TESTS: u64 = 3;
/// The discard port on this machine: nothing listens there, so every delivery fails, is retried
/// and ends `dead`. The demo channels never point anywhere else.
const NOWHERE: &str = "http://127.0.0.1:9";

const ROOT_CA: &str = "demo-root";
const WEB_CA: &str = "demo-web-ca";
const DEVICE_CA: &str = "demo-device-ca";
const MANUAL: &str = "demo-manual";
const FAST: &str = "demo-fast";
const WEB_PROFILE: &str = "demo-web-47d";
const MTLS_PROFILE: &str = "demo-internal-mtls";
const SHORT_PROFILE: &str = "demo-short-lived";
const APPROVAL_PROFILE: &str = "demo-approval";
const OPS_WEBHOOK: &str = "demo-ops-webhook";
const SLACK: &str = "demo-slack-security";
const PAGERDUTY: &str = "demo-pagerduty-oncall";
const REQUESTER: &str = "demo-requester";
const APPROVAL_NOTE: &str = "approved by certctl demo seed";

/// A certification request for `cn` with a fresh P-256 key, which is dropped at once. Profiles
/// that require approval take only CSRs (the server cannot hand a generated key to a job); nobody
/// should hold the key of a demo certificate, so none is kept.
fn throwaway_csr(cn: &str) -> Result<String, Failure> {
    let key = rcgen::KeyPair::generate().context("generating a demo key")?;
    let params = rcgen::CertificateParams::new(vec![cn.to_owned()]).context("a demo CSR's names")?;
    let csr = params.serialize_request(&key).context("signing a demo CSR")?;
    Ok(csr.pem().context("encoding a demo CSR")?)
}

/// Revocation reasons, in turn: a demo shows several, not one. `cACompromise` is left out: it
/// means nothing on an end-entity certificate.
const REASONS: [&str; 6] = [
    "keyCompromise",
    "superseded",
    "cessationOfOperation",
    "affiliationChanged",
    "privilegeWithdrawn",
    "unspecified",
];

pub(super) async fn demo(client: &Client, format: Format, cmd: Demo, trust: Trust) -> Result<(), Failure> {
    match cmd {
        Demo::Seed {
            certificates,
            notify_other_channels,
        } => seed(client, format, certificates, notify_other_channels, &trust).await,
    }
}

// The plan: which name gets which kind of certificate, decided by its index alone.

/// Where a demo certificate is issued, and so what it does over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    /// `web-NNN`: TLS server certificates of 8 to 47 days, renewed by the built-in policy.
    Web,
    /// `svc-NNN`: mutual-TLS service certificates of 30 to 90 days.
    Mesh,
    /// `legacy-NNN`: two-day RSA certificates following `demo-manual`: `expiring` within a minute.
    Legacy,
    /// `batch-NNN`: 60-120 s workload credentials: `expiring` at once, then `expired`.
    ShortLived,
    /// `pay-NNN`: approved by a second principal; their automatic renewals wait for approval.
    Gated,
}

/// What happens to a certificate once issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Keep,
    Revoke(&'static str),
    Renew,
}

#[derive(Clone, Debug)]
struct Planned {
    cn: String,
    group: Group,
    fate: Fate,
    ttl_seconds: i64,
    key: KeyAlgorithm,
    sans: Vec<String>,
}

/// The certificates for `n` names. Each index's role depends on the index alone (a pattern
/// repeating every 50), so a larger run extends a smaller one instead of reshuffling it.
fn plan(n: u32) -> Vec<Planned> {
    (0..n).map(planned).collect()
}

fn planned(i: u32) -> Planned {
    // 4% short-lived, 4% manual (expiring), 2% approval-gated, 10% revoked, 8% renewed.
    let (group, fate) = match i % 50 {
        0 | 1 => (Group::ShortLived, Fate::Keep),
        2 | 3 => (Group::Legacy, Fate::Keep),
        4 => (Group::Gated, Fate::Keep),
        5..=9 => (plain(i), Fate::Revoke(REASONS[i as usize % REASONS.len()])),
        10..=13 => (plain(i), Fate::Renew),
        _ => (plain(i), Fate::Keep),
    };
    let n = i64::from(i);
    let (prefix, ttl_seconds, key) = match group {
        Group::Web => ("web", (47 - n % 40) * DAY, web_key(i)),
        Group::Mesh => ("svc", (30 + n % 61) * DAY, mesh_key(i)),
        Group::Legacy => ("legacy", 2 * DAY, KeyAlgorithm::Rsa2048),
        Group::ShortLived => ("batch", 60 + n * 37 % 61, KeyAlgorithm::EcdsaP256),
        Group::Gated => ("pay", DAY, KeyAlgorithm::EcdsaP256),
    };
    let cn = format!("{prefix}-{i:03}.{DOMAIN}");
    let mut sans = vec![cn.clone()];
    if group == Group::Web {
        sans.push(format!("www-{i:03}.{DOMAIN}"));
    }
    Planned {
        cn,
        group,
        fate,
        ttl_seconds,
        key,
        sans,
    }
}

/// The ordinary certificates alternate between the web and the service mesh.
fn plain(i: u32) -> Group {
    if i.is_multiple_of(2) { Group::Web } else { Group::Mesh }
}

fn web_key(i: u32) -> KeyAlgorithm {
    if i % 7 == 3 {
        KeyAlgorithm::EcdsaP384
    } else {
        KeyAlgorithm::EcdsaP256
    }
}

fn mesh_key(i: u32) -> KeyAlgorithm {
    if i % 4 == 1 {
        KeyAlgorithm::Rsa2048
    } else {
        KeyAlgorithm::EcdsaP256
    }
}

/// The issuance requests left waiting for an approver: a handful, growing slowly with the estate.
fn pending_names(n: u32) -> Vec<String> {
    (1..=(n / 50).clamp(3, 10))
        .map(|k| format!("request-{k:02}.{DOMAIN}"))
        .collect()
}

/// How many certificates of each kind the plan holds, for the summary.
#[derive(Debug, Default, PartialEq, Eq)]
struct PlanCounts {
    web: u64,
    mesh: u64,
    legacy: u64,
    short_lived: u64,
    gated: u64,
    revoked: u64,
    renewed: u64,
    pending: u64,
}

impl PlanCounts {
    fn of(plan: &[Planned], pending: &[String]) -> Self {
        let mut c = PlanCounts {
            pending: pending.len() as u64,
            ..PlanCounts::default()
        };
        for p in plan {
            *match p.group {
                Group::Web => &mut c.web,
                Group::Mesh => &mut c.mesh,
                Group::Legacy => &mut c.legacy,
                Group::ShortLived => &mut c.short_lived,
                Group::Gated => &mut c.gated,
            } += 1;
            match p.fate {
                Fate::Revoke(_) => c.revoked += 1,
                Fate::Renew => c.renewed += 1,
                Fate::Keep => {}
            }
        }
        c
    }

    fn json(&self) -> Value {
        json!({
            "web": self.web, "mesh": self.mesh, "legacy": self.legacy, "short_lived": self.short_lived,
            "gated": self.gated, "revoked": self.revoked, "renewed": self.renewed,
            "pending_requests": self.pending,
        })
    }
}

// What was created and what was found, per kind of object.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Created,
    Found,
}

/// The kinds of object the summary counts, in the order it lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Issuers,
    Policies,
    Profiles,
    Channels,
    ApiKeys,
    Certificates,
    Revocations,
    Renewals,
    PolicyOverrides,
    PendingApprovals,
    ChannelTests,
}

impl Kind {
    const ALL: [Kind; 11] = [
        Kind::Issuers,
        Kind::Policies,
        Kind::Profiles,
        Kind::Channels,
        Kind::ApiKeys,
        Kind::Certificates,
        Kind::Revocations,
        Kind::Renewals,
        Kind::PolicyOverrides,
        Kind::PendingApprovals,
        Kind::ChannelTests,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::Issuers => "issuers",
            Kind::Policies => "renewal policies",
            Kind::Profiles => "profiles",
            Kind::Channels => "channels",
            Kind::ApiKeys => "API keys",
            Kind::Certificates => "certificates",
            Kind::Revocations => "revocations",
            Kind::Renewals => "renewals",
            Kind::PolicyOverrides => "policy overrides",
            Kind::PendingApprovals => "pending approvals",
            Kind::ChannelTests => "channel tests",
        }
    }
}

/// Created and found counts per kind. Every kind is listed, with zeros where nothing applied, so
/// the summary has the same shape on every run.
#[derive(Debug, Default)]
struct Tally {
    created: [u64; Kind::ALL.len()],
    found: [u64; Kind::ALL.len()],
}

impl Tally {
    fn add(&mut self, kind: Kind, step: Step) {
        // `Kind::ALL` lists the variants in declaration order, so the discriminant is the index.
        let i = kind as usize;
        match step {
            Step::Created => self.created[i] += 1,
            Step::Found => self.found[i] += 1,
        }
    }

    fn add_some(&mut self, kind: Kind, step: Option<Step>) {
        if let Some(step) = step {
            self.add(kind, step);
        }
    }

    fn json(counts: &[u64]) -> Value {
        Value::Object(
            Kind::ALL
                .iter()
                .zip(counts)
                .map(|(k, n)| (k.label().to_owned(), json!(n)))
                .collect(),
        )
    }
}

// Seeding.

async fn seed(client: &Client, format: Format, n: u32, notify_others: bool, trust: &Trust) -> Result<(), Failure> {
    require_admin(client).await?;
    let mut tally = Tally::default();
    // Channels first: the demo policies name one, and notifications are written only for
    // channels that exist when their event happens.
    let ops = ensure_channels(client, notify_others, &mut tally).await?;
    let (manual, fast) = ensure_policies(client, ops.id, &mut tally).await?;
    let profiles = ensure_profiles(client, manual, fast, &mut tally).await?;
    let (web_ca, device_ca) = ensure_issuers(client, &mut tally).await?;
    let ids = Ids {
        web_ca,
        device_ca,
        profiles,
        manual,
    };

    let plan = plan(n);
    let pending = pending_names(n);
    let have = existing_certificates(client).await?;
    let names: HashSet<&str> = plan
        .iter()
        .map(|p| p.cn.as_str())
        .chain(pending.iter().map(String::as_str))
        .collect();
    let waiting = waiting_issue_jobs(client, &ids, &names).await?;
    let requester = if needs_requester(&plan, &pending, &have, &waiting) {
        Some(Requester::create(client, trust, &mut tally).await?)
    } else {
        count_requester_keys(client, &mut tally).await?;
        None
    };
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        requester: requester.as_ref().map(|r| r.client.clone()),
        ids,
    });
    let work = async {
        seed_certificates(&ctx, &plan, &have, &waiting, &mut tally).await?;
        seed_pending(&ctx, &pending, &have, &waiting, &mut tally).await
    };
    // Interrupted with Ctrl-C, the run still retires the key below before it stops; a rerun
    // completes what was cut short.
    let work = tokio::select! {
        done = work => done,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted; run demo seed again to complete the estate").into()),
    };
    // Whatever happened, the requester key is not left usable: its secret is gone with this run.
    if let Some(r) = &requester {
        r.retire(client).await;
    }
    work?;
    seed_channel_tests(client, &ops, &mut tally).await?;
    report(format, &tally, &PlanCounts::of(&plan, &pending), client.server());
    Ok(())
}

async fn require_admin(client: &Client) -> Result<(), Failure> {
    let me = client.me().await?.value;
    if me.role != Role::Admin {
        return Err(anyhow!(
            "demo seed needs an admin key (it creates issuers, profiles, channels and an API key); {} is {}",
            me.principal,
            me.role
        )
        .into());
    }
    Ok(())
}

/// The item already there, or the one `create` makes; counted under `kind` either way.
async fn ensure<T: Clone, Fut>(
    tally: &mut Tally,
    kind: Kind,
    found: Option<&T>,
    create: impl FnOnce() -> Fut,
) -> Result<T, Failure>
where
    Fut: Future<Output = Result<Reply<T>, ClientError>>,
{
    if let Some(item) = found {
        tally.add(kind, Step::Found);
        return Ok(item.clone());
    }
    let made = create().await?.value;
    tally.add(kind, Step::Created);
    Ok(made)
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The three demo channels; returns the failing webhook, the one that gets the channel tests.
/// Refuses, unless `notify_others`, while another channel is enabled: every enabled channel
/// subscribed to an event gets it, so a real Slack or pager would hear the whole demo.
async fn ensure_channels(client: &Client, notify_others: bool, tally: &mut Tally) -> Result<ChannelOut, Failure> {
    let all = client.list_channels().await?.value.data;
    let find = |name: &str| all.iter().find(|c| c.name == name);
    let others: Vec<&str> = all
        .iter()
        .filter(|c| c.enabled && ![OPS_WEBHOOK, SLACK, PAGERDUTY].contains(&c.name.as_str()))
        .map(|c| c.name.as_str())
        .collect();
    if !others.is_empty() && !notify_others {
        return Err(anyhow!(
            "enabled channels would receive the demo's notifications: {}; disable them first \
             (certctl channels update NAME --disable), or pass --notify-other-channels",
            others.join(", ")
        )
        .into());
    }
    // 32 hex digits are also valid base64 (a multiple of four characters, no padding): they
    // decode to 24 bytes, inside the 16-64 bytes a Standard Webhooks key must have.
    let secret = format!("whsec_{}", uuid::Uuid::new_v4().simple());
    let ops = ChannelIn {
        name: OPS_WEBHOOK.to_owned(),
        kind: ChannelKind::Webhook,
        config: object(json!({ "url": format!("{NOWHERE}/certctl-demo"), "secret": secret })),
        event_types: vec![
            EventType::CertificateRevoked,
            EventType::ApprovalRequested,
            EventType::RenewalFailed,
            EventType::ExpirationWarning,
        ],
        enabled: true,
    };
    let ops = ensure(tally, Kind::Channels, find(OPS_WEBHOOK), || client.create_channel(&ops)).await?;
    // Disabled, as a channel being set up or paused would be: they receive nothing.
    let slack = ChannelIn {
        name: SLACK.to_owned(),
        kind: ChannelKind::Slack,
        config: object(json!({ "webhook_url": format!("{NOWHERE}/services/demo") })),
        event_types: vec![EventType::CertificateRevoked, EventType::CertificateIssued],
        enabled: false,
    };
    ensure(tally, Kind::Channels, find(SLACK), || client.create_channel(&slack)).await?;
    let pager = ChannelIn {
        name: PAGERDUTY.to_owned(),
        kind: ChannelKind::Pagerduty,
        config: object(json!({ "routing_key": "demo-not-a-routing-key", "severity": "critical", "api_url": NOWHERE })),
        event_types: vec![EventType::RenewalFailed, EventType::ExpirationWarning],
        enabled: false,
    };
    ensure(tally, Kind::Channels, find(PAGERDUTY), || client.create_channel(&pager)).await?;
    Ok(ops)
}

/// `demo-manual` (nobody renews: certificates go `expiring`) and `demo-fast` (renews by itself,
/// telling the ops webhook).
async fn ensure_policies(
    client: &Client,
    ops: ChannelId,
    tally: &mut Tally,
) -> Result<(RenewalPolicyId, RenewalPolicyId), Failure> {
    let all = client.list_policies().await?.value.data;
    let find = |name: &str| all.iter().find(|p| p.name == name);
    let policy = |name: &str, auto_renew: bool| RenewalPolicyIn {
        name: name.to_owned(),
        renew_before_seconds: None,
        renew_at_fraction: Some(DEMO_FRACTION),
        auto_renew,
        rotate_key: false,
        max_attempts: 3,
        retry_interval_seconds: 600,
        warning_days: None,
        channel_ids: None,
    };
    // Both policies keep their warnings and renewal news on the demo's own webhook.
    let manual = RenewalPolicyIn {
        warning_days: Some(vec![7, 1]),
        channel_ids: Some(vec![ops]),
        ..policy(MANUAL, false)
    };
    let fast = RenewalPolicyIn {
        channel_ids: Some(vec![ops]),
        ..policy(FAST, true)
    };
    let kind = Kind::Policies;
    let manual = ensure(tally, kind, find(MANUAL), || client.create_policy(&manual)).await?;
    let fast = ensure(tally, kind, find(FAST), || client.create_policy(&fast)).await?;
    Ok((manual.id, fast.id))
}

/// The demo profiles' ids.
#[derive(Clone, Copy, Debug)]
struct Profiles {
    web: ProfileId,
    mtls: ProfileId,
    short: ProfileId,
    approval: ProfileId,
}

async fn ensure_profiles(
    client: &Client,
    manual: RenewalPolicyId,
    fast: RenewalPolicyId,
    tally: &mut Tally,
) -> Result<Profiles, Failure> {
    let all = client.list_profiles().await?.value.data;
    let find = |name: &str| all.iter().find(|p| p.name == name);
    let names = SanRules {
        allowed_domains: vec![DOMAIN.to_owned()],
        allow_subdomains: true,
        ..SanRules::default()
    };
    let profile = |name: &str, description: &str, max_ttl_seconds: i64, ekus: Vec<Eku>| ProfileIn {
        name: name.to_owned(),
        description: description.to_owned(),
        max_ttl_seconds,
        allowed_key_algorithms: vec![KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384, KeyAlgorithm::Rsa2048],
        ekus,
        san_rules: names.clone(),
        requires_approval: false,
        allow_short_lived: false,
        renewal_policy_id: None,
    };
    let web = profile(
        WEB_PROFILE,
        "TLS server certificates of at most 47 days: the CA/Browser Forum (ballot SC-081) lowers \
         the lifetime of public TLS certificates in steps to 47 days by 2029, so renewal must be automatic.",
        47 * DAY,
        vec![Eku::ServerAuth],
    );
    let mtls = profile(
        MTLS_PROFILE,
        "Service-to-service mutual TLS inside the mesh: server and client authentication, up to 90 days.",
        90 * DAY,
        vec![Eku::ServerAuth, Eku::ClientAuth],
    );
    let short = ProfileIn {
        allowed_key_algorithms: vec![KeyAlgorithm::EcdsaP256],
        allow_short_lived: true,
        renewal_policy_id: Some(manual),
        ..profile(
            SHORT_PROFILE,
            "Workload credentials of a few minutes (RFC 9608: no CRL or OCSP); nobody renews them, they expire.",
            300,
            vec![Eku::ClientAuth],
        )
    };
    let approval = ProfileIn {
        allowed_key_algorithms: vec![KeyAlgorithm::EcdsaP256],
        requires_approval: true,
        renewal_policy_id: Some(fast),
        ..profile(
            APPROVAL_PROFILE,
            "Payment services: every issuance and renewal waits for a second person's approval.",
            30 * DAY,
            vec![Eku::ServerAuth],
        )
    };
    let kind = Kind::Profiles;
    Ok(Profiles {
        web: ensure(tally, kind, find(WEB_PROFILE), || client.create_profile(&web))
            .await?
            .id,
        mtls: ensure(tally, kind, find(MTLS_PROFILE), || client.create_profile(&mtls))
            .await?
            .id,
        short: ensure(tally, kind, find(SHORT_PROFILE), || client.create_profile(&short))
            .await?
            .id,
        approval: ensure(tally, kind, find(APPROVAL_PROFILE), || client.create_profile(&approval))
            .await?
            .id,
    })
}

/// A root and two intermediates under it; returns (web CA, device CA).
async fn ensure_issuers(client: &Client, tally: &mut Tally) -> Result<(IssuerId, IssuerId), Failure> {
    let all = client.list_issuers().await?.value.data;
    let find = |name: &str| all.iter().find(|i| i.name == name);
    let issuer = |name: &str, common_name: &str, key_algorithm, parent_issuer_id| IssuerIn {
        name: name.to_owned(),
        common_name: common_name.to_owned(),
        key_algorithm,
        parent_issuer_id,
        validity_days: None,
        crl_shards: None,
    };
    let kind = Kind::Issuers;
    let root = issuer(ROOT_CA, "certctl Demo Root CA", KeyAlgorithm::EcdsaP384, None);
    let root = ensure(tally, kind, find(ROOT_CA), || client.create_issuer(&root)).await?;
    let web = issuer(WEB_CA, "certctl Demo Web CA", KeyAlgorithm::EcdsaP256, Some(root.id));
    let web = ensure(tally, kind, find(WEB_CA), || client.create_issuer(&web)).await?;
    let device = issuer(
        DEVICE_CA,
        "certctl Demo Device CA",
        KeyAlgorithm::Rsa3072,
        Some(root.id),
    );
    let device = ensure(tally, kind, find(DEVICE_CA), || client.create_issuer(&device)).await?;
    Ok((web.id, device.id))
}

/// Every page of a list, without the JSON `pages` keeps for printing.
async fn every<T, F, Fut>(fetch: F) -> Result<Vec<T>, Failure>
where
    F: FnMut(Option<String>, Option<u64>) -> Fut,
    Fut: Future<Output = Result<Reply<certctl_types::api::ListOut<T>>, ClientError>>,
{
    let all = Page {
        all: true,
        limit: Some(MAX_PAGE),
        cursor: None,
    };
    Ok(pages(&all, fetch).await?.0)
}

/// The demo's certificates already there, by common name (a renewed one has several).
async fn existing_certificates(client: &Client) -> Result<HashMap<String, Vec<CertificateOut>>, Failure> {
    let found = every(|cursor, limit| {
        let q = CertificateQuery {
            q: Some(DOMAIN.to_owned()),
            cursor,
            limit,
            ..CertificateQuery::default()
        };
        async move { client.list_certificates(&q).await }
    })
    .await?;
    let mut by_name: HashMap<String, Vec<CertificateOut>> = HashMap::new();
    for c in found {
        by_name.entry(c.common_name.clone()).or_default().push(c);
    }
    Ok(by_name)
}

/// The issuance requests the demo filed that wait for an approver, by the common name they ask
/// for. A request that was rejected is filed again by the next run, which so restores the demo's
/// pending approvals. A waiting request for a demo name that the demo did not file (another
/// requester, profile or issuer, or other names) stops the run: the caller would otherwise
/// approve, under its own name, a certificate someone else asked for.
async fn waiting_issue_jobs(
    client: &Client,
    ids: &Ids,
    names: &HashSet<&str>,
) -> Result<HashMap<String, JobId>, Failure> {
    let jobs: Vec<JobOut> = every(|cursor, limit| {
        let q = JobQuery {
            status: Some(JobStatus::AwaitingApproval),
            cursor,
            limit,
        };
        async move { client.list_jobs(&q).await }
    })
    .await?;
    let mut ours = HashMap::new();
    for job in jobs.into_iter().filter(|j| j.kind == "issue") {
        let Some(cn) = job.request.get("common_name").and_then(Value::as_str) else {
            continue;
        };
        if !names.contains(cn) {
            continue;
        }
        let only_its_name = job.request.get("sans").is_none_or(|s| s.is_null() || *s == json!([cn]));
        let filed_by_demo = job.requested_by == REQUESTER
            && job.profile_id == ids.profiles.approval
            && job.issuer_id == ids.web_ca
            && only_its_name;
        if !filed_by_demo {
            return Err(anyhow!(
                "job {} asks for {cn}, a demo name, but demo seed did not file it (requested by {}); \
                 approve or reject it yourself, then run demo seed again",
                job.id,
                job.requested_by
            )
            .into());
        }
        ours.insert(cn.to_owned(), job.id);
    }
    Ok(ours)
}

/// Whether anything must be filed for approval in this run.
fn needs_requester(
    plan: &[Planned],
    pending: &[String],
    have: &HashMap<String, Vec<CertificateOut>>,
    waiting: &HashMap<String, JobId>,
) -> bool {
    let missing = |cn: &String| !have.contains_key(cn) && !waiting.contains_key(cn);
    plan.iter().any(|p| p.group == Group::Gated && missing(&p.cn)) || pending.iter().any(missing)
}

/// The second principal of the four-eyes rule. The API refuses an approval by the requester, and
/// also by any key the requesting key created; so the caller cannot file with its own key and
/// approve with one it makes. The other way round is allowed: the operator key made here files
/// the approval-gated requests, and the caller's admin key approves them. The key's secret lives
/// only in this process, and the key is disabled at the end of the run.
struct Requester {
    client: Client,
    key_id: ApiKeyId,
}

impl Requester {
    async fn create(client: &Client, trust: &Trust, tally: &mut Tally) -> Result<Self, Failure> {
        let taken: Vec<String> = client
            .list_keys()
            .await?
            .value
            .data
            .into_iter()
            .map(|k| k.name)
            .collect();
        // Names are unique and a disabled key keeps its name: a later run needs the next free one.
        let name = std::iter::once(REQUESTER.to_owned())
            .chain((2..).map(|k| format!("{REQUESTER}-{k}")))
            .find(|n| !taken.contains(n))
            .unwrap_or_else(|| REQUESTER.to_owned());
        let made = client
            .create_key(&ApiKeyIn {
                name,
                role: Role::Operator,
                principal: Some(REQUESTER.to_owned()),
                // Should disabling it at the end fail, it stops working by itself.
                expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
            })
            .await?
            .value;
        tally.add(Kind::ApiKeys, Step::Created);
        let connected = super::connect(
            Some(client.server()),
            Some(made.key),
            None,
            trust.ca_bundle.as_deref(),
            trust.context.as_deref(),
        );
        match connected {
            Ok(requester) => Ok(Self {
                client: requester,
                key_id: made.api_key.id,
            }),
            Err(e) => {
                retire(client, made.api_key.id).await;
                Err(e)
            }
        }
    }

    async fn retire(&self, client: &Client) {
        retire(client, self.key_id).await;
    }
}

/// Disables a requester key, or says how to; it expires within the hour anyway.
async fn retire(client: &Client, id: ApiKeyId) {
    if let Err(e) = client.disable_key(id).await {
        eprintln!(
            "warning: cannot disable the demo requester key {id} ({e}); it expires within the hour, \
             or run: certctl keys disable {id}"
        );
    }
}

/// Counts the requester keys of earlier runs, when this run needs none.
async fn count_requester_keys(client: &Client, tally: &mut Tally) -> Result<(), Failure> {
    for key in client.list_keys().await?.value.data {
        if key.principal == REQUESTER {
            tally.add(Kind::ApiKeys, Step::Found);
        }
    }
    Ok(())
}

/// The ids the certificates are issued under.
#[derive(Clone, Copy, Debug)]
struct Ids {
    web_ca: IssuerId,
    device_ca: IssuerId,
    profiles: Profiles,
    manual: RenewalPolicyId,
}

impl Ids {
    fn issuer(&self, group: Group) -> IssuerId {
        match group {
            Group::Web | Group::Legacy | Group::Gated => self.web_ca,
            Group::Mesh | Group::ShortLived => self.device_ca,
        }
    }

    fn profile(&self, group: Group) -> ProfileId {
        match group {
            Group::Web | Group::Legacy => self.profiles.web,
            Group::Mesh => self.profiles.mtls,
            Group::ShortLived => self.profiles.short,
            Group::Gated => self.profiles.approval,
        }
    }
}

/// What the seeding tasks share.
struct Ctx {
    client: Client,
    requester: Option<Client>,
    ids: Ids,
}

impl Ctx {
    fn requester(&self) -> Result<&Client, Failure> {
        self.requester
            .as_ref()
            .ok_or_else(|| anyhow!("no requester key was made for this run").into())
    }
}

/// What one planned certificate needed.
#[derive(Debug)]
struct Settled {
    certificate: Step,
    revocation: Option<Step>,
    renewal: Option<Step>,
    policy: Option<Step>,
}

/// Seeds every planned certificate, `IN_FLIGHT` at a time.
async fn seed_certificates(
    ctx: &Arc<Ctx>,
    plan: &[Planned],
    have: &HashMap<String, Vec<CertificateOut>>,
    waiting: &HashMap<String, JobId>,
    tally: &mut Tally,
) -> Result<(), Failure> {
    let bar = progress("seeding certificates", Some(plan.len() as u64));
    let mut running = JoinSet::new();
    let mut record = |done: Settled| {
        tally.add(Kind::Certificates, done.certificate);
        tally.add_some(Kind::Revocations, done.revocation);
        tally.add_some(Kind::Renewals, done.renewal);
        tally.add_some(Kind::PolicyOverrides, done.policy);
        bar.inc(1);
    };
    for p in plan {
        if running.len() >= IN_FLIGHT {
            record(joined(running.join_next().await)?);
        }
        let ctx = Arc::clone(ctx);
        let (p, had, job) = (
            p.clone(),
            have.get(&p.cn).cloned().unwrap_or_default(),
            waiting.get(&p.cn).copied(),
        );
        running.spawn(async move {
            let cn = p.cn.clone();
            settle(&ctx, p, had, job)
                .await
                .map_err(|e| Failure::Other(anyhow!("{cn}: {e}")))
        });
    }
    while let Some(done) = running.join_next().await {
        record(joined(Some(done))?);
    }
    bar.finish_and_clear();
    Ok(())
}

fn joined(done: Option<Result<Result<Settled, Failure>, tokio::task::JoinError>>) -> Result<Settled, Failure> {
    match done {
        Some(Ok(settled)) => settled,
        Some(Err(e)) => Err(anyhow!("a seeding task stopped: {e}").into()),
        None => Err(anyhow!("no seeding task was running").into()),
    }
}

/// Brings one planned certificate where the plan wants it, doing only what is missing.
async fn settle(ctx: &Ctx, p: Planned, had: Vec<CertificateOut>, job: Option<JobId>) -> Result<Settled, Failure> {
    let (cert, certificate) = match had.iter().max_by_key(|c| c.created_at) {
        Some(newest) => (newest.clone(), Step::Found),
        None => (obtain(ctx, &p, job).await?, Step::Created),
    };
    let mut settled = Settled {
        certificate,
        revocation: None,
        renewal: None,
        policy: None,
    };
    match p.fate {
        Fate::Revoke(reason) => settled.revocation = Some(revoke_once(&ctx.client, &had, &cert, reason).await?),
        Fate::Renew => settled.renewal = renew_once(&ctx.client, &had, &cert).await?,
        Fate::Keep => {}
    }
    if p.group == Group::Legacy {
        settled.policy = manual_once(ctx, &cert).await?;
    }
    Ok(settled)
}

/// A new certificate for `p`: issued at once, or filed and approved.
async fn obtain(ctx: &Ctx, p: &Planned, job: Option<JobId>) -> Result<CertificateOut, Failure> {
    if p.group == Group::Gated {
        let job = match job {
            Some(job) => job,
            None => file(ctx.requester()?, &ctx.ids, p).await?,
        };
        return approve(&ctx.client, job).await;
    }
    let body = IssueIn {
        issuer_id: ctx.ids.issuer(p.group),
        profile_id: ctx.ids.profile(p.group),
        common_name: p.cn.clone(),
        sans: Some(p.sans.clone()),
        ttl_seconds: Some(p.ttl_seconds),
        csr_pem: None,
        key_algorithm: Some(p.key),
    };
    match ctx.client.issue(&body).await?.value {
        // The generated private key is dropped here on purpose: nobody should hold a key to a demo
        // certificate.
        Issued::Certificate(c) => Ok(c.certificate),
        Issued::AwaitingApproval(job) => Err(anyhow!(
            "its profile now requires approval (job {} was filed); demo seed expects the demo profiles as it made them",
            job.job_id
        )
        .into()),
    }
}

/// Files an issuance request under the approval profile, as the requester.
async fn file(requester: &Client, ids: &Ids, p: &Planned) -> Result<JobId, Failure> {
    let body = IssueIn {
        issuer_id: ids.issuer(p.group),
        profile_id: ids.profile(p.group),
        common_name: p.cn.clone(),
        sans: None,
        ttl_seconds: Some(p.ttl_seconds),
        csr_pem: Some(throwaway_csr(&p.cn)?),
        key_algorithm: None,
    };
    match requester.issue(&body).await?.value {
        Issued::AwaitingApproval(job) => Ok(job.job_id),
        Issued::Certificate(c) => Err(anyhow!(
            "{APPROVAL_PROFILE} issued certificate {} without approval: the profile no longer requires it",
            c.certificate.id
        )
        .into()),
    }
}

/// Approves a job as the caller, and returns the certificate it issued.
async fn approve(client: &Client, job: JobId) -> Result<CertificateOut, Failure> {
    let decided = client
        .decide(
            job,
            true,
            &DecisionIn {
                note: Some(APPROVAL_NOTE.to_owned()),
            },
        )
        .await?
        .value;
    match (decided.status, decided.certificate_id) {
        (JobStatus::Approved, Some(id)) => Ok(client.get_certificate(id).await?.value),
        (status, _) => Err(anyhow!(
            "approving job {job} left it {status}: {}",
            decided.error.unwrap_or_else(|| "no certificate".to_owned())
        )
        .into()),
    }
}

/// Revokes the newest certificate of the name, unless one of them is revoked already.
async fn revoke_once(
    client: &Client,
    had: &[CertificateOut],
    newest: &CertificateOut,
    reason: &str,
) -> Result<Step, Failure> {
    let revoked = |c: &CertificateOut| c.status == CertificateStatus::Revoked;
    if revoked(newest) || had.iter().any(revoked) {
        return Ok(Step::Found);
    }
    client
        .revoke(
            newest.id,
            &RevokeIn {
                reason: Some(reason.to_owned()),
            },
        )
        .await?;
    Ok(Step::Created)
}

/// Renews the newest certificate of the name once; nothing when someone revoked it meanwhile.
async fn renew_once(client: &Client, had: &[CertificateOut], newest: &CertificateOut) -> Result<Option<Step>, Failure> {
    if had.iter().any(|c| c.status == CertificateStatus::Renewed) {
        return Ok(Some(Step::Found));
    }
    if newest.status == CertificateStatus::Revoked {
        return Ok(None);
    }
    client.renew(newest.id, &RenewIn::default()).await?;
    Ok(Some(Step::Created))
}

/// Makes a certificate follow `demo-manual` instead of its profile's policy; nothing once it is
/// no longer live (a policy means nothing to it then).
async fn manual_once(ctx: &Ctx, cert: &CertificateOut) -> Result<Option<Step>, Failure> {
    if cert.renewal_policy_id == Some(ctx.ids.manual) {
        return Ok(Some(Step::Found));
    }
    if !cert.status.is_live() {
        return Ok(None);
    }
    let body = CertificatePolicyIn {
        renewal_policy_id: Some(ctx.ids.manual),
    };
    ctx.client.set_certificate_policy(cert.id, &body).await?;
    Ok(Some(Step::Created))
}

/// Files the issuance requests left for an approver to decide.
async fn seed_pending(
    ctx: &Ctx,
    pending: &[String],
    have: &HashMap<String, Vec<CertificateOut>>,
    waiting: &HashMap<String, JobId>,
    tally: &mut Tally,
) -> Result<(), Failure> {
    for cn in pending {
        if have.contains_key(cn) || waiting.contains_key(cn) {
            tally.add(Kind::PendingApprovals, Step::Found);
            continue;
        }
        let p = Planned {
            cn: cn.clone(),
            group: Group::Gated,
            fate: Fate::Keep,
            ttl_seconds: 30 * DAY,
            key: KeyAlgorithm::EcdsaP256,
            sans: vec![cn.clone()],
        };
        file(ctx.requester()?, &ctx.ids, &p)
            .await
            .map_err(|e| Failure::Other(anyhow!("{cn}: {e}")))?;
        tally.add(Kind::PendingApprovals, Step::Created);
    }
    Ok(())
}

/// Test notifications on the failing channel, up to `CHANNEL_TESTS` of them.
async fn seed_channel_tests(client: &Client, ops: &ChannelOut, tally: &mut Tally) -> Result<(), Failure> {
    let q = NotificationQuery {
        channel_id: Some(ops.id),
        event_type: Some(EventType::ChannelTest),
        limit: Some(1),
        ..NotificationQuery::default()
    };
    let sent = client.list_notifications(&q).await?.value.total;
    for _ in 0..sent.min(CHANNEL_TESTS) {
        tally.add(Kind::ChannelTests, Step::Found);
    }
    if sent >= CHANNEL_TESTS {
        return Ok(());
    }
    // A test on a disabled channel is refused; someone paused it on purpose, so leave it be.
    if !ops.enabled {
        eprintln!("{OPS_WEBHOOK} is disabled: no test notifications sent to it");
        return Ok(());
    }
    for _ in sent..CHANNEL_TESTS {
        client.test_channel(ops.id).await?;
        tally.add(Kind::ChannelTests, Step::Created);
    }
    Ok(())
}

// The summary.

fn report(format: Format, tally: &Tally, counts: &PlanCounts, server: &str) {
    let raw = json!({
        "server": server,
        "created": Tally::json(&tally.created),
        "found": Tally::json(&tally.found),
        "plan": counts.json(),
    });
    output::print(format, &raw, || {
        let mut t = Table::new(&["KIND", "CREATED", "FOUND"]);
        for (i, kind) in Kind::ALL.iter().enumerate() {
            t.row(vec![
                kind.label().to_owned(),
                tally.created[i].to_string(),
                tally.found[i].to_string(),
            ]);
        }
        format!("{}\n{}", t.render(), what_happens_next(counts))
    });
}

/// What the worker changes over the next minutes, so the reader knows what to look for.
fn what_happens_next(c: &PlanCounts) -> String {
    format!(
        "Now: {revoked} revoked, {renewed} renewed (each with an active successor), {pending} issuance \
         requests awaiting approval.
With the worker running (its renewal loop ticks every CERTCTL_RENEWAL_INTERVAL, 60 s by default):
  - at its next tick, the {short} batch-* certificates ({SHORT_PROFILE}, policy {MANUAL}) become expiring,
    and expired 60-120 s after they were issued;
  - about 17 s after seeding, the {legacy} legacy-* certificates (policy {MANUAL}) become expiring,
    and stay so until someone renews them;
  - about 9 s after seeding, the {gated} pay-* certificates ({APPROVAL_PROFILE}, policy {FAST}) get automatic
    renewal jobs that wait for approval: renewal_in_progress, and more jobs awaiting approval;
  - everything sent to {OPS_WEBHOOK} (a test, revocations, approval requests) fails, is retried and ends
    dead: within a minute with scripts/dev.sh's retry settings, about 15 minutes with the defaults.
See: certctl status; certctl certs list --status expiring; certctl jobs list --status awaiting_approval;
     certctl notifications list --status dead
",
        revoked = c.revoked,
        renewed = c.renewed,
        pending = c.pending,
        short = c.short_lived,
        legacy = c.legacy,
        gated = c.gated,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_mixes_every_kind_in_the_announced_shares() {
        let plan = plan(300);
        let c = PlanCounts::of(&plan, &pending_names(300));
        assert_eq!(
            c,
            PlanCounts {
                web: 132,
                mesh: 138,
                legacy: 12,
                short_lived: 12,
                gated: 6,
                revoked: 30,
                renewed: 24,
                pending: 6,
            }
        );
        let mut names: Vec<&str> = plan.iter().map(|p| p.cn.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 300, "every name is distinct");
    }

    #[test]
    fn every_kind_is_counted_in_its_own_place() {
        for (i, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i, "{kind:?}");
        }
    }

    #[test]
    fn a_larger_run_extends_a_smaller_one() {
        let small = plan(60);
        let large = plan(500);
        for (a, b) in small.iter().zip(&large) {
            assert_eq!((&a.cn, a.group, a.fate), (&b.cn, b.group, b.fate));
        }
        assert_eq!(pending_names(60), pending_names(100));
    }

    #[test]
    fn every_certificate_fits_its_profile() {
        for p in plan(1000) {
            assert!(p.cn.ends_with(".demo.internal") && p.cn.len() <= 64, "{}", p.cn);
            let (max, algorithms): (i64, &[KeyAlgorithm]) = match p.group {
                Group::Web | Group::Legacy => (
                    47 * DAY,
                    &[KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384, KeyAlgorithm::Rsa2048],
                ),
                Group::Mesh => (
                    90 * DAY,
                    &[KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384, KeyAlgorithm::Rsa2048],
                ),
                Group::ShortLived => (300, &[KeyAlgorithm::EcdsaP256]),
                Group::Gated => (30 * DAY, &[KeyAlgorithm::EcdsaP256]),
            };
            assert!(p.ttl_seconds <= max && algorithms.contains(&p.key), "{p:?}");
            // Under an hour only where the profile allows short-lived certificates.
            assert_eq!(p.ttl_seconds < 3600, p.group == Group::ShortLived, "{p:?}");
            assert!((60..=120).contains(&p.ttl_seconds) || p.group != Group::ShortLived);
        }
    }

    #[test]
    fn the_demo_windows_open_within_a_minute() {
        for (ttl, at_most) in [(DAY, 10.0), (2 * DAY, 20.0)] {
            let opens = ttl as f64 * DEMO_FRACTION;
            assert!(opens <= at_most, "{ttl}: {opens}");
        }
    }

    #[test]
    fn the_webhook_secret_is_a_valid_standard_webhooks_key() {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        assert_eq!(hex.len() % 4, 0);
        // 4 base64 characters carry 3 bytes.
        assert!((16..=64).contains(&(hex.len() / 4 * 3)));
        assert!(hex.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}

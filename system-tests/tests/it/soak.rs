//! The soak test: the cluster of `scripts/cluster.sh` (2 api-servers, 3 notifier-workers and 2
//! responders behind HAProxy) under continuous issuance, revocation, notifications (to a receiver
//! that fails some attempts) and OCSP traffic, while every replica is restarted one at a time,
//! one of each daemon is killed -9, and RabbitMQ and PostgreSQL are restarted. Then the counts:
//! no notification lost, no OCSP failure through graceful restarts, no issuance failure a client
//! could not retry, CRL numbers only ever increasing, every revocation seen by both responders.
//!
//! One cycle (rolling restart, then the kills) runs by default, with `CERTCTL_SOAK_STEADY_SECONDS`
//! (default 4) of steady load between disruptions. With `CERTCTL_SOAK_SECONDS=600` the cycles
//! repeat for ten minutes before the broker and database restarts:
//!
//! ```sh
//! CERTCTL_SOAK_SECONDS=600 CERTCTL_SOAK_STEADY_SECONDS=15 \
//!   cargo nextest run --workspace --run-ignored only --no-capture soak
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::faults::{assert_notifications_settled, restart_postgres, restart_rabbitmq};
use crate::helpers::{Sql, openssl, pg_base, tempdir, write};

/// Ports BASE+10.. of the replicas and BASE+80/81 of the load balancer (see scripts/cluster.sh).
const PORT_BASE: u16 = 27200;
/// The revocation bound the docs give for a running responder is one refresh interval (500 ms);
/// this allows for the polling here and a loaded machine.
const VISIBLE_WITHIN: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Steady,
    Rolling,
    Killing,
    Broker,
    Database,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Steady => "steady",
            Phase::Rolling => "rolling restart (SIGTERM)",
            Phase::Killing => "kill -9",
            Phase::Broker => "RabbitMQ restart",
            Phase::Database => "PostgreSQL restart",
        }
    }

    /// Phases in which every request must succeed (or be refused with a retryable answer).
    fn graceful(self) -> bool {
        matches!(self, Phase::Steady | Phase::Rolling)
    }
}

/// One revocation followed on both responders.
#[derive(Clone)]
struct Visibility {
    /// Time from the revocation's 200 until each responder answered `revoked`.
    seen: [Option<Duration>; 2],
    /// Whether a replica restart or a broker or database restart overlapped that time (then the
    /// bound does not apply).
    disrupted: bool,
}

/// What the load saw: (kind, phase, outcome) -> count.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<(&'static str, Phase, String), u64>>);

impl Tally {
    fn add(&self, kind: &'static str, phase: Phase, outcome: impl Into<String>) {
        *self.0.lock().unwrap().entry((kind, phase, outcome.into())).or_default() += 1;
    }

    fn failures(&self, kind: &'static str, filter: impl Fn(Phase) -> bool) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|((k, p, o), _)| *k == kind && filter(*p) && !o.starts_with("ok") && !o.starts_with("retryable"))
            .map(|((_, p, o), n)| format!("{n} x {o} during {}", p.name()))
            .collect()
    }

    fn print(&self) {
        for ((kind, phase, outcome), n) in self.0.lock().unwrap().iter() {
            println!("soak:   {kind:<10} {:<26} {outcome:<40} {n}", phase.name());
        }
    }
}

/// The shared state of the load.
struct Load {
    http: reqwest::Client,
    api: String,
    pki: String,
    responders: [String; 2],
    key: String,
    issuer: String,
    profile: String,
    ca_file: String,
    dir: PathBuf,
    phase: Mutex<Phase>,
    stop: AtomicBool,
    tally: Tally,
    /// Certificates issued (id, leaf PEM, serial hex), in order; revocation takes them in turn.
    issued: Mutex<Vec<(String, String, String)>>,
    /// The next certificate to revoke (an index into `issued`), and the revocations answered 200.
    next_to_revoke: AtomicUsize,
    revoked: AtomicUsize,
    /// OCSP requests (DER) for a few certificates, replayed by the OCSP load.
    ocsp_requests: Mutex<Vec<Vec<u8>>>,
    visibility: Mutex<Vec<Visibility>>,
    /// Restarts in progress (the phase is not steady while one runs).
    disrupted_at: Mutex<Vec<(Instant, Option<Instant>)>>,
    /// CRL numbers each responder served, in the order seen.
    crl_numbers: [Mutex<Vec<u64>>; 2],
}

impl Load {
    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap()
    }

    fn set_phase(&self, phase: Phase) {
        *self.phase.lock().unwrap() = phase;
        let mut d = self.disrupted_at.lock().unwrap();
        if phase == Phase::Steady {
            if let Some(last) = d.last_mut() {
                last.1.get_or_insert(Instant::now());
            }
        } else if d.last().is_none_or(|l| l.1.is_some()) {
            d.push((Instant::now(), None));
        }
    }

    /// Whether a disruption overlapped `[from, to]`.
    fn disrupted_between(&self, from: Instant, to: Instant) -> bool {
        self.disrupted_at
            .lock()
            .unwrap()
            .iter()
            .any(|(s, e)| *s <= to && e.is_none_or(|e| e >= from))
    }

    /// Classifies an API answer: success, a retryable refusal (503 with Retry-After), or a failure.
    fn api_outcome(r: &Result<reqwest::Response, reqwest::Error>, want: u16) -> String {
        match r {
            Ok(r) if r.status().as_u16() == want => "ok".into(),
            Ok(r) if r.status() == 503 && r.headers().contains_key("retry-after") => {
                "retryable 503 + Retry-After".into()
            }
            Ok(r) => format!("status {}", r.status().as_u16()),
            Err(e) => format!("transport error: {}", error_kind(e)),
        }
    }
}

fn error_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timeout".into();
    }
    if e.is_connect() {
        return "connect".into();
    }
    // The innermost cause (hyper's "connection closed before message completed", say).
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// How long a client keeps retrying one request (503s and cuts) before it counts as failed.
const GIVE_UP_AFTER: Duration = Duration::from_secs(90);

/// A cut is expected only where a replica is killed: when the request was sent or answered in
/// such a phase. Otherwise it is a failure (still retried, so the rest of the run goes on).
fn cut_outcome(sent: Phase, answered: Phase, outcome: &str) -> String {
    if sent.graceful() && answered.graceful() {
        format!("cut without a crash ({outcome})")
    } else {
        format!("retryable: cut by a crash ({outcome})")
    }
}

/// Whether an API answer says the request was cut inside a replica that died: HAProxy's 502, or
/// the client's connection closed without an answer. The request may or may not have been
/// carried out.
fn cut(outcome: &str) -> bool {
    outcome == "status 502" || outcome.starts_with("transport error")
}

/// Issues certificates back to back through the load balancer, each from a CSR with its own
/// `Idempotency-Key`, as a careful client does: a 503 is retried after its pause, and a request
/// cut by a crash is sent again with the same key, which returns the certificate if the first
/// attempt had issued it. Every attempt is tallied by what came back.
async fn issue_loop(load: Arc<Load>, worker: usize) {
    let mut n = 0;
    while !load.stop.load(Ordering::Relaxed) {
        n += 1;
        let cn = format!("soak-{worker}-{n}.example.net");
        let body = json!({
            "issuer_id": load.issuer, "profile_id": load.profile, "common_name": cn,
            "csr_pem": crate::helpers::csr_pem(&[&cn]),
        });
        let key = uuid::Uuid::new_v4().to_string();
        let mut after_cut = false;
        let deadline = Instant::now() + GIVE_UP_AFTER;
        loop {
            let phase = load.phase();
            if Instant::now() > deadline {
                load.tally
                    .add("issue", phase, format!("gave up after {GIVE_UP_AFTER:?} of retries"));
                break;
            }
            let r = load
                .http
                .post(format!("{}/api/v1/certificates", load.api))
                .bearer_auth(&load.key)
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await;
            let mut outcome = Load::api_outcome(&r, 201);
            if outcome == "ok" && after_cut {
                let replayed = r
                    .as_ref()
                    .is_ok_and(|r| r.headers().contains_key("idempotent-replayed"));
                outcome = if replayed {
                    "ok (retry after a cut: the first attempt had issued it)".into()
                } else {
                    "ok (retry after a cut: the first attempt had not)".into()
                };
            }
            if cut(&outcome) {
                println!(
                    "soak: issuance cut ({outcome}) during {}; retrying with its key",
                    phase.name()
                );
                load.tally
                    .add("issue", phase, cut_outcome(phase, load.phase(), &outcome));
                after_cut = true;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            load.tally.add("issue", phase, &outcome);
            if outcome.starts_with("ok") {
                let v: Value = r.unwrap().json().await.unwrap();
                load.issued.lock().unwrap().push((
                    v["id"].as_str().unwrap().to_owned(),
                    v["certificate_pem"].as_str().unwrap().to_owned(),
                    v["serial_hex"].as_str().unwrap().to_owned(),
                ));
                break;
            }
            if !outcome.starts_with("retryable") {
                println!("soak: issuance {outcome} during {}", phase.name());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            if load.stop.load(Ordering::Relaxed) {
                break;
            }
        }
    }
}

/// Revokes an issued certificate every 400 ms and follows it on both responders. A revocation cut
/// by a crash is sent again; `409 already_revoked` then means the first attempt went through.
async fn revoke_loop(load: Arc<Load>) {
    let mut checks = JoinSet::new();
    while !load.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        // The first ten stay unrevoked: the OCSP load asks about them.
        let next = 10 + load.next_to_revoke.load(Ordering::Relaxed);
        let picked = load.issued.lock().unwrap().get(next).cloned();
        let Some((id, pem, serial)) = picked else { continue };
        let mut after_cut = false;
        let deadline = Instant::now() + GIVE_UP_AFTER;
        let done = loop {
            let phase = load.phase();
            if Instant::now() > deadline {
                load.tally
                    .add("revoke", phase, format!("gave up after {GIVE_UP_AFTER:?} of retries"));
                break false;
            }
            let r = load
                .http
                .post(format!("{}/api/v1/certificates/{id}/revoke", load.api))
                .bearer_auth(&load.key)
                .json(&json!({ "reason": "superseded" }))
                .send()
                .await;
            let mut outcome = Load::api_outcome(&r, 200);
            if after_cut && outcome == "status 409" {
                let code = match r {
                    Ok(r) => r.json::<Value>().await.unwrap_or_default()["code"].clone(),
                    Err(_) => Value::Null,
                };
                if code == "already_revoked" {
                    outcome = "ok (retry after a cut: the first attempt had revoked it)".into();
                }
            }
            if cut(&outcome) {
                println!("soak: revocation cut ({outcome}) during {}; retrying", phase.name());
                load.tally
                    .add("revoke", phase, cut_outcome(phase, load.phase(), &outcome));
                after_cut = true;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            load.tally.add("revoke", phase, &outcome);
            if outcome.starts_with("ok") {
                break true;
            }
            if !outcome.starts_with("retryable") {
                println!("soak: revocation {outcome} during {}", phase.name());
                break false;
            }
            // A 503 committed nothing: the same certificate, again after the pause.
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        load.next_to_revoke.fetch_add(1, Ordering::Relaxed);
        if done {
            load.revoked.fetch_add(1, Ordering::Relaxed);
            let load = load.clone();
            checks.spawn(async move { follow_revocation(load, &id, &pem, &serial).await });
        }
    }
    while let Some(r) = checks.join_next().await {
        r.unwrap();
    }
}

/// Polls both responders directly until each answers `revoked` for the certificate, as read from
/// the answer's bytes and then confirmed by OpenSSL.
async fn follow_revocation(load: Arc<Load>, id: &str, pem: &str, serial_hex: &str) {
    let serial = hex::decode(serial_hex).unwrap();
    let revoked_at = Instant::now();
    let leaf = write(&load.dir, &format!("{id}.pem"), pem);
    let req = ocsp_request(&load, &leaf, id).await;
    let mut seen: [Option<Duration>; 2] = [None, None];
    while seen.iter().any(Option::is_none) {
        assert!(
            revoked_at.elapsed() < Duration::from_secs(120),
            "certificate {id} not revoked on both responders after 120 s: {seen:?}"
        );
        for (i, base) in load.responders.iter().enumerate() {
            if seen[i].is_some() {
                continue;
            }
            if let Some(der) = ocsp_post(
                &load.http,
                &format!("{base}/.well-known/pki/ocsp/{}", load.issuer),
                &req,
            )
            .await
                && cert_status(&der, &serial) == Some(0xa1)
            {
                let at = revoked_at.elapsed();
                let said = ocsp_says(&load, &der, id).await;
                assert!(said.contains("Cert Status: revoked"), "OpenSSL disagrees: {said}");
                seen[i] = Some(at);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let disrupted = load.disrupted_between(revoked_at, Instant::now());
    load.visibility.lock().unwrap().push(Visibility { seen, disrupted });
}

/// An OCSP request (DER, no nonce) for the leaf in `leaf_file`, made by OpenSSL.
async fn ocsp_request(load: &Load, leaf_file: &str, name: &str) -> Vec<u8> {
    let out = load.dir.join(format!("{name}.req")).to_str().unwrap().to_owned();
    let (ca, leaf, o) = (load.ca_file.clone(), leaf_file.to_owned(), out.clone());
    let (ok, text) = tokio::task::spawn_blocking(move || {
        openssl(&["ocsp", "-issuer", &ca, "-cert", &leaf, "-no_nonce", "-reqout", &o])
    })
    .await
    .unwrap();
    assert!(ok, "{text}");
    std::fs::read(out).unwrap()
}

/// POSTs an OCSP request; the DER answer when the HTTP exchange succeeded with 200.
async fn ocsp_post(http: &reqwest::Client, url: &str, req: &[u8]) -> Option<Vec<u8>> {
    let r = http
        .post(url)
        .header("content-type", "application/ocsp-request")
        .body(req.to_vec())
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.bytes().await.ok().map(|b| b.to_vec())
}

/// What OpenSSL reads in an OCSP response (the status lines).
async fn ocsp_says(load: &Load, der: &[u8], name: &str) -> String {
    let file = write(&load.dir, &format!("{name}.resp"), der);
    tokio::task::spawn_blocking(move || openssl(&["ocsp", "-respin", &file, "-resp_text", "-noverify"]).1)
        .await
        .unwrap()
}

/// The tag of the certStatus that follows the certificate's serial number in an OCSP response
/// for it: 0x80 good, 0xa1 revoked, 0x82 unknown.
fn cert_status(der: &[u8], serial: &[u8]) -> Option<u8> {
    // The serial as a DER INTEGER: minimal, with a zero byte first when its high bit is set.
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len() - 1);
    let mut content = serial[start..].to_vec();
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    let mut integer = vec![0x02, u8::try_from(content.len()).unwrap()];
    integer.extend(content);
    let at = der.windows(integer.len()).position(|w| w == integer.as_slice())?;
    der.get(at + integer.len()).copied()
}

/// Whether an OCSP response's responseStatus is `successful` (the DER starts
/// `SEQUENCE { ENUMERATED 0, ...`).
fn ocsp_successful(der: &[u8]) -> bool {
    let skip = match der.get(1) {
        Some(l) if *l < 0x80 => 2,
        Some(l) => 2 + usize::from(l & 0x7f),
        None => return false,
    };
    der.first() == Some(&0x30) && der.get(skip..skip + 3) == Some(&[0x0a, 0x01, 0x00][..])
}

/// OCSP requests through the load balancer, as relying parties send them, back to back.
async fn ocsp_loop(load: Arc<Load>, worker: usize) {
    let url = format!("{}/.well-known/pki/ocsp/{}", load.pki, load.issuer);
    let mut n = worker;
    while !load.stop.load(Ordering::Relaxed) {
        let req = {
            let reqs = load.ocsp_requests.lock().unwrap();
            reqs[n % reqs.len()].clone()
        };
        n += 1;
        let phase = load.phase();
        let outcome = match load
            .http
            .post(&url)
            .header("content-type", "application/ocsp-request")
            .body(req)
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => match r.bytes().await {
                Ok(b) if ocsp_successful(&b) => "ok".to_owned(),
                Ok(_) => "not a successful OCSP response".to_owned(),
                Err(e) => format!("body cut: {}", error_kind(&e)),
            },
            Ok(r) => format!("status {}", r.status().as_u16()),
            Err(e) => format!("transport error: {}", error_kind(&e)),
        };
        load.tally.add("ocsp", phase, outcome);
    }
}

/// Fetches the CRL from each responder directly every 300 ms and keeps the numbers seen.
async fn crl_loop(load: Arc<Load>) {
    while !load.stop.load(Ordering::Relaxed) {
        for (i, base) in load.responders.iter().enumerate() {
            let Ok(r) = load
                .http
                .get(format!("{base}/.well-known/pki/crl/{}", load.issuer))
                .send()
                .await
            else {
                continue; // restarting
            };
            if r.status() != 200 {
                continue;
            }
            let der = r.bytes().await.unwrap_or_default();
            if let Ok((_, crl)) = x509_parser::parse_x509_crl(&der)
                && let Some(number) = crl.crl_number()
            {
                let number = u64::try_from(number).unwrap();
                load.crl_numbers[i].lock().unwrap().push(number);
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The webhook receiver: fails a notification's first attempts as its id dictates (most never,
/// some once or twice, one in ten always, so those die), and keeps what it answered per id.
#[derive(Clone, Default)]
struct FlakyReceiver(Arc<Mutex<HashMap<String, Vec<u16>>>>);

impl FlakyReceiver {
    fn planned_failures(id: &str) -> usize {
        match id.bytes().map(usize::from).sum::<usize>() % 10 {
            0..=5 => 0,
            6 | 7 => 1,
            8 => 2,
            _ => usize::MAX,
        }
    }

    async fn start(&self) -> String {
        let state = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap| {
                let state = state.clone();
                async move {
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let mut seen = state.0.lock().unwrap();
                    let answers = seen.entry(id.clone()).or_default();
                    let status = if answers.len() < Self::planned_failures(&id) {
                        500
                    } else {
                        200
                    };
                    answers.push(status);
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }
}

/// `scripts/cluster.sh` with the cluster's settings; returns what it printed on stderr (its
/// timings). `extra` is passed to `up` for every daemon.
async fn cluster(settings: &[(String, String)], args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh");
    let (settings, args): (Vec<_>, Vec<String>) = (settings.to_vec(), args.iter().map(|a| a.to_string()).collect());
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(script)
            .args(&args)
            .envs(settings)
            .output()
            .expect("run scripts/cluster.sh");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "cluster.sh {args:?} failed: {}{err}",
            String::from_utf8_lossy(&out.stdout)
        );
        err
    })
    .await
    .unwrap()
}

/// Stops the cluster and drops its database when the test ends, passed or not: neither may
/// outlive it.
struct ClusterDown {
    settings: Vec<(String, String)>,
    db_name: String,
}

impl Drop for ClusterDown {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh");
        let _ = std::process::Command::new(script)
            .arg("down")
            .envs(self.settings.iter().map(|(k, v)| (k, v)))
            .output();
        let _ = std::process::Command::new("psql")
            .args([
                &format!("{}/postgres", pg_base()),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name),
            ])
            .output();
    }
}

/// Runs a disruption in its phase, prints its timings.
async fn disrupt(load: &Load, phase: Phase, settings: &[(String, String)], args: &[&str]) {
    load.set_phase(phase);
    let started = Instant::now();
    let out = cluster(settings, args).await;
    for line in out.lines().filter(|l| l.starts_with("cluster: ")) {
        println!("soak: {line}");
    }
    println!("soak: {} {args:?} took {:?}", phase.name(), started.elapsed());
    load.set_phase(Phase::Steady);
}

#[tokio::test]
#[ignore = "restarts RabbitMQ and PostgreSQL: run alone (scripts/test.sh does)"]
async fn serial_soak_replicas_restart_under_load_losing_nothing() {
    certctl_shared::telemetry::install_crypto_provider();
    let seconds = |var: &str, default: u64| {
        Duration::from_secs(std::env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or(default))
    };
    let (steady, total) = (
        seconds("CERTCTL_SOAK_STEADY_SECONDS", 4),
        seconds("CERTCTL_SOAK_SECONDS", 0),
    );
    let dir = tempdir();
    let db_name = format!("certctl_soak_{}", uuid::Uuid::new_v4().simple());
    let cluster_dir = std::env::temp_dir().join("certctl-soak-cluster");
    let bin_dir = certctl_test_support::process::binary("certctl-api-server")
        .parent()
        .unwrap()
        .to_owned();
    let mut settings: Vec<(String, String)> = [
        // A fixed place, so a run killed before its cleanup is stopped by the next one's `down`.
        ("CERTCTL_CLUSTER_DIR", cluster_dir.to_str().unwrap().to_owned()),
        ("CERTCTL_CLUSTER_PORT_BASE", PORT_BASE.to_string()),
        ("CERTCTL_CLUSTER_DB", db_name.clone()),
        ("CERTCTL_BIN_DIR", bin_dir.to_str().unwrap().to_owned()),
        (
            "CERTCTL_AMQP_PREFIX",
            format!("certctl-soak-{}", uuid::Uuid::new_v4().simple()),
        ),
        ("CERTCTL_AMQP_QUEUE_EXPIRES", "300s".to_owned()),
        ("CERTCTL_DATABASE_MAX_CONNECTIONS", "8".to_owned()),
        ("CERTCTL_CRL_CHECK_INTERVAL", "500ms".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    settings.extend(
        crate::notify_harness::FAST
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let started = Instant::now();
    let _down = ClusterDown {
        settings: settings.clone(),
        db_name: db_name.clone(),
    };
    cluster(&settings, &["down"]).await;
    cluster(&settings, &["up"]).await;
    println!("soak: cluster up in {:?}", started.elapsed());
    // Idle connections are dropped well before HAProxy's keep-alive timeout closes them, or a
    // request could be sent on a connection being closed (a client-side race, not a failure of
    // the cluster).
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let key = std::fs::read_to_string(cluster_dir.join("secrets/admin-key"))
        .unwrap()
        .trim()
        .to_owned();
    let api = format!("http://127.0.0.1:{}", PORT_BASE + 80);
    let post = |path: &'static str, body: Value| {
        let req = http.post(format!("{api}{path}")).bearer_auth(&key).json(&body);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 201, "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    let issuer = post(
        "/api/v1/issuers",
        json!({ "name": "soak", "common_name": "Soak CA", "key_algorithm": "ecdsa-p256" }),
    )
    .await;
    let profile = post(
        "/api/v1/profiles",
        json!({ "name": "soak", "max_ttl_seconds": 30 * 86400, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"] }),
    )
    .await;
    let receiver = FlakyReceiver::default();
    let receiver_url = receiver.start().await;
    post(
        "/api/v1/notification-channels",
        json!({ "name": "soak", "kind": "webhook",
                "config": { "url": format!("{receiver_url}/hook"), "secret": "whsec_c29hay1zb2FrLXNvYWstc29hay1zb2Fr" },
                "event_types": ["certificate_issued", "certificate_revoked"] }),
    )
    .await;
    let ca_pem = issuer["certificate_pem"].as_str().unwrap();
    let load = Arc::new(Load {
        http: http.clone(),
        api: api.clone(),
        pki: format!("http://127.0.0.1:{}", PORT_BASE + 81),
        responders: [20, 22].map(|p| format!("http://127.0.0.1:{}", PORT_BASE + p)),
        key: key.clone(),
        issuer: issuer["id"].as_str().unwrap().to_owned(),
        profile: profile["id"].as_str().unwrap().to_owned(),
        ca_file: write(&dir, "ca.pem", ca_pem),
        dir: dir.clone(),
        phase: Mutex::new(Phase::Steady),
        stop: AtomicBool::new(false),
        tally: Tally::default(),
        issued: Mutex::new(Vec::new()),
        next_to_revoke: AtomicUsize::new(0),
        revoked: AtomicUsize::new(0),
        ocsp_requests: Mutex::new(Vec::new()),
        visibility: Mutex::new(Vec::new()),
        disrupted_at: Mutex::new(Vec::new()),
        crl_numbers: [Mutex::new(Vec::new()), Mutex::new(Vec::new())],
    });

    let mut tasks = JoinSet::new();
    for w in 0..2 {
        tasks.spawn(issue_loop(load.clone(), w));
    }
    // OCSP requests for the first ten certificates (which stay unrevoked), once they exist.
    while load.issued.lock().unwrap().len() < 10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first: Vec<_> = load.issued.lock().unwrap()[..10].to_vec();
    for (id, pem, _) in first {
        let leaf = write(&dir, &format!("{id}.pem"), pem);
        let req = ocsp_request(&load, &leaf, &id).await;
        load.ocsp_requests.lock().unwrap().push(req);
    }
    // Publication of a new issuer (its OCSP signer, then each responder's next poll) is not what
    // this test measures: the OCSP load starts once both responders answer for it.
    let warm = Instant::now();
    let reqs = load.ocsp_requests.lock().unwrap().clone();
    for base in &load.responders {
        let url = format!("{base}/.well-known/pki/ocsp/{}", load.issuer);
        for req in &reqs {
            while !ocsp_post(&http, &url, req)
                .await
                .is_some_and(|der| ocsp_successful(&der))
            {
                assert!(warm.elapsed() < Duration::from_secs(30), "{url} never answered");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    println!(
        "soak: both responders answer for the new issuer after {:?}",
        warm.elapsed()
    );
    tasks.spawn(revoke_loop(load.clone()));
    for w in 0..2 {
        tasks.spawn(ocsp_loop(load.clone(), w));
    }
    tasks.spawn(crl_loop(load.clone()));

    // The disruptions, with steady load between them.
    let soak_started = Instant::now();
    let mut cycles = 0;
    loop {
        tokio::time::sleep(steady).await;
        disrupt(&load, Phase::Rolling, &settings, &["roll"]).await;
        tokio::time::sleep(steady).await;
        for name in ["api-1", "worker-1", "responder-1"] {
            disrupt(&load, Phase::Killing, &settings, &["kill", name]).await;
            tokio::time::sleep(steady / 2).await;
        }
        cycles += 1;
        if soak_started.elapsed() >= total {
            break;
        }
    }
    tokio::time::sleep(steady).await;
    load.set_phase(Phase::Broker);
    let t = Instant::now();
    tokio::task::spawn_blocking(restart_rabbitmq).await.unwrap();
    cluster(&settings, &["wait"]).await;
    println!("soak: RabbitMQ restarted, cluster ready again in {:?}", t.elapsed());
    load.set_phase(Phase::Steady);
    tokio::time::sleep(steady).await;
    load.set_phase(Phase::Database);
    let t = Instant::now();
    tokio::task::spawn_blocking(restart_postgres).await.unwrap();
    cluster(&settings, &["wait"]).await;
    println!("soak: PostgreSQL restarted, cluster ready again in {:?}", t.elapsed());
    load.set_phase(Phase::Steady);
    tokio::time::sleep(steady).await;
    load.stop.store(true, Ordering::Relaxed);
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let soaked = soak_started.elapsed();

    // The counts.
    let db = Database::connect(format!("{}/{db_name}", pg_base())).await.unwrap();
    let sql = Sql(&db);
    let issued = load.issued.lock().unwrap().len() as i64;
    let stored = sql.scalar_i64("SELECT count(*) FROM certificates").await;
    let events = sql.scalar_i64("SELECT count(*) FROM notification_events").await;
    let revocations = sql.scalar_i64("SELECT count(*) FROM certificate_revocations").await;
    assert_eq!(
        events,
        stored + revocations,
        "every issuance and revocation has its notification"
    );
    let settle = Instant::now();
    assert_notifications_settled(&db, events, Duration::from_secs(180)).await;
    println!(
        "soak: notifications settled {:?} after the load stopped",
        settle.elapsed()
    );
    // Every notification against what the receiver saw: a sent one got its 200 (after exactly
    // its planned failures), a dead one failed five times; every attempt that reached the
    // receiver was recorded, and none was recorded that did not, except attempts whose worker
    // died with them (`lost`, decided by the relay: they may or may not have arrived).
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT e.id::text AS id, e.status, \
                    count(a.*) FILTER (WHERE a.outcome <> 'lost') AS recorded, \
                    count(a.*) FILTER (WHERE a.outcome = 'lost') AS lost \
               FROM notification_events e LEFT JOIN notification_attempts a ON a.notification_id = e.id \
              GROUP BY e.id, e.status",
        ))
        .await
        .unwrap();
    let seen = receiver.0.lock().unwrap().clone();
    let (mut sent, mut dead, mut lost_attempts, mut redelivered) = (0, 0, 0, 0);
    for row in &rows {
        let id: String = row.try_get("", "id").unwrap();
        let status: String = row.try_get("", "status").unwrap();
        let recorded: i64 = row.try_get("", "recorded").unwrap();
        let lost: i64 = row.try_get("", "lost").unwrap();
        let answers = seen.get(&id).cloned().unwrap_or_default();
        let arrived = answers.len() as i64;
        assert!(
            (recorded..=recorded + lost).contains(&arrived),
            "{id}: {arrived} arrivals, {recorded} recorded attempts and {lost} lost"
        );
        lost_attempts += lost;
        let planned = FlakyReceiver::planned_failures(&id);
        match status.as_str() {
            "sent" => {
                sent += 1;
                assert_eq!(answers.last(), Some(&200), "{id} sent without a 200: {answers:?}");
                if arrived as usize > planned.saturating_add(1) {
                    redelivered += 1;
                }
            }
            "dead" => {
                dead += 1;
                assert!(!answers.contains(&200), "{id} dead after a 200: {answers:?}");
                assert_eq!(planned, usize::MAX, "{id} died but was planned to succeed: {answers:?}");
            }
            other => panic!("{id} ended {other}"),
        }
    }
    // CRLs: a higher number never carries an older thisUpdate (whole seconds, so two CRLs built
    // within one second share it), and neither responder ever goes back.
    let crls = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT issuer_id::text || '/' || shard AS crl, crl_number::bigint AS n, \
                    extract(epoch FROM this_update)::bigint AS t \
               FROM crls ORDER BY issuer_id, shard, crl_number",
        ))
        .await
        .unwrap();
    let numbered: Vec<(String, i64, i64)> = crls
        .iter()
        .map(|r| {
            (
                r.try_get("", "crl").unwrap(),
                r.try_get("", "n").unwrap(),
                r.try_get("", "t").unwrap(),
            )
        })
        .collect();
    assert!(numbered.len() > 1, "CRLs kept: {numbered:?}");
    assert!(
        numbered.windows(2).all(|w| w[0].0 != w[1].0 || w[0].2 <= w[1].2),
        "CRL (issuer/shard, number, thisUpdate) going back: {numbered:?}"
    );
    for (i, served) in load.crl_numbers.iter().enumerate() {
        let served = served.lock().unwrap();
        assert!(
            served.windows(2).all(|w| w[0] <= w[1]),
            "responder-{} served CRL numbers going back: {served:?}",
            i + 1
        );
        assert!(
            served.first() < served.last(),
            "responder-{} served no new CRL during the run: {served:?}",
            i + 1
        );
    }
    // Revocations: visible on both responders, within the bound when nothing was restarting.
    let visibility = load.visibility.lock().unwrap().clone();
    assert_eq!(visibility.len(), load.revoked.load(Ordering::Relaxed));
    let undisturbed: Vec<Duration> = visibility
        .iter()
        .filter(|v| !v.disrupted)
        .flat_map(|v| v.seen.iter().flatten().copied())
        .collect();
    let mut sorted = undisturbed.clone();
    sorted.sort();
    let percentile = |q: f64| {
        sorted
            .get(((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    let slowest_undisturbed = sorted.last().copied().unwrap_or_default();
    let slowest_any = visibility
        .iter()
        .flat_map(|v| v.seen.iter().flatten().copied())
        .max()
        .unwrap_or_default();

    println!(
        "soak: {cycles} cycle(s) over {soaked:?}: {issued} certificates issued ({stored} stored), {revocations} revoked, \
         {events} notifications ({sent} sent, {dead} dead; {lost_attempts} attempts lost with a killed worker, \
         {redelivered} delivered more than planned)"
    );
    println!(
        "soak: revocations visible on both responders: with nothing restarting ({} answers) p50 {:?}, p99 {:?}, \
         slowest {slowest_undisturbed:?}; slowest {slowest_any:?} overall",
        sorted.len(),
        percentile(0.5),
        percentile(0.99),
    );
    let served: Vec<String> = load
        .crl_numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut n = n.lock().unwrap().clone();
            n.dedup();
            format!(
                "responder-{} served {} CRL numbers, {} to {}",
                i + 1,
                n.len(),
                n.first().unwrap_or(&0),
                n.last().unwrap_or(&0)
            )
        })
        .collect();
    println!(
        "soak: CRLs: {} (the newest kept) in the database, thisUpdate never going back; {}",
        numbered.len(),
        served.join("; ")
    );
    println!("soak: requests by phase and outcome:");
    load.tally.print();

    // OCSP: nothing failed, in any phase (HAProxy resends a request a killed responder cut).
    let ocsp_failures = load.tally.failures("ocsp", |_| true);
    assert!(ocsp_failures.is_empty(), "OCSP failures: {ocsp_failures:?}");
    // Issuance and revocation: nothing failed in any phase. A 503 was retried after its pause
    // and a request cut by a crash was sent again (with its Idempotency-Key), so every
    // certificate was answered once and stored once.
    for kind in ["issue", "revoke"] {
        let failed = load.tally.failures(kind, |_| true);
        assert!(failed.is_empty(), "{kind} failures: {failed:?}");
    }
    assert_eq!(
        stored, issued,
        "certificates stored and answered differ: a retry issued twice"
    );
    assert!(!sorted.is_empty(), "no revocation was followed with nothing restarting");
    assert!(
        slowest_undisturbed <= VISIBLE_WITHIN,
        "a revocation took {slowest_undisturbed:?} to reach both responders with nothing restarting"
    );

    db.close().await.ok();
}

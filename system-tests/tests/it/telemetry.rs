//! Traces end to end: the real api-server and notifier-worker binaries export over OTLP/HTTP to a
//! receiver here that decodes the protobuf, and one trace must run from the API request through
//! the publish to RabbitMQ, the worker's consume and the delivery, with parent and child linked
//! across the two processes. Issuance and revocation have spans of their own in those traces.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::json;

use crate::helpers::{fresh_database, random_secret};
use crate::notify_harness::Receiver;
use crate::process::{Daemon, free_addr, wait_ready};

/// One exported span, as the receiver decoded it.
#[derive(Clone, Debug)]
struct Span {
    service: String,
    name: String,
    trace: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
    attributes: HashMap<String, String>,
}

/// An OTLP/HTTP trace receiver on loopback.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let sink = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                let req = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut out = sink.lock().unwrap();
                for rs in req.resource_spans {
                    let service = rs
                        .resource
                        .iter()
                        .flat_map(|r| r.attributes.iter())
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                        .map(|v| match v {
                            AnyValue::StringValue(s) => s.clone(),
                            other => format!("{other:?}"),
                        })
                        .unwrap_or_default();
                    for ss in rs.scope_spans {
                        for s in ss.spans {
                            let attributes = s
                                .attributes
                                .iter()
                                .map(|kv| {
                                    let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                        Some(AnyValue::StringValue(s)) => s.clone(),
                                        Some(other) => format!("{other:?}"),
                                        None => String::new(),
                                    };
                                    (kv.key.clone(), v)
                                })
                                .collect();
                            out.push(Span {
                                service: service.clone(),
                                name: s.name,
                                trace: s.trace_id,
                                id: s.span_id,
                                parent: s.parent_span_id,
                                attributes,
                            });
                        }
                    }
                }
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, spans)
}

#[tokio::test]
async fn one_trace_runs_from_the_api_request_through_the_queue_to_the_delivery() {
    use base64::Engine;
    certctl_shared::telemetry::install_crypto_provider();
    let (otlp, spans) = otlp_receiver().await;
    let receiver = Receiver::start().await;
    let (_, db_url) = fresh_database().await;
    let admin_key = random_secret();
    let kek = base64::engine::general_purpose::STANDARD.encode(crate::helpers::rand_bytes::<32>());
    let prefix = format!("certctl-it-{}", uuid::Uuid::new_v4().simple());
    let (api_addr, api_admin, worker_admin) = (free_addr(), free_addr(), free_addr());
    let common = [
        ("CERTCTL_DATABASE_URL", db_url.clone()),
        ("CERTCTL_DATABASE_MAX_CONNECTIONS", "5".to_owned()),
        ("CERTCTL_KEY_ENCRYPTION_KEY", kek),
        ("CERTCTL_AMQP_PREFIX", prefix),
        ("CERTCTL_AMQP_QUEUE_EXPIRES", "60s".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
        // Export every 100 ms rather than every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("RUST_LOG", "info,sqlx=warn,lapin=warn".to_owned()),
    ];
    let mut api_env = common.to_vec();
    api_env.extend([
        ("CERTCTL_API_ADDR", api_addr.clone()),
        ("CERTCTL_ADMIN_ADDR", api_admin.clone()),
        ("CERTCTL_BOOTSTRAP_ADMIN_KEY", admin_key.clone()),
        ("CERTCTL_PUBLIC_PKI_URL", "http://pki.certctl.test".to_owned()),
    ]);
    let mut worker_env = common.to_vec();
    worker_env.extend([
        ("CERTCTL_ADMIN_ADDR", worker_admin.clone()),
        ("CERTCTL_OUTBOUND_ALLOW_PRIVATE", "true".to_owned()),
        ("CERTCTL_WORKER_ID", "traced-worker".to_owned()),
    ]);
    let api = Daemon::start("certctl-api-server", &api_env);
    let worker = Daemon::start("certctl-notifier-worker", &worker_env);
    let http = reqwest::Client::new();
    wait_ready(&http, &api_admin, "api-server").await;
    wait_ready(&http, &worker_admin, "notifier-worker").await;

    let base = format!("http://{api_addr}");
    let post = |path: &str, body: serde_json::Value| {
        let req = http.post(format!("{base}{path}")).bearer_auth(&admin_key).json(&body);
        async move {
            let r = req.send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(crate::helpers::rand_bytes::<24>())
    );
    post(
        "/api/v1/notification-channels",
        json!({ "name": "traced", "kind": "webhook", "config": { "url": format!("{}/hook", receiver.url), "secret": secret },
                "event_types": ["certificate_issued", "certificate_revoked"] }),
    )
    .await;
    let issuer = post(
        "/api/v1/issuers",
        json!({ "name": "root", "common_name": "Traced Root CA", "key_algorithm": "ecdsa-p256" }),
    )
    .await;
    let profile = post(
        "/api/v1/profiles",
        json!({ "name": "web", "max_ttl_seconds": 86400, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"] }),
    )
    .await;
    let cert = post(
        "/api/v1/certificates",
        json!({ "issuer_id": issuer["id"], "profile_id": profile["id"], "common_name": "traced.example.com", "key_algorithm": "ecdsa-p256" }),
    )
    .await;
    post(
        &format!("/api/v1/certificates/{}/revoke", cert["id"].as_str().unwrap()),
        json!({ "reason": "superseded" }),
    )
    .await;
    let start = Instant::now();
    while receiver.seen().len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(20), "the webhooks never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A clean stop flushes what is still batched.
    tokio::task::spawn_blocking(move || {
        api.terminate();
        worker.terminate();
    })
    .await
    .unwrap();

    let spans = spans.lock().unwrap().clone();
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (s.id.as_slice(), s)).collect();
    let parent_of = |s: &Span| by_id.get(s.parent.as_slice()).copied();
    for (operation, path) in [
        ("issue_certificate", "/api/v1/certificates".to_owned()),
        (
            "revoke_certificate",
            format!("/api/v1/certificates/{}/revoke", cert["id"].as_str().unwrap()),
        ),
    ] {
        let op = spans
            .iter()
            .find(|s| s.name == operation)
            .unwrap_or_else(|| panic!("no {operation} span among {:?}", names(&spans)));
        assert_eq!(op.service, "certctl-api-server");
        let request = parent_of(op).unwrap_or_else(|| panic!("{operation} has no exported parent"));
        assert_eq!(
            (request.name.as_str(), request.service.as_str()),
            ("request", "certctl-api-server")
        );
        assert_eq!(request.attributes.get("path"), Some(&path), "{request:?}");
        assert!(request.parent.is_empty(), "the request span is the root");
        let in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace == request.trace).collect();
        let publish = in_trace
            .iter()
            .find(|s| s.name == "publish")
            .unwrap_or_else(|| panic!("no publish in the {operation} trace: {:?}", names(&in_trace)));
        assert_eq!(publish.service, "certctl-api-server");
        assert_eq!(
            publish.parent, op.id,
            "publish is a child of the {operation} that caused it"
        );
        let consume = in_trace
            .iter()
            .find(|s| s.name == "consume")
            .unwrap_or_else(|| panic!("no consume in the {operation} trace: {:?}", names(&in_trace)));
        assert_eq!(consume.service, "certctl-notifier-worker");
        assert_eq!(
            consume.parent, publish.id,
            "consume continues the publish, across RabbitMQ"
        );
        let deliver = in_trace
            .iter()
            .find(|s| s.name == "deliver")
            .unwrap_or_else(|| panic!("no deliver in the {operation} trace: {:?}", names(&in_trace)));
        assert_eq!(deliver.service, "certctl-notifier-worker");
        assert_eq!(deliver.parent, consume.id, "deliver is a child of consume");
        assert_eq!(
            deliver.attributes.get("notification.id"),
            publish.attributes.get("notification.id")
        );
    }
}

fn names<S: std::borrow::Borrow<Span>>(spans: &[S]) -> Vec<(String, String)> {
    spans
        .iter()
        .map(|s| (s.borrow().service.clone(), s.borrow().name.clone()))
        .collect()
}

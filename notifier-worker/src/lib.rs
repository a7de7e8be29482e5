//! `certctl-notifier-worker`: the notification delivery pool and the scheduled loops (retry
//! sweep, outbox relay, expiry scan, renewal, discovery scans, CRL publishing and OCSP responder
//! certificates).

pub mod batch;
pub mod channels;
pub mod config;
pub mod consumer;
pub mod deliver;
pub mod loops;
pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use crate::config::WorkerConfig;
use anyhow::Context;
use certctl_shared::admin;
use certctl_shared::queue::{Broker, Publisher, Topology};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::channels::HttpSender;
use crate::deliver::Deliverer;
use crate::metrics::WorkerMetrics;

pub struct Listeners {
    pub admin: TcpListener,
}

/// A loop tick that takes longer than this is abandoned and retried.
const TICK_TIMEOUT: Duration = Duration::from_secs(60);
/// How often sent notifications past their retention are looked for (see `loops::retention`).
const RETENTION_INTERVAL: Duration = Duration::from_secs(600);
/// How often the certificate tally folds its pending changes (see `loops::tally`).
const TALLY_FOLD_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the worker until `shutdown` is cancelled.
pub async fn run(config: WorkerConfig, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    if config.keys.is_insecure_dev_key() {
        tracing::warn!("CERTCTL_DEV_MODE without CERTCTL_KEY_ENCRYPTION_KEY: using the publicly known development key");
    }
    let db = certctl_shared::db::connect(&config.common)
        .await
        .context("failed to connect to CERTCTL_DATABASE_URL")?;
    // The claim and outcome batches have connections of their own: one per batch in flight.
    let batch_db = certctl_shared::db::connect_custom_plans(&config.common, deliver::WRITE_CONNECTIONS)
        .await
        .context("failed to connect to CERTCTL_DATABASE_URL")?;
    let broker = Broker::default();
    // The broker connection outlives the drain, so deliveries finishing after SIGTERM can still ack.
    let broker_shutdown = CancellationToken::new();
    let supervisor = tokio::spawn(
        broker
            .clone()
            .supervise(config.amqp.url.clone(), broker_shutdown.clone()),
    );
    let topology = Topology::new(&config.amqp.prefix).with_expiry(config.amqp.queue_expires);
    let publisher = Publisher::new(broker.clone(), topology.clone());
    let registry = admin::registry("notifier-worker");
    let metrics = Arc::new(WorkerMetrics::register(&registry).context("failed to register metrics")?);
    let n = config.notifications.clone();
    let sweep_wake = Arc::new(Notify::new());
    let deliverer = Arc::new(Deliverer {
        db: db.clone(),
        shutdown: shutdown.clone(),
        keys: config.keys.clone(),
        http: HttpSender::new(
            n.delivery_timeout,
            n.outbound_allow_private,
            n.pagerduty_url.clone(),
            n.opsgenie_url.clone(),
        )
        .context("failed to build the HTTP client")?,
        policy: n.retry,
        timeout: n.delivery_timeout,
        worker_id: config.worker_id.clone(),
        metrics: metrics.clone(),
        sweep_wake: sweep_wake.clone(),
        writes: deliver::Writes::spawn(batch_db, config.worker_id.clone(), n.lease),
    });

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(consumer::run(
        broker.clone(),
        topology,
        deliverer,
        n.concurrency,
        n.prefetch,
        shutdown.clone(),
    ));
    let mut loops = loops::Loops {
        tasks: &mut tasks,
        tick_timeout: TICK_TIMEOUT,
        metrics: metrics.clone(),
        shutdown: shutdown.clone(),
    };
    loops.spawn(
        loops::retry_sweep::RetrySweep {
            db: db.clone(),
            publisher: publisher.clone(),
            metrics: metrics.clone(),
            grace: n.relay_grace,
            interval: n.retry_interval,
        },
        Some(sweep_wake.clone()),
    );
    loops.spawn(
        loops::relay::Relay {
            db: db.clone(),
            publisher: publisher.clone(),
            metrics: metrics.clone(),
            policy: n.retry,
            grace: n.relay_grace,
            interval: n.relay_interval,
            sweep_wake,
        },
        None,
    );
    loops.spawn(
        loops::expiry::ExpiryScan {
            db: db.clone(),
            publisher: publisher.clone(),
            metrics: metrics.clone(),
            thresholds: n.expiry_thresholds_days.clone(),
            interval: n.expiry_scan_interval,
        },
        None,
    );
    match n.sent_retention {
        Some(keep) => loops.spawn(
            loops::retention::Retention {
                db: db.clone(),
                keep,
                interval: RETENTION_INTERVAL,
            },
            None,
        ),
        None => tracing::info!("CERTCTL_NOTIFICATION_SENT_RETENTION is off: sent notifications are kept for ever"),
    }
    let core = certctl_usecases::Core {
        db: db.clone(),
        keys: config.keys.clone(),
        urls: Arc::new(certctl_pki::PkiUrls::new(&config.public_pki_url)),
        caches: Arc::new(certctl_usecases::cache::Caches::default()),
        publisher: publisher.clone(),
        counters: Arc::new(certctl_usecases::Counters::register(&registry).context("failed to register metrics")?),
    };
    loops.spawn(
        loops::discovery::Discovery::new(db.clone(), config.worker_id.clone(), config.discovery_interval)
            .context("failed to build the discovery TLS client")?,
        None,
    );
    loops.spawn(
        loops::renewal::Renewal {
            core,
            interval: config.renewal_interval,
        },
        None,
    );
    loops.spawn(
        loops::tally::TallyFold {
            db: db.clone(),
            interval: TALLY_FOLD_INTERVAL,
        },
        None,
    );
    if config.revocation.responder_keys.is_none() {
        tracing::warn!(
            "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY is not set: OCSP signing is off and no responder certificates are made"
        );
    }
    loops.spawn(
        loops::revocation::CrlPublisher {
            db: db.clone(),
            ca_keys: config.keys.clone(),
            settings: config.revocation.clone(),
            worker_id: config.worker_id.clone(),
            metrics: metrics.clone(),
        },
        None,
    );

    // The worker needs both: it reads rows from the database and work from the broker.
    let (ready_db, ready_broker) = (db.clone(), broker.clone());
    let schema = certctl_shared::db::SchemaGate::default();
    let readiness: admin::ReadinessCheck = Arc::new(move || {
        let (db, broker, schema) = (ready_db.clone(), ready_broker.clone(), schema.clone());
        Box::pin(async move {
            certctl_shared::db::ping(&db)
                .await
                .map_err(|e| format!("database: {e}"))?;
            schema.check(&db).await?;
            if broker.connected() {
                Ok(())
            } else {
                Err("broker: not connected".to_owned())
            }
        })
    });
    tracing::info!(admin = %listeners.admin.local_addr()?, worker = %config.worker_id, "notifier-worker running");
    let served = certctl_shared::serve::serve(
        listeners.admin,
        admin::router(registry, readiness),
        None,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    broker_shutdown.cancel();
    supervisor.await.ok();
    db.close().await.ok();
    served.context("admin listener failed")?;
    tracing::info!("notifier-worker stopped");
    Ok(())
}

//! The consumer pool: bounded prefetch and concurrency; each message is processed by a
//! [`Deliverer`] and acked only after its outcome is committed.

use std::sync::Arc;
use std::time::Duration;

use certctl_shared::queue::{
    Broker, QueueMessage, Topology, WORKER_DELIVERY_LIMIT, extract_trace_context, set_span_parent,
};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::deliver::Deliverer;

/// How long in-flight deliveries get to finish after shutdown is requested.
pub const DRAIN: Duration = Duration::from_secs(25);

pub async fn run(
    broker: Broker,
    topology: Topology,
    deliverer: Arc<Deliverer>,
    concurrency: usize,
    prefetch: u16,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(concurrency));
    let tracker = TaskTracker::new();
    let tag = format!("certctl-{}", deliverer.worker_id);
    'connect: while !shutdown.is_cancelled() {
        let ch = match broker.channel().await {
            Ok(ch) => ch,
            Err(_) => {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(250)) => continue,
                }
            }
        };
        let consumer = async {
            topology.declare(&broker, &ch).await?;
            ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
            ch.basic_consume(
                topology.queue().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
        }
        .await;
        let mut consumer = match consumer {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "failed to start consuming; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        tracing::info!(queue = %topology.queue(), concurrency, prefetch, "consuming");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    // Stop taking work; unacked prefetched messages go back to the queue.
                    let _ = ch.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                    break 'connect;
                }
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => {
                        let permit = permits.clone().acquire_owned().await;
                        let deliverer = deliverer.clone();
                        tracker.spawn(async move {
                            handle(delivery, &deliverer).await;
                            drop(permit);
                        });
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "consumer failed; reconnecting");
                        break;
                    }
                    None => {
                        tracing::warn!("consumer stream ended; reconnecting");
                        break;
                    }
                }
            }
        }
    }
    tracker.close();
    if tokio::time::timeout(DRAIN, tracker.wait()).await.is_err() {
        tracing::warn!(
            "deliveries still running at the end of the drain; their leases will expire and the relay will retry them"
        );
    }
}

/// How many times RabbitMQ has given this message back before (`x-delivery-count`, set by
/// quorum queues on redelivery).
fn delivery_count(delivery: &Delivery) -> i64 {
    use lapin::types::AMQPValue as V;
    let Some(headers) = delivery.properties.headers() else {
        return 0;
    };
    match headers.inner().get("x-delivery-count") {
        Some(V::LongLongInt(n)) => *n,
        Some(V::LongInt(n)) => i64::from(*n),
        Some(V::LongUInt(n)) => i64::from(*n),
        Some(V::ShortInt(n)) => i64::from(*n),
        Some(V::ShortUInt(n)) => i64::from(*n),
        Some(V::ShortShortInt(n)) => i64::from(*n),
        Some(V::ShortShortUInt(n)) => i64::from(*n),
        _ => 0,
    }
}

/// Sends a message to the poison queue, counted with its reason.
async fn poison(delivery: Delivery, deliverer: &Deliverer, reason: &'static str) {
    deliverer.metrics.poison.with_label_values(&[reason]).inc();
    let _ = delivery.reject(BasicRejectOptions { requeue: false }).await;
}

async fn handle(delivery: Delivery, deliverer: &Deliverer) {
    let message: Result<QueueMessage, _> = serde_json::from_slice(&delivery.data);
    let Ok(QueueMessage::DeliverV1 { notification_id }) = message else {
        tracing::error!(
            bytes = delivery.data.len(),
            "poison message: not a delivery message; dead-lettering it"
        );
        poison(delivery, deliverer, "unparseable").await;
        return;
    };
    let redelivered = delivery_count(&delivery);
    if redelivered >= WORKER_DELIVERY_LIMIT {
        // Something about this message keeps failing or killing its consumer. Its row is safe in
        // PostgreSQL: if it still needs delivering, the relay or the sweep publishes it afresh.
        tracing::error!(
            notification.id = %notification_id,
            redelivered,
            "poison message: given back too many times; dead-lettering it"
        );
        poison(delivery, deliverer, "delivery_limit").await;
        return;
    }
    let span = tracing::info_span!("consume", notification.id = %notification_id, messaging.system = "rabbitmq");
    set_span_parent(&span, extract_trace_context(delivery.properties.headers().as_ref()));
    match deliverer.process(notification_id).instrument(span).await {
        Ok(_) => {
            if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                // The outcome is committed; a redelivery will find the row not claimable.
                tracing::warn!(notification.id = %notification_id, error = %e, "failed to ack");
            }
        }
        Err(e) => {
            tracing::warn!(notification.id = %notification_id, error = %e, "database error while delivering; the message goes back to the queue");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await;
        }
    }
}

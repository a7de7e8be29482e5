//! The queue contract between the API server and the worker: names, topology, the message, and a
//! publisher with publisher confirms over a connection that reconnects by itself.
//!
//! Messages carry ids only; PostgreSQL holds the state. A lost message is recovered by the relay
//! loop, a duplicate is harmless (a row is claimed before any attempt), so the broker carries work
//! and never truth.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::model::NotificationId;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use opentelemetry::propagation::{Extractor, Injector};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// The routing key of delivery messages.
pub const ROUTING_KEY: &str = "deliver";
/// Redeliveries after which RabbitMQ gives a message to the dead-letter exchange. The five-attempt
/// rule lives in PostgreSQL; this only stops a message that crashes consumers from looping forever.
pub const DELIVERY_LIMIT: i32 = 10;
/// A message that has come back this many times (its `x-delivery-count`) is sent to the poison
/// queue by the worker itself, before RabbitMQ's own limit, so that every poisoned message is
/// counted, with its reason, in the worker's metrics.
pub const WORKER_DELIVERY_LIMIT: i64 = DELIVERY_LIMIT as i64 - 1;
/// AMQP reply code 406: a declaration whose arguments differ from the existing queue's.
const PRECONDITION_FAILED: u16 = 406;
/// The poison queue keeps at most this many messages (the oldest go first)...
pub const POISON_MAX_LENGTH: i32 = 10_000;
/// ...for at most this long. Their rows are safe in PostgreSQL either way.
pub const POISON_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Exchange and queue names, under a prefix so that tests (and tenants) never share a queue.
#[derive(Clone, Debug)]
pub struct Topology {
    prefix: String,
    /// `x-expires` of the queues: unset in production; set for ephemeral prefixes (tests) so
    /// their queues go away once unused instead of piling up in the broker.
    expires: Option<Duration>,
}

impl Topology {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            expires: None,
        }
    }

    pub fn with_expiry(mut self, expires: Option<Duration>) -> Self {
        self.expires = expires;
        self
    }

    fn queue_args(&self) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        if let Some(e) = self.expires {
            args.insert(
                "x-expires".into(),
                AMQPValue::LongInt(i32::try_from(e.as_millis()).unwrap_or(i32::MAX)),
            );
        }
        args
    }
    pub fn exchange(&self) -> String {
        format!("{}.notifications", self.prefix)
    }
    pub fn queue(&self) -> String {
        format!("{}.notifications.deliver", self.prefix)
    }
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.notifications.dlx", self.prefix)
    }
    /// Where poison messages go, for inspection; their rows stay safe in PostgreSQL.
    pub fn poison_queue(&self) -> String {
        format!("{}.notifications.poison", self.prefix)
    }

    /// The poison queue's arguments: a quorum queue bounded in length and age.
    fn poison_args(&self) -> FieldTable {
        let mut args = self.queue_args();
        args.insert("x-max-length".into(), AMQPValue::LongInt(POISON_MAX_LENGTH));
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongInt(i32::try_from(POISON_TTL.as_millis()).unwrap_or(i32::MAX)),
        );
        args
    }

    /// Declares the bounded poison queue on a channel of its own. A poison queue declared by an
    /// earlier version without bounds makes RabbitMQ refuse the declaration (and close that
    /// channel): the existing queue is then used as it is, with a warning saying how to bound it.
    async fn declare_poison_queue(&self, broker: &Broker) -> lapin::Result<()> {
        let ch = broker.channel().await?;
        match ch
            .queue_declare(
                self.poison_queue().into(),
                QueueDeclareOptions::durable(),
                self.poison_args(),
            )
            .await
        {
            Ok(_) => {
                let _ = ch.close(200, "declared".into()).await;
                Ok(())
            }
            Err(e) if matches!(e.kind(), lapin::ErrorKind::ProtocolError(amqp) if amqp.get_id() == PRECONDITION_FAILED) =>
            {
                tracing::warn!(
                    queue = %self.poison_queue(),
                    "the poison queue exists without a length and age bound (declared by an earlier version); \
                     delete it once empty (rabbitmqctl delete_queue {}) and it is recreated bounded",
                    self.poison_queue()
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Declares everything, idempotently: a durable quorum queue with an explicit delivery limit,
    /// at-least-once dead-lettering (which needs `reject-publish` overflow) to a durable poison
    /// queue bounded in length and age.
    pub async fn declare(&self, broker: &Broker, ch: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.exchange_declare(
            self.exchange().into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await?;
        ch.exchange_declare(
            self.dead_letter_exchange().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
        self.declare_poison_queue(broker).await?;
        ch.queue_bind(
            self.poison_queue().into(),
            self.dead_letter_exchange().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        let mut args = self.queue_args();
        args.insert("x-delivery-limit".into(), AMQPValue::LongInt(DELIVERY_LIMIT));
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.dead_letter_exchange().as_str().into()),
        );
        args.insert(
            "x-dead-letter-strategy".into(),
            AMQPValue::LongString("at-least-once".into()),
        );
        args.insert("x-overflow".into(), AMQPValue::LongString("reject-publish".into()));
        ch.queue_declare(self.queue().into(), QueueDeclareOptions::durable(), args)
            .await?;
        ch.queue_bind(
            self.queue().into(),
            self.exchange().into(),
            ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        Ok(())
    }
}

/// What travels on the queue: an id, tagged and versioned so the format can evolve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum QueueMessage {
    #[serde(rename = "deliver.v1")]
    DeliverV1 { notification_id: NotificationId },
}

/// Reconnection waits: 250 ms doubling to 30 s, with jitter so replicas that lost the broker
/// together do not all come back in the same instant; reset by every successful connection.
fn reconnect_backoff() -> backon::ExponentialBackoff {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(30))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// A RabbitMQ connection kept up by a supervisor task that reconnects with capped backoff.
#[derive(Clone, Default)]
pub struct Broker {
    conn: Arc<RwLock<Option<Arc<Connection>>>>,
}

impl Broker {
    pub fn connected(&self) -> bool {
        self.current().is_some_and(|c| c.status().connected())
    }

    fn current(&self) -> Option<Arc<Connection>> {
        self.conn.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A new channel on the current connection.
    pub async fn channel(&self) -> lapin::Result<Channel> {
        match self.current() {
            Some(c) if c.status().connected() => c.create_channel().await,
            _ => Err(lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed).into()),
        }
    }

    /// Keeps a connection open until `shutdown`, then closes it.
    pub async fn supervise(self, url: String, shutdown: CancellationToken) {
        let mut backoff = reconnect_backoff();
        loop {
            let attempt = tokio::select! {
                () = shutdown.cancelled() => break,
                r = Connection::connect(&url, ConnectionProperties::default()) => r,
            };
            match attempt {
                Ok(conn) => {
                    tracing::info!("connected to RabbitMQ");
                    backoff = reconnect_backoff();
                    let conn = Arc::new(conn);
                    *self.conn.write().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
                    while conn.status().connected() {
                        tokio::select! {
                            () = shutdown.cancelled() => {
                                let _ = conn.close(200, "shutting down".into()).await;
                                return;
                            }
                            () = tokio::time::sleep(Duration::from_millis(250)) => {}
                        }
                    }
                    tracing::warn!("lost the RabbitMQ connection; reconnecting");
                }
                Err(e) => {
                    let wait = backoff.next().unwrap_or(Duration::from_secs(30));
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "failed to connect to RabbitMQ");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker unavailable: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker did not confirm the message")]
    NotConfirmed,
    #[error("the broker did not confirm in time")]
    Timeout,
}

/// Publishes delivery messages with publisher confirms on a lazily (re)opened channel.
#[derive(Clone)]
pub struct Publisher {
    broker: Broker,
    topology: Topology,
    channel: Arc<Mutex<Option<Channel>>>,
}

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

impl Publisher {
    pub fn new(broker: Broker, topology: Topology) -> Self {
        Self {
            broker,
            topology,
            channel: Arc::new(Mutex::new(None)),
        }
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    async fn confirm_channel(&self) -> Result<Channel, PublishError> {
        let mut slot = self.channel.lock().await;
        if let Some(ch) = slot.as_ref()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        let ch = self.broker.channel().await?;
        self.topology.declare(&self.broker, &ch).await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        *slot = Some(ch.clone());
        Ok(ch)
    }

    /// Publishes one delivery message and waits for the broker's confirm. The message carries the
    /// trace context of this `publish` span, so the worker's spans join the same trace.
    #[tracing::instrument(name = "publish", skip_all, fields(notification.id = %notification_id, messaging.system = "rabbitmq"))]
    pub async fn publish(&self, notification_id: NotificationId) -> Result<(), PublishError> {
        let ch = self.confirm_channel().await?;
        let body = serde_json::to_vec(&QueueMessage::DeliverV1 { notification_id }).unwrap_or_default();
        let mut headers = FieldTable::default();
        inject_trace_context(&mut headers);
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(notification_id.to_string().into())
            .with_headers(headers);
        let confirm = ch
            .basic_publish(
                self.topology.exchange().into(),
                ROUTING_KEY.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &body,
                props,
            )
            .await?;
        match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
            // A mandatory message that came back was not routed to the queue: not delivered.
            Ok(Ok(c)) => {
                if c.is_ack() && c.take_message().is_none() {
                    Ok(())
                } else {
                    Err(PublishError::NotConfirmed)
                }
            }
            Ok(Err(e)) => Err(PublishError::Broker(e)),
            Err(_) => Err(PublishError::Timeout),
        }
    }
}

struct HeaderInjector<'a>(&'a mut FieldTable);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0
            .insert(key.into(), AMQPValue::LongString(LongString::from(value.as_str())));
    }
}

/// Writes the current span's W3C trace context (`traceparent`, `tracestate`) into the headers.
pub fn inject_trace_context(headers: &mut FieldTable) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(headers)));
}

struct HeaderExtractor(HashMap<String, String>);

impl Extractor for HeaderExtractor {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Parents a consumer span on the trace context a message carried.
pub fn set_span_parent(span: &tracing::Span, cx: opentelemetry::Context) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let _ = span.set_parent(cx);
}

/// The trace context carried in a message's headers, to parent the consumer's span.
pub fn extract_trace_context(headers: Option<&FieldTable>) -> opentelemetry::Context {
    let mut map = HashMap::new();
    if let Some(h) = headers {
        for (k, v) in h.inner() {
            let value = match v {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.as_str().to_owned(),
                _ => continue,
            };
            map.insert(k.as_str().to_owned(), value);
        }
    }
    let carrier = HeaderExtractor(map);
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn reconnects_start_quick_back_off_to_half_a_minute_and_never_give_up() {
        let waits: Vec<Duration> = reconnect_backoff().take(100).collect();
        assert_eq!(waits.len(), 100);
        assert!(
            waits[0] >= Duration::from_millis(250) && waits[0] < Duration::from_millis(600),
            "{waits:?}"
        );
        // Jitter adds at most the delay itself on top.
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(60)), "{waits:?}");
        assert!(waits[20..].iter().all(|w| *w >= Duration::from_secs(30)), "{waits:?}");
    }

    #[test]
    fn messages_are_tagged_and_versioned() {
        let id = NotificationId(Uuid::nil());
        let json = serde_json::to_string(&QueueMessage::DeliverV1 { notification_id: id }).unwrap();
        assert_eq!(json, format!(r#"{{"type":"deliver.v1","notification_id":"{id}"}}"#));
        assert!(serde_json::from_str::<QueueMessage>(r#"{"type":"deliver.v9","notification_id":"x"}"#).is_err());
    }
}

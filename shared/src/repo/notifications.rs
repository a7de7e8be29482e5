//! `notification_events` and `notification_attempts`: the outbox, claims with leases, outcomes,
//! the sweep and relay queries, and expiry warnings.

use chrono::{DateTime, Utc};
use sea_orm::prelude::*;
use sea_orm::{Condition, ConnectionTrait, DbBackend, FromQueryResult, QueryOrder, Statement, Value};

use super::audit::NewAuditEvent;
use super::{Page, TimeCursor};
use crate::entities::notification_attempt::{self, Entity as Attempts, Model as Attempt};
use crate::entities::notification_channel::Model as Channel;
use crate::entities::notification_event::{self, Entity as Events, Model as Event};
use crate::model::{CertificateId, ChannelId, EventType, NotificationId, NotificationStatus};
use crate::retry::AfterFailure;

#[derive(FromQueryResult)]
struct IdRow {
    id: NotificationId,
}

async fn ids(conn: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<Vec<NotificationId>, DbErr> {
    Ok(
        IdRow::find_by_statement(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect(),
    )
}

/// The stored payload: `{"type", "timestamp", "data"}`, the body webhooks receive.
pub fn envelope(event_type: EventType, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "type": event_type.as_str(), "timestamp": Utc::now(), "data": data })
}

/// [`envelope`] built in SQL, from SQL expressions for the type and the data.
pub fn envelope_sql(event_type: &str, data: &str) -> String {
    format!("jsonb_build_object('type', {event_type}, 'timestamp', now(), 'data', {data})")
}

/// The head of the statements that queue notifications for subscribed channels: follow it with a
/// `SELECT` of the id, the type, the channel, the certificate and the payload.
pub const INSERT_INTO: &str = "INSERT INTO notification_events (id, type, channel_id, certificate_id, payload)";

/// The condition, on `notification_channels ch`, of a channel that receives notifications of the
/// type `event_type` (an SQL expression): enabled, not deleted, subscribed to it.
pub fn subscribed(event_type: &str) -> String {
    format!("ch.enabled AND ch.deleted_at IS NULL AND {event_type} = ANY(ch.event_types)")
}

/// One pending row per enabled, live channel subscribed to `event_type`; returns their ids.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    event_type: EventType,
    certificate_id: Option<CertificateId>,
    data: serde_json::Value,
) -> Result<Vec<NotificationId>, DbErr> {
    enqueue_to(conn, event_type, certificate_id, data, None).await
}

/// [`enqueue`], to the subscribed channels among `channels` when a renewal policy names some
/// (`None`: every subscribed channel).
pub async fn enqueue_to(
    conn: &impl ConnectionTrait,
    event_type: EventType,
    certificate_id: Option<CertificateId>,
    data: serde_json::Value,
    channels: Option<&[Uuid]>,
) -> Result<Vec<NotificationId>, DbErr> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{INSERT_INTO} SELECT gen_random_uuid(), $1, ch.id, $2, $3 FROM notification_channels ch \
             WHERE {} AND ($4::uuid[] IS NULL OR ch.id = ANY($4)) RETURNING id",
            subscribed("$1")
        )
    });
    ids(
        conn,
        &SQL,
        vec![
            event_type.as_str().into(),
            certificate_id.into(),
            envelope(event_type, data).into(),
            channels.map(<[Uuid]>::to_vec).into(),
        ],
    )
    .await
}

/// One pending row for one channel, whatever it subscribes to (channel tests).
pub async fn enqueue_for_channel(
    conn: &impl ConnectionTrait,
    channel_id: ChannelId,
    event_type: EventType,
    data: serde_json::Value,
) -> Result<NotificationId, DbErr> {
    let id = NotificationId::new();
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO notification_events (id, type, channel_id, payload) VALUES ($1, $2, $3, $4)",
        [
            id.into(),
            event_type.as_str().into(),
            channel_id.into(),
            envelope(event_type, data).into(),
        ],
    ))
    .await?;
    Ok(id)
}

pub async fn find(conn: &impl ConnectionTrait, id: NotificationId) -> Result<Option<Event>, DbErr> {
    Events::find_by_id(id).one(conn).await
}

pub async fn attempts(conn: &impl ConnectionTrait, id: NotificationId) -> Result<Vec<Attempt>, DbErr> {
    Attempts::find()
        .filter(notification_attempt::Column::NotificationId.eq(id))
        .order_by_asc(notification_attempt::Column::Attempt)
        .all(conn)
        .await
}

/// The claim statement: `$1` the ids (`uuid[]`), `$2` the worker, `$3` the lease in seconds.
/// Each claimed row gets its attempt recorded at once, as `in_progress`, so an attempt cut short
/// by a crash is still on record.
pub const CLAIM_SQL: &str = "WITH c AS ( \
       UPDATE notification_events e SET status = 'sending', \
         locked_until = now() + make_interval(secs => $3), lease_token = gen_random_uuid(), \
         locked_by = $2, dispatched_at = NULL, updated_at = now() \
       FROM unnest($1::uuid[]) AS t(id) \
       WHERE e.id = t.id AND CASE e.status WHEN 'pending' THEN true \
         WHEN 'failed' THEN e.next_retry_at <= now() ELSE false END \
       RETURNING e.*), \
     a AS ( \
       INSERT INTO notification_attempts (notification_id, attempt, started_at, outcome, worker) \
       SELECT c.id, (SELECT coalesce(max(x.attempt), 0) + 1 FROM notification_attempts x WHERE x.notification_id = c.id), \
         now(), 'in_progress', $2 FROM c \
       RETURNING notification_id, attempt) \
     SELECT c.*, a.attempt AS attempt_no, ch.id AS ch_id, ch.name AS ch_name, ch.kind AS ch_kind, ch.config AS ch_config, \
       ch.secret_ciphertext AS ch_secret_ciphertext, ch.event_types AS ch_event_types, \
       ch.enabled AS ch_enabled, ch.created_by AS ch_created_by, ch.created_at AS ch_created_at, \
       ch.updated_at AS ch_updated_at, ch.deleted_at AS ch_deleted_at \
     FROM c JOIN a ON a.notification_id = c.id LEFT JOIN notification_channels ch ON ch.id = c.channel_id";

/// A row claimed for one attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub event: Event,
    /// The channel as it was at claim time; `None` if it no longer exists.
    pub channel: Option<Channel>,
    /// The number of the attempt recorded (`in_progress`) with the claim.
    pub attempt: i32,
}

/// Claims rows for one attempt each with a single conditional update: a pending row, or a failed
/// row whose retry is due. Anything else (sent, dead, not yet due, leased by a live worker) is
/// left alone, so a duplicate message does nothing. A row whose lease expired is not claimed
/// here: the relay first records that attempt as lost ([`reclaim_lost`]). Each claimed row comes
/// back with its channel (read in the same statement) and the number of the attempt recorded for
/// it; ids that were not claimable are simply absent from the result, whose order is not `ids'`
/// order. The worker batches the claims of concurrent deliveries through this.
///
/// The state test is a `CASE`, not `status = 'pending' OR …`, on purpose: the plain form matches
/// the predicates of the relay's and the sweep's partial indexes, and under a generic plan
/// PostgreSQL would AND a bitmap scan of those indexes with the primary key. Their entries for
/// rows long since sent (until vacuum) made every claim read tens of thousands of index entries;
/// the `CASE` leaves the primary key as the only way in. The same goes for `finish_many`.
pub async fn claim_many(
    conn: &impl ConnectionTrait,
    ids: &[NotificationId],
    worker: &str,
    lease: std::time::Duration,
) -> Result<Vec<Claimed>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            CLAIM_SQL,
            [ids.to_vec().into(), worker.into(), lease.as_secs_f64().into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let event = Event::from_query_result(row, "")?;
            let channel = match row.try_get::<Option<ChannelId>>("", "ch_id")? {
                Some(_) => Some(Channel::from_query_result(row, "ch_")?),
                None => None,
            };
            Ok(Claimed {
                event,
                channel,
                attempt: row.try_get("", "attempt_no")?,
            })
        })
        .collect()
}

/// The new state after an attempt. Written only while the lease is still ours.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent,
    Failed {
        retry_count: i32,
        next_retry_at: DateTime<Utc>,
        error: String,
    },
    Dead {
        retry_count: i32,
        error: String,
    },
}

impl Outcome {
    /// The outcome of a failed attempt, as the retry policy decided it.
    pub fn failed(after: AfterFailure, error: String) -> Self {
        match after {
            AfterFailure::Retry {
                retry_count,
                next_retry_at,
            } => Outcome::Failed {
                retry_count,
                next_retry_at,
                error,
            },
            AfterFailure::Dead { retry_count } => Outcome::Dead { retry_count, error },
        }
    }
}

/// How one attempt went, recorded on its `in_progress` row (which holds when it started).
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub duration_ms: i32,
    pub outcome: &'static str,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub worker: String,
}

/// One finished attempt to record: the row, the lease it was made under, the number of the
/// attempt recorded at claim time, the new state, and how the attempt went.
#[derive(Debug, Clone)]
pub struct Finished {
    pub id: NotificationId,
    pub lease_token: Uuid,
    pub attempt_no: i32,
    pub outcome: Outcome,
    pub attempt: AttemptRecord,
}

impl Finished {
    fn to_json(&self) -> serde_json::Value {
        let (status, retry_count, next_retry_at, error) = match &self.outcome {
            Outcome::Sent => ("sent", None, None, None),
            Outcome::Failed {
                retry_count,
                next_retry_at,
                error,
            } => ("failed", Some(*retry_count), Some(*next_retry_at), Some(error.as_str())),
            Outcome::Dead { retry_count, error } => ("dead", Some(*retry_count), None, Some(error.as_str())),
        };
        let a = &self.attempt;
        serde_json::json!({
            "id": self.id, "token": self.lease_token, "attempt_no": self.attempt_no, "status": status, "retry_count": retry_count,
            "next_retry_at": next_retry_at, "error": error,
            "duration_ms": a.duration_ms, "outcome": a.outcome, "status_code": a.status_code,
            "attempt_error": a.error, "worker": a.worker,
        })
    }
}

/// Records the outcomes of attempts, on the row and on its `in_progress` attempt, in one
/// statement, for exactly the rows whose lease is still the one the attempt was made under (a
/// lease that expired mid-attempt was taken over by the relay, which recorded that attempt as
/// `lost`). Returns the `(id, lease token)` of each attempt recorded. Success leaves `retry_count` as it was
/// ("delivered on attempt N"); a dead row keeps `last_error`.
///
/// The `LIMIT` (the number of entries, so it drops nothing) is there for the planner: it knows
/// nothing of a JSON array's length and assumes 100 rows, which on a table of some thousands of
/// rows makes a sequential scan look cheaper than one primary-key lookup per entry.
pub async fn finish_many(conn: &impl ConnectionTrait, done: &[Finished]) -> Result<Vec<(NotificationId, Uuid)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Recorded {
        id: NotificationId,
        token: Uuid,
    }
    if done.is_empty() {
        return Ok(Vec::new());
    }
    let input = serde_json::Value::Array(done.iter().map(Finished::to_json).collect());
    let rows = Recorded::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH i AS ( \
           SELECT * FROM jsonb_to_recordset($1) AS i(id uuid, token uuid, attempt_no int, status text, retry_count int, \
             next_retry_at timestamptz, error text, duration_ms int, outcome text, \
             status_code int, attempt_error text, worker text) LIMIT $2), \
         upd AS ( \
           UPDATE notification_events e SET status = i.status, \
             retry_count = COALESCE(i.retry_count, e.retry_count), next_retry_at = i.next_retry_at, \
             last_error = CASE WHEN i.status = 'sent' THEN e.last_error ELSE i.error END, \
             sent_at = CASE WHEN i.status = 'sent' THEN now() ELSE e.sent_at END, \
             locked_until = NULL, lease_token = NULL, locked_by = NULL, updated_at = now() \
           FROM i WHERE e.id = i.id AND e.lease_token = i.token \
             AND CASE e.status WHEN 'sending' THEN true ELSE false END \
           RETURNING e.id, i.token), \
         att AS ( \
           UPDATE notification_attempts a SET duration_ms = i.duration_ms, outcome = i.outcome, \
             status_code = i.status_code, error = i.attempt_error \
           FROM i JOIN upd ON upd.id = i.id AND upd.token = i.token \
           WHERE a.notification_id = i.id AND a.attempt = i.attempt_no) \
         SELECT id, token FROM upd",
        [input.into(), (done.len() as i64).into()],
    ))
    .all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.token)).collect())
}

/// What a requeue found.
pub enum Requeue {
    Done(Box<Event>),
    NotFound,
    /// Only failed or dead rows can be requeued; this is the row's status.
    WrongState(NotificationStatus),
}

/// Resets a failed or dead row to a fresh pending one, atomically. It is stamped as dispatched:
/// the caller publishes it right after commit, so the relay leaves it alone for its grace.
pub async fn requeue(conn: &impl ConnectionTrait, id: NotificationId) -> Result<Requeue, DbErr> {
    let row = Events::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE notification_events SET retry_count = 0, next_retry_at = NULL, last_error = NULL, \
               status = 'pending', locked_until = NULL, lease_token = NULL, locked_by = NULL, updated_at = now(), \
               dispatched_at = now() \
             WHERE id = $1 AND status IN ('failed', 'dead') RETURNING *",
            [id.into()],
        ))
        .one(conn)
        .await?;
    Ok(match row {
        Some(r) => Requeue::Done(Box::new(r)),
        None => match find(conn, id).await? {
            None => Requeue::NotFound,
            Some(r) => Requeue::WrongState(r.status),
        },
    })
}

/// Failed rows whose retry is due and that were not published within `$2` seconds, oldest first,
/// through `idx_notification_events_retry_sweep`.
pub const DUE_RETRIES_SQL: &str = "SELECT id FROM notification_events \
    WHERE status = 'failed' AND next_retry_at IS NOT NULL AND next_retry_at <= now() \
      AND (dispatched_at IS NULL OR dispatched_at < now() - make_interval(secs => $2)) \
    ORDER BY next_retry_at LIMIT $1";

/// Takes up to `limit` failed rows whose retry is due and stamps them `dispatched_at`, for the
/// sweep to publish. A row published within `grace` is left out: its message is still on its way
/// to a worker, and publishing it again and again before one claims it would only grow the queue.
/// Each claim clears the stamp. Rows locked by another replica's sweep are skipped.
pub async fn dispatch_due_retries(
    conn: &impl ConnectionTrait,
    grace: std::time::Duration,
    limit: i64,
) -> Result<Vec<NotificationId>, DbErr> {
    ids(
        conn,
        &format!(
            "UPDATE notification_events SET dispatched_at = now() \
             WHERE id IN ({DUE_RETRIES_SQL} FOR UPDATE SKIP LOCKED) \
               AND status = 'failed' RETURNING id"
        ),
        vec![limit.into(), grace.as_secs_f64().into()],
    )
    .await
}

/// When the next retry not yet due falls due, if any. (Rows already due were just published;
/// counting them would make the sweep spin until a worker claims them.)
pub async fn earliest_retry(conn: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, DbErr> {
    #[derive(FromQueryResult)]
    struct Earliest {
        at: Option<DateTime<Utc>>,
    }
    Ok(Earliest::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT min(next_retry_at) AS at FROM notification_events \
         WHERE status = 'failed' AND next_retry_at IS NOT NULL AND next_retry_at > now()",
    ))
    .one(conn)
    .await?
    .and_then(|e| e.at))
}

/// Takes up to `limit` rows the broker may have lost, pending past the grace period (a crash or
/// broker outage between commit and publish, or a message lost in the broker) and not published
/// within it, and stamps them `dispatched_at`, for the relay to publish.
pub async fn dispatch_stranded(
    conn: &impl ConnectionTrait,
    grace: std::time::Duration,
    limit: i64,
) -> Result<Vec<NotificationId>, DbErr> {
    ids(
        conn,
        "UPDATE notification_events SET dispatched_at = now() \
         WHERE id IN (SELECT id FROM notification_events WHERE status = 'pending' \
             AND created_at < now() - make_interval(secs => $1) \
             AND (dispatched_at IS NULL OR dispatched_at < now() - make_interval(secs => $1)) \
             ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
           AND status = 'pending' RETURNING id",
        vec![grace.as_secs_f64().into(), limit.into()],
    )
    .await
}

/// A row whose worker vanished mid-attempt: its lease expired while it was `sending`.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Abandoned {
    pub id: NotificationId,
    pub retry_count: i32,
    pub locked_by: Option<String>,
}

/// Locks up to `limit` rows whose lease expired mid-attempt (their worker died or lost the
/// database), skipping rows another replica holds. Call in a transaction with [`record_lost`].
pub async fn lock_abandoned(conn: &impl ConnectionTrait, limit: i64) -> Result<Vec<Abandoned>, DbErr> {
    Abandoned::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT id, retry_count, locked_by FROM notification_events \
         WHERE status = 'sending' AND locked_until < now() \
         ORDER BY locked_until LIMIT $1 FOR UPDATE SKIP LOCKED",
        [limit.into()],
    ))
    .all(conn)
    .await
}

/// What becomes of an abandoned row: its attempt counts as failed, like any other.
#[derive(Debug, Clone)]
pub struct Lost {
    pub id: NotificationId,
    /// `Failed` (retry on the schedule) or `Dead` (that was the last attempt).
    pub outcome: Outcome,
}

/// Records lost attempts: the row gets its new state, and its `in_progress` attempt becomes
/// `lost` with the error. Only rows still `sending` past their lease are touched.
pub async fn record_lost(conn: &impl ConnectionTrait, lost: &[Lost]) -> Result<u64, DbErr> {
    if lost.is_empty() {
        return Ok(0);
    }
    let input = serde_json::Value::Array(
        lost.iter()
            .map(|l| {
                let (status, retry_count, next_retry_at, error) = match &l.outcome {
                    Outcome::Failed {
                        retry_count,
                        next_retry_at,
                        error,
                    } => ("failed", *retry_count, Some(*next_retry_at), error.as_str()),
                    Outcome::Dead { retry_count, error } => ("dead", *retry_count, None, error.as_str()),
                    Outcome::Sent => ("sent", 0, None, ""),
                };
                serde_json::json!({ "id": l.id, "status": status, "retry_count": retry_count,
                                    "next_retry_at": next_retry_at, "error": error })
            })
            .collect(),
    );
    let res = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH i AS ( \
               SELECT * FROM jsonb_to_recordset($1) AS i(id uuid, status text, retry_count int, \
                 next_retry_at timestamptz, error text) WHERE i.status IN ('failed', 'dead')), \
             upd AS ( \
               UPDATE notification_events e SET status = i.status, retry_count = i.retry_count, \
                 next_retry_at = i.next_retry_at, last_error = i.error, locked_until = NULL, lease_token = NULL, \
                 locked_by = NULL, dispatched_at = NULL, updated_at = now() \
               FROM i WHERE e.id = i.id AND e.status = 'sending' AND e.locked_until < now() \
               RETURNING e.id, i.error) \
             UPDATE notification_attempts a SET outcome = 'lost', error = upd.error, \
               duration_ms = LEAST(extract(epoch FROM now() - a.started_at) * 1000, 2147483647)::int \
             FROM upd WHERE a.notification_id = upd.id AND a.outcome = 'in_progress'",
            [input.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}

/// How long after expiry the scan still warns about a certificate (an SQL interval).
const EXPIRY_SCAN_LOOKS_BACK: &str = "interval '7 days'";

/// The states whose certificates get expiry warnings (as SQL literals): neither revoked nor
/// renewed.
const WARNED_STATUSES: &str = "'active', 'expiring', 'renewal_in_progress', 'expired'";

/// Expiry warnings: for each certificate neither revoked nor renewed within the widest threshold,
/// the tightest threshold it has crossed (its renewal policy's thresholds, or `thresholds_days`),
/// one row per subscribed channel (of the policy's channels, if it names any), deduplicated by a
/// unique key so each certificate × threshold × channel is warned once. Revoked, renewed and
/// short-lived certificates get none (a short-lived certificate is meant to lapse); certificates
/// that expired more than a week ago are left alone.
pub async fn enqueue_expiry_warnings(
    conn: &impl ConnectionTrait,
    thresholds_days: &[i32],
) -> Result<Vec<NotificationId>, DbErr> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH due AS ( \
               SELECT c.id, c.common_name, c.serial_hex, c.issuer_id, c.not_after, rp.channel_ids, \
                 (SELECT min(t) FROM unnest(coalesce(rp.warning_days, $1::int[])) AS t \
                  WHERE c.not_after <= now() + make_interval(days => t)) AS threshold \
               FROM certificates c \
               JOIN renewal_policies rp ON rp.id = coalesce(c.renewal_policy_id, \
                 (SELECT p.renewal_policy_id FROM certificate_profiles p WHERE p.id = c.profile_id), $3) \
               WHERE c.status IN ({warned}) AND NOT c.short_lived \
                 AND c.not_after <= now() + make_interval(days => greatest($2, \
                   (SELECT coalesce(max(t), 0) FROM renewal_policies, unnest(warning_days) AS t))) \
                 AND c.not_after > now() - {looks_back}) \
             INSERT INTO notification_events (id, type, channel_id, certificate_id, payload, dedup_key) \
             SELECT gen_random_uuid(), 'expiration_warning', ch.id, d.id, {payload}, \
               'expiry:' || d.id || ':' || d.threshold || ':' || ch.id \
             FROM due d CROSS JOIN notification_channels ch \
             WHERE d.threshold IS NOT NULL AND {subscribed} AND (d.channel_ids IS NULL OR ch.id = ANY(d.channel_ids)) \
             ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
            warned = WARNED_STATUSES,
            payload = envelope_sql(
                "'expiration_warning'",
                "jsonb_build_object('certificate_id', d.id, 'common_name', d.common_name, 'serial_hex', d.serial_hex, \
                 'issuer_id', d.issuer_id, 'not_after', d.not_after, 'threshold_days', d.threshold, \
                 'expired', d.not_after <= now())"
            ),
            subscribed = subscribed("'expiration_warning'"),
            looks_back = EXPIRY_SCAN_LOOKS_BACK,
        )
    });
    let widest = thresholds_days.iter().copied().max().unwrap_or(0);
    ids(
        conn,
        &SQL,
        vec![
            thresholds_days.to_vec().into(),
            widest.into(),
            super::renewal::DEFAULT_POLICY.0.into(),
        ],
    )
    .await
}

/// Expiry warnings for certificates discovery found that certctl did not issue (`unmanaged`, or
/// `claimed` by an operator; `dismissed` ones are left alone): as for the inventory, the tightest
/// threshold each has crossed, once per certificate × threshold × channel, with no
/// `certificate_id` and the discovered certificate's id in the payload. Those that expired more
/// than a week ago are left alone.
pub async fn enqueue_discovered_expiry_warnings(
    conn: &impl ConnectionTrait,
    thresholds_days: &[i32],
) -> Result<Vec<NotificationId>, DbErr> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH due AS ( \
               SELECT d.id, d.common_name, d.subject, d.issuer, d.serial_hex, d.not_after, d.status, \
                 (SELECT min(t) FROM unnest($1::int[]) AS t WHERE d.not_after <= now() + make_interval(days => t)) \
                   AS threshold, \
                 (SELECT array_agg(e.address || ':' || e.port ORDER BY e.last_seen_at DESC) \
                    FROM discovered_endpoints e WHERE e.discovered_id = d.id) AS seen_at \
               FROM discovered_certificates d \
               WHERE d.status IN ('unmanaged', 'claimed') AND d.not_after <= now() + make_interval(days => $2) \
                 AND d.not_after > now() - {looks_back}) \
             INSERT INTO notification_events (id, type, channel_id, certificate_id, payload, dedup_key) \
             SELECT gen_random_uuid(), 'expiration_warning', ch.id, NULL, {payload}, \
               'discovered-expiry:' || d.id || ':' || d.threshold || ':' || ch.id \
             FROM due d CROSS JOIN notification_channels ch \
             WHERE d.threshold IS NOT NULL AND {subscribed} \
             ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
            payload = envelope_sql(
                "'expiration_warning'",
                "jsonb_build_object('discovered_certificate_id', d.id, 'discovery_status', d.status, \
                 'common_name', d.common_name, 'subject', d.subject, 'issuer', d.issuer, 'serial_hex', d.serial_hex, \
                 'not_after', d.not_after, 'threshold_days', d.threshold, 'expired', d.not_after <= now(), \
                 'seen_at', d.seen_at)"
            ),
            subscribed = subscribed("'expiration_warning'"),
            looks_back = EXPIRY_SCAN_LOOKS_BACK,
        )
    });
    let widest = thresholds_days.iter().copied().max().unwrap_or(0);
    ids(conn, &SQL, vec![thresholds_days.to_vec().into(), widest.into()]).await
}

/// Deletes up to `limit` notifications in `status` created before `before`, with their
/// attempts, oldest first, in one statement (the `(status, created_at)` index finds them without
/// reading other rows). Rows another transaction holds are skipped, for the next call. Returns
/// how many notifications were deleted.
///
/// An expiry warning whose certificate the scan could still warn about (neither revoked nor
/// renewed, and not yet a week past expiry) is kept whatever its age: its row is what stops the scan from queueing the
/// same warning again.
pub async fn purge(
    conn: &impl ConnectionTrait,
    status: NotificationStatus,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<u64, DbErr> {
    #[derive(FromQueryResult)]
    struct Purged {
        purged: i64,
    }
    let purged = Purged::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "WITH doomed AS ( \
               SELECT e.id FROM notification_events e WHERE e.status = $1 AND e.created_at < $2 \
                 AND (e.dedup_key IS NULL OR NOT EXISTS ( \
                   SELECT 1 FROM certificates c WHERE c.id = e.certificate_id AND c.status IN ({WARNED_STATUSES}) \
                     AND c.not_after > now() - {EXPIRY_SCAN_LOOKS_BACK})) \
               ORDER BY e.created_at LIMIT $3 FOR UPDATE OF e SKIP LOCKED), \
             attempts AS (DELETE FROM notification_attempts WHERE notification_id IN (SELECT id FROM doomed)), \
             events AS (DELETE FROM notification_events WHERE id IN (SELECT id FROM doomed) RETURNING 1) \
             SELECT count(*) AS purged FROM events"
        ),
        [status.as_str().into(), before.into(), (limit as i64).into()],
    ))
    .one(conn)
    .await?
    .map_or(0, |p| p.purged);
    Ok(u64::try_from(purged).unwrap_or(0))
}

pub async fn count_by_status(conn: &impl ConnectionTrait, status: NotificationStatus) -> Result<u64, DbErr> {
    Events::find()
        .filter(notification_event::Column::Status.eq(status.as_str()))
        .count(conn)
        .await
}

/// Notifications not yet `sent`, for the backlog gauges: how many in each status, and the age of
/// the oldest one still to be delivered (pending, sending or failed).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Backlog {
    pub pending: u64,
    pub sending: u64,
    pub failed: u64,
    pub dead: u64,
    pub oldest_undelivered_secs: f64,
}

/// One pass over the unsent rows (the `(status, created_at)` index; `sent` rows are not read).
pub async fn backlog(conn: &impl ConnectionTrait) -> Result<Backlog, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        status: String,
        n: i64,
        oldest: f64,
    }
    let rows = Row::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT status, count(*) AS n, \
                coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest \
           FROM notification_events \
          WHERE status IN ('pending', 'sending', 'failed', 'dead') \
          GROUP BY status",
    ))
    .all(conn)
    .await?;
    let mut b = Backlog::default();
    for r in rows {
        let n = u64::try_from(r.n).unwrap_or(0);
        match r.status.as_str() {
            "pending" => b.pending = n,
            "sending" => b.sending = n,
            "failed" => b.failed = n,
            _ => {
                b.dead = n;
                continue;
            }
        }
        b.oldest_undelivered_secs = b.oldest_undelivered_secs.max(r.oldest.max(0.0));
    }
    Ok(b)
}

#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub status: Option<NotificationStatus>,
    pub event_type: Option<EventType>,
    pub channel_id: Option<ChannelId>,
    pub certificate_id: Option<CertificateId>,
}

pub async fn list(
    conn: &impl ConnectionTrait,
    f: &EventFilter,
    cursor: Option<TimeCursor>,
    limit: u64,
) -> Result<Page<Event>, DbErr> {
    let mut c = Condition::all();
    if let Some(s) = f.status {
        c = c.add(notification_event::Column::Status.eq(s.as_str()));
    }
    if let Some(t) = f.event_type {
        c = c.add(notification_event::Column::EventType.eq(t.as_str()));
    }
    if let Some(v) = f.channel_id {
        c = c.add(notification_event::Column::ChannelId.eq(v));
    }
    if let Some(v) = f.certificate_id {
        c = c.add(notification_event::Column::CertificateId.eq(v));
    }
    super::newest_first(
        conn,
        Events::find().filter(c),
        (notification_event::Column::CreatedAt, notification_event::Column::Id),
        cursor,
        limit,
        |e| TimeCursor {
            created_at: e.created_at,
            id: e.id.into(),
        },
    )
    .await
}

/// What [`enqueue_channel_test`] did.
pub enum ChannelTest {
    NotFound,
    Disabled,
    Queued { event: Box<Event>, channel_kind: String },
}

/// Queues a `channel_test` notification for a live, enabled channel with its audit row (`audit`,
/// whose details gain the notification's id), in one statement (atomic without a transaction).
pub async fn enqueue_channel_test(
    conn: &impl ConnectionTrait,
    channel_id: ChannelId,
    audit: &NewAuditEvent,
) -> Result<ChannelTest, DbErr> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH ch AS (SELECT id, name, kind, enabled FROM notification_channels WHERE id = $1 AND deleted_at IS NULL), \
             ev AS ( \
               {events} SELECT $2, 'channel_test', ch.id, NULL, {payload} FROM ch WHERE ch.enabled RETURNING *), \
             au AS ( \
               {audit} SELECT $4, $3, $5, $6, $1::text, $7, $8 || jsonb_build_object('notification_id', ev.id), \
                 $9, $10, $11, now() FROM ev RETURNING seq) \
             SELECT ch.kind AS channel_kind, ch.enabled AS channel_enabled, ev.* FROM ch LEFT JOIN ev ON true",
            events = INSERT_INTO,
            audit = super::audit::INSERT_INTO,
            payload = envelope_sql(
                "'channel_test'",
                "jsonb_build_object('channel_id', ch.id, 'channel_name', ch.name, 'requested_by', $3::text, \
                 'message', 'certctl test notification: this channel works')"
            ),
        )
    });
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            SQL.as_str(),
            [
                channel_id.into(),
                Uuid::now_v7().into(),
                audit.actor.clone().into(),
                Uuid::now_v7().into(),
                audit.action.clone().into(),
                audit.resource_type.clone().into(),
                audit.outcome.into(),
                audit.details.clone().into(),
                audit.request_id.clone().into(),
                audit.key_id.into(),
                audit.protocol.into(),
            ],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(ChannelTest::NotFound);
    };
    let enabled: bool = row.try_get("", "channel_enabled")?;
    let inserted: Option<NotificationId> = row.try_get("", "id")?;
    if !enabled || inserted.is_none() {
        return Ok(ChannelTest::Disabled);
    }
    Ok(ChannelTest::Queued {
        channel_kind: row.try_get("", "channel_kind")?,
        event: Box::new(Event::from_query_result(&row, "")?),
    })
}

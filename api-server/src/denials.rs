//! Audit rows for refused requests (403) and failed enrollments (EST, SCEP), aggregated so a key
//! or a device that is refused in a loop cannot flood the append-only audit table.
//!
//! The rule, per replica: the first denial of a given key on a given route (method and route
//! template) in a window of `CERTCTL_AUDIT_DENIAL_WINDOW` (default 60 s) is written at once, with
//! `count: 1`. Identical denials later in the same window are counted in memory; when the window
//! closes, one more row records how many there were (`count: N`, `aggregated: true`, and the
//! window's bounds). So a key refused ten thousand times a minute costs two rows a minute per
//! replica, and the counts in the rows add up to the number of refusals. On graceful shutdown every
//! open window is written out; a replica that crashes loses the counts of its open windows (never
//! the first row of each). Unauthenticated requests (401) are never written at all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use certctl_shared::model::ApiKeyId;
use certctl_shared::repo::audit::{self, NewAuditEvent};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Open windows tracked at once; past this, denials are written one row each (still audited).
const MAX_TRACKED: usize = 10_000;

/// One refused request.
pub struct Denial<'a> {
    pub key_id: ApiKeyId,
    pub principal: &'a str,
    pub role: &'static str,
    pub permission: &'static str,
    pub method: &'a str,
    /// The route template (`/api/v1/jobs/{id}`), so requests for different ids count together.
    pub route: &'a str,
    /// The path as requested, kept in the first row.
    pub path: &'a str,
    pub request_id: Option<String>,
}

#[derive(Debug)]
struct Window {
    opened: Instant,
    opened_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    /// Denials after the first, not yet written.
    repeats: u64,
    /// The first row without what is particular to one request, for the aggregate row.
    template: NewAuditEvent,
}

pub struct Denials {
    window: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Open windows by what repeats share (see [`Denials::record_row`]).
    open: HashMap<String, Window>,
    /// Aggregate rows of closed windows, written by the next flush.
    closed: Vec<NewAuditEvent>,
}

/// Detail fields that belong to one request and stay out of the aggregate row.
const PER_REQUEST_DETAILS: &[&str] = &["path", "count", "detail"];

impl Denials {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            state: Mutex::new(State::default()),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts a denied API request; returns the row to write now, or `None` when it joins an open
    /// window. Repeats are the same key on the same method and route.
    pub fn record(&self, d: &Denial<'_>, now: Instant) -> Option<NewAuditEvent> {
        let group = format!("api|{}|{}|{}", d.key_id, d.method, d.route);
        let first = NewAuditEvent {
            actor: d.principal.to_owned(),
            action: "authorization.denied".into(),
            resource_type: "route".into(),
            resource_id: Some(format!("{} {}", d.method, d.route)),
            outcome: "denied",
            details: json!({ "permission": d.permission, "role": d.role, "path": d.path }),
            request_id: d.request_id.clone(),
            key_id: Some(d.key_id),
            protocol: "api",
        };
        self.record_row(group, first, now)
    }

    /// Counts any refusal that is audited with aggregation (denied API requests, failed
    /// enrollments): the first of a `group` in a window is returned to be written now, with
    /// `count: 1` added to its details; repeats are counted and written as one aggregate row when
    /// the window closes. `group` says what repeats share (the caller's choice: key and route,
    /// or enrollment profile, client and reason).
    pub fn record_row(&self, group: String, mut first: NewAuditEvent, now: Instant) -> Option<NewAuditEvent> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *state;
        let tracked = state.open.len();
        match state.open.get_mut(&group) {
            Some(w) if now.duration_since(w.opened) < self.window => {
                w.repeats += 1;
                w.last_at = Utc::now();
                return None;
            }
            Some(w) => {
                if w.repeats > 0 {
                    state.closed.push(aggregate_row(w));
                }
                *w = Window::open(&first, now);
            }
            None if tracked < MAX_TRACKED => {
                state.open.insert(group, Window::open(&first, now));
            }
            None => {}
        }
        if let Some(details) = first.details.as_object_mut() {
            details.insert("count".into(), json!(1));
        }
        Some(first)
    }

    /// Takes the rows due: every closed window with repeats, or every open one too when `all`.
    fn due(&self, now: Instant, all: bool) -> Vec<NewAuditEvent> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *state;
        let mut rows = std::mem::take(&mut state.closed);
        state.open.retain(|_, w| {
            let closed = all || now.duration_since(w.opened) >= self.window;
            if closed && w.repeats > 0 {
                rows.push(aggregate_row(w));
            }
            !closed
        });
        rows
    }

    /// Writes the aggregate rows of closed windows every few seconds, and of every window at
    /// shutdown. A row that cannot be written (the database is down) is logged at ERROR and
    /// dropped, not retried, so a long outage cannot grow memory.
    pub async fn flush_until(&self, db: &DatabaseConnection, shutdown: CancellationToken) {
        let tick = (self.window / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let stopping = tokio::select! {
                () = shutdown.cancelled() => true,
                () = tokio::time::sleep(tick) => false,
            };
            for row in self.due(Instant::now(), stopping) {
                if let Err(e) = audit::append(db, row).await {
                    tracing::error!(error = %e, "failed to audit repeated denied requests");
                }
            }
            if stopping {
                return;
            }
        }
    }
}

impl Window {
    fn open(first: &NewAuditEvent, now: Instant) -> Self {
        let at = Utc::now();
        let mut template = first.clone();
        template.request_id = None;
        if let Some(details) = template.details.as_object_mut() {
            for field in PER_REQUEST_DETAILS {
                details.remove(*field);
            }
        }
        Self {
            opened: now,
            opened_at: at,
            last_at: at,
            repeats: 0,
            template,
        }
    }
}

fn aggregate_row(w: &Window) -> NewAuditEvent {
    let mut row = w.template.clone();
    if let Some(details) = row.details.as_object_mut() {
        details.insert("count".into(), json!(w.repeats));
        details.insert("aggregated".into(), json!(true));
        details.insert("window_start".into(), json!(w.opened_at));
        details.insert("last_at".into(), json!(w.last_at));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial<'a>(key_id: ApiKeyId, route: &'a str) -> Denial<'a> {
        Denial {
            key_id,
            principal: "mallory",
            role: "viewer",
            permission: "certificates:write",
            method: "POST",
            route,
            path: route,
            request_id: None,
        }
    }

    fn count(rows: &[NewAuditEvent]) -> u64 {
        rows.iter().map(|r| r.details["count"].as_u64().unwrap_or(0)).sum()
    }

    #[test]
    fn repeats_in_a_window_cost_one_row_and_add_up_when_it_closes() {
        let d = Denials::new(Duration::from_secs(60));
        let (key, t0) = (ApiKeyId::new(), Instant::now());
        let mut written = Vec::new();
        for i in 0..1000 {
            written.extend(d.record(&denial(key, "/api/v1/certificates"), t0 + Duration::from_millis(i)));
        }
        assert_eq!(written.len(), 1);
        assert!(d.due(t0 + Duration::from_secs(59), false).is_empty());
        let later = d.due(t0 + Duration::from_secs(61), false);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].details["aggregated"], true);
        assert_eq!(count(&written) + count(&later), 1000);
        // Nothing is left to write twice.
        assert!(d.due(t0 + Duration::from_secs(200), true).is_empty());
    }

    #[test]
    fn different_keys_and_routes_are_counted_apart() {
        let d = Denials::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let (a, b) = (ApiKeyId::new(), ApiKeyId::new());
        assert!(d.record(&denial(a, "/x"), t0).is_some());
        assert!(d.record(&denial(b, "/x"), t0).is_some());
        assert!(d.record(&denial(a, "/y"), t0).is_some());
        assert!(d.record(&denial(a, "/x"), t0).is_none());
    }

    #[test]
    fn a_new_window_after_a_closed_one_keeps_the_old_count() {
        let d = Denials::new(Duration::from_secs(10));
        let (key, t0) = (ApiKeyId::new(), Instant::now());
        let mut rows: Vec<NewAuditEvent> = Vec::new();
        for i in 0..5 {
            rows.extend(d.record(&denial(key, "/x"), t0 + Duration::from_secs(i)));
        }
        // The window closed but was not flushed before the next denial came.
        rows.extend(d.record(&denial(key, "/x"), t0 + Duration::from_secs(11)));
        rows.extend(d.due(t0 + Duration::from_secs(12), true));
        assert_eq!(count(&rows), 6);
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn shutdown_writes_every_open_window() {
        let d = Denials::new(Duration::from_secs(600));
        let (key, t0) = (ApiKeyId::new(), Instant::now());
        for _ in 0..3 {
            d.record(&denial(key, "/x"), t0);
        }
        let rows = d.due(t0, true);
        assert_eq!(count(&rows), 2);
    }
}

//! `certctl notifications` and `certctl channels`: deliveries, dead letters and where they go.

use anyhow::Context as _;
use certctl_types::api::notifications::{ChannelIn, ChannelOut, ChannelPatch, NotificationOut, NotificationQuery};
use certctl_types::ids::{CertificateId, ChannelId, NotificationId};
use certctl_types::vocab::{ChannelKind, EventType, NotificationStatus};
use clap::Subcommand;
use serde_json::Value;

use crate::client::Client;
use crate::output::{self, Format, Table, fields, opt, when};

use super::{Failure, Page, confirm, id_or_name, more, pages, parse_word, progress, usage};

#[derive(Debug, Subcommand)]
pub enum Notifications {
    /// Lists notifications, newest first (`--status dead` for dead letters).
    List {
        #[arg(long, value_parser = parse_word::<NotificationStatus>)]
        status: Option<NotificationStatus>,
        #[arg(long = "type", value_parser = parse_word::<EventType>)]
        event_type: Option<EventType>,
        /// Only this channel's (id or name).
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        certificate: Option<CertificateId>,
        #[command(flatten)]
        page: Page,
    },
    /// One notification with its attempts.
    Get { id: NotificationId },
    /// Gives failed or dead notifications a fresh budget.
    Requeue {
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        ids: Vec<NotificationId>,
        /// Every dead notification.
        #[arg(long)]
        all_dead: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Deletes dead notifications created before a time, with their attempts (admins). Sent ones
    /// are deleted by the worker after their retention.
    PurgeDead {
        /// RFC 3339, e.g. 2026-11-01T00:00:00Z.
        #[arg(long)]
        before: chrono::DateTime<chrono::Utc>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum Channels {
    List,
    Get {
        /// Channel id or name.
        channel: String,
    },
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_word::<ChannelKind>)]
        kind: ChannelKind,
        /// The channel's settings as a JSON object, or @FILE to read them from a file.
        #[arg(long)]
        config: String,
        /// An event type to deliver (repeat for more).
        #[arg(long = "event", required = true, value_parser = parse_word::<EventType>)]
        events: Vec<EventType>,
        #[arg(long)]
        disabled: bool,
    },
    /// Changes a channel: only what is given changes; --config is merged key by key, and
    /// secret settings left out keep their value.
    Update {
        /// Channel id or name.
        channel: String,
        #[arg(long)]
        name: Option<String>,
        /// Settings to change, as a JSON object, or @FILE.
        #[arg(long)]
        config: Option<String>,
        /// The event types to deliver, replacing the current ones (repeat for more).
        #[arg(long = "event", value_parser = parse_word::<EventType>)]
        events: Vec<EventType>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Deletes a channel; its notifications stay readable.
    Delete {
        /// Channel id or name.
        channel: String,
    },
    /// Sends a test notification through the whole pipeline.
    Test {
        /// Channel id or name.
        channel: String,
    },
}

/// A JSON object given inline or as @FILE.
fn json_object(given: String) -> Result<serde_json::Map<String, Value>, Failure> {
    let text = match given.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?,
        None => given,
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(usage("--config must be a JSON object (or @FILE holding one)")),
    }
}

pub(super) fn notification_table(items: &[NotificationOut]) -> String {
    let mut t = Table::new(&["ID", "TYPE", "CHANNEL", "STATUS", "RETRY", "LAST ERROR", "CREATED"]);
    for n in items {
        t.row(vec![
            n.id.to_string(),
            n.event_type.clone(),
            opt(&n.channel_kind),
            n.status.to_string(),
            format!("Retry {}/{}", n.retry_count, n.max_attempts),
            n.last_error
                .clone()
                .map_or_else(|| "-".to_owned(), |e| e.chars().take(60).collect()),
            when(&n.created_at),
        ]);
    }
    t.render()
}

pub(super) async fn notifications(client: &Client, format: Format, cmd: Notifications) -> Result<(), Failure> {
    match cmd {
        Notifications::List {
            status,
            event_type,
            channel,
            certificate,
            page,
        } => {
            let channel = match channel {
                Some(given) => Some(channel_id(client, &given).await?),
                None => None,
            };
            let (items, raw, next) = pages(&page, |cursor, limit| {
                let q = NotificationQuery {
                    status,
                    event_type,
                    channel_id: channel,
                    certificate_id: certificate,
                    cursor,
                    limit,
                };
                async move { client.list_notifications(&q).await }
            })
            .await?;
            output::print(format, &raw, || notification_table(&items));
            more(format, next);
        }
        Notifications::Get { id } => {
            let n = client.get_notification(id).await?;
            output::print(format, &n.raw, || {
                let v = &n.value;
                let mut out = fields(&[
                    ("ID", v.notification.id.to_string()),
                    ("Type", v.notification.event_type.clone()),
                    ("Status", v.notification.status.to_string()),
                    (
                        "Channel",
                        format!("{} ({})", v.notification.channel_id, opt(&v.notification.channel_kind)),
                    ),
                    ("Certificate", opt(&v.notification.certificate_id)),
                    (
                        "Retry",
                        format!("{}/{}", v.notification.retry_count, v.notification.max_attempts),
                    ),
                    (
                        "Next retry",
                        v.notification.next_retry_at.as_ref().map_or("-".into(), when),
                    ),
                    ("Last error", opt(&v.notification.last_error)),
                ]);
                let mut t = Table::new(&["ATTEMPT", "STARTED", "OUTCOME", "STATUS", "MS", "WORKER", "ERROR"]);
                for a in &v.attempts {
                    t.row(vec![
                        a.attempt.to_string(),
                        when(&a.started_at),
                        a.outcome.clone(),
                        opt(&a.status_code),
                        opt(&a.duration_ms),
                        a.worker.clone(),
                        opt(&a.error),
                    ]);
                }
                out.push('\n');
                out.push_str(&t.render());
                out
            });
        }
        Notifications::Requeue { ids, all_dead, yes } => {
            let ids: Vec<NotificationId> = if all_dead {
                let page = Page {
                    all: true,
                    limit: Some(certctl_types::api::MAX_PAGE),
                    ..Page::default()
                };
                let (dead, _, _) = pages(&page, |cursor, limit| {
                    let q = NotificationQuery {
                        status: Some(NotificationStatus::Dead),
                        cursor,
                        limit,
                        ..NotificationQuery::default()
                    };
                    async move { client.list_notifications(&q).await }
                })
                .await?;
                if dead.is_empty() {
                    eprintln!("no dead notifications");
                    return Ok(());
                }
                confirm(&format!("requeue {} dead notifications", dead.len()), yes)?;
                dead.into_iter().map(|n| n.id).collect()
            } else {
                ids
            };
            let bar = progress("requeueing", Some(ids.len() as u64));
            let mut done = Vec::new();
            let mut raw = Vec::new();
            let mut failed = None;
            for id in ids {
                match client.requeue(id).await {
                    Ok(r) => {
                        raw.push(r.raw);
                        done.push(r.value);
                    }
                    Err(e) => {
                        eprintln!("{id}: {e}");
                        failed = Some(e);
                    }
                }
                bar.inc(1);
            }
            bar.finish_and_clear();
            output::print(format, &Value::Array(raw), || notification_table(&done));
            if let Some(e) = failed {
                return Err(e.into());
            }
        }
        Notifications::PurgeDead { before, yes } => {
            confirm(&format!("delete every dead notification created before {before}"), yes)?;
            let r = client.purge_dead(before).await?;
            output::print(format, &r.raw, || format!("purged {}\n", r.value.purged));
        }
    }
    Ok(())
}

/// A channel given by id or by name.
async fn channel_id(client: &Client, given: &str) -> Result<ChannelId, Failure> {
    id_or_name(
        given,
        "channel",
        || client.list_channels(),
        |c: &ChannelOut| (c.name == given).then_some(c.id),
    )
    .await
}

pub(super) async fn channels(client: &Client, format: Format, cmd: Channels) -> Result<(), Failure> {
    let show = |c: &ChannelOut| {
        fields(&[
            ("ID", c.id.to_string()),
            ("Name", c.name.clone()),
            ("Kind", c.kind.clone()),
            ("Enabled", c.enabled.to_string()),
            ("Events", c.event_types.join(", ")),
            ("Config", Value::Object(c.config.clone()).to_string()),
            ("Secrets set", c.secrets_set.join(", ")),
        ])
    };
    match cmd {
        Channels::List => {
            let all = client.list_channels().await?;
            output::print(format, &all.raw, || {
                let mut t = Table::new(&["ID", "NAME", "KIND", "ENABLED", "EVENTS"]);
                for c in &all.value.data {
                    t.row(vec![
                        c.id.to_string(),
                        c.name.clone(),
                        c.kind.clone(),
                        c.enabled.to_string(),
                        c.event_types.join(","),
                    ]);
                }
                t.render()
            });
        }
        Channels::Get { channel } => {
            let c = client.get_channel(channel_id(client, &channel).await?).await?;
            output::print(format, &c.raw, || show(&c.value));
        }
        Channels::Create {
            name,
            kind,
            config,
            events,
            disabled,
        } => {
            let config = json_object(config)?;
            let c = client
                .create_channel(&ChannelIn {
                    name,
                    kind,
                    config,
                    event_types: events,
                    enabled: !disabled,
                })
                .await?;
            output::print(format, &c.raw, || show(&c.value));
        }
        Channels::Update {
            channel,
            name,
            config,
            events,
            enable,
            disable,
        } => {
            let patch = ChannelPatch {
                name,
                config: config.map(json_object).transpose()?,
                event_types: (!events.is_empty()).then_some(events),
                enabled: match (enable, disable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
            };
            let c = client
                .update_channel(channel_id(client, &channel).await?, &patch)
                .await?;
            output::print(format, &c.raw, || show(&c.value));
        }
        Channels::Delete { channel } => {
            let id = channel_id(client, &channel).await?;
            client.delete_channel(id).await?;
            eprintln!("deleted channel {id}");
        }
        Channels::Test { channel } => {
            let n = client.test_channel(channel_id(client, &channel).await?).await?;
            output::print(format, &n.raw, || {
                format!(
                    "queued test notification {} (certctl notifications get {})\n",
                    n.value.id, n.value.id
                )
            });
        }
    }
    Ok(())
}

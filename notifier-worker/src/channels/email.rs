//! Email over SMTP (RFC 5321): one plain-text message per notification, sent through the
//! channel's relay. `Message-ID` is `<{notification id}@certctl>`, the same on every attempt, so
//! receivers can deduplicate (RFC 5322 §3.6.4). The relay's reply code is the attempt's status:
//! a 2xx reply to the message data is `Delivered`, a 4xx or 5xx reply at any step is `Rejected`,
//! and anything that gets no reply (connection, TLS, timeout) is `Unreachable`.

use std::error::Error as _;
use std::time::Duration;

use certctl_shared::channel_config::{EmailConfig, SmtpTls};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{self, AsyncSmtpTransport};
use lettre::{AsyncTransport, Tokio1Executor};

use super::{Delivery, Outgoing, guard};

/// The submission port for STARTTLS (RFC 6409).
const STARTTLS_PORT: u16 = 587;
/// The submissions port, TLS from the first byte (RFC 8314 §3.3).
const IMPLICIT_TLS_PORT: u16 = 465;
/// Plain SMTP relay.
const PLAIN_PORT: u16 = 25;
/// The longest server reply text kept in an attempt's error.
const MAX_REPLY_TEXT: usize = 200;

/// Sends `n` to every recipient of the channel and classifies the relay's answer.
///
/// `timeout` bounds the whole exchange (resolution, connect, TLS, authentication, message), not
/// each step. Unless `allow_private`, the relay's name is resolved here, through the same guard
/// as the HTTP channels, and the connection goes to the address the guard passed; TLS still
/// checks the relay's certificate against its name.
pub async fn send(c: &EmailConfig, n: &Outgoing<'_>, timeout: Duration, allow_private: bool) -> Delivery {
    match tokio::time::timeout(timeout, send_guarded(c, n, timeout, allow_private)).await {
        Ok(d) => d,
        Err(_) => Delivery::Unreachable {
            error: "timed out".to_owned(),
        },
    }
}

async fn send_guarded(c: &EmailConfig, n: &Outgoing<'_>, timeout: Duration, allow_private: bool) -> Delivery {
    let message = match message(c, n) {
        Ok(m) => m,
        Err(e) => {
            return Delivery::Unreachable {
                error: format!("channel misconfigured: {e}"),
            };
        }
    };
    // A transport per send: it holds no pooled connection (the `pool` feature is off), and
    // notifications are rare enough that reconnecting, and reloading the system trust store for
    // TLS, costs little next to the exchange itself.
    let host = c.smtp_host.trim();
    let port = c.smtp_port.unwrap_or(match c.tls {
        SmtpTls::Starttls => STARTTLS_PORT,
        SmtpTls::Implicit => IMPLICIT_TLS_PORT,
        SmtpTls::None => PLAIN_PORT,
    });
    let dials: Vec<String> = if allow_private {
        vec![host.to_owned()]
    } else {
        match guard::resolve_public(host, port).await {
            Ok(addrs) => addrs.iter().map(|a| a.ip().to_string()).collect(),
            Err(error) => return Delivery::Unreachable { error },
        }
    };
    // Each address the relay's name has, in turn, until one answers: a relay that says no is an
    // answer, an address that cannot be reached is not.
    let mut outcome = Delivery::Unreachable {
        error: format!("{host} has no address"),
    };
    for dial in &dials {
        let transport = match transport(c, dial, port, timeout) {
            Ok(t) => t,
            Err(e) => {
                return Delivery::Unreachable {
                    error: format!("channel misconfigured: {}", error_chain(&e)),
                };
            }
        };
        // lettre's own timeout covers connecting; reads and writes after that have none.
        outcome = match tokio::time::timeout(timeout, transport.send(message.clone())).await {
            Err(_) => Delivery::Unreachable {
                error: "timed out".to_owned(),
            },
            Ok(Ok(reply)) => Delivery::Delivered {
                status: Some(u16::from(reply.code())),
            },
            Ok(Err(e)) => classify(&e),
        };
        if !matches!(outcome, Delivery::Unreachable { .. }) {
            break;
        }
    }
    outcome
}

/// The SMTP transport for the channel's relay: connecting to `dial` (the relay's name, or the
/// address the guard resolved it to) on `port`, with TLS checked against the relay's name.
fn transport(
    c: &EmailConfig,
    dial: &str,
    port: u16,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, smtp::Error> {
    // Certificates are checked against the system trust store (internal relays use internal CAs).
    let tls_for = || TlsParameters::new(c.smtp_host.trim().to_owned());
    let tls = match c.tls {
        SmtpTls::Starttls => Tls::Required(tls_for()?),
        SmtpTls::Implicit => Tls::Wrapper(tls_for()?),
        SmtpTls::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(dial)
        .port(port)
        .tls(tls)
        .timeout(Some(timeout));
    if let (Some(user), Some(password)) = (&c.username, &c.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

/// The message: summary as subject, a plain-text body with the event's details.
fn message(c: &EmailConfig, n: &Outgoing<'_>) -> Result<Message, String> {
    let from: Mailbox = c.from.parse().map_err(|e| format!("invalid from address: {e}"))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(n.summary())
        .message_id(Some(message_id(n)))
        .header(ContentType::TEXT_PLAIN);
    for to in &c.to {
        let to: Mailbox = to.parse().map_err(|e| format!("invalid to address {to:?}: {e}"))?;
        builder = builder.to(to);
    }
    builder
        .body(body(n))
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// `<{notification id}@certctl>`: stable across attempts, so receivers can drop duplicates.
pub fn message_id(n: &Outgoing<'_>) -> String {
    format!("<{}@certctl>", n.id)
}

/// The text/plain body: summary, event type, notification id and the event's data.
pub fn body(n: &Outgoing<'_>) -> String {
    let details = serde_json::to_string_pretty(&n.payload["data"]).unwrap_or_default();
    format!(
        "{summary}\n\nevent: {event}\nnotification: {id}\n\n{details}\n",
        summary = n.summary(),
        event = n.event_type,
        id = n.id,
    )
}

/// A reply from the relay is a rejection with its code; anything else never got an answer.
fn classify(e: &smtp::Error) -> Delivery {
    match e.status() {
        Some(code) => Delivery::Rejected {
            status: u16::from(code),
            detail: reply_text(e),
        },
        None if e.is_timeout() => Delivery::Unreachable {
            error: "timed out".to_owned(),
        },
        None => Delivery::Unreachable { error: error_chain(e) },
    }
}

/// The relay's reply text (lettre keeps it as the error's source), as `: text`, on one line and
/// bounded: it names the reason (`5.1.1 user unknown`) and never carries the message.
fn reply_text(e: &smtp::Error) -> String {
    let Some(text) = e.source().map(ToString::to_string) else {
        return String::new();
    };
    let text: String = text
        .chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .take(MAX_REPLY_TEXT)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// The error and its sources, skipping a source whose text the chain already shows (lettre
/// prints its source inside its own message).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use certctl_shared::model::NotificationId;
    use serde_json::json;
    use uuid::Uuid;

    fn config() -> EmailConfig {
        EmailConfig {
            smtp_host: "mx.example.test".into(),
            smtp_port: None,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            from: "certctl <certctl@example.test>".into(),
            to: vec!["ops@example.test".into(), "sec@example.test".into()],
        }
    }

    #[test]
    fn the_message_carries_the_notification_id_and_every_recipient() {
        let payload =
            json!({ "type": "channel_test", "timestamp": "2026-01-01T00:00:00Z", "data": { "channel": "x" } });
        let n = Outgoing {
            id: NotificationId(Uuid::nil()),
            event_type: "channel_test",
            payload: &payload,
        };
        let raw = String::from_utf8(message(&config(), &n).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <00000000-0000-0000-0000-000000000000@certctl>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("To: ops@example.test, sec@example.test\r\n"), "{raw}");
        assert!(
            raw.contains("Subject: certctl: test notification, this channel works\r\n"),
            "{raw}"
        );
        assert!(raw.contains("Content-Type: text/plain; charset=utf-8\r\n"), "{raw}");
        assert!(raw.contains("event: channel_test"), "{raw}");
        assert!(raw.contains("\"channel\": \"x\""), "{raw}");
    }

    #[test]
    fn a_bad_address_is_a_misconfiguration_not_a_panic() {
        let payload = json!({ "data": {} });
        let n = Outgoing {
            id: NotificationId(Uuid::nil()),
            event_type: "channel_test",
            payload: &payload,
        };
        let mut c = config();
        c.to.push("not an address".into());
        assert!(message(&c, &n).unwrap_err().contains("not an address"));
    }
}

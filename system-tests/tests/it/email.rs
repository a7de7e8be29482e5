//! Email notifications against a real SMTP server: aiosmtpd in its own process, recording each
//! message it accepts (parsed by Python's `email` package, not by our code) to a file.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, id, tempdir};

/// An SMTP server on 127.0.0.1: accepts every message, except that a recipient whose address
/// starts with `nobody@` is refused with `550 5.1.1`. Each accepted message is appended to the
/// record file as one JSON line. Binds port 0 and prints the port once it listens.
const SERVER: &str = r#"
import asyncio, email, email.policy, json, sys
from aiosmtpd.smtp import SMTP

class Record:
    def __init__(self, path):
        self.path = path

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "message_id": msg["Message-ID"],
            "from": msg["From"],
            "to": msg["To"],
            "subject": msg["Subject"],
            "content_type": msg.get_content_type(),
            "body": msg.get_content(),
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK queued"

async def main(path):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Record(path)), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main(sys.argv[1]))
"#;

/// The SMTP server process; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    record: PathBuf,
}

impl SmtpServer {
    async fn start() -> Self {
        let dir = tempdir();
        let script = dir.join("smtp_server.py");
        let record = dir.join("received.jsonl");
        std::fs::write(&script, SERVER).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&record)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed");
        let stdout = child.stdout.take().unwrap();
        // Build the guard first, so the process is killed even if it never becomes ready.
        let mut server = SmtpServer { child, port: 0, record };
        let line = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line).map(|_| line)
            }),
        )
        .await
        .expect("the SMTP server did not start within 20 s")
        .unwrap()
        .unwrap();
        server.port = line.trim().parse().unwrap_or_else(|_| {
            panic!("the SMTP server did not start (is aiosmtpd installed? scripts/test.sh installs it into .venv): {line:?}")
        });
        // It printed the port after listening; check that it answers all the same.
        tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .expect("the SMTP server accepts connections");
        server
    }

    /// The messages accepted so far.
    fn received(&self) -> Vec<Value> {
        match std::fs::read_to_string(&self.record) {
            Ok(text) => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("read {}: {e}", self.record.display()),
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local port where nothing listens (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Creates an email channel over plain SMTP to 127.0.0.1:`port` for `channel_test`.
async fn email_channel(app: &TestApp, port: u16, to: &[&str]) -> String {
    let (s, v) = app
        .post(
            "/api/v1/notification-channels",
            &app.admin_key,
            json!({
                "name": "ops-mail",
                "kind": "email",
                "config": {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": port,
                    "tls": "none",
                    "from": "certctl@example.test",
                    "to": to,
                },
                "event_types": ["channel_test"],
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    id(&v)
}

/// Triggers a test notification on the channel; returns the notification id.
async fn test_notification(app: &TestApp, channel: &str) -> String {
    let (s, v) = app
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    id(&v)
}

#[tokio::test]
async fn a_test_notification_reaches_a_real_smtp_server_with_the_notification_id_as_message_id() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn().await;
    let channel = email_channel(&app, smtp.port, &["ops@example.test"]).await;
    let _worker = app.worker(&[]).await;
    let nid = test_notification(&app, &channel).await;
    let done = app
        .wait_notification(&nid, Duration::from_secs(10), |v| v["status"] == "sent")
        .await;
    assert_eq!(done["retry_count"], 0);
    assert_eq!(done["attempts"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(done["attempts"][0]["outcome"], "delivered");
    assert_eq!(
        done["attempts"][0]["status_code"], 250,
        "the SMTP reply to the message data"
    );

    let received = smtp.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let m = &received[0];
    assert_eq!(m["mail_from"], "certctl@example.test");
    assert_eq!(m["rcpt_tos"], json!(["ops@example.test"]));
    assert_eq!(m["to"], "ops@example.test");
    assert_eq!(m["from"], "certctl@example.test");
    assert_eq!(
        m["message_id"],
        format!("<{nid}@certctl>"),
        "Message-ID is the receivers' idempotency key"
    );
    assert_eq!(m["content_type"], "text/plain");
    let subject = m["subject"].as_str().unwrap();
    assert!(subject.contains("test notification"), "{subject}");
    let body = m["body"].as_str().unwrap();
    assert!(body.contains("channel_test"), "{body}");
    assert!(body.contains(&nid), "{body}");
    assert!(body.contains("certctl test notification: this channel works"), "{body}");
    assert!(body.contains(&channel), "the event's data is in the body: {body}");
}

#[tokio::test]
async fn a_refused_recipient_is_a_rejection_with_the_smtp_reply_code() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn().await;
    let channel = email_channel(&app, smtp.port, &["nobody@example.test"]).await;
    let _worker = app
        .worker(&[
            ("CERTCTL_NOTIFICATION_BACKOFF_BASE", "10s"),
            ("CERTCTL_NOTIFICATION_BACKOFF_CAP", "20s"),
        ])
        .await;
    let nid = test_notification(&app, &channel).await;
    let failed = app
        .wait_notification(&nid, Duration::from_secs(10), |v| v["retry_count"] == 1)
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let attempt = &failed["attempts"][0];
    assert_eq!(attempt["outcome"], "rejected", "{failed}");
    assert_eq!(attempt["status_code"], 550, "{failed}");
    let error = failed["last_error"].as_str().unwrap();
    assert!(error.contains("550") && error.contains("no such user"), "{error}");
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn an_smtp_server_that_is_not_there_is_unreachable_and_retried_later() {
    let app = TestApp::spawn().await;
    let channel = email_channel(&app, closed_port(), &["ops@example.test"]).await;
    // A long base, so the row stays failed while it is read.
    let _worker = app
        .worker(&[
            ("CERTCTL_NOTIFICATION_BACKOFF_BASE", "10s"),
            ("CERTCTL_NOTIFICATION_BACKOFF_CAP", "20s"),
        ])
        .await;
    let nid = test_notification(&app, &channel).await;
    let failed = app
        .wait_notification(&nid, Duration::from_secs(10), |v| v["retry_count"] == 1)
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["next_retry_at"].is_string(), "{failed}");
    let attempts = failed["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{failed}");
    assert_eq!(attempts[0]["outcome"], "unreachable");
    assert!(attempts[0]["status_code"].is_null(), "{failed}");
    let error = failed["last_error"].as_str().unwrap();
    assert!(error.starts_with("unreachable: "), "{error}");
}

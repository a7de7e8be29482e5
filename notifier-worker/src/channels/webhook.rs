//! Webhooks, signed per Standard Webhooks: `webhook-id` is the notification id (stable across
//! attempts, so receivers can deduplicate), `webhook-timestamp` and `webhook-signature` are fresh
//! on every attempt. The signature is `v1,` + base64 HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the base64-decoded part of `whsec_…`.
//! The body is the stored envelope `{"type", "timestamp", "data"}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certctl_shared::channel_config::{WebhookConfig, webhook_key};
use ring::hmac;

use super::{Delivery, HttpSender, Outgoing};

/// The `webhook-signature` header value.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
}

pub async fn send(http: &HttpSender, c: &WebhookConfig, n: &Outgoing<'_>) -> Delivery {
    let key = match webhook_key(&c.secret) {
        Ok(k) => k,
        Err(e) => {
            return Delivery::Unreachable {
                error: format!("channel misconfigured: {e}"),
            };
        }
    };
    let body = serde_json::to_vec(n.payload).unwrap_or_default();
    let id = n.id.to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign(&key, &id, timestamp, &body);
    http.post_json(
        &c.url,
        &[
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ],
        body,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification.
        let key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}

//! PagerDuty Events API v2: `POST {base}/v2/enqueue` with a `trigger` event.

use certctl_shared::channel_config::PagerDutyConfig;
use serde_json::{Value, json};

use super::{Delivery, HttpSender, Outgoing};

pub fn body(c: &PagerDutyConfig, n: &Outgoing<'_>) -> Value {
    let data = &n.payload["data"];
    json!({
        "routing_key": c.routing_key,
        "event_action": "trigger",
        // One incident per notification: retries of the same notification deduplicate.
        "dedup_key": format!("certctl-{}", n.id),
        "payload": {
            "summary": n.summary(),
            "source": "certctl",
            "severity": c.severity.as_deref().unwrap_or("warning"),
            "timestamp": n.payload["timestamp"],
            "component": data["common_name"].as_str().unwrap_or("certctl"),
            "class": n.event_type,
            "custom_details": data,
        }
    })
}

pub async fn send(http: &HttpSender, c: &PagerDutyConfig, n: &Outgoing<'_>) -> Delivery {
    let base = c
        .api_url
        .as_deref()
        .unwrap_or(&http.pagerduty_url)
        .trim_end_matches('/');
    http.post_json(
        &format!("{base}/v2/enqueue"),
        &[],
        serde_json::to_vec(&body(c, n)).unwrap_or_default(),
    )
    .await
}

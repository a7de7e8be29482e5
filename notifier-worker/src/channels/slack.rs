//! Slack incoming webhooks: `{"text", "blocks"}`.

use certctl_shared::channel_config::ChatConfig;
use serde_json::json;

use super::{Delivery, HttpSender, Outgoing};

pub fn body(n: &Outgoing<'_>) -> serde_json::Value {
    let summary = n.summary();
    let details = serde_json::to_string_pretty(&n.payload["data"]).unwrap_or_default();
    json!({
        "text": summary,
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": format!("*{summary}*") } },
            { "type": "section", "text": { "type": "mrkdwn", "text": format!("```{details}```") } },
            { "type": "context", "elements": [ { "type": "mrkdwn", "text": format!("event `{}` · notification `{}`", n.event_type, n.id) } ] }
        ]
    })
}

pub async fn send(http: &HttpSender, c: &ChatConfig, n: &Outgoing<'_>) -> Delivery {
    http.post_json(&c.webhook_url, &[], serde_json::to_vec(&body(n)).unwrap_or_default())
        .await
}

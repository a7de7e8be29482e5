//! Microsoft Teams (Workflows webhook): a message carrying an Adaptive Card.

use certctl_shared::channel_config::ChatConfig;
use serde_json::{Value, json};

use super::{Delivery, HttpSender, Outgoing};

pub fn body(n: &Outgoing<'_>) -> Value {
    let facts: Vec<Value> = n.payload["data"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| json!({ "title": k, "value": v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()) }))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    { "type": "TextBlock", "text": n.summary(), "weight": "Bolder", "size": "Medium", "wrap": true },
                    { "type": "FactSet", "facts": facts },
                    { "type": "TextBlock", "text": format!("notification {}", n.id), "isSubtle": true, "size": "Small" }
                ]
            }
        }]
    })
}

pub async fn send(http: &HttpSender, c: &ChatConfig, n: &Outgoing<'_>) -> Delivery {
    http.post_json(&c.webhook_url, &[], serde_json::to_vec(&body(n)).unwrap_or_default())
        .await
}

//! OpsGenie Alert API: `POST {base}/v2/alerts` with `Authorization: GenieKey …`.

use certctl_shared::channel_config::OpsGenieConfig;
use serde_json::{Map, Value, json};

use super::{Delivery, HttpSender, Outgoing};

/// OpsGenie limits `message` to 130 characters.
const MAX_MESSAGE: usize = 130;

pub fn body(c: &OpsGenieConfig, n: &Outgoing<'_>) -> Value {
    let message: String = n.summary().chars().take(MAX_MESSAGE).collect();
    // `details` is a map of strings.
    let details: Map<String, Value> = n.payload["data"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::String(v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "message": message,
        "alias": format!("certctl-{}", n.id),
        "description": serde_json::to_string_pretty(&n.payload["data"]).unwrap_or_default(),
        "priority": c.priority.as_deref().unwrap_or("P3"),
        "source": "certctl",
        "tags": ["certctl", n.event_type],
        "details": details,
    })
}

pub async fn send(http: &HttpSender, c: &OpsGenieConfig, n: &Outgoing<'_>) -> Delivery {
    let base = c.api_url.as_deref().unwrap_or(&http.opsgenie_url).trim_end_matches('/');
    http.post_json(
        &format!("{base}/v2/alerts"),
        &[("authorization", format!("GenieKey {}", c.api_key))],
        serde_json::to_vec(&body(c, n)).unwrap_or_default(),
    )
    .await
}

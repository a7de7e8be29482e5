//! The outbound HTTP client shared by the HTTP channels.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Delivery;
use super::guard::{PublicOnly, is_private};

#[derive(Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    allow_private: bool,
    pub pagerduty_url: String,
    pub opsgenie_url: String,
}

impl HttpSender {
    pub fn new(
        timeout: Duration,
        allow_private: bool,
        pagerduty_url: String,
        opsgenie_url: String,
    ) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // A redirect could lead anywhere, including inside the network: it counts as an answer.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("certctl-notifier/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            allow_private,
            pagerduty_url,
            opsgenie_url,
        })
    }

    /// POSTs a JSON body and classifies the answer.
    pub async fn post_json(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Delivery {
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => {
                return Delivery::Unreachable {
                    error: format!("the channel's URL is not valid ({e})"),
                };
            }
        };
        // Literal IP hosts never reach the resolver, so they are checked here.
        if !self.allow_private
            && let Some(host) = parsed.host_str()
            && let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()
            && is_private(ip)
        {
            return Delivery::Unreachable {
                error: format!(
                    "{ip} is a private or loopback address (set CERTCTL_WEBHOOK_ALLOW_PRIVATE=true to allow)"
                ),
            };
        }
        let mut req = self
            .client
            .post(parsed)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                // Read (and discard) the body so the connection can be reused; never log it.
                let _ = resp.bytes().await;
                if (200..300).contains(&status) {
                    Delivery::Delivered { status: Some(status) }
                } else {
                    Delivery::Rejected {
                        status,
                        detail: String::new(),
                    }
                }
            }
            Err(e) if e.is_timeout() => Delivery::Unreachable {
                error: "timed out".to_owned(),
            },
            // The URL may be a secret (Slack and Teams webhook URLs are credentials): leave it out.
            Err(e) => Delivery::Unreachable {
                error: error_chain(&e.without_url()),
            },
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

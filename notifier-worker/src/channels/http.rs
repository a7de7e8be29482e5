//! The outbound HTTP client shared by the HTTP channels.
//!
//! It never uses a proxy (so the address the guard checks is the address dialled), follows no
//! redirects, and reads at most [`MAX_RESPONSE_BODY`] of an answer: a receiver that streams an
//! endless body gets its connection dropped, not the worker's memory.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Delivery;
use super::guard::{PublicOnly, refusal, refused_message};

/// How much of a response body is read (and thrown away) before the connection is dropped.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

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
            // HTTP(S)_PROXY would resolve names on the proxy, out of the guard's sight.
            .no_proxy()
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

    /// Whether channels may reach private and other non-public addresses.
    pub fn allow_private(&self) -> bool {
        self.allow_private
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
            && let Some(why) = refusal(ip)
        {
            return Delivery::Unreachable {
                error: refused_message("the channel's host", ip, why),
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
                drain_body(resp).await;
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

/// Reads a response body up to [`MAX_RESPONSE_BODY`] and discards it. A longer body is not read
/// further: dropping the response closes the connection, and the answer's status stands.
async fn drain_body(mut resp: reqwest::Response) {
    let mut read = 0usize;
    while let Ok(Some(chunk)) = resp.chunk().await {
        read += chunk.len();
        if read > MAX_RESPONSE_BODY {
            return;
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

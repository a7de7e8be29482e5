//! A recording HTTP receiver: a tiny server on loopback that answers as a test scripts it and
//! keeps every request it saw, standing in for webhook, chat and paging endpoints.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// One request the receiver saw.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Received {
    pub at: DateTime<Utc>,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub answered: u16,
}

/// How the receiver answers the next request.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    Status(u16),
    /// Wait, then answer 200 (beyond the delivery timeout this is a timeout).
    Slow(Duration),
}

#[derive(Default)]
struct ReceiverState {
    script: VecDeque<Answer>,
    default: Option<u16>,
    seen: Vec<Received>,
    /// Requests that arrived, counted before they are answered (a slow answer may never finish).
    arrivals: usize,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
    _shutdown: Arc<CancellationTokenDrop>,
}

struct CancellationTokenDrop(CancellationToken);

impl Drop for CancellationTokenDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

async fn record(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let answer = {
        let mut s = state.lock().unwrap();
        s.arrivals += 1;
        s.script.pop_front().unwrap_or(Answer::Status(s.default.unwrap_or(200)))
    };
    let status = match answer {
        Answer::Status(code) => code,
        Answer::Slow(d) => {
            tokio::time::sleep(d).await;
            200
        }
    };
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    state.lock().unwrap().seen.push(Received {
        at: Utc::now(),
        path: uri.path().to_owned(),
        headers,
        body: body.to_vec(),
        answered: status,
    });
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let router = axum::Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let token = CancellationToken::new();
        let stop = token.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .ok();
        });
        Self {
            url,
            state,
            _shutdown: Arc::new(CancellationTokenDrop(token)),
        }
    }

    /// The next answers, in order; after them, the default (200 unless set).
    pub fn script(&self, answers: &[Answer]) {
        self.state.lock().unwrap().script.extend(answers.iter().copied());
    }

    pub fn always(&self, status: u16) {
        self.state.lock().unwrap().default = Some(status);
    }

    pub fn seen(&self) -> Vec<Received> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests that reached the receiver, answered or not.
    pub fn arrivals(&self) -> usize {
        self.state.lock().unwrap().arrivals
    }
}

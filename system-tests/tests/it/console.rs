//! The web console served by the api-server from `CERTCTL_WEB_DIR`: files, the `index.html`
//! fallback for client routes, caching, security headers, traversal, and the API left alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use certctl_api_server::config::ApiConfig;
use certctl_shared::config::Env;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, tempdir};

const MARKER: &str = "certctl-console-marker-7f3a";
const JS: &str = "console.log('certctl app-abc123');";
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A built console as Vite lays it out, and a secret file beside (outside) it.
fn console_dir() -> PathBuf {
    let parent = tempdir();
    std::fs::write(parent.join("Cargo.toml"), "SECRET-OUTSIDE-THE-CONSOLE").unwrap();
    let dir = parent.join("dist");
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        format!(
            "<!doctype html><html><head><script type=\"module\" src=\"/assets/app-abc123.js\"></script></head><body>{MARKER}</body></html>"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("assets/app-abc123.js"), JS).unwrap();
    std::fs::write(dir.join("assets/app-abc123.css"), "body{margin:0}").unwrap();
    std::fs::write(dir.join("favicon.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    dir
}

async fn spawn_console(dir: &Path) -> TestApp {
    TestApp::spawn_with(&[("CERTCTL_WEB_DIR", dir.to_str().unwrap())]).await
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, HeaderMap, String) {
    request(app, Method::GET, path).await
}

async fn request(app: &TestApp, method: Method, path: &str) -> (StatusCode, HeaderMap, String) {
    let resp = app
        .http
        .request(method, format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

fn assert_secured(headers: &HeaderMap, what: &str) {
    assert_eq!(header(headers, "content-security-policy"), CSP, "{what}");
    assert_eq!(header(headers, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(headers, "x-content-type-options"), "nosniff", "{what}");
}

/// Sends `path` byte for byte (an HTTP client would normalise `..` and `%2e%2e` away) and returns
/// the status and the whole response.
async fn raw_get(app: &TestApp, path: &str) -> (u16, String) {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

#[tokio::test]
async fn the_console_is_served_with_its_fallback_caching_and_security_headers() {
    let dir = console_dir();
    let app = spawn_console(&dir).await;

    let (s, h, body) = get(&app, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(header(&h, "content-type").starts_with("text/html"), "{h:?}");
    assert!(body.contains(MARKER), "{body}");
    assert_eq!(header(&h, "cache-control"), "no-cache");
    assert_secured(&h, "/");

    let (s, h, body) = get(&app, "/assets/app-abc123.js").await;
    assert_eq!(s, StatusCode::OK);
    assert!(header(&h, "content-type").contains("javascript"), "{h:?}");
    assert_eq!(body, JS);
    assert_eq!(header(&h, "cache-control"), "public, max-age=31536000, immutable");
    assert_secured(&h, "the script");

    let (s, h, _) = get(&app, "/assets/app-abc123.css").await;
    assert_eq!(s, StatusCode::OK);
    assert!(header(&h, "content-type").starts_with("text/css"), "{h:?}");
    assert_eq!(header(&h, "cache-control"), "public, max-age=31536000, immutable");

    let (s, h, _) = get(&app, "/favicon.svg").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), "image/svg+xml");
    assert_eq!(header(&h, "cache-control"), "no-cache");
    assert_secured(&h, "the icon");

    // A client route is the app's, so index.html answers it.
    for route in [
        "/certificates/0191e7a4-5b7c-7d2e-9f10-123456789abc",
        "/certificates",
        "/jobs?status=pending",
    ] {
        let (s, h, body) = get(&app, route).await;
        assert_eq!(s, StatusCode::OK, "{route}");
        assert!(header(&h, "content-type").starts_with("text/html"), "{route}");
        assert!(body.contains(MARKER), "{route}: {body}");
        assert_eq!(header(&h, "cache-control"), "no-cache", "{route}");
        assert_secured(&h, route);
    }

    // A missing asset is never HTML: a browser would try to run it.
    let (s, h, body) = get(&app, "/assets/missing.js").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!header(&h, "content-type").contains("html"), "{h:?}");
    assert!(!body.contains(MARKER));
    assert_secured(&h, "a missing asset");

    let (s, h, body) = request(&app, Method::HEAD, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.is_empty(), "{body}");
    assert!(header(&h, "content-type").starts_with("text/html"));
    assert_secured(&h, "HEAD /");
    let (s, h, body) = request(&app, Method::HEAD, "/assets/app-abc123.js").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(
        header(&h, "content-length"),
        JS.len().to_string(),
        "HEAD tells the length GET sends"
    );

    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let (s, h, _) = request(&app, method.clone(), "/").await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(header(&h, "allow"), "GET, HEAD");
        let (s, _, _) = request(&app, method.clone(), "/certificates/x").await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }

    // No console response counts as an API route in the metrics.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"route="console",status="200""#),
        "console requests carry the route label `console`"
    );
}

#[tokio::test]
async fn no_path_climbs_out_of_the_console_directory() {
    let dir = console_dir();
    let app = spawn_console(&dir).await;
    // A symlink inside the directory that points out of it.
    std::os::unix::fs::symlink(dir.parent().unwrap().join("Cargo.toml"), dir.join("assets/escape.js")).unwrap();
    std::os::unix::fs::symlink(dir.parent().unwrap(), dir.join("up")).unwrap();

    for path in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2E%2E/Cargo.toml",
        "/.%2e/Cargo.toml",
        "/assets/..%2f..%2fCargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/..%5c..%5cCargo.toml",
        "//..//Cargo.toml",
        "/assets/escape.js",
        "/up/Cargo.toml",
        "/up/dist/index.html",
    ] {
        let (status, text) = raw_get(&app, path).await;
        assert!(!text.contains("SECRET-OUTSIDE"), "{path} leaked the file: {text}");
        assert!(
            status == 400 || status == 404 || (status == 200 && text.contains(MARKER)),
            "{path}: {status} {text}"
        );
    }
    // Spelled as a client sends them, too.
    for path in ["/../Cargo.toml", "/%2e%2e/Cargo.toml", "/assets/..%2f..%2fCargo.toml"] {
        let (_, _, body) = get(&app, path).await;
        assert!(!body.contains("SECRET-OUTSIDE"), "{path}");
    }
    // The symlinked asset escapes, so it is a missing asset: a 404, not index.html.
    let (status, text) = raw_get(&app, "/assets/escape.js").await;
    assert_eq!(status, 404, "{text}");
    assert!(!text.contains(MARKER));
    // Raw dot segments are refused outright.
    let (status, text) = raw_get(&app, "/%2e%2e/Cargo.toml").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("content-security-policy"), "{text}");
}

#[tokio::test]
async fn the_api_is_unaffected_by_the_console() {
    let dir = console_dir();
    let app = spawn_console(&dir).await;

    for path in ["/api/v1/nope", "/api", "/api/", "/api/v2/certificates"] {
        let (s, h, body) = get(&app, path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&h, "content-type"), "application/problem+json", "{path}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["detail"], "route not found", "{path}");
        assert!(h.get("content-security-policy").is_none(), "{path}");
    }
    let (s, _, _) = request(&app, Method::POST, "/api/v1/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, h, body) = get(&app, "/api/v1/version").await;
    assert_eq!(s, StatusCode::OK);
    assert!(header(&h, "content-type").starts_with("application/json"), "{h:?}");
    assert!(serde_json::from_str::<Value>(&body).unwrap().is_object());
    assert!(h.get("content-security-policy").is_none());

    // Authorization still applies to the API, and not to the console.
    let (s, _) = app.call(Method::GET, "/api/v1/certificates", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app.get("/api/v1/certificates", &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = request(&app, Method::DELETE, "/api/v1/certificates").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_web_dir_without_index_html_stops_the_start() {
    let empty = tempdir();
    let read = |value: &str| {
        let vars: HashMap<String, String> = HashMap::from([
            ("CERTCTL_DEV_MODE".into(), "true".into()),
            ("CERTCTL_WEB_DIR".into(), value.into()),
        ]);
        ApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned()))
    };
    let err = read(empty.to_str().unwrap()).unwrap_err();
    assert_eq!(err.var, "CERTCTL_WEB_DIR");
    assert!(err.to_string().contains("CERTCTL_WEB_DIR"), "{err}");
    assert!(err.message.contains("index.html"), "{err}");
    let err = read(empty.join("nope").to_str().unwrap()).unwrap_err();
    assert_eq!(err.var, "CERTCTL_WEB_DIR");
    // `off` turns the console off explicitly.
    assert!(read("off").unwrap().web_dir.is_none());
    let dir = console_dir();
    assert_eq!(
        read(dir.to_str().unwrap()).unwrap().web_dir.as_deref(),
        Some(dir.as_path())
    );
}

#[tokio::test]
async fn without_a_console_every_other_path_is_a_problem_404() {
    // The tests run in the crate directory, which has no web/dist: no console.
    assert!(!Path::new("web/dist/index.html").exists());
    let app = TestApp::spawn().await;
    for path in ["/", "/certificates/x", "/assets/app.js", "/api/v1/nope"] {
        let (s, h, body) = get(&app, path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&h, "content-type"), "application/problem+json", "{path}");
        assert!(h.get("content-security-policy").is_none(), "{path}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["code"], "not_found", "{path}");
    }
    // And `off` is the same, even with a console directory at hand.
    let app = TestApp::spawn_with(&[("CERTCTL_WEB_DIR", "off")]).await;
    let (s, h, _) = get(&app, "/").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(header(&h, "content-type"), "application/problem+json");
}

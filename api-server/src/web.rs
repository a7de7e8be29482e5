//! The web console: the built single-page app (`web/dist`), served by the api-server from
//! `CERTCTL_WEB_DIR` beside the API. It is the API router's fallback, so it never sees a request an
//! API route matches, never goes through API-key authorization, and is counted in the request
//! metrics under the route label `console`.
//!
//! The rules:
//!
//! - Paths the API owns (`/api` and everything under `/api/`) are never the console's: a request
//!   no API route matches keeps the API's problem+json `404 route not found`. Without a console
//!   configured, every unmatched path gets that answer too, as before the console existed.
//! - Only `GET` and `HEAD`; any other method on a console path is `405` with `Allow: GET, HEAD`.
//!   `HEAD` answers the headers of `GET` with an empty body.
//! - The path is split into segments and each is percent-decoded. A segment that does not decode,
//!   decodes to `.` or `..`, or holds `/`, `\` or NUL after decoding is refused with `400`, so
//!   neither `..` nor `%2e%2e` nor `..%2f` can climb out of the directory. A file is served only
//!   if its canonical path (symlinks resolved) is inside the canonical directory, and only if it
//!   is a regular file.
//! - `/assets/…` are the build's content-hashed files: served with
//!   `Cache-Control: public, max-age=31536000, immutable`; a missing one is a plain-text `404`,
//!   never `index.html` (a browser would otherwise run HTML as a script after a broken deploy).
//! - Any other existing file (`/favicon.svg`, `/index.html`) is served with `Cache-Control:
//!   no-cache`; any other path without a file (a client route such as `/certificates/0191…`) gets
//!   `index.html`, also `no-cache`, so a new deploy is picked up on the next load.
//! - Every console answer (HTML, assets, and the console's 400/404/405) carries
//!   [`CONTENT_SECURITY_POLICY`] (no inline script, no framing), `X-Frame-Options: DENY`,
//!   `Referrer-Policy: no-referrer` and `X-Content-Type-Options: nosniff`. API answers do not.
//! - Files are read from disk on every request (no cache in memory), so a new build in place is
//!   served at once.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// The console's Content-Security-Policy: everything from the api-server's own origin, no inline
/// script or style, no plugins, no `<base>`, and no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Caching of the content-hashed files under `/assets/`.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Caching of `index.html` and the other unhashed files: always revalidate.
const NO_CACHE: &str = "no-cache";

/// Marks a response the console produced, for the request metrics (route label `console`).
#[derive(Clone, Copy, Debug)]
pub struct ConsoleResponse;

/// What a request path refers to, decided from the path alone.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A path the API or an enrollment protocol owns (`/api/…`, `/.well-known/…`, `/scep/…`).
    Api,
    /// A path relative to the console directory (empty for `/`); `asset` when under `/assets/`.
    File { rel: PathBuf, asset: bool },
}

/// Why a path was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BadPath {
    /// Not an origin-form path (does not start with `/`).
    NotAbsolute,
    /// A `%` escape that is not two hex digits, or that decodes to invalid UTF-8.
    BadEscape,
    /// A segment that is `.` or `..` once decoded.
    DotSegment,
    /// A segment holding `/`, `\` or NUL once decoded.
    BadCharacter,
}

/// Classifies a raw (still percent-encoded) request path. Pure: no filesystem access.
pub fn classify(raw: &str) -> Result<Target, BadPath> {
    // The API and the enrollment protocols (EST under /.well-known/est, SCEP under /scep) answer
    // unknown paths with their own 404, never with the console.
    let protocol = |prefix: &str| raw == prefix || raw.strip_prefix(prefix).is_some_and(|r| r.starts_with('/'));
    if protocol("/api") || protocol("/scep") || raw.starts_with("/.well-known/") {
        return Ok(Target::Api);
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(BadPath::NotAbsolute);
    };
    let mut segments = Vec::new();
    for raw_segment in rest.split('/') {
        if raw_segment.is_empty() {
            continue;
        }
        let segment = percent_decode(raw_segment)?;
        if segment == "." || segment == ".." {
            return Err(BadPath::DotSegment);
        }
        if segment.contains(['/', '\\', '\0']) {
            return Err(BadPath::BadCharacter);
        }
        segments.push(segment);
    }
    match segments.first().map(String::as_str) {
        Some("api" | "scep" | ".well-known") => Ok(Target::Api),
        first => Ok(Target::File {
            asset: first == Some("assets"),
            rel: segments.iter().collect(),
        }),
    }
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn percent_decode(segment: &str) -> Result<String, BadPath> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(BadPath::BadEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| BadPath::BadEscape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| BadPath::BadEscape)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| BadPath::BadEscape)
}

/// Whether `candidate` is `root` or inside it, once both are canonical (symlinks resolved).
pub fn is_inside(root: &Path, candidate: &Path) -> bool {
    candidate.starts_with(root)
}

/// The Content-Type for a file name, by extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// The API router's fallback: the console for console paths when one is configured, the API's
/// problem 404 otherwise.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let Some(root) = state.config.web_dir.as_deref() else {
        return ApiError::NotFound("route").into_response();
    };
    let file = match classify(req.uri().path()) {
        Ok(Target::Api) => return ApiError::NotFound("route").into_response(),
        Ok(Target::File { rel, asset }) => Ok((rel, asset)),
        Err(bad) => Err(bad),
    };
    let head = req.method() == Method::HEAD;
    let mut resp = if req.method() != Method::GET && !head {
        let mut resp = ApiError::MethodNotAllowed.into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        resp
    } else {
        match file {
            Ok((rel, asset)) => serve(root, &rel, asset, head).await,
            Err(bad) => {
                tracing::debug!(reason = ?bad, "refused a web console path");
                plain(StatusCode::BAD_REQUEST, "invalid path")
            }
        }
    };
    secure(&mut resp);
    resp.extensions_mut().insert(ConsoleResponse);
    resp
}

/// Serves the file at `rel`, or `index.html` for a client route, or a plain 404.
async fn serve(root: &Path, rel: &Path, asset: bool, head: bool) -> Response {
    let Ok(root) = tokio::fs::canonicalize(root).await else {
        tracing::warn!(dir = %root.display(), "the web console directory is gone");
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    if let Some(file) = regular_file_inside(&root, &root.join(rel)).await {
        let cache = if asset { IMMUTABLE } else { NO_CACHE };
        return file_response(&file, cache, head).await;
    }
    if asset {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    match regular_file_inside(&root, &root.join("index.html")).await {
        Some(index) => file_response(&index, NO_CACHE, head).await,
        None => {
            tracing::warn!(dir = %root.display(), "the web console directory has no index.html");
            plain(StatusCode::NOT_FOUND, "not found")
        }
    }
}

/// The canonical path of `candidate` if it is a regular file inside the canonical `root`.
async fn regular_file_inside(root: &Path, candidate: &Path) -> Option<PathBuf> {
    let canonical = tokio::fs::canonicalize(candidate).await.ok()?;
    if !is_inside(root, &canonical) {
        return None;
    }
    let meta = tokio::fs::metadata(&canonical).await.ok()?;
    meta.is_file().then_some(canonical)
}

async fn file_response(path: &Path, cache: &'static str, head: bool) -> Response {
    let body = if head {
        match tokio::fs::metadata(path).await {
            Ok(meta) => Err(meta.len()),
            Err(e) => return read_failed(path, e),
        }
    } else {
        match tokio::fs::read(path).await {
            Ok(bytes) => Ok(bytes),
            Err(e) => return read_failed(path, e),
        }
    };
    let mut resp = match body {
        Ok(bytes) => Response::new(Body::from(bytes)),
        Err(len) => {
            let mut resp = Response::new(Body::empty());
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            resp
        }
    };
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

fn read_failed(path: &Path, e: std::io::Error) -> Response {
    tracing::warn!(path = %path.display(), error = %e, "failed to read a web console file");
    plain(StatusCode::NOT_FOUND, "not found")
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut resp = (status, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    resp
}

/// The security headers of every console response.
fn secure(resp: &mut Response) {
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, asset: bool) -> Result<Target, BadPath> {
        Ok(Target::File {
            rel: PathBuf::from(rel),
            asset,
        })
    }

    #[test]
    fn api_paths_belong_to_the_api() {
        assert_eq!(classify("/api"), Ok(Target::Api));
        assert_eq!(classify("/api/"), Ok(Target::Api));
        assert_eq!(classify("/api/v1/nope"), Ok(Target::Api));
        // Spelled differently, still the API's.
        assert_eq!(classify("//api/v1/nope"), Ok(Target::Api));
        assert_eq!(classify("/%61pi/v1/nope"), Ok(Target::Api));
        // Only the whole first segment counts.
        assert_eq!(classify("/apis"), file("apis", false));
        assert_eq!(classify("/application/x"), file("application/x", false));
    }

    #[test]
    fn console_paths_map_to_relative_files() {
        assert_eq!(classify("/"), file("", false));
        assert_eq!(classify("/index.html"), file("index.html", false));
        assert_eq!(classify("/favicon.svg"), file("favicon.svg", false));
        assert_eq!(
            classify("/certificates/0191e7a4-5b7c-7d2e-9f10-123456789abc"),
            file("certificates/0191e7a4-5b7c-7d2e-9f10-123456789abc", false)
        );
        assert_eq!(classify("/assets/app-abc123.js"), file("assets/app-abc123.js", true));
        assert_eq!(classify("/assets//app.js"), file("assets/app.js", true));
        assert_eq!(classify("/assets"), file("assets", true));
        assert_eq!(classify("/assetsx/a.js"), file("assetsx/a.js", false));
        assert_eq!(classify("/a%20b.txt"), file("a b.txt", false));
        assert_eq!(classify("/caf%C3%A9"), file("café", false));
        // Dots inside a name are fine.
        assert_eq!(classify("/a..b/.well-known/x"), file("a..b/.well-known/x", false));
    }

    #[test]
    fn traversal_is_refused_however_it_is_spelled() {
        for raw in [
            "/..",
            "/../Cargo.toml",
            "/assets/../../Cargo.toml",
            "/a/b/../../../etc/passwd",
            "/./index.html",
            "/%2e%2e/Cargo.toml",
            "/%2E%2E/Cargo.toml",
            "/.%2e/Cargo.toml",
            "/%2e./Cargo.toml",
            "/%2e/index.html",
        ] {
            assert_eq!(classify(raw), Err(BadPath::DotSegment), "{raw}");
        }
        for raw in [
            "/assets/..%2f..%2fCargo.toml",
            "/assets/..%2F..%2FCargo.toml",
            "/%2fetc%2fpasswd",
            "/..%5c..%5cCargo.toml",
            "/a%5cb",
            "/index.html%00.js",
        ] {
            assert_eq!(classify(raw), Err(BadPath::BadCharacter), "{raw}");
        }
        for raw in ["/%", "/%2", "/%zz", "/%c3", "/%ff%fe"] {
            assert_eq!(classify(raw), Err(BadPath::BadEscape), "{raw}");
        }
    }

    #[test]
    fn absolute_paths_never_escape_the_root() {
        // Not origin-form: refused.
        assert_eq!(classify("etc/passwd"), Err(BadPath::NotAbsolute));
        assert_eq!(classify(""), Err(BadPath::NotAbsolute));
        // A leading run of slashes is not an absolute file path: joined under the root.
        let Ok(Target::File { rel, .. }) = classify("//etc/passwd") else {
            panic!("expected a file target");
        };
        assert!(rel.is_relative());
        assert_eq!(Path::new("/srv/web").join(&rel), Path::new("/srv/web/etc/passwd"));
        // An encoded leading slash is refused outright, so nothing absolute reaches `join`.
        assert_eq!(classify("/%2Fetc%2Fpasswd"), Err(BadPath::BadCharacter));
    }

    #[test]
    fn containment_is_by_whole_components() {
        let root = Path::new("/srv/web");
        assert!(is_inside(root, Path::new("/srv/web/index.html")));
        assert!(is_inside(root, Path::new("/srv/web/assets/a.js")));
        assert!(!is_inside(root, Path::new("/srv/web-other/index.html")));
        assert!(!is_inside(root, Path::new("/srv/Cargo.toml")));
        assert!(!is_inside(root, Path::new("/etc/passwd")));
    }

    #[test]
    fn content_types_of_a_vite_build() {
        assert_eq!(content_type(Path::new("index.html")), "text/html; charset=utf-8");
        assert_eq!(
            content_type(Path::new("assets/app-abc123.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("assets/app-abc123.CSS")),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("favicon.svg")), "image/svg+xml");
        assert_eq!(content_type(Path::new("assets/font.woff2")), "font/woff2");
        assert_eq!(content_type(Path::new("LICENSE")), "application/octet-stream");
    }

    #[test]
    fn the_policy_allows_no_inline_script_and_no_framing() {
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(CONTENT_SECURITY_POLICY.ends_with("frame-ancestors 'none'"));
        assert!(
            !CONTENT_SECURITY_POLICY.contains("  "),
            "no doubled spaces from the line breaks"
        );
    }
}

//! Serving a router on a bound listener, with optional rustls TLS and graceful shutdown.

use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::TlsFiles;

/// How long in-flight requests get to finish after shutdown is requested.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// Serves until `shutdown` is cancelled, then stops accepting and drains in-flight requests for at
/// most [`DRAIN_TIMEOUT`]. If the listener fails (bad TLS files, say) it cancels `shutdown`, so the
/// daemon's other listeners stop too and the failure reaches `main` instead of hiding behind a
/// healthy admin port.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<&TlsFiles>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let result = serve_inner(listener, router, tls, shutdown.clone()).await;
    if result.is_err() {
        shutdown.cancel();
    }
    result
}

async fn serve_inner(
    listener: TcpListener,
    router: Router,
    tls: Option<&TlsFiles>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    match tls {
        None => {
            let server = axum::serve(listener, service).with_graceful_shutdown(shutdown.clone().cancelled_owned());
            let drain_deadline = async {
                shutdown.cancelled().await;
                tokio::time::sleep(DRAIN_TIMEOUT).await;
            };
            tokio::select! {
                r = server => r?,
                () = drain_deadline => tracing::warn!("in-flight requests did not finish within the drain timeout"),
            }
        }
        Some(files) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_config(std::sync::Arc::new(tls_config(files)?));
            let handle = axum_server::Handle::new();
            let watcher = handle.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                watcher.graceful_shutdown(Some(DRAIN_TIMEOUT));
            });
            axum_server::from_tcp_rustls(listener.into_std()?, config)?
                .handle(handle)
                .serve(service)
                .await?;
        }
    }
    Ok(())
}

/// Every request on a TLS connection carries this extension (with the client's certificate
/// chain, if it sent one); a request without it came over plain HTTP.
pub use axum_server::tls::TlsInfo;

/// The rustls server configuration for `files`: HTTP/2 and HTTP/1.1 by ALPN, and, if the files
/// say so, a client certificate requested but not required (see [`RequestClientCert`]).
pub fn tls_config(files: &TlsFiles) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let failed = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "failed to load TLS certificate {} and key {}: {e}",
            files.cert.display(),
            files.key.display()
        )
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| failed(&e))?;
    if chain.is_empty() {
        return Err(failed(&"the certificate file holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| failed(&e))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(&e))?;
    let builder = if files.request_client_certificate {
        builder.with_client_cert_verifier(std::sync::Arc::new(RequestClientCert { provider }))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| failed(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Asks every TLS client for a certificate and accepts a connection without one. A certificate
/// that is sent must be proven by the handshake signature (checked here); whether it is trusted,
/// and for what, is up to the handler that reads it from [`TlsInfo`] — EST checks it against the
/// issuer an enrollment profile names, so no fixed set of roots fits here, and no CA names are
/// hinted to the client.
#[derive(Debug)]
pub struct RequestClientCert {
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::server::danger::ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Serves plain HTTP/1.1 (no TLS, no HTTP/2) until `shutdown`, then drains like [`serve`]. For
/// a public, high-rate listener whose clients often open a connection per request (OCSP
/// clients do): it skips what `axum::serve` does per connection for protocols this listener
/// does not speak (reading ahead to detect HTTP/2, a make-service call), and accepts from one
/// task per core, so accepting new connections is not funnelled through one task.
pub async fn serve_http1(listener: TcpListener, router: Router, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = std::sync::Arc::new(listener);
    let graceful = std::sync::Arc::new(hyper_util::server::graceful::GracefulShutdown::new());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let acceptors = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..acceptors {
        let (listener, router, http, graceful, shutdown) = (
            listener.clone(),
            router.clone(),
            http.clone(),
            graceful.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            loop {
                let (stream, _peer) = tokio::select! {
                    () = shutdown.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            // Out of file descriptors, say: back off instead of spinning.
                            tracing::warn!(error = %e, "failed to accept a connection");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    // A client that goes away mid-request is not the server's error.
                    let _ = connection.await;
                });
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    // Every accept task has ended, so this is the last reference.
    let Ok(graceful) = std::sync::Arc::try_unwrap(graceful) else {
        return Ok(());
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish within the drain timeout");
    }
    Ok(())
}

/// How long a client has to send a request's headers on a connection (idle keep-alive included).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds `addr`, naming the variable it came from if that fails, for `main`.
pub async fn bind(var: &str, addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("failed to bind {var} {addr}: {e}"))
}

/// A token cancelled when SIGTERM or Ctrl-C arrives, for `main`.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        trigger.cancel();
    });
    token
}

/// Resolves when SIGTERM or Ctrl-C arrives, for `main`.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// Reads from `stream` until the bytes read so far end with `body`.
    async fn read_until(stream: &mut TcpStream, body: &str) -> String {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).ends_with(body) {
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
                .await
                .expect("response in time")
                .unwrap();
            assert!(n > 0, "connection closed early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(seen).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http1_keeps_alive_closes_http10_and_drains_on_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/fast", get(|| async { "ok" })).route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        );
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve_http1(listener, router, shutdown.clone()));

        // Keep-alive: two requests, one after the other, on one connection.
        let mut conn = TcpStream::connect(addr).await.unwrap();
        for _ in 0..2 {
            conn.write_all(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
            let response = read_until(&mut conn, "ok").await;
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        }

        // HTTP/1.0 without keep-alive (how ab and many OCSP clients ask): answered, then closed.
        let mut once = TcpStream::connect(addr).await.unwrap();
        once.write_all(b"GET /fast HTTP/1.0\r\n\r\n").await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(5), once.read_to_string(&mut response))
            .await
            .expect("the server closes the connection")
            .unwrap();
        assert!(
            response.starts_with("HTTP/1.0 200") && response.ends_with("ok"),
            "{response}"
        );

        // Shutdown mid-request: the request in flight still gets its answer, then serving ends.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !server.is_finished(),
            "serving ended before the request in flight was answered"
        );
        let response = read_until(&mut slow, "done").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        drop((conn, slow));
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serving ends after the drain")
            .unwrap()
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "still accepting after shutdown"
        );
    }
}

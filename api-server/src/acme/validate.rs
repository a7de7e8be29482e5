//! Challenge validation (RFC 8555 §8, RFC 8737, RFC 8738), in the background.
//!
//! A client's "ready" makes its challenge `processing` and due. Every api-server replica runs
//! [`run`], which claims due challenges with a lease (`FOR UPDATE SKIP LOCKED`, so replicas never
//! validate the same challenge at once, and a replica that dies only delays it until the lease
//! runs out), validates them, and records the outcome on the challenge, its authorization and its
//! order in one transaction. A failed attempt is retried twice, a few seconds apart (the client's
//! server may still be starting), then the challenge is invalid with the last error.
//!
//! Every address dialled is checked by the SSRF guard after resolution: public addresses only,
//! unless the endpoint allows private targets (internal PKI), and even then never link-local
//! (cloud metadata), multicast or reserved ranges. Names can be pinned with
//! `CERTCTL_ACME_RESOLVE` for tests and closed networks; the ports and the dns-01 resolver are
//! configurable, and default to the RFCs' (80, 443, the system resolver).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certctl_pki::jose::Jwk;
use certctl_shared::netguard::{refusal, refusal_with_private_allowed};
use certctl_shared::repo::acme::{self, ClaimedChallenge};
use chrono::Utc;
use ring::digest::{SHA256, digest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::Problem;
use crate::config::AcmeConfig;
use crate::state::AppState;

/// Attempts per challenge before it is invalid.
const MAX_ATTEMPTS: i32 = 3;
/// Challenges one replica validates at once.
const BATCH: u64 = 16;
/// The most of an http-01 answer read: a key authorization is under 200 bytes.
const MAX_HTTP_BODY: usize = 8 * 1024;
/// Redirects followed by http-01.
const MAX_REDIRECTS: usize = 10;
/// The ALPN protocol of tls-alpn-01 (RFC 8737 §6.2).
const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// The acmeIdentifier extension (RFC 8737 §6.1).
const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// Validates challenges until `shutdown`, woken early when a client asks for validation. At
/// most [`BATCH`] at once, each on its own task: a slow target holds up only its own challenge,
/// and the replica claims more as each finishes.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut last_sweep = std::time::Instant::now();
    let mut running = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = state.acme_wake.notified() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        while running.try_join_next().is_some() {}
        if last_sweep.elapsed() >= Duration::from_secs(60) {
            last_sweep = std::time::Instant::now();
            if let Err(e) = acme::sweep_nonces(&state.db).await {
                tracing::warn!(error = %e, "failed to sweep expired ACME nonces");
            }
            if let Err(e) = acme::expire_orders(&state.db).await {
                tracing::warn!(error = %e, "failed to expire ACME orders");
            }
        }
        let free = BATCH.saturating_sub(running.len() as u64);
        if free == 0 {
            continue;
        }
        let lease = state.config.acme.validation_timeout + Duration::from_secs(10);
        match acme::claim_due_challenges(&state.db, free, lease).await {
            Ok(claimed) => {
                for c in claimed {
                    let state = state.clone();
                    running.spawn(async move { validate_and_record(&state, c).await });
                }
            }
            Err(e) => tracing::warn!(error = %e, "failed to claim ACME challenges"),
        }
    }
    // Let validations under way record their outcome; any cut short are retried by a replica
    // once their lease runs out.
    let drain = async { while running.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(state.config.acme.validation_timeout, drain).await;
}

#[tracing::instrument(name = "acme_validate", skip_all, fields(challenge.id = %c.id, kind = %c.kind, identifier = %c.identifier_value, attempt = c.attempts))]
async fn validate_and_record(state: &AppState, c: ClaimedChallenge) {
    let outcome = validate(state, &c).await;
    let recorded = match &outcome {
        Ok(()) => acme::challenge_valid(&state.db, &c).await,
        Err(problem) => {
            let retry_at = (c.attempts < MAX_ATTEMPTS)
                .then(|| Utc::now() + chrono::Duration::seconds(2 * i64::from(c.attempts.max(1)) + 1));
            acme::challenge_failed(&state.db, &c, problem.to_json(), retry_at).await
        }
    };
    let label = match &outcome {
        Ok(()) => "valid",
        Err(_) if c.attempts < MAX_ATTEMPTS => "retry",
        Err(_) => "invalid",
    };
    state
        .metrics
        .acme_validations
        .with_label_values(&[c.kind.as_str(), label])
        .inc();
    match (&outcome, recorded) {
        (_, Err(e)) => tracing::error!(error = %e, "failed to record an ACME validation"),
        (Ok(()), Ok(())) => tracing::info!("ACME challenge validated"),
        (Err(p), Ok(())) => tracing::info!(error = %p.detail, outcome = label, "ACME challenge failed"),
    }
}

async fn validate(state: &AppState, c: &ClaimedChallenge) -> Result<(), Problem> {
    let endpoint = acme::find_endpoint(&state.db, c.endpoint_id.into())
        .await?
        .filter(|e| e.disabled_at.is_none())
        .ok_or_else(|| Problem::unauthorized("the ACME endpoint was disabled"))?;
    let key = Jwk::from_spki_der(&c.account_key_der)?;
    let key_authorization = format!("{}.{}", c.token, key.thumbprint());
    let target = Target {
        cfg: &state.config.acme,
        allow_private: endpoint.allow_private_targets,
    };
    let check = async {
        match c.kind.as_str() {
            "http-01" => http_01(&target, &c.identifier_value, &c.token, &key_authorization).await,
            "tls-alpn-01" => tls_alpn_01(&target, &c.identifier_type, &c.identifier_value, &key_authorization).await,
            "dns-01" => dns_01(target.cfg, &c.identifier_value, &key_authorization).await,
            other => Err(Problem::malformed(format!("unknown challenge type {other}"))),
        }
    };
    match tokio::time::timeout(state.config.acme.validation_timeout, check).await {
        Ok(result) => result,
        Err(_) => Err(failure(
            "connection",
            format!(
                "validation of {} did not finish within {:?}",
                c.identifier_value, state.config.acme.validation_timeout
            ),
        )),
    }
}

fn failure(kind: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(axum::http::StatusCode::BAD_REQUEST, kind, detail)
}

/// Where validation may connect.
struct Target<'a> {
    cfg: &'a AcmeConfig,
    allow_private: bool,
}

impl Target<'_> {
    /// The addresses of `host` validation may dial: pinned by `CERTCTL_ACME_RESOLVE`, else DNS;
    /// then filtered by the guard.
    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, Problem> {
        let found: Vec<IpAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
            vec![ip]
        } else if let Some(rule) = self.cfg.resolve.iter().find(|r| r.matches(host)) {
            rule.addrs.clone()
        } else {
            tokio::net::lookup_host((host, 0))
                .await
                .map_err(|e| failure("dns", format!("cannot resolve {host}: {e}")))?
                .map(|a| a.ip())
                .collect()
        };
        let judge = if self.allow_private {
            refusal_with_private_allowed
        } else {
            refusal
        };
        let first = found.first().copied();
        let allowed: Vec<IpAddr> = found.into_iter().filter(|ip| judge(*ip).is_none()).collect();
        match (allowed.is_empty(), first) {
            (false, _) => Ok(allowed),
            (true, Some(ip)) => Err(failure(
                "connection",
                format!(
                    "{host} is {ip}, a {} address, which validation does not connect to{}",
                    judge(ip).unwrap_or("refused"),
                    if self.allow_private {
                        ""
                    } else {
                        " (an administrator can allow private targets on the endpoint)"
                    }
                ),
            )),
            (true, None) => Err(failure("dns", format!("{host} has no address"))),
        }
    }
}

/// RFC 8555 §8.3: GET `http://<name>/.well-known/acme-challenge/<token>` answers the key
/// authorization. Redirects are followed to http URLs on the same port, each target checked.
async fn http_01(target: &Target<'_>, name: &str, token: &str, key_authorization: &str) -> Result<(), Problem> {
    let port = target.cfg.http_port;
    let host = match name.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => name.to_owned(),
    };
    let mut url = reqwest::Url::parse(&format!("http://{host}:{port}/.well-known/acme-challenge/{token}"))
        .map_err(|e| failure("malformed", format!("cannot build the challenge URL: {e}")))?;
    for _ in 0..=MAX_REDIRECTS {
        let host = url
            .host_str()
            .ok_or_else(|| failure("connection", "a redirect has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addrs = target.addresses(&host).await?;
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(target.cfg.validation_timeout)
            .user_agent(concat!("certctl-acme-validator/", env!("CARGO_PKG_VERSION")))
            // Plain HTTP only (https redirects are refused below): loading the system's trust
            // store for every validation would cost more than the validation itself.
            .tls_certs_only(Vec::<reqwest::Certificate>::new());
        if host.parse::<IpAddr>().is_err() {
            let pinned: Vec<SocketAddr> = addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
            builder = builder.resolve_to_addrs(&host, &pinned);
        }
        let client = builder
            .build()
            .map_err(|e| Problem::from(crate::service::Fault::Internal(anyhow::anyhow!("HTTP client: {e}"))))?;
        let mut resp = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| failure("connection", format!("fetching {url}: {}", error_chain(&e))))?;
        if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| failure("connection", format!("{url} redirects without a Location")))?;
            let next = url
                .join(location)
                .map_err(|_| failure("connection", format!("{url} redirects to an invalid URL")))?;
            if next.scheme() != "http" || next.port_or_known_default() != Some(port) {
                return Err(failure(
                    "connection",
                    format!("{url} redirects to {next}: only http redirects on port {port} are followed"),
                ));
            }
            url = next;
            continue;
        }
        if !resp.status().is_success() {
            return Err(failure(
                "unauthorized",
                format!("{url} answered HTTP {}", resp.status().as_u16()),
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| failure("connection", format!("reading {url}: {}", error_chain(&e))))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_HTTP_BODY {
                return Err(failure(
                    "unauthorized",
                    format!("{url} answered more than {MAX_HTTP_BODY} bytes"),
                ));
            }
        }
        let text = String::from_utf8_lossy(&body);
        return if text.trim() == key_authorization {
            Ok(())
        } else {
            // The answer is not echoed: it may come from a service the client does not own.
            Err(failure(
                "incorrectResponse",
                format!("{url} answered {} bytes that are not the key authorization", body.len()),
            ))
        };
    }
    Err(failure("connection", format!("more than {MAX_REDIRECTS} redirects")))
}

/// The text of an error and its causes, for a problem's detail.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// RFC 8738 §6: the SNI of an IP identifier is its reverse-DNS name.
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut labels: Vec<String> = Vec::with_capacity(32);
            for byte in v6.octets().iter().rev() {
                labels.push(format!("{:x}", byte & 0x0f));
                labels.push(format!("{:x}", byte >> 4));
            }
            format!("{}.ip6.arpa", labels.join("."))
        }
    }
}

/// Accepts any server certificate (tls-alpn-01 checks the certificate itself, RFC 8737 §3) but
/// still checks the handshake signature with the certificate's key, so the server holds it. The
/// signature is checked here with ring, not through webpki, which refuses certificates carrying
/// the critical acmeIdentifier extension it does not know.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

/// Verifies a TLS handshake signature by the key of the certificate `cert`.
fn verify_handshake(
    message: &[u8],
    cert: &rustls::pki_types::CertificateDer<'_>,
    dss: &rustls::DigitallySignedStruct,
) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
    use ring::signature as sig;
    use rustls::SignatureScheme as S;
    let bad = |what: &str| rustls::Error::General(format!("tls-alpn-01 handshake: {what}"));
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| bad("the certificate does not parse"))?;
    let key = parsed.public_key().subject_public_key.data.as_ref();
    let alg: &dyn sig::VerificationAlgorithm = match dss.scheme {
        S::ECDSA_NISTP256_SHA256 => &sig::ECDSA_P256_SHA256_ASN1,
        S::ECDSA_NISTP384_SHA384 => &sig::ECDSA_P384_SHA384_ASN1,
        S::ED25519 => &sig::ED25519,
        S::RSA_PSS_SHA256 => &sig::RSA_PSS_2048_8192_SHA256,
        S::RSA_PSS_SHA384 => &sig::RSA_PSS_2048_8192_SHA384,
        S::RSA_PSS_SHA512 => &sig::RSA_PSS_2048_8192_SHA512,
        S::RSA_PKCS1_SHA256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        S::RSA_PKCS1_SHA384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        S::RSA_PKCS1_SHA512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        other => return Err(bad(&format!("unsupported signature scheme {other:?}"))),
    };
    sig::UnparsedPublicKey::new(alg, key)
        .verify(message, dss.signature())
        .map_err(|_| bad("the handshake signature does not verify with the certificate's key"))?;
    Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        verify_handshake(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        verify_handshake(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// RFC 8737: a TLS handshake on the validation port negotiating `acme-tls/1`, whose certificate
/// names exactly the identifier and carries the digest of the key authorization.
async fn tls_alpn_01(target: &Target<'_>, kind: &str, name: &str, key_authorization: &str) -> Result<(), Problem> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Problem::from(crate::service::Fault::Internal(anyhow::anyhow!("TLS config: {e}"))))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    let sni = match (kind, name.parse::<IpAddr>()) {
        ("ip", Ok(ip)) => reverse_name(ip),
        _ => name.to_owned(),
    };
    let server_name = rustls::pki_types::ServerName::try_from(sni.clone())
        .map_err(|_| failure("malformed", format!("`{sni}` cannot be sent as a TLS server name")))?;
    let port = target.cfg.tls_alpn_port;
    let mut last = None;
    for ip in target.addresses(name).await? {
        let tcp = match tokio::net::TcpStream::connect(SocketAddr::new(ip, port)).await {
            Ok(tcp) => tcp,
            Err(e) => {
                last = Some(failure("connection", format!("connecting to {ip}:{port}: {e}")));
                continue;
            }
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config.clone()));
        let mut tls = connector
            .connect(server_name.clone(), tcp)
            .await
            .map_err(|e| failure("tls", format!("TLS handshake with {ip}:{port} for {sni}: {e}")))?;
        let (_, conn) = tls.get_ref();
        if conn.alpn_protocol() != Some(ACME_TLS_ALPN) {
            return Err(failure(
                "tls",
                format!("{ip}:{port} did not negotiate the acme-tls/1 protocol"),
            ));
        }
        let leaf = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
            .ok_or_else(|| failure("tls", format!("{ip}:{port} sent no certificate")))?;
        let _ = tls.shutdown().await;
        return check_alpn_certificate(&leaf, kind, name, key_authorization).map_err(|m| failure("unauthorized", m));
    }
    Err(last.unwrap_or_else(|| failure("connection", format!("{name} has no address to connect to"))))
}

/// The tls-alpn-01 certificate checks (RFC 8737 §3): one subjectAltName, the identifier, and a
/// critical acmeIdentifier holding SHA-256 of the key authorization.
pub fn check_alpn_certificate(der: &[u8], kind: &str, name: &str, key_authorization: &str) -> Result<(), String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|_| "the certificate does not parse".to_owned())?;
    let mut names = Vec::new();
    let mut identifier = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => names.extend(san.general_names.iter().cloned()),
            _ if ext.oid.to_id_string() == ACME_IDENTIFIER_OID => identifier = Some((ext.critical, ext.value)),
            _ => {}
        }
    }
    let matches = match (names.as_slice(), kind) {
        ([GeneralName::DNSName(dns)], "dns") => dns.eq_ignore_ascii_case(name),
        ([GeneralName::IPAddress(bytes)], "ip") => match name.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => *bytes == v4.octets().as_slice(),
            Ok(IpAddr::V6(v6)) => *bytes == v6.octets().as_slice(),
            Err(_) => false,
        },
        _ => false,
    };
    if !matches {
        return Err(format!(
            "the certificate must name exactly {name} in its subjectAltName"
        ));
    }
    let Some((critical, value)) = identifier else {
        return Err("the certificate has no acmeIdentifier extension".into());
    };
    if !critical {
        return Err("the acmeIdentifier extension must be critical".into());
    }
    let mut expected = vec![0x04, 0x20];
    expected.extend_from_slice(digest(&SHA256, key_authorization.as_bytes()).as_ref());
    if value != expected.as_slice() {
        return Err("the acmeIdentifier is not the digest of the key authorization".into());
    }
    Ok(())
}

/// The resolver dns-01 asks: configured, or the first `nameserver` of /etc/resolv.conf.
fn dns_resolver(cfg: &AcmeConfig) -> Result<SocketAddr, Problem> {
    if let Some(addr) = cfg.dns_resolver {
        return Ok(addr);
    }
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| failure("dns", "no DNS resolver: set CERTCTL_ACME_DNS_RESOLVER"))
}

/// RFC 8555 §8.4: a TXT record at `_acme-challenge.<name>` holding base64url(SHA-256(key
/// authorization)), asked of the resolver over UDP, and over TCP when the answer is truncated.
async fn dns_01(cfg: &AcmeConfig, name: &str, key_authorization: &str) -> Result<(), Problem> {
    let qname = format!("_acme-challenge.{name}");
    let expected = URL_SAFE_NO_PAD.encode(digest(&SHA256, key_authorization.as_bytes()));
    let resolver = dns_resolver(cfg)?;
    let mut id_bytes = [0u8; 2];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id_bytes).map_err(|_| {
        Problem::from(crate::service::Fault::Internal(anyhow::anyhow!(
            "random generator failed"
        )))
    })?;
    let id = u16::from_be_bytes(id_bytes);
    let query = certctl_pki::dns::txt_query(id, &qname).map_err(|e| failure("dns", e.to_string()))?;
    let dns_err = |e: std::io::Error| failure("dns", format!("asking {resolver} for {qname}: {e}"));
    let bind: SocketAddr = if resolver.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .map_err(|_| failure("dns", "bad bind address"))?;
    let socket = tokio::net::UdpSocket::bind(bind).await.map_err(dns_err)?;
    socket.connect(resolver).await.map_err(dns_err)?;
    socket.send(&query).await.map_err(dns_err)?;
    let mut buf = vec![0u8; 4096];
    let mut answer = loop {
        let n = socket.recv(&mut buf).await.map_err(dns_err)?;
        // Answers with another id are stray or spoofed: keep waiting for ours.
        if let Ok(a) = certctl_pki::dns::parse_txt_response(&buf[..n], id, &qname) {
            break a;
        }
    };
    if answer.truncated {
        let mut tcp = tokio::net::TcpStream::connect(resolver).await.map_err(dns_err)?;
        tcp.write_all(&certctl_pki::dns::tcp_frame(&query))
            .await
            .map_err(dns_err)?;
        let len = tcp.read_u16().await.map_err(dns_err)?;
        let mut msg = vec![0u8; usize::from(len)];
        tcp.read_exact(&mut msg).await.map_err(dns_err)?;
        answer = certctl_pki::dns::parse_txt_response(&msg, id, &qname).map_err(|e| failure("dns", e.to_string()))?;
    }
    match answer.rcode {
        0 => {}
        3 => return Err(failure("dns", format!("{qname} does not exist (NXDOMAIN)"))),
        rcode => {
            return Err(failure(
                "dns",
                format!("the resolver answered rcode {rcode} for {qname}"),
            ));
        }
    }
    if answer.records.iter().any(|r| r.as_slice() == expected.as_bytes()) {
        Ok(())
    } else if answer.records.is_empty() {
        Err(failure("unauthorized", format!("{qname} has no TXT record")))
    } else {
        Err(failure(
            "unauthorized",
            format!(
                "{qname} has {} TXT records, none of them the expected digest",
                answer.records.len()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_follow_rfc_8738() {
        assert_eq!(reverse_name("192.0.2.5".parse().unwrap()), "5.2.0.192.in-addr.arpa");
        let v6 = reverse_name("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0."), "{v6}");
        assert!(v6.ends_with("8.b.d.0.1.0.0.2.ip6.arpa"), "{v6}");
    }

    fn alpn_cert(san: &str, digest_of: &str, critical: bool) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![san.to_owned()]).unwrap();
        let mut ext = rcgen::CustomExtension::new_acme_identifier(digest(&SHA256, digest_of.as_bytes()).as_ref());
        ext.set_criticality(critical);
        params.custom_extensions = vec![ext];
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn alpn_certificates_must_name_the_identifier_and_carry_the_digest() {
        let ka = "token.thumb";
        assert_eq!(
            check_alpn_certificate(&alpn_cert("a.test", ka, true), "dns", "a.test", ka),
            Ok(())
        );
        assert_eq!(
            check_alpn_certificate(&alpn_cert("A.Test", ka, true), "dns", "a.test", ka),
            Ok(())
        );
        assert!(check_alpn_certificate(&alpn_cert("b.test", ka, true), "dns", "a.test", ka).is_err());
        assert!(check_alpn_certificate(&alpn_cert("a.test", "other", true), "dns", "a.test", ka).is_err());
        assert!(check_alpn_certificate(&alpn_cert("a.test", ka, false), "dns", "a.test", ka).is_err());
        assert_eq!(
            check_alpn_certificate(&alpn_cert("127.0.0.1", ka, true), "ip", "127.0.0.1", ka),
            Ok(())
        );
        assert!(check_alpn_certificate(&alpn_cert("127.0.0.1", ka, true), "dns", "127.0.0.1", ka).is_err());
        assert!(check_alpn_certificate(b"not a certificate", "dns", "a.test", ka).is_err());
    }
}

//! The discovery loop: claims scan targets that are due (one worker per target, under a lease),
//! connects with TLS to every address of its ranges on every port, records the certificate chain
//! each server presents (linking the ones certctl issued to the inventory), and schedules the
//! next scan. It dials only the configured addresses: no name resolution, no redirects.
//!
//! The TLS client verifies nothing about the certificate (finding certificates nobody trusts is
//! the point), but still checks the handshake signature, so the server proved it holds the key.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use certctl_shared::entities::network_scan_target::Model as Target;
use certctl_shared::repo::discovery::{self, Seen, SeenAt};
use certctl_shared::scanrange;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sea_orm::DatabaseConnection;

pub struct Discovery {
    pub db: DatabaseConnection,
    pub worker_id: String,
    pub interval: Duration,
    pub tls: Arc<rustls::ClientConfig>,
}

impl Discovery {
    pub fn new(db: DatabaseConnection, worker_id: String, interval: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            worker_id,
            interval,
            tls: Arc::new(client_config()?),
        })
    }
}

impl super::Tick for Discovery {
    const NAME: &'static str = "discovery";

    async fn tick(&self) -> anyhow::Result<Duration> {
        // Targets whose scan could outlast MAX_SCAN are refused when written (`scanrange::check`);
        // the rest of the lease covers recording what the scan saw.
        let lease = scanrange::MAX_SCAN + Duration::from_secs(60);
        let Some(target) = discovery::claim_due_target(&self.db, &self.worker_id, lease).await? else {
            return Ok(self.interval);
        };
        let (found, error) = match self.scan(&target).await {
            Ok(found) => (found, None),
            Err(e) => (0, Some(format!("{e:#}"))),
        };
        if let Some(e) = &error {
            tracing::warn!(target.id = %target.id, target.name = target.name, error = e, "discovery scan failed");
        } else {
            tracing::info!(target.id = %target.id, target.name = target.name, found, "discovery scan finished");
        }
        discovery::finish_scan(&self.db, target.id, &self.worker_id, found, error.as_deref()).await?;
        // Another target may be due already.
        Ok(Duration::ZERO)
    }
}

impl Discovery {
    /// Scans one target; returns how many certificates it saw.
    async fn scan(&self, target: &Target) -> anyhow::Result<i32> {
        let addresses = scanrange::expand(&target.cidrs).map_err(anyhow::Error::msg)?;
        let ports = scanrange::ports(&target.ports).map_err(anyhow::Error::msg)?;
        let timeout = Duration::from_millis(u64::try_from(target.timeout_ms).unwrap_or(1000));
        let server_name = target.server_name.clone();
        let mut dial: Vec<SocketAddr> = Vec::with_capacity(addresses.len() * ports.len());
        for a in addresses {
            dial.extend(ports.iter().map(|p| SocketAddr::new(a, *p)));
        }
        let probes = dial.into_iter().map(|addr| {
            let (tls, name) = (self.tls.clone(), server_name.clone());
            async move { (addr, probe(addr, name.as_deref(), timeout, tls).await) }
        });
        // Every handshake first, then the database: writes never hold up handshakes in flight
        // (which would make slow servers time out).
        let results: Vec<_> = futures::stream::iter(probes)
            .buffer_unordered(usize::try_from(target.concurrency).unwrap_or(1))
            .collect()
            .await;
        let mut found = 0;
        for (addr, result) in results {
            let chain = match result {
                Ok(chain) => chain,
                // Nothing listening, not TLS, too slow: nothing to record.
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "no certificate");
                    continue;
                }
            };
            let Some(seen) = parse(&chain) else {
                tracing::debug!(%addr, "a certificate that does not parse");
                continue;
            };
            let issued = discovery::find_issued(&self.db, &seen.serial_hex, &seen.der).await?;
            let at = SeenAt {
                target: target.id,
                address: addr.ip().to_string(),
                port: i32::from(addr.port()),
                server_name: server_name.as_deref().unwrap_or(""),
            };
            discovery::record(&self.db, &seen, &at, issued).await?;
            found += 1;
        }
        Ok(found)
    }
}

/// Connects to `addr` and completes a TLS handshake (SNI `server_name` if given); returns the
/// chain the server presented, leaf first.
async fn probe(
    addr: SocketAddr,
    server_name: Option<&str>,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let name = match server_name {
        Some(n) => ServerName::try_from(n.to_owned()).context("server_name is not a DNS name")?,
        None => ServerName::IpAddress(addr.ip().into()),
    };
    let connector = tokio_rustls::TlsConnector::from(tls);
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.context("connect")?;
        let stream = connector.connect(name, tcp).await.context("TLS handshake")?;
        let (_, conn) = stream.get_ref();
        Ok::<_, anyhow::Error>(
            conn.peer_certificates()
                .map(|c| c.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default(),
        )
    };
    let chain: Vec<Vec<u8>> = tokio::time::timeout(timeout, handshake).await.context("timed out")??;
    anyhow::ensure!(!chain.is_empty(), "the server presented no certificate");
    Ok(chain)
}

/// The leaf of `chain` as discovery records it.
fn parse(chain: &[Vec<u8>]) -> Option<Seen> {
    let der = chain.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let time = |t: x509_parser::time::ASN1Time| DateTime::<Utc>::from_timestamp(t.timestamp(), 0);
    let sans = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    x509_parser::extensions::GeneralName::IPAddress(b) => ip_of(b).map(|ip| ip.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let spki = cert.public_key().raw;
    let key_algorithm = certctl_pki::key_algorithm_of_spki(spki)
        .map(|a| a.as_str().to_owned())
        .unwrap_or_else(|_| cert.public_key().algorithm.algorithm.to_id_string());
    Some(Seen {
        fingerprint_sha256: hex::encode(ring::digest::digest(&ring::digest::SHA256, der)),
        subject: cert.subject().to_string(),
        common_name,
        sans,
        issuer: cert.issuer().to_string(),
        serial_hex: hex::encode(cert.raw_serial()),
        not_before: time(cert.validity().not_before)?,
        not_after: time(cert.validity().not_after)?,
        key_algorithm,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        der: der.clone(),
        certificate_pem: certctl_pki::pkcs7::pem("CERTIFICATE", der),
        chain_pem: chain[1..]
            .iter()
            .map(|c| certctl_pki::pkcs7::pem("CERTIFICATE", c))
            .collect(),
    })
}

fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// A TLS client that accepts any certificate (recording it is the point) but checks that the
/// server's handshake signature verifies with the key in it.
fn client_config() -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAny {
        algorithms: provider.signature_verification_algorithms,
    });
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

#[derive(Debug)]
struct AcceptAny {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

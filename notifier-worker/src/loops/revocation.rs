//! Revocation publishing, the part that needs the CA keys: CRLs built and signed here, numbered by
//! the database, and the delegated OCSP responder certificates the public responder signs with.
//!
//! One tick: make sure every live issuer has a CRL state; claim and build every CRL that is
//! missing, behind a revocation or due for renewal; make a signer for every issuer with no valid
//! signer sealed under the current responder key that has half its validity left; refresh the
//! freshness gauges. Several workers may run this:
//! claims are leased rows and signer creation takes a per-issuer lock.

use std::time::{Duration, Instant};

use crate::config::RevocationPublishing;
use anyhow::Context;
use certctl_pki::crl::{CrlEntry, CrlRequest, build_crl};
use certctl_pki::{KeyAlgorithm, LoadedIssuer, generate_key, issue_ocsp_signer};
use certctl_shared::clock::{from_time, to_time};
use certctl_shared::crypto::{KeyEncryptionKeys, issuer_key_context, signer_key_context};
use certctl_shared::model::IssuerId;
use certctl_shared::repo::{crls, issuers, ocsp_signers};
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use crate::metrics::WorkerMetrics;

/// How long a claimed CRL build may take before another worker may take it over. Short, so a
/// worker that dies mid-build delays the next CRL by seconds; a build that outlasts it only costs
/// duplicate work, since claims date CRLs from the database's clock and the database refuses a
/// CRL whose number or thisUpdate goes back.
const BUILD_LEASE: Duration = Duration::from_secs(10);
/// After a failed build, how long before it is tried again.
const RETRY_FAILED_BUILD: Duration = Duration::from_secs(15);
/// Key type of the delegated responders: fast to sign with, understood by every OCSP client.
const SIGNER_KEY: KeyAlgorithm = KeyAlgorithm::EcdsaP256;

/// Builds and signs CRLs and issues the delegated OCSP responder certificates: the worker's side
/// of revocation publishing, the part that holds CA keys.
pub struct CrlPublisher {
    pub db: DatabaseConnection,
    pub ca_keys: KeyEncryptionKeys,
    pub settings: RevocationPublishing,
    pub worker_id: String,
    pub metrics: std::sync::Arc<WorkerMetrics>,
}

impl super::Tick for CrlPublisher {
    const NAME: &'static str = "revocation_publishing";

    async fn tick(&self) -> anyhow::Result<Duration> {
        crls::ensure_states(&self.db).await?;
        // Renew a CRL once a third of its validity is left.
        let refresh_before = self.settings.crl_validity / 3;
        let claimed = crls::claim_builds(&self.db, &self.worker_id, BUILD_LEASE, refresh_before).await?;
        for build in claimed {
            let started = Instant::now();
            match self.build(&build).await {
                Ok(entries) => {
                    self.metrics.crl_builds.with_label_values(&["ok"]).inc();
                    self.metrics.crl_build_seconds.observe(started.elapsed().as_secs_f64());
                    tracing::info!(issuer = %build.issuer_id, shard = build.shard, crl_number = build.number, entries,
                        build_ms = started.elapsed().as_millis() as u64, "CRL published");
                }
                Err(e) => {
                    self.metrics.crl_builds.with_label_values(&["error"]).inc();
                    tracing::error!(issuer = %build.issuer_id, shard = build.shard, crl_number = build.number,
                        error = format!("{e:#}"), "CRL build failed; retrying shortly");
                    if let Err(e) = crls::release(&self.db, &build, &self.worker_id, RETRY_FAILED_BUILD).await {
                        tracing::warn!(issuer = %build.issuer_id, error = %e, "could not release the failed build; its lease will expire");
                    }
                }
            }
        }
        if let Some(keys) = &self.settings.responder_keys {
            let rotate = self.settings.signer_validity / 2;
            for issuer_id in ocsp_signers::issuers_needing_signer(&self.db, rotate, &keys.current_id()).await? {
                if let Err(e) = self.make_signer(keys, issuer_id).await {
                    tracing::error!(issuer = %issuer_id, error = format!("{e:#}"), "OCSP signer creation failed");
                }
            }
        }
        self.refresh_gauges().await?;
        Ok(self.settings.check_interval)
    }
}

impl CrlPublisher {
    async fn load_issuer(&self, issuer_id: IssuerId) -> anyhow::Result<LoadedIssuer> {
        let row = issuers::find_by_id(&self.db, issuer_id)
            .await?
            .with_context(|| format!("issuer {issuer_id} vanished"))?;
        let alg = KeyAlgorithm::parse(&row.key_algorithm)
            .with_context(|| format!("issuer {issuer_id} has unknown key algorithm {}", row.key_algorithm))?;
        let pkcs8 = self
            .ca_keys
            .open(&issuer_key_context(row.id), &row.private_key_ciphertext)
            .context("cannot open the CA key")?;
        Ok(LoadedIssuer::load(row.id.into(), row.certificate_der, alg, &pkcs8)?)
    }

    /// Builds, signs and stores one CRL; returns its entry count.
    async fn build(&self, build: &crls::ClaimedBuild) -> anyhow::Result<usize> {
        let started = Instant::now();
        let issuer = self.load_issuer(build.issuer_id).await?;
        let rows = crls::revoked_entries(&self.db, build.issuer_id, build.shard).await?;
        // A shard's CRL names its scope, the URL its certificates point at (RFC 5280 §5.2.5).
        let distribution_point = match (build.shard, &build.crl_url) {
            (0, _) => None,
            (shard, Some(url)) => Some(format!("{url}/{shard}")),
            (shard, None) => anyhow::bail!("issuer {} has CRL shard {shard} but no CRL URL", build.issuer_id),
        };
        let entries = rows
            .into_iter()
            .map(|r| {
                Ok(CrlEntry {
                    serial: hex::decode(&r.serial_hex).with_context(|| format!("bad serial {}", r.serial_hex))?,
                    revoked_at: to_time(r.revoked_at),
                    reason_code: r.reason_code,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // From the claim (the database's clock), so every worker dates CRLs alike.
        let this_update = build.this_update;
        let next_update = this_update + self.settings.crl_validity;
        let number = u64::try_from(build.number).context("negative CRL number")?;
        let count = entries.len();
        // Signing and encoding a large CRL is CPU work: keep it off the async workers.
        let der = tokio::task::spawn_blocking(move || {
            build_crl(CrlRequest {
                issuer: &issuer.identity,
                key: issuer.key(),
                key_algorithm: issuer.key_algorithm,
                number,
                this_update: to_time(this_update),
                next_update: to_time(next_update),
                entries: &entries,
                distribution_point: distribution_point.as_deref(),
            })
        })
        .await
        .context("CRL build task failed")??;
        crls::store(
            &self.db,
            crls::NewCrl {
                issuer_id: build.issuer_id,
                shard: build.shard,
                number: build.number,
                revision: build.revision,
                this_update,
                next_update,
                der: &der,
                entry_count: i32::try_from(count).unwrap_or(i32::MAX),
                generated_by: &self.worker_id,
                build_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
            },
            self.settings.crls_kept,
        )
        .await?;
        Ok(count)
    }

    async fn make_signer(&self, keys: &KeyEncryptionKeys, issuer_id: IssuerId) -> anyhow::Result<()> {
        let issuer = self.load_issuer(issuer_id).await?;
        let tx = self.db.begin().await?;
        ocsp_signers::lock_issuer(&tx, issuer_id).await?;
        // Another worker may have made one while this one waited for the lock.
        let still_needed =
            ocsp_signers::issuers_needing_signer(&tx, self.settings.signer_validity / 2, &keys.current_id())
                .await?
                .contains(&issuer_id);
        if !still_needed {
            return Ok(());
        }
        let key = generate_key(SIGNER_KEY)?;
        // Backdated a little, for relying parties whose clocks run slow.
        let now = time::OffsetDateTime::now_utc();
        let cert = issue_ocsp_signer(
            &issuer,
            &key,
            now - Duration::from_secs(300),
            now + self.settings.signer_validity,
        )?;
        let id = Uuid::now_v7();
        let sealed = keys.seal(&signer_key_context(id), key.serialized_der())?;
        ocsp_signers::insert(
            &tx,
            ocsp_signers::NewSigner {
                id,
                issuer_id,
                serial_hex: &cert.serial_hex(),
                key_algorithm: SIGNER_KEY.as_str(),
                certificate_der: &cert.der,
                private_key_ciphertext: &sealed,
                kek_id: &keys.current_id(),
                not_before: from_time(cert.not_before),
                not_after: from_time(cert.not_after),
                created_by: &self.worker_id,
            },
        )
        .await?;
        tx.commit().await?;
        self.metrics.ocsp_signers_created.inc();
        tracing::info!(issuer = %issuer_id, signer = %id, not_after = %cert.not_after, "OCSP responder certificate issued");
        Ok(())
    }

    async fn refresh_gauges(&self) -> anyhow::Result<()> {
        self.metrics.crl_age.reset();
        self.metrics.crl_next_update.reset();
        self.metrics.ca_expiry.reset();
        for f in crls::freshness(&self.db).await? {
            let issuer = f.issuer_id.to_string();
            self.metrics.crl_age.with_label_values(&[&issuer]).set(f.age_seconds);
            self.metrics
                .crl_next_update
                .with_label_values(&[&issuer])
                .set(f.next_update_in_seconds);
            self.metrics
                .ca_expiry
                .with_label_values(&[&issuer])
                .set(f.ca_expires_in_seconds);
        }
        self.metrics.signer_expiry.reset();
        if self.settings.responder_keys.is_some() {
            for s in ocsp_signers::expiries(&self.db).await? {
                self.metrics
                    .signer_expiry
                    .with_label_values(&[&s.issuer_id.to_string()])
                    .set(s.expires_in_seconds);
            }
        }
        Ok(())
    }
}

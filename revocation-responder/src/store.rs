//! The responder's in-memory view of the database: issuers, their current OCSP signer and newest
//! CRL, and the status of every serial they issued. A refresher polls PostgreSQL every
//! `CERTCTL_RESPONDER_REFRESH_INTERVAL`; requests never wait on the database.
//!
//! Change tracking uses transaction ids, not clocks: each poll reads the certificates and
//! revocations written by transactions at or after the oldest one still running at the previous
//! poll, so a transaction that commits late is never skipped. Applying a row twice is harmless.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use certctl_pki::ocsp::OcspSigner;
use certctl_pki::{CaIdentity, KeyAlgorithm};
use certctl_shared::clock::to_time;
use certctl_shared::crypto::{KeyEncryptionKeys, signer_key_context};
use certctl_shared::model::IssuerId;
use certctl_shared::repo::responder as repo;
use sea_orm::DatabaseConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// An issuer seen for less than this is not yet expected to have a signer (readiness).
const SIGNER_GRACE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked {
        at: OffsetDateTime,
        reason_code: Option<i16>,
    },
}

pub struct Signer {
    pub id: Uuid,
    pub signer: OcspSigner,
    pub not_after: OffsetDateTime,
}

pub struct Crl {
    pub number: i64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub der: Bytes,
    pub etag: String,
}

/// A signed response without a nonce, kept until it is half way to its nextUpdate.
pub struct CachedResponse {
    pub status: Option<Status>,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub refresh_at: OffsetDateTime,
    pub der: Bytes,
    pub etag: String,
}

pub struct Issuer {
    pub id: IssuerId,
    pub identity: CaIdentity,
    pub ca_der: Bytes,
    pub ca_etag: String,
    pub not_after: OffsetDateTime,
    first_seen: Instant,
    pub signer: RwLock<Option<Arc<Signer>>>,
    /// 0: one full CRL; N: the CRL is partitioned into shards 1 to N.
    pub crl_shards: u16,
    /// The newest CRL of each shard (0: the full CRL).
    crls: RwLock<HashMap<u16, Arc<Crl>>>,
    statuses: RwLock<HashMap<Box<[u8]>, Status>>,
    /// Keyed by the request's CertID bytes, which fix both the hash algorithm and the serial.
    responses: RwLock<HashMap<Box<[u8]>, Arc<CachedResponse>>>,
}

impl Issuer {
    /// `None`: this issuer never issued that serial.
    pub fn status(&self, serial: &[u8]) -> Option<Status> {
        read(&self.statuses).get(serial).copied()
    }

    pub fn signer(&self) -> Option<Arc<Signer>> {
        read(&self.signer).clone()
    }

    /// The newest CRL of `shard` (0: the full one).
    pub fn crl(&self, shard: u16) -> Option<Arc<Crl>> {
        read(&self.crls).get(&shard).cloned()
    }

    pub fn cached_response(&self, cert_id: &[u8]) -> Option<Arc<CachedResponse>> {
        read(&self.responses).get(cert_id).cloned()
    }

    /// Keeps a signed response, within the store-wide bound `limit`: past it, this issuer's
    /// cache starts over. Only answers about serials this issuer issued are kept, so requests
    /// for made-up serials cannot fill memory.
    pub fn cache_response(&self, store: &Store, cert_id: &[u8], response: Arc<CachedResponse>) {
        let mut map = write(&self.responses);
        if store.cached.load(Ordering::Relaxed) >= store.cache_limit && !map.is_empty() {
            store.cached.fetch_sub(map.len(), Ordering::Relaxed);
            map.clear();
        }
        if map.insert(cert_id.into(), response).is_none() {
            store.cached.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The signer, if it is still valid at `now`.
    pub fn valid_signer(&self, now: OffsetDateTime) -> Option<Arc<Signer>> {
        self.signer().filter(|s| s.not_after > now)
    }

    pub fn serial_count(&self) -> usize {
        read(&self.statuses).len()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// Strong ETag of some bytes: a quoted prefix of their SHA-256.
pub fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&certctl_pki::sha256(bytes)[..16]))
}

pub struct Store {
    issuers: RwLock<HashMap<IssuerId, Arc<Issuer>>>,
    /// Signed responses cached across all issuers, and the bound on them.
    cached: std::sync::atomic::AtomicUsize,
    cache_limit: usize,
    loaded: AtomicBool,
    /// Milliseconds since `epoch` of the last refresh that reached the database.
    last_ok_ms: AtomicU64,
    epoch: Instant,
}

/// Default bound on cached responses (about 1 KB each).
pub const DEFAULT_CACHE_LIMIT: usize = 100_000;

impl Default for Store {
    fn default() -> Self {
        Self::with_cache_limit(DEFAULT_CACHE_LIMIT)
    }
}

impl Store {
    pub fn with_cache_limit(cache_limit: usize) -> Self {
        Self {
            issuers: RwLock::new(HashMap::new()),
            cached: std::sync::atomic::AtomicUsize::new(0),
            cache_limit: cache_limit.max(1),
            loaded: AtomicBool::new(false),
            last_ok_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Signed responses held in memory now.
    pub fn cached_responses(&self) -> usize {
        self.cached.load(Ordering::Relaxed)
    }
    /// Adds an issuer without a database: for fuzzing and benchmarks of the request path.
    pub fn insert_detached(
        &self,
        id: IssuerId,
        ca_der: Vec<u8>,
        signer: Option<Signer>,
        statuses: impl IntoIterator<Item = (Vec<u8>, Status)>,
    ) -> anyhow::Result<Arc<Issuer>> {
        let issuer = Arc::new(Issuer {
            id,
            identity: CaIdentity::from_certificate(&ca_der)?,
            ca_etag: etag_of(&ca_der),
            not_after: OffsetDateTime::now_utc() + Duration::from_secs(365 * 86_400),
            ca_der: Bytes::from(ca_der),
            first_seen: Instant::now(),
            signer: RwLock::new(signer.map(Arc::new)),
            crl_shards: 0,
            crls: RwLock::new(HashMap::new()),
            statuses: RwLock::new(statuses.into_iter().map(|(k, v)| (k.into_boxed_slice(), v)).collect()),
            responses: RwLock::new(HashMap::new()),
        });
        write(&self.issuers).insert(id, issuer.clone());
        self.mark_refreshed();
        Ok(issuer)
    }

    /// Records that the view is current as of now.
    pub fn mark_refreshed(&self) {
        self.last_ok_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Release);
        self.loaded.store(true, Ordering::Release);
    }

    pub fn issuer(&self, id: &IssuerId) -> Option<Arc<Issuer>> {
        read(&self.issuers).get(id).cloned()
    }

    pub fn issuers(&self) -> Vec<Arc<Issuer>> {
        read(&self.issuers).values().cloned().collect()
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Time since the database last answered a refresh.
    pub fn staleness(&self) -> Duration {
        let last = Duration::from_millis(self.last_ok_ms.load(Ordering::Acquire));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// Ready: loaded once, and every live issuer past its first moments has a signer.
    pub fn readiness(&self) -> Result<(), String> {
        if !self.is_loaded() {
            return Err("status cache not loaded yet".into());
        }
        let now = OffsetDateTime::now_utc();
        let missing: Vec<String> = self
            .issuers()
            .iter()
            .filter(|i| i.not_after > now && i.first_seen.elapsed() > SIGNER_GRACE && i.valid_signer(now).is_none())
            .map(|i| i.id.to_string())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("no OCSP signer for issuer(s) {}", missing.join(", ")))
        }
    }
}

/// A serial seen issued (`None`) or revoked.
type Change = (Box<[u8]>, Option<Status>);

/// Polls the database into a [`Store`].
pub struct Refresher {
    pub store: Arc<Store>,
    pub db: DatabaseConnection,
    pub keys: KeyEncryptionKeys,
    /// Transaction horizon of the previous poll; `None` before the first full load.
    since: Option<String>,
    /// Issuers whose CA certificate cannot be read: not served, and their rows skipped rather
    /// than holding the horizon back.
    unreadable: std::collections::HashSet<IssuerId>,
}

impl Refresher {
    pub fn new(store: Arc<Store>, db: DatabaseConnection, keys: KeyEncryptionKeys) -> Self {
        Self {
            store,
            db,
            keys,
            since: None,
            unreadable: std::collections::HashSet::new(),
        }
    }

    pub async fn refresh(&mut self) -> anyhow::Result<RefreshStats> {
        let horizon = repo::snapshot_xmin(&self.db).await?;
        self.refresh_issuers().await?;
        self.refresh_signers().await?;
        self.refresh_crls().await?;
        let certs = repo::certificates_since(&self.db, self.since.as_deref()).await?;
        let revs = repo::revocations_since(&self.db, self.since.as_deref()).await?;
        let mut complete = true;
        let mut stats = RefreshStats {
            certificates: certs.len(),
            revocations: revs.len(),
            ..RefreshStats::default()
        };
        // Group by issuer so each map is locked once.
        let mut by_issuer: HashMap<IssuerId, Vec<Change>> = HashMap::new();
        for c in certs {
            let Ok(serial) = hex::decode(&c.serial_hex) else {
                tracing::warn!(serial = c.serial_hex, "certificate with an unreadable serial skipped");
                continue;
            };
            by_issuer.entry(c.issuer_id).or_default().push((serial.into(), None));
        }
        for r in revs {
            let Ok(serial) = hex::decode(&r.serial_hex) else {
                tracing::warn!(serial = r.serial_hex, "revocation with an unreadable serial skipped");
                continue;
            };
            let status = Status::Revoked {
                at: to_time(r.revoked_at),
                reason_code: r.reason_code,
            };
            by_issuer
                .entry(r.issuer_id)
                .or_default()
                .push((serial.into(), Some(status)));
        }
        for (issuer_id, rows) in by_issuer {
            let Some(issuer) = self.store.issuer(&issuer_id) else {
                // The issuer committed after this poll read the issuers: read these rows again.
                complete &= self.unreadable.contains(&issuer_id);
                continue;
            };
            let mut map = write(&issuer.statuses);
            for (serial, status) in rows {
                match status {
                    // Issued: good unless already known revoked.
                    None => {
                        map.entry(serial).or_insert(Status::Good);
                    }
                    Some(revoked) => {
                        if map.insert(serial, revoked) != Some(revoked) {
                            stats.status_changes += 1;
                        }
                    }
                }
            }
        }
        if complete {
            self.since = Some(horizon);
        }
        self.store.mark_refreshed();
        Ok(stats)
    }

    async fn refresh_issuers(&mut self) -> anyhow::Result<()> {
        let rows = repo::issuers(&self.db).await?;
        let known: Vec<IssuerId> = read(&self.store.issuers).keys().copied().collect();
        let new: Vec<_> = rows
            .into_iter()
            .filter(|r| !known.contains(&r.id) && !self.unreadable.contains(&r.id))
            .collect();
        for row in new {
            let identity = match CaIdentity::from_certificate(&row.certificate_der) {
                Ok(i) => i,
                Err(e) => {
                    tracing::error!(issuer = %row.id, error = %e, "CA certificate unreadable; issuer not served");
                    self.unreadable.insert(row.id);
                    continue;
                }
            };
            let issuer = Issuer {
                id: row.id,
                identity,
                ca_etag: etag_of(&row.certificate_der),
                ca_der: Bytes::from(row.certificate_der),
                not_after: to_time(row.not_after),
                first_seen: Instant::now(),
                signer: RwLock::new(None),
                crl_shards: u16::try_from(row.crl_shards).unwrap_or(0),
                crls: RwLock::new(HashMap::new()),
                statuses: RwLock::new(HashMap::new()),
                responses: RwLock::new(HashMap::new()),
            };
            write(&self.store.issuers).insert(row.id, Arc::new(issuer));
        }
        Ok(())
    }

    async fn refresh_signers(&self) -> anyhow::Result<()> {
        // A signer past its validity is dropped even if no successor has appeared: answering
        // with it would produce responses no client accepts.
        let now = OffsetDateTime::now_utc();
        for issuer in self.store.issuers() {
            if issuer.signer().is_some_and(|s| s.not_after <= now) {
                tracing::error!(issuer = %issuer.id, "OCSP signer expired with no successor; answering tryLater");
                *write(&issuer.signer) = None;
            }
        }
        for row in repo::current_signers(&self.db).await? {
            let Some(issuer) = self.store.issuer(&row.issuer_id) else {
                continue;
            };
            if issuer.signer().is_some_and(|s| s.id == row.id) {
                continue;
            }
            match self.open_signer(&row) {
                Ok(signer) => {
                    tracing::info!(issuer = %row.issuer_id, signer = %row.id, "OCSP signer loaded");
                    *write(&issuer.signer) = Some(Arc::new(signer));
                }
                Err(e) => {
                    tracing::error!(issuer = %row.issuer_id, signer = %row.id, error = format!("{e:#}"),
                        "OCSP signer cannot be opened (is CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY the worker's?)");
                }
            }
        }
        Ok(())
    }

    fn open_signer(&self, row: &repo::SignerRow) -> anyhow::Result<Signer> {
        let alg = KeyAlgorithm::parse(&row.key_algorithm)
            .ok_or_else(|| anyhow::anyhow!("unknown key algorithm {}", row.key_algorithm))?;
        let pkcs8 = self
            .keys
            .open(&signer_key_context(row.id), &row.private_key_ciphertext)?;
        Ok(Signer {
            id: row.id,
            signer: OcspSigner::new(&row.certificate_der, alg, &pkcs8)?,
            not_after: to_time(row.not_after),
        })
    }

    async fn refresh_crls(&self) -> anyhow::Result<()> {
        for meta in repo::latest_crls(&self.db).await? {
            let Some(issuer) = self.store.issuer(&meta.issuer_id) else {
                continue;
            };
            let Ok(shard) = u16::try_from(meta.shard) else {
                continue;
            };
            if issuer.crl(shard).is_some_and(|c| c.number >= meta.crl_number) {
                continue;
            }
            let Some(der) = repo::crl_der(&self.db, &meta).await? else {
                continue; // pruned in between; the next poll sees a newer one
            };
            let crl = Crl {
                number: meta.crl_number,
                this_update: to_time(meta.this_update),
                next_update: to_time(meta.next_update),
                etag: match shard {
                    0 => format!("\"{}-{}\"", meta.issuer_id.as_uuid().simple(), meta.crl_number),
                    _ => format!("\"{}-{shard}-{}\"", meta.issuer_id.as_uuid().simple(), meta.crl_number),
                },
                der: Bytes::from(der),
            };
            write(&issuer.crls).insert(shard, Arc::new(crl));
        }
        Ok(())
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct RefreshStats {
    pub certificates: usize,
    pub revocations: usize,
    pub status_changes: usize,
}

//! `certctl certs`: certificates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use certctl_types::api::certificates::{
    BulkRevokeIn, CertificateOut, CertificateQuery, CertificateSort, IssueIn, RenewIn, RevokeIn,
};
use certctl_types::api::renewal::CertificatePolicyIn;
use certctl_types::ids::CertificateId;
use certctl_types::vocab::{CertificateStatus, KeyAlgorithm, RevocationReason};
use clap::Subcommand;

use crate::client::{Client, Issued, Reply};
use crate::config::{self};
use crate::output::{self, Format, Table, fields, when};

use super::{Failure, Page, confirm, issuer_id, more, pages, parse_duration, parse_word, profile_id, progress, usage};

fn parse_sort(s: &str) -> Result<CertificateSort, String> {
    CertificateSort::parse(s).ok_or_else(|| "must be newest or expiry".to_owned())
}

#[derive(Debug, Subcommand)]
pub enum Certs {
    /// Lists certificates, newest first.
    List {
        /// Only certificates in these states (comma-separated or repeated), e.g.
        /// `--status active,expiring,renewal_in_progress` for every live one.
        #[arg(long, value_parser = parse_word::<CertificateStatus>, value_delimiter = ',')]
        status: Vec<CertificateStatus>,
        /// Issuer id or name.
        #[arg(long)]
        issuer: Option<String>,
        /// Profile id or name.
        #[arg(long)]
        profile: Option<String>,
        /// Exactly this common name.
        #[arg(long)]
        cn: Option<String>,
        /// The common name or a SAN contains this (case-insensitive).
        #[arg(long)]
        search: Option<String>,
        /// The certificate with this serial number, hex as openssl prints it (`:` and leading
        /// zeros allowed).
        #[arg(long)]
        serial: Option<String>,
        /// `newest` (default) or `expiry`: soonest expiry first.
        #[arg(long, value_parser = parse_sort)]
        sort: Option<CertificateSort>,
        /// Expiring within this long, e.g. 30d, 12h.
        #[arg(long, value_parser = parse_duration)]
        expiring_within: Option<Duration>,
        #[command(flatten)]
        page: Page,
    },
    /// One certificate.
    Get { id: CertificateId },
    /// The certificate and its chain, PEM.
    Pem { id: CertificateId },
    /// Issues a certificate, from a CSR or with a key certctl generates.
    Issue {
        /// Issuer id or name.
        #[arg(long)]
        issuer: String,
        /// Profile id or name.
        #[arg(long)]
        profile: String,
        #[arg(long)]
        cn: String,
        /// A subject alternative name (repeat for more; DNS names or IP addresses).
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Lifetime, e.g. 30d, 12h, 3600 (seconds); the profile's maximum by default.
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
        /// A PEM CSR: certify its key.
        #[arg(long, conflicts_with = "key_algorithm")]
        csr: Option<PathBuf>,
        /// Have certctl generate the key (ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096).
        #[arg(long, value_parser = parse_word::<KeyAlgorithm>)]
        key_algorithm: Option<KeyAlgorithm>,
        /// Write cert.pem, chain.pem and (for generated keys) key.pem, mode 0600, here.
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// Make the request safe to repeat (needs --csr): sent with this Idempotency-Key, and sent
        /// again with it when no answer arrives or a proxy answers 502-504 (up to 5 tries). Running
        /// the same command with the same key later returns the same certificate. A UUID is a good
        /// key; `auto` makes one.
        #[arg(long, requires = "csr")]
        idempotency_key: Option<String>,
    },
    /// Issues a successor of a certificate.
    Renew {
        id: CertificateId,
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Sets the renewal policy a certificate follows instead of its profile's.
    SetPolicy {
        id: CertificateId,
        /// The policy's id or name.
        #[arg(
            long,
            required_unless_present = "profile_default",
            conflicts_with = "profile_default"
        )]
        policy: Option<String>,
        /// Follow the profile's policy again.
        #[arg(long)]
        profile_default: bool,
    },
    /// Revokes a certificate.
    Revoke {
        id: CertificateId,
        /// RFC 5280 reason: keyCompromise, cACompromise, affiliationChanged, superseded,
        /// cessationOfOperation, privilegeWithdrawn, unspecified.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Revokes every certificate matching all the criteria given.
    BulkRevoke {
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        profile: Option<String>,
        /// A certificate id (repeat for more).
        #[arg(long = "id")]
        ids: Vec<CertificateId>,
        #[arg(long)]
        reason: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

pub(super) fn certificate_table(items: &[CertificateOut]) -> String {
    let mut t = Table::new(&["ID", "COMMON NAME", "STATUS", "NOT AFTER", "SERIAL"]);
    for c in items {
        let status = if c.expired && c.status.is_live() {
            "expired".to_owned()
        } else {
            c.status.to_string()
        };
        t.row(vec![
            c.id.to_string(),
            c.common_name.clone(),
            status,
            when(&c.not_after),
            c.serial_hex.clone(),
        ]);
    }
    t.render()
}

pub(super) fn certificate_fields(c: &CertificateOut) -> String {
    let mut pairs = vec![
        ("ID", c.id.to_string()),
        ("Common name", c.common_name.clone()),
        ("SANs", c.sans.join(", ")),
        ("Status", c.status.to_string()),
        ("Expired", c.expired.to_string()),
        ("Serial", c.serial_hex.clone()),
        ("Key", c.key_algorithm.clone()),
        ("Not before", when(&c.not_before)),
        ("Not after", when(&c.not_after)),
        ("Issuer", c.issuer_id.to_string()),
        ("Profile", c.profile_id.to_string()),
        ("Requested by", c.requested_by.clone()),
        (
            "Renewal window",
            c.renew_after.as_ref().map_or_else(|| "-".to_owned(), when),
        ),
        (
            "Renewal policy",
            c.renewal_policy_id
                .map_or_else(|| "the profile's".to_owned(), |p| p.to_string()),
        ),
    ];
    if let Some(r) = &c.revocation {
        pairs.push((
            "Revoked",
            format!("{} by {} ({})", when(&r.revoked_at), r.revoked_by, r.reason),
        ));
    }
    if let Some(id) = c.superseded_by_id {
        pairs.push(("Renewed by", id.to_string()));
    }
    fields(&pairs)
}

/// Prints an issuance's outcome and writes its files when asked.
pub(super) fn issued(format: Format, reply: &Reply<Issued>, out_dir: Option<&Path>) -> Result<(), Failure> {
    match &reply.value {
        Issued::Certificate(c) => {
            if let Some(dir) = out_dir {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                let cert = c.certificate.certificate_pem.clone().unwrap_or_default();
                config::write_private(&dir.join("cert.pem"), cert.as_bytes())?;
                config::write_private(&dir.join("chain.pem"), c.chain_pem.as_bytes())?;
                if let Some(key) = &c.private_key_pem {
                    config::write_private(&dir.join("key.pem"), key.as_bytes())?;
                }
                eprintln!("wrote {}", dir.display());
            }
            // The generated key is never printed in a table; JSON and YAML print the response
            // as it is, key included, only when no --out-dir took it.
            let mut raw = reply.raw.clone();
            if out_dir.is_some()
                && let Some(o) = raw.as_object_mut()
            {
                o.remove("private_key_pem");
            }
            output::print(format, &raw, || certificate_fields(&c.certificate));
        }
        Issued::AwaitingApproval(job) => {
            output::print(format, &reply.raw, || {
                format!(
                    "awaiting approval: job {} (certctl jobs approve {} by another person)\n",
                    job.job_id, job.job_id
                )
            });
        }
    }
    Ok(())
}

pub(super) fn reason(raw: Option<String>) -> Result<Option<String>, Failure> {
    match raw {
        Some(r) if RevocationReason::parse(&r).is_none() => Err(usage(format!(
            "`{r}` is not a revocation reason; use one of {}",
            RevocationReason::names().join(", ")
        ))),
        other => Ok(other),
    }
}

pub(super) async fn certs(client: &Client, format: Format, cmd: Certs) -> Result<(), Failure> {
    match cmd {
        Certs::List {
            status,
            issuer,
            profile,
            cn,
            search,
            serial,
            sort,
            expiring_within,
            page,
        } => {
            let query = CertificateQuery {
                status,
                issuer_id: match issuer {
                    Some(i) => Some(issuer_id(client, &i).await?),
                    None => None,
                },
                profile_id: match profile {
                    Some(p) => Some(profile_id(client, &p).await?),
                    None => None,
                },
                common_name: cn,
                q: search,
                serial,
                sort,
                expiring_before: expiring_within
                    .map(|d| chrono::Utc::now() + chrono::Duration::seconds(d.as_secs() as i64)),
                ..CertificateQuery::default()
            };
            let (items, raw, next) = pages(&page, |cursor, limit| {
                let q = CertificateQuery {
                    cursor,
                    limit,
                    ..query.clone()
                };
                async move { client.list_certificates(&q).await }
            })
            .await?;
            output::print(format, &raw, || certificate_table(&items));
            more(format, next);
        }
        Certs::Get { id } => {
            let c = client.get_certificate(id).await?;
            output::print(format, &c.raw, || certificate_fields(&c.value));
        }
        Certs::Pem { id } => output::emit(&client.certificate_pem(id).await?),
        Certs::Issue {
            issuer,
            profile,
            cn,
            sans,
            ttl,
            csr,
            key_algorithm,
            out_dir,
            idempotency_key,
        } => {
            let csr_pem = match csr {
                Some(path) => {
                    Some(std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?)
                }
                None => None,
            };
            if csr_pem.is_none() && key_algorithm.is_none() {
                return Err(usage(
                    "give --csr FILE (your key) or --key-algorithm (certctl generates the key)",
                ));
            }
            if key_algorithm.is_some() && out_dir.is_none() && format == Format::Table {
                return Err(usage(
                    "a generated key is shown once: pass --out-dir DIR to keep it (or -o json to print it)",
                ));
            }
            let body = IssueIn {
                issuer_id: issuer_id(client, &issuer).await?,
                profile_id: profile_id(client, &profile).await?,
                common_name: cn,
                sans: (!sans.is_empty()).then_some(sans),
                ttl_seconds: ttl.map(|d| d.as_secs() as i64),
                csr_pem,
                key_algorithm,
            };
            let reply = match idempotency_key.as_deref() {
                None => client.issue(&body).await?,
                Some(key) => {
                    let key = if key == "auto" {
                        uuid::Uuid::new_v4().to_string()
                    } else {
                        key.to_owned()
                    };
                    client
                        .issue_idempotent(&body, &key, 5, |e, pause| {
                            eprintln!("certctl: {e}; sending again with Idempotency-Key {key} in {pause:?}");
                        })
                        .await?
                }
            };
            issued(format, &reply, out_dir.as_deref())?;
        }
        Certs::Renew { id, ttl, out_dir } => {
            let reply = client
                .renew(
                    id,
                    &RenewIn {
                        ttl_seconds: ttl.map(|d| d.as_secs() as i64),
                    },
                )
                .await?;
            issued(format, &reply, out_dir.as_deref())?;
        }
        Certs::SetPolicy { id, policy, .. } => {
            let renewal_policy_id = match policy {
                Some(p) => Some(super::policy::policy_id(client, &p).await?),
                None => None,
            };
            let c = client
                .set_certificate_policy(id, &CertificatePolicyIn { renewal_policy_id })
                .await?;
            output::print(format, &c.raw, || certificate_fields(&c.value));
        }
        Certs::Revoke { id, reason: r } => {
            let c = client.revoke(id, &RevokeIn { reason: reason(r)? }).await?;
            output::print(format, &c.raw, || certificate_fields(&c.value));
        }
        Certs::BulkRevoke {
            issuer,
            profile,
            ids,
            reason: r,
            yes,
        } => {
            let body = BulkRevokeIn {
                reason: reason(r)?,
                issuer_id: match issuer {
                    Some(i) => Some(issuer_id(client, &i).await?),
                    None => None,
                },
                profile_id: match profile {
                    Some(p) => Some(profile_id(client, &p).await?),
                    None => None,
                },
                certificate_ids: (!ids.is_empty()).then_some(ids),
            };
            if body.issuer_id.is_none() && body.profile_id.is_none() && body.certificate_ids.is_none() {
                return Err(usage("give at least one of --issuer, --profile, --id"));
            }
            confirm("revoke every certificate matching these criteria", yes)?;
            let bar = progress("revoking", None);
            bar.enable_steady_tick(Duration::from_millis(120));
            let result = client.bulk_revoke(&body).await;
            bar.finish_and_clear();
            let r = result?;
            output::print(format, &r.raw, || {
                fields(&[
                    ("Matched", r.value.matched.to_string()),
                    ("Revoked", r.value.revoked.to_string()),
                    ("Already revoked", r.value.skipped.to_string()),
                    ("Not found", r.value.failed.to_string()),
                ])
            });
        }
    }
    Ok(())
}

//! `certctl scan-targets` and `certctl discovered`: what the worker scans for TLS certificates,
//! and what it found.

use std::path::PathBuf;

use certctl_types::api::discovery::{
    DiscoveredCertificateOut, DiscoveredQuery, DiscoveryDecisionIn, ScanTargetIn, ScanTargetOut,
};
use certctl_types::ids::{DiscoveredCertificateId, ScanTargetId};
use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::client::Client;
use crate::output::{self, Format, Table, fields, opt, when};

use super::{Failure, Page, id_or_name, more, pages, read_json};

#[derive(Debug, Subcommand)]
pub enum ScanTargets {
    List,
    Get {
        /// Id or name.
        target: String,
    },
    /// Creates a scan target from a JSON file (the body of POST /api/v1/scan-targets).
    Create {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Replaces a scan target from a JSON file (the body of PUT /api/v1/scan-targets/{id}).
    Update {
        /// Id or name.
        target: String,
        #[arg(short, long)]
        file: PathBuf,
    },
    Delete {
        /// Id or name.
        target: String,
    },
    /// Makes a target due now: the next worker tick scans it.
    Scan {
        /// Id or name.
        target: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum Discovered {
    List {
        /// managed, unmanaged, claimed or dismissed.
        #[arg(long)]
        status: Option<String>,
        /// The subject, the issuer or a SAN contains this.
        #[arg(long)]
        search: Option<String>,
        /// Seen by this scan target (id or name).
        #[arg(long)]
        target: Option<String>,
        /// Only those whose not_after is before this RFC 3339 time.
        #[arg(long)]
        expiring_before: Option<DateTime<Utc>>,
        #[command(flatten)]
        page: Page,
    },
    /// One discovered certificate, with where it was seen.
    Get { id: DiscoveredCertificateId },
    /// Someone owns it: its expiry is warned about.
    Claim {
        id: DiscoveredCertificateId,
        #[arg(long)]
        note: Option<String>,
    },
    /// Not ours to watch: no expiry warnings.
    Dismiss {
        id: DiscoveredCertificateId,
        #[arg(long)]
        note: Option<String>,
    },
}

fn target_fields(t: &ScanTargetOut) -> String {
    fields(&[
        ("ID", t.id.to_string()),
        ("Name", t.name.clone()),
        ("Ranges", t.cidrs.join(", ")),
        (
            "Ports",
            t.ports.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        ),
        ("SNI", opt(&t.server_name)),
        ("Every", format!("{} s", t.interval_seconds)),
        ("Enabled", t.enabled.to_string()),
        ("Next scan", when(&t.next_scan_at)),
        (
            "Last scan",
            t.last_scan_finished_at
                .as_ref()
                .map_or_else(|| "never".to_owned(), when),
        ),
        (
            "Last found",
            t.last_scan_found.map_or_else(|| "-".to_owned(), |n| n.to_string()),
        ),
        ("Last error", opt(&t.last_scan_error)),
    ])
}

fn discovered_fields(d: &DiscoveredCertificateOut) -> String {
    let mut pairs = vec![
        ("ID", d.id.to_string()),
        ("Status", d.status.clone()),
        ("Subject", d.subject.clone()),
        ("SANs", d.sans.join(", ")),
        ("Issuer", d.issuer.clone()),
        ("Not after", when(&d.not_after)),
        ("Expired", d.expired.to_string()),
        ("Key", d.key_algorithm.clone()),
        ("Self-signed", d.self_signed.to_string()),
        ("SHA-256", d.fingerprint_sha256.clone()),
        ("Certificate", opt(&d.certificate_id)),
        ("First seen", when(&d.first_seen_at)),
        ("Last seen", when(&d.last_seen_at)),
    ];
    for e in d.endpoints.iter().flatten() {
        let sni = if e.server_name.is_empty() {
            String::new()
        } else {
            format!(" (SNI {})", e.server_name)
        };
        pairs.push((
            "Seen at",
            format!("{}:{}{sni}, last {}", e.address, e.port, when(&e.last_seen_at)),
        ));
    }
    fields(&pairs)
}

async fn target_id(client: &Client, given: &str) -> Result<ScanTargetId, Failure> {
    id_or_name(
        given,
        "scan target",
        || client.list_scan_targets(),
        |t: &ScanTargetOut| (t.name == given).then_some(t.id),
    )
    .await
}

pub(super) async fn scan_targets(client: &Client, format: Format, cmd: ScanTargets) -> Result<(), Failure> {
    match cmd {
        ScanTargets::List => {
            let all = client.list_scan_targets().await?;
            output::print(format, &all.raw, || {
                let mut t = Table::new(&["ID", "NAME", "RANGES", "PORTS", "LAST SCAN", "FOUND"]);
                for s in &all.value.data {
                    t.row(vec![
                        s.id.to_string(),
                        s.name.clone(),
                        s.cidrs.join(","),
                        s.ports.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                        s.last_scan_finished_at
                            .as_ref()
                            .map_or_else(|| "never".to_owned(), when),
                        s.last_scan_found.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                    ]);
                }
                t.render()
            });
        }
        ScanTargets::Get { target } => {
            let t = client.get_scan_target(target_id(client, &target).await?).await?;
            output::print(format, &t.raw, || target_fields(&t.value));
        }
        ScanTargets::Create { file } => {
            let body: ScanTargetIn = read_json(&file)?;
            let t = client.create_scan_target(&body).await?;
            output::print(format, &t.raw, || target_fields(&t.value));
        }
        ScanTargets::Update { target, file } => {
            let body: ScanTargetIn = read_json(&file)?;
            let t = client
                .replace_scan_target(target_id(client, &target).await?, &body)
                .await?;
            output::print(format, &t.raw, || target_fields(&t.value));
        }
        ScanTargets::Delete { target } => {
            let id = target_id(client, &target).await?;
            client.delete_scan_target(id).await?;
            eprintln!("deleted scan target {id}");
        }
        ScanTargets::Scan { target } => {
            let t = client.scan_target_now(target_id(client, &target).await?).await?;
            output::print(format, &t.raw, || target_fields(&t.value));
        }
    }
    Ok(())
}

pub(super) async fn discovered(client: &Client, format: Format, cmd: Discovered) -> Result<(), Failure> {
    match cmd {
        Discovered::List {
            status,
            search,
            target,
            expiring_before,
            page,
        } => {
            let target_id = match target {
                Some(t) => Some(target_id(client, &t).await?),
                None => None,
            };
            let (items, raw, next) = pages(&page, |cursor, limit| {
                let q = DiscoveredQuery {
                    status: status.clone(),
                    q: search.clone(),
                    expiring_before,
                    target_id,
                    cursor,
                    limit,
                };
                async move { client.list_discovered(&q).await }
            })
            .await?;
            output::print(format, &raw, || {
                let mut t = Table::new(&["ID", "STATUS", "SUBJECT", "NOT AFTER", "LAST SEEN"]);
                for d in &items {
                    t.row(vec![
                        d.id.to_string(),
                        d.status.clone(),
                        d.subject.clone(),
                        when(&d.not_after),
                        when(&d.last_seen_at),
                    ]);
                }
                t.render()
            });
            more(format, next);
        }
        Discovered::Get { id } => {
            let d = client.get_discovered(id).await?;
            output::print(format, &d.raw, || discovered_fields(&d.value));
        }
        Discovered::Claim { id, note } => {
            let d = client
                .decide_discovered(id, true, &DiscoveryDecisionIn { note })
                .await?;
            output::print(format, &d.raw, || discovered_fields(&d.value));
        }
        Discovered::Dismiss { id, note } => {
            let d = client
                .decide_discovered(id, false, &DiscoveryDecisionIn { note })
                .await?;
            output::print(format, &d.raw, || discovered_fields(&d.value));
        }
    }
    Ok(())
}

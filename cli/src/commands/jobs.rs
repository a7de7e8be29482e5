//! `certctl jobs`: approval jobs and automatic renewals.

use std::path::PathBuf;

use anyhow::Context;
use certctl_types::api::certificates::{DecisionIn, JobQuery};
use certctl_types::api::renewal::JobCsrIn;
use certctl_types::ids::JobId;
use certctl_types::vocab::JobStatus;
use clap::Subcommand;

use crate::client::Client;
use crate::output::{self, Format, Table, fields, opt, when};

use super::{Failure, Page, more, pages, parse_word};

#[derive(Debug, Subcommand)]
pub enum Jobs {
    List {
        #[arg(long, value_parser = parse_word::<JobStatus>)]
        status: Option<JobStatus>,
        #[command(flatten)]
        page: Page,
    },
    Get {
        id: JobId,
    },
    /// Approves: the certificate is issued now.
    Approve {
        id: JobId,
        #[arg(long)]
        note: Option<String>,
    },
    Reject {
        id: JobId,
        #[arg(long)]
        note: Option<String>,
    },
    /// Gives a renewal waiting for a CSR (`awaiting_csr`) the CSR of the new key.
    Csr {
        id: JobId,
        /// The PKCS#10 request, PEM.
        #[arg(long)]
        csr: PathBuf,
    },
    /// Collects, once, the key a renewal generated (with its certificate and chain) into a
    /// directory: key.pem, cert.pem, chain.pem.
    Key {
        id: JobId,
        #[arg(long)]
        out_dir: PathBuf,
    },
}

pub(super) async fn jobs(client: &Client, format: Format, cmd: Jobs) -> Result<(), Failure> {
    let show = |j: &certctl_types::api::certificates::JobOut| {
        fields(&[
            ("ID", j.id.to_string()),
            ("Kind", j.kind.clone()),
            ("Status", j.status.to_string()),
            ("Requested by", j.requested_by.clone()),
            ("Decided by", opt(&j.decided_by)),
            ("Note", opt(&j.decision_note)),
            ("Certificate", opt(&j.certificate_id)),
            ("Renews", opt(&j.renews_certificate_id)),
            ("Attempts", j.attempts.to_string()),
            (
                "Next attempt",
                j.next_attempt_at.as_ref().map_or_else(|| "-".to_owned(), when),
            ),
            ("Key to collect", j.key_available.to_string()),
            ("Error", opt(&j.error)),
        ])
    };
    match cmd {
        Jobs::List { status, page } => {
            let (items, raw, next) = pages(&page, |cursor, limit| {
                let q = JobQuery { status, cursor, limit };
                async move { client.list_jobs(&q).await }
            })
            .await?;
            output::print(format, &raw, || {
                let mut t = Table::new(&["ID", "KIND", "STATUS", "REQUESTED BY", "CREATED"]);
                for j in &items {
                    t.row(vec![
                        j.id.to_string(),
                        j.kind.clone(),
                        j.status.to_string(),
                        j.requested_by.clone(),
                        when(&j.created_at),
                    ]);
                }
                t.render()
            });
            more(format, next);
        }
        Jobs::Get { id } => {
            let j = client.get_job(id).await?;
            output::print(format, &j.raw, || show(&j.value));
        }
        Jobs::Approve { id, note } => {
            let j = client.decide(id, true, &DecisionIn { note }).await?;
            output::print(format, &j.raw, || show(&j.value));
        }
        Jobs::Reject { id, note } => {
            let j = client.decide(id, false, &DecisionIn { note }).await?;
            output::print(format, &j.raw, || show(&j.value));
        }
        Jobs::Csr { id, csr } => {
            let csr_pem = std::fs::read_to_string(&csr).with_context(|| format!("cannot read {}", csr.display()))?;
            let j = client.submit_csr(id, &JobCsrIn { csr_pem }).await?;
            output::print(format, &j.raw, || show(&j.value));
        }
        Jobs::Key { id, out_dir } => {
            // The key is handed out once: make sure it can be written before asking for it.
            std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
            crate::config::write_private(&out_dir.join("key.pem"), b"")?;
            let k = client.collect_key(id).await?;
            let cert = k.value.certificate.certificate_pem.clone().unwrap_or_default();
            crate::config::write_private(&out_dir.join("key.pem"), k.value.private_key_pem.as_bytes())?;
            crate::config::write_private(&out_dir.join("cert.pem"), cert.as_bytes())?;
            crate::config::write_private(&out_dir.join("chain.pem"), k.value.chain_pem.as_bytes())?;
            eprintln!("wrote {}", out_dir.display());
            // The key went to the file; what is printed never carries it.
            let mut raw = k.raw.clone();
            if let Some(o) = raw.as_object_mut() {
                o.remove("private_key_pem");
            }
            output::print(format, &raw, || super::certs::certificate_fields(&k.value.certificate));
        }
    }
    Ok(())
}

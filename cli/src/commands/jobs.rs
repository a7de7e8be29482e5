//! `certctl jobs`: approval jobs.

use certctl_types::api::certificates::{DecisionIn, JobQuery};
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
    }
    Ok(())
}

//! `certctl status`: what needs attention.

use certctl_types::ids::IssuerId;

use crate::client::Client;
use crate::output::{self, Format, Table, fields};

use super::{Failure, ago, human_seconds};

pub(super) async fn status(client: &Client, format: Format) -> Result<(), Failure> {
    let s = client.summary().await?;
    // Issuers by name for the revocation table; the ids alone if they cannot be listed.
    let names: std::collections::HashMap<IssuerId, String> = match (format, s.value.revocation.is_empty()) {
        (Format::Table, false) => client
            .list_issuers()
            .await
            .map(|r| r.value.data.into_iter().map(|i| (i.id, i.name)).collect())
            .unwrap_or_default(),
        _ => Default::default(),
    };
    output::print(format, &s.raw, || {
        let v = &s.value;
        let c = &v.certificates;
        let mut out = fields(&[
            ("Server", client.server().to_owned()),
            (
                "Certificates",
                format!(
                    "{} total: {} active, {} expiring, {} renewing, {} expired, {} renewed, {} revoked",
                    c.total, c.active, c.expiring, c.renewal_in_progress, c.expired, c.renewed, c.revoked
                ),
            ),
            (
                "Expiring soon",
                format!("{} within {} days", v.expiring_soon, v.expiring_soon_days),
            ),
            ("Awaiting approval", v.jobs_awaiting_approval.to_string()),
            (
                "Dead notifications",
                if v.notifications_dead > 0 {
                    format!("{} (certctl notifications list --status dead)", v.notifications_dead)
                } else {
                    "0".to_owned()
                },
            ),
        ]);
        if !v.revocation.is_empty() {
            let mut t = Table::new(&[
                "ISSUER",
                "CRL PUBLISHED",
                "CRL NEXT UPDATE IN",
                "OCSP SIGNER EXPIRES IN",
            ]);
            for r in &v.revocation {
                t.row(vec![
                    names
                        .get(&r.issuer_id)
                        .cloned()
                        .unwrap_or_else(|| r.issuer_id.to_string()),
                    ago(r.crl_age_seconds),
                    r.crl_next_update_in_seconds.map_or("-".into(), human_seconds),
                    r.ocsp_signer_expires_in_seconds.map_or("none".into(), human_seconds),
                ]);
            }
            out.push('\n');
            out.push_str(&t.render());
        }
        out
    });
    Ok(())
}

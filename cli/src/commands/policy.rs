//! `certctl issuers`, `certctl profiles` and `certctl renewal-policies`: the certificate
//! authorities, what they may issue, and how their certificates renew.

use std::path::PathBuf;

use certctl_types::api::policy::{IssuerIn, ProfileIn};
use certctl_types::api::renewal::{RenewalPolicyIn, RenewalPolicyOut};
use certctl_types::ids::RenewalPolicyId;
use certctl_types::vocab::KeyAlgorithm;
use clap::Subcommand;

use crate::client::Client;
use crate::output::{self, Format, Table, fields, opt, when};

use super::{Failure, human_seconds, id_or_name, issuer_id, parse_word, profile_id, read_json};

#[derive(Debug, Subcommand)]
pub enum Issuers {
    List,
    Get {
        /// Id or name.
        issuer: String,
    },
    /// Creates a root CA, or an intermediate with --parent.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        cn: String,
        #[arg(long, value_parser = parse_word::<KeyAlgorithm>, default_value = "ecdsa-p384")]
        key_algorithm: KeyAlgorithm,
        /// The parent issuer's id or name.
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        validity_days: Option<u32>,
        /// Partition the CRL into this many shards (2-256); fixed at creation.
        #[arg(long)]
        crl_shards: Option<u16>,
    },
    /// Stops an issuer signing anything (issuance and renewals under it are refused); its CRLs
    /// and OCSP go on.
    Disable {
        /// Id or name.
        issuer: String,
    },
    /// Lets a disabled issuer sign again.
    Enable {
        /// Id or name.
        issuer: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum Policies {
    List,
    Get {
        /// Id or name.
        policy: String,
    },
    /// Creates a renewal policy from a JSON file (the body of POST /api/v1/renewal-policies).
    Create {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Replaces a renewal policy from a JSON file (the body of PUT /api/v1/renewal-policies/{id}).
    Update {
        /// Id or name.
        policy: String,
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Deletes a policy no profile or certificate follows.
    Delete {
        /// Id or name.
        policy: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum Profiles {
    List,
    Get {
        /// Id or name.
        profile: String,
    },
    /// Creates a profile from a JSON file (the body of POST /api/v1/profiles).
    Create {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Replaces a profile from a JSON file (the body of PUT /api/v1/profiles/{id}).
    Update {
        /// Id or name.
        profile: String,
        #[arg(short, long)]
        file: PathBuf,
    },
}

pub(super) async fn issuers(client: &Client, format: Format, cmd: Issuers) -> Result<(), Failure> {
    let show = |i: &certctl_types::api::policy::IssuerOut| {
        fields(&[
            ("ID", i.id.to_string()),
            ("Name", i.name.clone()),
            ("Common name", i.common_name.clone()),
            ("Key", i.key_algorithm.clone()),
            ("Root", i.is_root.to_string()),
            ("Parent", opt(&i.parent_issuer_id)),
            ("Not after", when(&i.not_after)),
            ("Disabled", i.disabled_at.as_ref().map_or_else(|| "-".to_owned(), when)),
        ])
    };
    match cmd {
        Issuers::List => {
            let all = client.list_issuers().await?;
            output::print(format, &all.raw, || {
                let mut t = Table::new(&["ID", "NAME", "COMMON NAME", "KEY", "ROOT", "NOT AFTER"]);
                for i in &all.value.data {
                    t.row(vec![
                        i.id.to_string(),
                        i.name.clone(),
                        i.common_name.clone(),
                        i.key_algorithm.clone(),
                        i.is_root.to_string(),
                        when(&i.not_after),
                    ]);
                }
                t.render()
            });
        }
        Issuers::Get { issuer } => {
            let i = client.get_issuer(issuer_id(client, &issuer).await?).await?;
            output::print(format, &i.raw, || show(&i.value));
        }
        Issuers::Create {
            name,
            cn,
            key_algorithm,
            parent,
            validity_days,
            crl_shards,
        } => {
            let parent_issuer_id = match parent {
                Some(p) => Some(issuer_id(client, &p).await?),
                None => None,
            };
            let i = client
                .create_issuer(&IssuerIn {
                    name,
                    common_name: cn,
                    key_algorithm,
                    parent_issuer_id,
                    validity_days,
                    crl_shards,
                })
                .await?;
            output::print(format, &i.raw, || show(&i.value));
        }
        Issuers::Disable { issuer } => {
            let i = client
                .set_issuer_disabled(issuer_id(client, &issuer).await?, true)
                .await?;
            output::print(format, &i.raw, || show(&i.value));
        }
        Issuers::Enable { issuer } => {
            let i = client
                .set_issuer_disabled(issuer_id(client, &issuer).await?, false)
                .await?;
            output::print(format, &i.raw, || show(&i.value));
        }
    }
    Ok(())
}

pub(super) async fn profiles(client: &Client, format: Format, cmd: Profiles) -> Result<(), Failure> {
    let show = |p: &certctl_types::api::policy::ProfileOut| {
        fields(&[
            ("ID", p.id.to_string()),
            ("Name", p.name.clone()),
            ("Max lifetime", human_seconds(p.max_ttl_seconds as f64)),
            ("Key algorithms", p.allowed_key_algorithms.join(", ")),
            ("EKUs", p.ekus.join(", ")),
            ("Requires approval", p.requires_approval.to_string()),
            ("Revision", p.revision.to_string()),
        ])
    };
    match cmd {
        Profiles::List => {
            let all = client.list_profiles().await?;
            output::print(format, &all.raw, || {
                let mut t = Table::new(&["ID", "NAME", "MAX LIFETIME", "APPROVAL", "REVISION"]);
                for p in &all.value.data {
                    t.row(vec![
                        p.id.to_string(),
                        p.name.clone(),
                        human_seconds(p.max_ttl_seconds as f64),
                        if p.requires_approval { "required" } else { "-" }.to_owned(),
                        p.revision.to_string(),
                    ]);
                }
                t.render()
            });
        }
        Profiles::Get { profile } => {
            let p = client.get_profile(profile_id(client, &profile).await?).await?;
            output::print(format, &p.raw, || show(&p.value));
        }
        Profiles::Create { file } => {
            let body: ProfileIn = read_json(&file)?;
            let p = client.create_profile(&body).await?;
            output::print(format, &p.raw, || show(&p.value));
        }
        Profiles::Update { profile, file } => {
            let body: ProfileIn = read_json(&file)?;
            let p = client
                .replace_profile(profile_id(client, &profile).await?, &body)
                .await?;
            output::print(format, &p.raw, || show(&p.value));
        }
    }
    Ok(())
}

pub(super) async fn policies(client: &Client, format: Format, cmd: Policies) -> Result<(), Failure> {
    let show = |p: &RenewalPolicyOut| {
        fields(&[
            ("ID", p.id.to_string()),
            ("Name", p.name.clone()),
            ("Window", window(p)),
            ("Automatic", p.auto_renew.to_string()),
            ("New key", p.rotate_key.to_string()),
            (
                "Retries",
                format!(
                    "{} attempts, {} apart",
                    p.max_attempts,
                    human_seconds(p.retry_interval_seconds as f64)
                ),
            ),
            (
                "Warnings",
                p.warning_days.as_ref().map_or_else(
                    || "the worker's".to_owned(),
                    |d| d.iter().map(|d| format!("{d}d")).collect::<Vec<_>>().join(", "),
                ),
            ),
            (
                "Channels",
                p.channel_ids.as_ref().map_or_else(
                    || "every subscribed channel".to_owned(),
                    |c| c.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                ),
            ),
            ("Built in", p.built_in.to_string()),
        ])
    };
    match cmd {
        Policies::List => {
            let all = client.list_policies().await?;
            output::print(format, &all.raw, || {
                let mut t = Table::new(&["ID", "NAME", "WINDOW", "AUTOMATIC", "NEW KEY"]);
                for p in &all.value.data {
                    t.row(vec![
                        p.id.to_string(),
                        p.name.clone(),
                        window(p),
                        p.auto_renew.to_string(),
                        p.rotate_key.to_string(),
                    ]);
                }
                t.render()
            });
        }
        Policies::Get { policy } => {
            let p = client.get_policy(policy_id(client, &policy).await?).await?;
            output::print(format, &p.raw, || show(&p.value));
        }
        Policies::Create { file } => {
            let body: RenewalPolicyIn = read_json(&file)?;
            let p = client.create_policy(&body).await?;
            output::print(format, &p.raw, || show(&p.value));
        }
        Policies::Update { policy, file } => {
            let body: RenewalPolicyIn = read_json(&file)?;
            let p = client.replace_policy(policy_id(client, &policy).await?, &body).await?;
            output::print(format, &p.raw, || show(&p.value));
        }
        Policies::Delete { policy } => {
            let id = policy_id(client, &policy).await?;
            client.delete_policy(id).await?;
            eprintln!("deleted renewal policy {id}");
        }
    }
    Ok(())
}

/// When a policy's window opens, in words.
fn window(p: &RenewalPolicyOut) -> String {
    match (p.renew_before_seconds, p.renew_at_fraction) {
        (Some(s), _) => format!("{} before expiry", human_seconds(s as f64)),
        (None, Some(f)) => format!("at {:.0}% of the lifetime", f * 100.0),
        (None, None) => "-".to_owned(),
    }
}

pub(super) async fn policy_id(client: &Client, given: &str) -> Result<RenewalPolicyId, Failure> {
    id_or_name(
        given,
        "renewal policy",
        || client.list_policies(),
        |p: &RenewalPolicyOut| (p.name == given).then_some(p.id),
    )
    .await
}

//! `certctl issuers` and `certctl profiles`: the certificate authorities and what they may issue.

use std::path::PathBuf;

use certctl_types::api::policy::{IssuerIn, ProfileIn};
use certctl_types::vocab::KeyAlgorithm;
use clap::Subcommand;

use crate::client::Client;
use crate::output::{self, Format, Table, fields, opt, when};

use super::{Failure, human_seconds, issuer_id, parse_word, profile_id, read_json};

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

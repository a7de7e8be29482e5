//! Material for comparing certctl's revocation services with OpenSSL's on the same CA, keys and
//! status list, read back from the database certctl itself wrote:
//!
//! - `certctl-bench pki-export`: the CA certificate, and (given the key-encryption keys the bench
//!   generated) the CA key and the current OCSP responder certificate and key, as PEM; and an
//!   OpenSSL `index.txt` with every certificate of the issuer (V or R lines).
//! - `certctl-bench ocsp-requests`: a pool of OCSP requests for distinct serials of the issuer,
//!   as hex lines (for wrk), with and without a nonce, plus single DER files (for ab) and a set of
//!   samples with the status each must get (for `openssl ocsp -respin ... -reqin ...`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certctl_pki::CaIdentity;
use certctl_pki::ocsp::build_request;
use certctl_shared::crypto::{Kek, KeyEncryptionKeys, issuer_key_context, signer_key_context};
use chrono::{DateTime, Utc};
use sea_orm::{Database, DatabaseConnection, DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

/// Flags as `--name value` pairs.
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: Vec<String>) -> anyhow::Result<Self> {
        let mut it = args.into_iter();
        let mut out = Vec::new();
        while let Some(flag) = it.next() {
            let Some(name) = flag.strip_prefix("--") else {
                bail!("unexpected argument {flag}");
            };
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            out.push((name.to_owned(), value));
        }
        Ok(Self(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> anyhow::Result<&str> {
        self.get(name).with_context(|| format!("--{name} is required"))
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn keys(raw: &str) -> anyhow::Result<KeyEncryptionKeys> {
    let kek = Kek::from_base64(raw).map_err(|e| anyhow::anyhow!("key-encryption key {e}"))?;
    Ok(KeyEncryptionKeys::new(kek, Vec::new()))
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[derive(FromQueryResult)]
struct IssuerRow {
    certificate_der: Vec<u8>,
    private_key_ciphertext: Vec<u8>,
}

#[derive(FromQueryResult)]
struct SignerRow {
    id: Uuid,
    certificate_der: Vec<u8>,
    private_key_ciphertext: Vec<u8>,
}

/// One certificate of the issuer and, if revoked, when and why.
#[derive(FromQueryResult)]
struct StatusRow {
    serial_hex: String,
    not_after: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    reason_code: Option<i16>,
}

async fn connect(flags: &Flags) -> anyhow::Result<DatabaseConnection> {
    let url = flags.required("database-url")?;
    Database::connect(url).await.context("cannot connect to the database")
}

async fn issuer_row(db: &DatabaseConnection, issuer: Uuid) -> anyhow::Result<IssuerRow> {
    IssuerRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT certificate_der, private_key_ciphertext FROM issuers WHERE id = $1",
        [issuer.into()],
    ))
    .one(db)
    .await?
    .with_context(|| format!("no issuer {issuer}"))
}

/// OpenSSL's `index.txt` time: UTCTime, YYMMDDHHMMSSZ.
fn index_time(t: DateTime<Utc>) -> String {
    t.format("%y%m%d%H%M%SZ").to_string()
}

/// OpenSSL's name for a CRLReason code (as `openssl ca -revoke -crl_reason` writes it).
fn reason_name(code: i16) -> anyhow::Result<&'static str> {
    Ok(match code {
        1 => "keyCompromise",
        2 => "CACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        9 => "privilegeWithdrawn",
        other => bail!("reason code {other} has no index.txt name"),
    })
}

/// `certctl-bench pki-export --database-url URL --issuer ID --out DIR [--ca-kek B64] [--responder-kek B64]`
pub async fn export(args: Vec<String>) -> anyhow::Result<()> {
    let flags = Flags::parse(args)?;
    let issuer: Uuid = flags.required("issuer")?.parse().context("--issuer is not a UUID")?;
    let out = PathBuf::from(flags.required("out")?);
    std::fs::create_dir_all(&out)?;
    let db = connect(&flags).await?;
    let row = issuer_row(&db, issuer).await?;
    write(&out, "ca.pem", pem("CERTIFICATE", &row.certificate_der))?;
    if let Some(kek) = flags.get("ca-kek") {
        let pkcs8 = keys(kek)?
            .open(&issuer_key_context(issuer.into()), &row.private_key_ciphertext)
            .context("cannot open the CA key with --ca-kek")?;
        write(&out, "ca.key", pem("PRIVATE KEY", &pkcs8))?;
    }
    if let Some(kek) = flags.get("responder-kek") {
        let signer = SignerRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, certificate_der, private_key_ciphertext FROM ocsp_signers \
             WHERE issuer_id = $1 AND not_before <= now() AND not_after > now() \
             ORDER BY not_after DESC, created_at DESC LIMIT 1",
            [issuer.into()],
        ))
        .one(&db)
        .await?
        .context("the issuer has no current OCSP signer yet")?;
        let pkcs8 = keys(kek)?
            .open(&signer_key_context(signer.id), &signer.private_key_ciphertext)
            .context("cannot open the OCSP signer key with --responder-kek")?;
        write(&out, "signer.pem", pem("CERTIFICATE", &signer.certificate_der))?;
        write(&out, "signer.key", pem("PRIVATE KEY", &pkcs8))?;
    }
    let rows = StatusRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT c.serial_hex, c.not_after, r.revoked_at, r.reason_code \
         FROM certificates c LEFT JOIN certificate_revocations r ON r.certificate_id = c.id \
         WHERE c.issuer_id = $1 ORDER BY c.serial_hex",
        [issuer.into()],
    ))
    .all(&db)
    .await?;
    let mut index = String::with_capacity(rows.len() * 96);
    let (mut valid, mut revoked) = (0usize, 0usize);
    for (i, r) in rows.iter().enumerate() {
        let serial = r.serial_hex.to_ascii_uppercase();
        let expiry = index_time(r.not_after);
        match r.revoked_at {
            None => {
                valid += 1;
                writeln!(index, "V\t{expiry}\t\t{serial}\tunknown\t/CN=host-{i}.bench.example")?;
            }
            Some(at) => {
                revoked += 1;
                let reason = match r.reason_code {
                    Some(code) => format!(",{}", reason_name(code)?),
                    None => String::new(),
                };
                writeln!(
                    index,
                    "R\t{expiry}\t{}{reason}\t{serial}\tunknown\t/CN=host-{i}.bench.example",
                    index_time(at)
                )?;
            }
        }
    }
    write(&out, "index.txt", index)?;
    write(&out, "index.txt.attr", "unique_subject = no\n")?;
    println!(
        "exported issuer={issuer} index_valid={valid} index_revoked={revoked} dir={}",
        out.display()
    );
    Ok(())
}

#[derive(FromQueryResult)]
struct SampleRow {
    serial_hex: String,
    revoked: bool,
}

/// Length of the nonce in the nonce pool: the last 16 bytes of each request, which the wrk
/// script replaces with a fresh value per request.
const NONCE_LEN: usize = 16;

/// `certctl-bench ocsp-requests --database-url URL --issuer ID --out DIR [--count 4096] [--samples 24]`
pub async fn requests(args: Vec<String>) -> anyhow::Result<()> {
    let flags = Flags::parse(args)?;
    let issuer: Uuid = flags.required("issuer")?.parse().context("--issuer is not a UUID")?;
    let out = PathBuf::from(flags.required("out")?);
    let count: usize = flags.get("count").unwrap_or("4096").parse()?;
    let samples: usize = flags.get("samples").unwrap_or("24").parse()?;
    std::fs::create_dir_all(out.join("samples"))?;
    let db = connect(&flags).await?;
    let ca = CaIdentity::from_certificate(&issuer_row(&db, issuer).await?.certificate_der)?;
    // Distinct serials, a random draw over the whole list (good and revoked in their proportion).
    let pool = SampleRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT c.serial_hex, r.id IS NOT NULL AS revoked \
         FROM certificates c LEFT JOIN certificate_revocations r ON r.certificate_id = c.id \
         WHERE c.issuer_id = $1 ORDER BY random() LIMIT $2",
        [issuer.into(), i64::try_from(count)?.into()],
    ))
    .all(&db)
    .await?;
    if pool.len() < count {
        bail!("the issuer has only {} certificates", pool.len());
    }
    // Samples: as many revoked as good ones, drawn at random.
    let sample_rows = SampleRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT serial_hex, revoked FROM ( \
           SELECT c.serial_hex, r.id IS NOT NULL AS revoked, \
             row_number() OVER (PARTITION BY r.id IS NOT NULL ORDER BY random()) AS k \
           FROM certificates c LEFT JOIN certificate_revocations r ON r.certificate_id = c.id \
           WHERE c.issuer_id = $1) s \
         WHERE k <= $2 ORDER BY k, revoked",
        [issuer.into(), i64::try_from(samples.div_ceil(2))?.into()],
    ))
    .all(&db)
    .await?;
    let mut plain = String::with_capacity(count * 200);
    let mut nonced = String::with_capacity(count * 250);
    let mut revoked_in_pool = 0usize;
    for r in &pool {
        let serial = hex::decode(&r.serial_hex)?;
        revoked_in_pool += usize::from(r.revoked);
        writeln!(plain, "{}", hex::encode(build_request(&ca, &[&serial], None)))?;
        let req = build_request(&ca, &[&serial], Some(&[0u8; NONCE_LEN]));
        writeln!(nonced, "{}", hex::encode(&req))?;
    }
    write(&out, "pool-plain.hex", plain)?;
    write(&out, "pool-nonce.hex", nonced)?;
    // ab sends one body: the first serial of the pool.
    let first = hex::decode(&pool[0].serial_hex)?;
    write(&out, "one-plain.der", build_request(&ca, &[&first], None))?;
    write(
        &out,
        "one-nonce.der",
        build_request(&ca, &[&first], Some(&random_nonce()?)),
    )?;

    // Samples: a few of each status, with and without a nonce, plus serials nobody issued.
    let mut manifest = String::new();
    for (i, r) in sample_rows.iter().enumerate() {
        let serial = hex::decode(&r.serial_hex)?;
        let nonce = ((i / 2) % 2 == 1).then(random_nonce).transpose()?;
        let name = format!("sample-{i:03}.der");
        write(
            &out.join("samples"),
            &name,
            build_request(&ca, &[&serial], nonce.as_ref().map(|n| &n[..])),
        )?;
        let status = if r.revoked { "revoked" } else { "good" };
        writeln!(
            manifest,
            "{name} {status} {} {}",
            r.serial_hex,
            if nonce.is_some() { "nonce" } else { "plain" }
        )?;
    }
    for i in 0..2 {
        let mut serial = random_nonce()?.to_vec();
        serial[0] = 0x7f;
        let name = format!("unknown-{i}.der");
        write(&out.join("samples"), &name, build_request(&ca, &[&serial], None))?;
        writeln!(manifest, "{name} unknown {} plain", hex::encode(&serial))?;
    }
    write(&out, "samples.txt", manifest)?;
    println!(
        "requests={count} revoked_in_pool={revoked_in_pool} samples={} dir={}",
        sample_rows.len() + 2,
        out.display()
    );
    Ok(())
}

fn random_nonce() -> anyhow::Result<[u8; NONCE_LEN]> {
    let bytes = certctl_pki::random_serial().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(bytes)
}

//! Key protection and API key secrets.
//!
//! CA private keys are sealed with AES-256-GCM under a key-encryption key (KEK) given to the
//! api-server and notifier-worker only. Each ciphertext names the KEK that sealed it, so a new KEK
//! can be introduced while older ciphertexts still open under the previous ones
//! (`CERTCTL_PREVIOUS_KEY_ENCRYPTION_KEYS`). The row a ciphertext belongs to is bound in as
//! associated data, so a sealed key copied onto another row does not open.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

const ENVELOPE_VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;

/// A 32-byte AES-256-GCM key-encryption key and its id (the first 8 bytes of its SHA-256).
#[derive(Clone)]
pub struct Kek {
    id: [u8; KEY_ID_LEN],
    key: [u8; 32],
}

impl Kek {
    pub fn from_bytes(key: [u8; 32]) -> Self {
        let hash = digest(&SHA256, &key);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&hash.as_ref()[..KEY_ID_LEN]);
        Self { id, key }
    }

    pub fn from_base64(raw: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(raw.trim())
            .map_err(|_| "is not valid base64".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("must decode to 32 bytes, got {}", b.len()))?;
        Ok(Self::from_bytes(key))
    }

    /// The key id written into every envelope, as hex.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    fn aead(&self) -> LessSafeKey {
        // The length is fixed at 32 bytes, which AES-256-GCM always accepts.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.key).expect("32-byte AES-256 key"))
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id_hex())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("sealed key is malformed")]
    Malformed,
    #[error("sealed key was made under key-encryption key {0}, which is not configured")]
    UnknownKey(String),
    #[error("sealed key failed authentication (wrong key or tampered data)")]
    Authentication,
    #[error("random number generator failed")]
    Random,
}

/// The current KEK (used to seal) and any previous ones (used only to open).
#[derive(Clone, Debug)]
pub struct KeyEncryptionKeys {
    current: Kek,
    previous: Vec<Kek>,
    insecure_dev_key: bool,
}

impl KeyEncryptionKeys {
    pub fn new(current: Kek, previous: Vec<Kek>) -> Self {
        Self {
            current,
            previous,
            insecure_dev_key: false,
        }
    }

    /// A fixed key derived from `seed`, for dev mode only: it is publicly known, and
    /// [`is_insecure_dev_key`](Self::is_insecure_dev_key) says so.
    pub fn insecure_dev(seed: &[u8], previous: Vec<Kek>) -> Self {
        let digest = digest(&SHA256, seed);
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        Self {
            current: Kek::from_bytes(key),
            previous,
            insecure_dev_key: true,
        }
    }

    /// Ids (hex) of every configured key, current first.
    pub fn ids(&self) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(Kek::id_hex)
            .collect()
    }

    /// Whether any key of `self` is also a key of `other`.
    pub fn shares_a_key_with(&self, other: &Self) -> bool {
        let ids = |k: &Self| {
            std::iter::once(k.current.id)
                .chain(k.previous.iter().map(|p| p.id))
                .collect::<Vec<_>>()
        };
        let theirs = ids(other);
        ids(self).iter().any(|id| theirs.contains(id))
    }

    /// Whether the fixed development key is in use (never in production).
    pub fn is_insecure_dev_key(&self) -> bool {
        self.insecure_dev_key
    }

    pub fn current_id(&self) -> String {
        self.current.id_hex()
    }

    /// Seals `plaintext`, binding it to `context` (for example `issuer:<id>`).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + plaintext.len() + 16);
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.current
            .aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut body,
            )
            .map_err(|_| SealError::Authentication)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens an envelope made by [`seal`](Self::seal) under any configured KEK.
    pub fn open(&self, context: &str, envelope: &[u8]) -> Result<Vec<u8>, SealError> {
        let header = 1 + KEY_ID_LEN + NONCE_LEN;
        if envelope.len() < header + 16 || envelope[0] != ENVELOPE_VERSION {
            return Err(SealError::Malformed);
        }
        let id = &envelope[1..1 + KEY_ID_LEN];
        let kek = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(hex::encode(id)))?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&envelope[1 + KEY_ID_LEN..header]);
        let mut body = envelope[header..].to_vec();
        let plain = kek
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut body,
            )
            .map_err(|_| SealError::Authentication)?;
        Ok(plain.to_vec())
    }
}

/// Associated data binding a sealed CA key to its issuer row.
pub fn issuer_key_context(issuer_id: crate::model::IssuerId) -> String {
    format!("issuer:{issuer_id}")
}

/// Associated data binding a sealed OCSP responder key to its signer row.
pub fn signer_key_context(signer_id: uuid::Uuid) -> String {
    format!("ocsp-signer:{signer_id}")
}

/// Prefix that makes certctl API keys recognisable to secret scanners.
pub const API_KEY_PREFIX: &str = "cctl_";

/// A fresh API key secret: the prefix and 32 random bytes, base64url.
pub fn generate_api_key() -> Result<String, SealError> {
    let mut raw = [0u8; 32];
    SystemRandom::new().fill(&mut raw).map_err(|_| SealError::Random)?;
    Ok(format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
}

/// SHA-256 of an API key secret: the only form in which it is stored.
pub fn hash_api_key(secret: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
    out
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Iterations of PBKDF2 in a SCRAM-SHA-256 verifier (PostgreSQL's default).
const SCRAM_ITERATIONS: u32 = 4096;

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, the form of
/// `pg_authid.rolpassword`), with a fresh random salt. `ALTER ROLE … PASSWORD '<verifier>'`
/// sets the password without the clear text ever reaching the server, its logs or
/// `pg_stat_activity`. Only printable ASCII passwords are accepted: PostgreSQL prepares other
/// characters with SASLprep, which this does not reproduce.
pub fn scram_sha256_verifier(password: &str) -> Result<String, String> {
    if password.is_empty() || !password.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err("the password must be printable ASCII (e.g. `openssl rand -hex 24`, which needs no escaping in a URL either)".to_owned());
    }
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "no randomness for the salt".to_owned())?;
    Ok(scram_sha256_verifier_with(password, &salt, SCRAM_ITERATIONS))
}

fn scram_sha256_verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    use ring::{hmac, pbkdf2};
    let mut salted = [0u8; 32];
    let rounds = std::num::NonZeroU32::new(iterations).expect("iterations > 0");
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        password.as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest(&SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key.as_ref()),
        STANDARD.encode(server_key.as_ref())
    )
}

#[cfg(test)]
mod tests {
    /// Against a verifier computed independently with Python's hashlib and hmac.
    #[test]
    fn scram_verifiers_match_an_independent_computation() {
        let salt: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            super::scram_sha256_verifier_with("pencil", &salt, 4096),
            "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$zHCdol2044/ZyWzPLi7oxApCkamKw9Z+E4U/QApd/5Y=:dd5peBOitVnLNFu7VmwP+HiDaaw4OUCv396eVCWhYiE="
        );
        let a = super::scram_sha256_verifier("s3cret'quoted").unwrap();
        let b = super::scram_sha256_verifier("s3cret'quoted").unwrap();
        assert_ne!(a, b, "a fresh salt each time");
        assert!(a.starts_with("SCRAM-SHA-256$4096:"));
        assert!(super::scram_sha256_verifier("naïve").is_err());
        assert!(super::scram_sha256_verifier("").is_err());
    }

    use super::*;

    fn keys(byte: u8) -> KeyEncryptionKeys {
        KeyEncryptionKeys::new(Kek::from_bytes([byte; 32]), vec![])
    }

    #[test]
    fn seal_round_trips_and_binds_context() {
        let k = keys(7);
        let env = k.seal("issuer:a", b"secret key").unwrap();
        assert_eq!(k.open("issuer:a", &env).unwrap(), b"secret key");
        assert_eq!(k.open("issuer:b", &env), Err(SealError::Authentication));
        let mut tampered = env.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(k.open("issuer:a", &tampered), Err(SealError::Authentication));
    }

    #[test]
    fn rotation_opens_old_ciphertexts_with_previous_keys() {
        let old = keys(1);
        let sealed = old.seal("c", b"x").unwrap();
        let rotated = KeyEncryptionKeys::new(Kek::from_bytes([2; 32]), vec![Kek::from_bytes([1; 32])]);
        assert_eq!(rotated.open("c", &sealed).unwrap(), b"x");
        let without = keys(2);
        assert!(matches!(without.open("c", &sealed), Err(SealError::UnknownKey(_))));
    }

    #[test]
    fn api_keys_hash_stably() {
        let k = generate_api_key().unwrap();
        assert!(k.starts_with(API_KEY_PREFIX));
        assert!(hashes_equal(&hash_api_key(&k), &hash_api_key(&k)));
        assert!(!hashes_equal(&hash_api_key(&k), &hash_api_key("other")));
    }
}

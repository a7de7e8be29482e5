//! JOSE for the ACME server (RFC 8555 §6.2): the flattened JWS serialization every ACME request
//! uses, the JWKs that identify accounts, External Account Binding (§7.3.4) and account key
//! rollover (§7.3.5).
//!
//! Only what ACME needs, and strictly: one signature, every header parameter in the protected
//! header, the algorithms RFC 8555 names plus EdDSA, no `crit` extensions, base64url without
//! padding. Each failure is a [`JoseError`] whose [`problem_type`](JoseError::problem_type) is the
//! ACME error the server answers with. No HTTP and no database here: the caller compares `url`
//! with the request URL, consumes the nonce and looks the `kid` account up.
//!
//! The cryptography is aws-lc-rs's: a JWK is turned into an aws-lc-rs public key as soon as it is
//! parsed, so a point off the curve or a short RSA modulus is refused before any signature is
//! looked at.

use std::fmt;

use ::der::Decode;
use ::der::asn1::UintRef;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, EcdsaVerificationAlgorithm, ParsedPublicKey, RsaPublicKeyComponents};
use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1};
use const_oid::db::rfc8410::ID_ED_25519;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use x509_cert::spki::SubjectPublicKeyInfoRef;

/// The largest request body accepted: far above any real ACME request (a finalize request with
/// an RSA 4096 CSR naming a hundred names is about 20 KiB), small enough that a hostile body
/// costs nothing to refuse.
pub const MAX_JWS_BYTES: usize = 128 * 1024;

/// The largest encoded protected header: it holds at most an RSA 8192 JWK (about 1.4 KB in
/// base64url), a URL, a nonce and an account URL.
const MAX_PROTECTED_B64: usize = 8 * 1024;

/// The largest encoded signature: an RSA 8192 signature is 1024 bytes, 1366 characters.
const MAX_SIGNATURE_B64: usize = 1400;

/// RSA modulus sizes accepted: RFC 8555 implementations expect 2048 at least, and aws-lc-rs's
/// PKCS#1 verifier stops at 8192.
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

/// The `alg` values accepted on ACME requests, for the `algorithms` member of the
/// `badSignatureAlgorithm` problem document (RFC 8555 §6.2).
pub const SUPPORTED_ALGORITHMS: [&str; 4] = ["ES256", "ES384", "RS256", "EdDSA"];

/// Why a JWS, a JWK or an External Account Binding was refused. Each variant is one ACME error
/// type (see [`JoseError::problem_type`]); the message is meant for the problem's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// Not a well-formed ACME JWS: bad JSON, bad base64url, missing or forbidden members.
    #[error("malformed JWS: {0}")]
    Malformed(String),
    /// The protected header has no `nonce` (RFC 8555 §6.5: `badNonce`). A nonce that is present
    /// but not base64url is [`JoseError::Malformed`] (§6.5.2).
    #[error("{0}")]
    BadNonce(String),
    /// `alg` is `none`, a MAC where a signature is required (or the reverse), unsupported, or
    /// does not fit the key.
    #[error("{0}")]
    BadSignatureAlgorithm(String),
    /// The JWK or SPKI is of an unsupported type or size, not a valid key, or carries private
    /// key material.
    #[error("unacceptable public key: {0}")]
    BadPublicKey(String),
    /// The signature does not verify with the key.
    #[error("the JWS signature does not verify")]
    BadSignature,
    /// The JWS verifies but binds the wrong thing: an External Account Binding over another key,
    /// a keyChange naming another account.
    #[error("{0}")]
    KeyMismatch(String),
    /// An External Account Binding with an unknown key identifier or a MAC that does not verify.
    #[error("{0}")]
    Unauthorized(String),
}

impl JoseError {
    /// The ACME error type (RFC 8555 §6.7) to answer this failure with. A signature that does
    /// not verify is `malformed`: RFC 8555 names no more specific type for it.
    pub fn problem_type(&self) -> &'static str {
        match self {
            JoseError::Malformed(_) | JoseError::BadSignature | JoseError::KeyMismatch(_) => {
                "urn:ietf:params:acme:error:malformed"
            }
            JoseError::BadNonce(_) => "urn:ietf:params:acme:error:badNonce",
            JoseError::BadSignatureAlgorithm(_) => "urn:ietf:params:acme:error:badSignatureAlgorithm",
            JoseError::BadPublicKey(_) => "urn:ietf:params:acme:error:badPublicKey",
            JoseError::Unauthorized(_) => "urn:ietf:params:acme:error:unauthorized",
        }
    }
}

fn malformed(detail: impl Into<String>) -> JoseError {
    JoseError::Malformed(detail.into())
}

fn bad_key(detail: impl Into<String>) -> JoseError {
    JoseError::BadPublicKey(detail.into())
}

/// Strict base64url: the URL-safe alphabet, no padding, no stray trailing bits, so each value has
/// exactly one encoding and the signed bytes are the bytes that were checked.
fn b64_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// At most the first 32 characters of a client-supplied value, for an error detail.
fn quoted(value: &str) -> String {
    let short: String = value.chars().take(32).collect();
    format!("{short:?}")
}

/// A JWS `alg` value this module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Es256,
    Es384,
    Rs256,
    EdDsa,
    /// HMAC algorithms: only for External Account Binding, never on an ACME request.
    Hs256,
    Hs384,
    Hs512,
}

impl Algorithm {
    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Rs256 => "RS256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Hs256 => "HS256",
            Algorithm::Hs384 => "HS384",
            Algorithm::Hs512 => "HS512",
        }
    }

    /// Case-sensitive, as JOSE names are (RFC 7515 §4.1.1).
    fn from_name(name: &str) -> Option<Algorithm> {
        [
            Algorithm::Es256,
            Algorithm::Es384,
            Algorithm::Rs256,
            Algorithm::EdDsa,
            Algorithm::Hs256,
            Algorithm::Hs384,
            Algorithm::Hs512,
        ]
        .into_iter()
        .find(|alg| alg.name() == name)
    }

    fn hmac(self) -> Option<hmac::Algorithm> {
        match self {
            Algorithm::Hs256 => Some(hmac::HMAC_SHA256),
            Algorithm::Hs384 => Some(hmac::HMAC_SHA384),
            Algorithm::Hs512 => Some(hmac::HMAC_SHA512),
            _ => None,
        }
    }
}

/// The `alg` of a JWS signed with an account key: present, and a signature algorithm.
fn signature_algorithm(alg: Option<&str>) -> Result<Algorithm, JoseError> {
    let name = alg.ok_or_else(|| malformed("the protected header has no alg"))?;
    match Algorithm::from_name(name) {
        Some(alg) if alg.hmac().is_none() => Ok(alg),
        _ => Err(JoseError::BadSignatureAlgorithm(format!(
            "JWS algorithm {} is not supported; use one of {}",
            quoted(name),
            SUPPORTED_ALGORITHMS.join(", ")
        ))),
    }
}

/// The `alg` of an External Account Binding: a MAC (RFC 8555 §7.3.4).
fn mac_algorithm(alg: Option<&str>) -> Result<Algorithm, JoseError> {
    let name = alg.ok_or_else(|| malformed("the externalAccountBinding header has no alg"))?;
    match Algorithm::from_name(name) {
        Some(alg) if alg.hmac().is_some() => Ok(alg),
        _ => Err(JoseError::BadSignatureAlgorithm(format!(
            "the externalAccountBinding algorithm {} is not supported; use HS256, HS384 or HS512",
            quoted(name)
        ))),
    }
}

/// The NIST curves ACME clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EcCurve {
    P256,
    P384,
}

impl EcCurve {
    fn from_crv(crv: &str) -> Option<EcCurve> {
        match crv {
            "P-256" => Some(EcCurve::P256),
            "P-384" => Some(EcCurve::P384),
            _ => None,
        }
    }

    fn from_oid(oid: ObjectIdentifier) -> Option<EcCurve> {
        match oid {
            SECP_256_R_1 => Some(EcCurve::P256),
            SECP_384_R_1 => Some(EcCurve::P384),
            _ => None,
        }
    }

    fn crv(self) -> &'static str {
        match self {
            EcCurve::P256 => "P-256",
            EcCurve::P384 => "P-384",
        }
    }

    /// RFC 7518 §6.2.1.2: coordinates are always the full field size, leading zeros included.
    fn coordinate_len(self) -> usize {
        match self {
            EcCurve::P256 => 32,
            EcCurve::P384 => 48,
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            EcCurve::P256 => Algorithm::Es256,
            EcCurve::P384 => Algorithm::Es384,
        }
    }

    /// JOSE ECDSA signatures are the fixed-width r || s (RFC 7518 §3.4), not DER.
    fn verification(self) -> &'static EcdsaVerificationAlgorithm {
        match self {
            EcCurve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            EcCurve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
        }
    }
}

/// The public key material of a JWK, nothing else: two JWKs are the same key when these are
/// equal, whatever optional members (`kid`, `use`, `alg`) or member order they came with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyParams {
    Ec { curve: EcCurve, x: Vec<u8>, y: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

/// The JWK members this module reads. Deserialized with serde's derive, so a repeated member is
/// an error rather than last-one-wins. `d` is only looked for to refuse private keys.
#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Option<IgnoredAny>,
}

/// A validated public key from a JWK or a SubjectPublicKeyInfo: EC P-256 or P-384, RSA of 2048
/// to 8192 bits, or Ed25519. Equality compares the key material only.
#[derive(Clone)]
pub struct Jwk {
    params: KeyParams,
    parsed: ParsedPublicKey,
    spki: Vec<u8>,
}

impl PartialEq for Jwk {
    fn eq(&self, other: &Self) -> bool {
        self.params == other.params
    }
}

impl Eq for Jwk {}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Jwk").field(&self.canonical_json()).finish()
    }
}

impl Jwk {
    /// Parses a public JWK (RFC 7517, RFC 7518 §6, RFC 8037 for Ed25519). Optional members are
    /// ignored; anything that makes it unusable is [`JoseError::BadPublicKey`].
    pub fn from_json(value: &serde_json::Value) -> Result<Jwk, JoseError> {
        let raw = RawJwk::deserialize(value).map_err(|e| bad_key(format!("not a JWK: {e}")))?;
        Jwk::from_raw(raw)
    }

    fn from_raw(raw: RawJwk) -> Result<Jwk, JoseError> {
        if raw.d.is_some() {
            return Err(bad_key("the JWK contains a private key"));
        }
        let params = match raw.kty.as_deref() {
            Some("EC") => {
                let crv = raw.crv.as_deref().unwrap_or_default();
                let curve = EcCurve::from_crv(crv)
                    .ok_or_else(|| bad_key(format!("curve {} is not supported (P-256, P-384)", quoted(crv))))?;
                let (x, y) = (member(&raw.x, "x")?, member(&raw.y, "y")?);
                KeyParams::Ec { curve, x, y }
            }
            Some("RSA") => KeyParams::Rsa {
                n: member(&raw.n, "n")?,
                e: member(&raw.e, "e")?,
            },
            Some("OKP") if raw.crv.as_deref() == Some("Ed25519") => KeyParams::Ed25519 {
                x: member(&raw.x, "x")?,
            },
            Some("OKP") => return Err(bad_key("the only OKP curve supported is Ed25519")),
            Some(kty) => return Err(bad_key(format!("key type {} is not supported", quoted(kty)))),
            None => return Err(bad_key("the JWK has no kty")),
        };
        Jwk::new(params)
    }

    /// Reads a DER SubjectPublicKeyInfo (an account key as stored, or a certificate's key).
    pub fn from_spki_der(der: &[u8]) -> Result<Jwk, JoseError> {
        let not_spki = || bad_key("not a DER SubjectPublicKeyInfo");
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|_| not_spki())?;
        let key = spki.subject_public_key.as_bytes().ok_or_else(not_spki)?;
        let parameters = spki.algorithm.parameters;
        let params = match spki.algorithm.oid {
            ID_EC_PUBLIC_KEY => {
                let curve = parameters
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                    .and_then(EcCurve::from_oid)
                    .ok_or_else(|| bad_key("unsupported elliptic curve (P-256, P-384)"))?;
                ec_params_from_point(curve, key)?
            }
            RSA_ENCRYPTION if parameters.is_none_or(|p| p.is_null()) => {
                let rsa = RsaPublicKey::from_der(key).map_err(|_| bad_key("malformed RSA public key"))?;
                KeyParams::Rsa {
                    n: rsa.modulus.as_bytes().to_vec(),
                    e: rsa.public_exponent.as_bytes().to_vec(),
                }
            }
            ID_ED_25519 if parameters.is_none() => KeyParams::Ed25519 { x: key.to_vec() },
            _ => return Err(bad_key("unsupported key algorithm")),
        };
        Jwk::new(params)
    }

    /// Checks the key material and hands it to aws-lc-rs, which refuses points off the curve.
    fn new(params: KeyParams) -> Result<Jwk, JoseError> {
        let parsed = match &params {
            KeyParams::Ec { curve, x, y } => {
                let len = curve.coordinate_len();
                if x.len() != len || y.len() != len {
                    return Err(bad_key(format!("{} coordinates must be {len} bytes", curve.crv())));
                }
                let point = [&[0x04][..], x, y].concat();
                ParsedPublicKey::new(curve.verification(), point)
            }
            KeyParams::Rsa { n, e } => {
                check_rsa_components(n, e)?;
                RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
            }
            KeyParams::Ed25519 { x } => {
                if x.len() != 32 {
                    return Err(bad_key("an Ed25519 key is 32 bytes"));
                }
                ParsedPublicKey::new(&signature::ED25519, x)
            }
        }
        .map_err(|_| bad_key("not a valid public key"))?;
        let spki = parsed
            .as_der()
            .map_err(|_| bad_key("the key cannot be encoded"))?
            .as_ref()
            .to_vec();
        Ok(Jwk { params, parsed, spki })
    }

    /// The JWS algorithm this key signs with: ES256, ES384, RS256 or EdDSA. Each key type has
    /// exactly one, so an `alg` naming another is a mismatch, never a choice.
    pub fn algorithm(&self) -> Algorithm {
        match &self.params {
            KeyParams::Ec { curve, .. } => curve.algorithm(),
            KeyParams::Rsa { .. } => Algorithm::Rs256,
            KeyParams::Ed25519 { .. } => Algorithm::EdDsa,
        }
    }

    /// The key as a DER SubjectPublicKeyInfo, as aws-lc-rs encodes it: the same key always gives
    /// the same bytes, so stored account keys can be compared and looked up by value.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: the account part of a key authorization
    /// (RFC 8555 §8.1).
    pub fn thumbprint(&self) -> String {
        b64_encode(digest::digest(&digest::SHA256, self.canonical_json().as_bytes()).as_ref())
    }

    /// The public JWK with exactly the required members.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.params {
            KeyParams::Ec { curve, x, y } => {
                serde_json::json!({"crv": curve.crv(), "kty": "EC", "x": b64_encode(x), "y": b64_encode(y)})
            }
            KeyParams::Rsa { n, e } => serde_json::json!({"e": b64_encode(e), "kty": "RSA", "n": b64_encode(n)}),
            KeyParams::Ed25519 { x } => serde_json::json!({"crv": "Ed25519", "kty": "OKP", "x": b64_encode(x)}),
        }
    }

    /// RFC 7638 §3.2: the required members in lexicographic order, no whitespace. Every value is
    /// base64url or a fixed name, so nothing needs escaping.
    fn canonical_json(&self) -> String {
        match &self.params {
            KeyParams::Ec { curve, x, y } => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                curve.crv(),
                b64_encode(x),
                b64_encode(y)
            ),
            KeyParams::Rsa { n, e } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64_encode(e), b64_encode(n)),
            KeyParams::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64_encode(x)),
        }
    }

    fn kind(&self) -> &'static str {
        match &self.params {
            KeyParams::Ec { curve, .. } => curve.crv(),
            KeyParams::Rsa { .. } => "RSA",
            KeyParams::Ed25519 { .. } => "Ed25519",
        }
    }

    /// Refuses an `alg` that is not this key's.
    fn check_algorithm(&self, alg: Algorithm) -> Result<(), JoseError> {
        if alg == self.algorithm() {
            return Ok(());
        }
        Err(JoseError::BadSignatureAlgorithm(format!(
            "algorithm {} does not match the {} key (it signs with {})",
            alg.name(),
            self.kind(),
            self.algorithm().name()
        )))
    }

    /// Verifies a signature made with `alg` over `message`.
    fn verify_signature(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), JoseError> {
        self.check_algorithm(alg)?;
        let fixed_len = match &self.params {
            KeyParams::Ec { curve, .. } => Some(2 * curve.coordinate_len()),
            KeyParams::Ed25519 { .. } => Some(64),
            KeyParams::Rsa { .. } => None,
        };
        if fixed_len.is_some_and(|len| len != signature.len()) {
            return Err(JoseError::BadSignature);
        }
        self.parsed
            .verify_sig(message, signature)
            .map_err(|_| JoseError::BadSignature)
    }
}

/// A base64url JWK member.
fn member(value: &Option<String>, name: &str) -> Result<Vec<u8>, JoseError> {
    let text = value
        .as_deref()
        .ok_or_else(|| bad_key(format!("the JWK has no {name}")))?;
    b64_decode(text).ok_or_else(|| bad_key(format!("JWK member {name} is not base64url")))
}

/// An uncompressed SEC 1 point of the curve's exact size.
fn ec_params_from_point(curve: EcCurve, point: &[u8]) -> Result<KeyParams, JoseError> {
    let len = curve.coordinate_len();
    match point.split_first() {
        Some((0x04, xy)) if xy.len() == 2 * len => {
            let (x, y) = xy.split_at(len);
            Ok(KeyParams::Ec {
                curve,
                x: x.to_vec(),
                y: y.to_vec(),
            })
        }
        _ => Err(bad_key("the EC point is not an uncompressed point of its curve")),
    }
}

/// RFC 7518 §6.3.1: minimal big-endian integers; a modulus of 2048 to 8192 bits; an odd public
/// exponent of at least 3 that fits 32 bits, as aws-lc-rs and every real key has.
fn check_rsa_components(n: &[u8], e: &[u8]) -> Result<(), JoseError> {
    let (Some(&n_first), Some(&e_first), Some(&n_last), Some(&e_last)) = (n.first(), e.first(), n.last(), e.last())
    else {
        return Err(bad_key("empty RSA modulus or exponent"));
    };
    if n_first == 0 || e_first == 0 {
        return Err(bad_key("RSA integers must not have leading zero octets"));
    }
    let bits = n.len() * 8 - n_first.leading_zeros() as usize;
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(bad_key(format!(
            "a {bits}-bit RSA key (between {MIN_RSA_BITS} and {MAX_RSA_BITS} bits are accepted)"
        )));
    }
    if n_last & 1 == 0 || e_last & 1 == 0 || e.len() > 4 || e == [1] {
        return Err(bad_key("not a valid RSA public key"));
    }
    Ok(())
}

/// PKCS#1 RSAPublicKey, the subjectPublicKey of an rsaEncryption SPKI.
#[derive(::der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// The top level of a flattened JWS. `header` and `signatures` are read only to be refused;
/// other unknown members are ignored, as RFC 7515 §7.2.1 requires.
#[derive(Deserialize)]
struct RawJws {
    protected: Option<String>,
    payload: Option<String>,
    signature: Option<String>,
    header: Option<IgnoredAny>,
    signatures: Option<IgnoredAny>,
}

/// The protected header parameters ACME uses; others are ignored (RFC 7515 §4), `crit` is read
/// only to be refused since no extension is supported.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    nonce: Option<String>,
    url: Option<String>,
    jwk: Option<RawJwk>,
    kid: Option<String>,
    crit: Option<IgnoredAny>,
}

/// A flattened JWS taken apart and decoded, its header not yet checked.
struct Parts {
    header: RawHeader,
    signing_input: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl Parts {
    fn decode(raw: RawJws) -> Result<Parts, JoseError> {
        if raw.header.is_some() {
            return Err(malformed(
                "the JWS has an unprotected header; RFC 8555 allows only a protected one",
            ));
        }
        if raw.signatures.is_some() {
            return Err(malformed(
                "the general JWS serialization is not accepted; use the flattened one",
            ));
        }
        let protected = raw
            .protected
            .filter(|p| !p.is_empty())
            .ok_or_else(|| malformed("no protected header"))?;
        let payload_b64 = raw.payload.ok_or_else(|| malformed("no payload"))?;
        let signature_b64 = raw.signature.ok_or_else(|| malformed("no signature"))?;
        if protected.len() > MAX_PROTECTED_B64 || signature_b64.len() > MAX_SIGNATURE_B64 {
            return Err(malformed("the protected header or signature is too long"));
        }
        let header_json = b64_decode(&protected).ok_or_else(|| malformed("the protected header is not base64url"))?;
        let header: RawHeader = serde_json::from_slice(&header_json)
            .map_err(|e| malformed(format!("the protected header is not a valid JSON object: {e}")))?;
        let payload = b64_decode(&payload_b64).ok_or_else(|| malformed("the payload is not base64url"))?;
        let signature = b64_decode(&signature_b64).ok_or_else(|| malformed("the signature is not base64url"))?;
        let signing_input = [protected.as_bytes(), b".", payload_b64.as_bytes()].concat();
        Ok(Parts {
            header,
            signing_input,
            payload,
            signature,
        })
    }

    fn from_slice(json: &[u8]) -> Result<Parts, JoseError> {
        let raw: RawJws =
            serde_json::from_slice(json).map_err(|e| malformed(format!("not a flattened JWS JSON object: {e}")))?;
        Parts::decode(raw)
    }
}

/// Refuses `crit`: RFC 7515 §4.1.11 requires rejecting extensions not understood, and none is.
fn refuse_crit(header: &RawHeader) -> Result<(), JoseError> {
    match header.crit {
        Some(_) => Err(malformed("crit: no JWS extension is supported")),
        None => Ok(()),
    }
}

fn required_url(url: Option<String>) -> Result<String, JoseError> {
    url.filter(|u| !u.is_empty())
        .ok_or_else(|| malformed("the protected header has no url"))
}

/// Nested JWSs (EAB, keyChange) carry no nonce: RFC 8555 §7.3.4 and §7.3.5 forbid it.
fn refuse_nonce(header: &RawHeader, what: &str) -> Result<(), JoseError> {
    match header.nonce {
        Some(_) => Err(malformed(format!("the {what} JWS must not have a nonce"))),
        None => Ok(()),
    }
}

/// RFC 8555 §6.5.1: a nonce is a non-empty base64url string.
fn is_base64url_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// How an ACME request names its signing key (RFC 8555 §6.2): exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// The key itself: newAccount and revokeCert signed with the certificate key.
    Jwk(Jwk),
    /// The account URL: every other request.
    Kid(String),
}

/// The checked protected header of an ACME request.
#[derive(Debug, Clone)]
pub struct ProtectedHeader {
    pub alg: Algorithm,
    /// Base64url, checked for form only: the caller checks it was issued and not yet used.
    pub nonce: String,
    /// The caller checks it is the URL the request was sent to (RFC 8555 §6.4).
    pub url: String,
    pub key: KeyRef,
}

impl ProtectedHeader {
    /// The embedded key, for newAccount and revokeCert.
    pub fn jwk(&self) -> Option<&Jwk> {
        match &self.key {
            KeyRef::Jwk(jwk) => Some(jwk),
            KeyRef::Kid(_) => None,
        }
    }

    /// The account URL, for every other request.
    pub fn kid(&self) -> Option<&str> {
        match &self.key {
            KeyRef::Kid(kid) => Some(kid),
            KeyRef::Jwk(_) => None,
        }
    }

    /// RFC 8555 §6.2: `alg`, `nonce`, `url`, exactly one of `jwk` / `kid`; an embedded key must
    /// be one the `alg` signs with.
    fn from_raw(raw: RawHeader) -> Result<ProtectedHeader, JoseError> {
        refuse_crit(&raw)?;
        let alg = signature_algorithm(raw.alg.as_deref())?;
        let nonce = match raw.nonce {
            None => return Err(JoseError::BadNonce("the JWS has no anti-replay nonce".into())),
            Some(nonce) if !is_base64url_token(&nonce) => return Err(malformed("the nonce is not base64url")),
            Some(nonce) => nonce,
        };
        let url = required_url(raw.url)?;
        let key = match (raw.jwk, raw.kid) {
            (Some(raw_jwk), None) => {
                let jwk = Jwk::from_raw(raw_jwk)?;
                jwk.check_algorithm(alg)?;
                KeyRef::Jwk(jwk)
            }
            (None, Some(kid)) if !kid.is_empty() => KeyRef::Kid(kid),
            (None, Some(_)) => return Err(malformed("the kid is empty")),
            (Some(_), Some(_)) => return Err(malformed("the protected header has both jwk and kid")),
            (None, None) => return Err(malformed("the protected header has neither jwk nor kid")),
        };
        Ok(ProtectedHeader { alg, nonce, url, key })
    }
}

/// A parsed ACME request JWS whose header has been checked; [`Jws::verify`] checks the signature.
#[derive(Debug, Clone)]
pub struct Jws {
    header: ProtectedHeader,
    signing_input: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// Parses an ACME request body: a flattened JSON JWS (RFC 7515 §7.2.2) whose protected header
/// follows RFC 8555 §6.2. The signature is not checked here: the key may have to be looked up
/// first (see [`Jws::verify`] and [`Jws::verify_embedded`]).
pub fn parse_flattened(body: &[u8]) -> Result<Jws, JoseError> {
    if body.len() > MAX_JWS_BYTES {
        return Err(malformed(format!("the request body is over {MAX_JWS_BYTES} bytes")));
    }
    let parts = Parts::from_slice(body)?;
    let header = ProtectedHeader::from_raw(parts.header)?;
    Ok(Jws {
        header,
        signing_input: parts.signing_input,
        payload: parts.payload,
        signature: parts.signature,
    })
}

impl Jws {
    pub fn header(&self) -> &ProtectedHeader {
        &self.header
    }

    /// The decoded payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// An empty payload: a POST-as-GET request (RFC 8555 §6.3).
    pub fn is_post_as_get(&self) -> bool {
        self.payload.is_empty()
    }

    /// The payload as JSON of type `T`; a payload that does not parse is malformed.
    pub fn payload_json<T: DeserializeOwned>(&self) -> Result<T, JoseError> {
        serde_json::from_slice(&self.payload).map_err(|e| malformed(format!("the payload is not valid JSON: {e}")))
    }

    /// Verifies the signature over `protected || '.' || payload` with `key` (the account's
    /// stored key for a `kid` request). An `alg` the key does not sign with is
    /// [`JoseError::BadSignatureAlgorithm`].
    pub fn verify(&self, key: &Jwk) -> Result<(), JoseError> {
        key.verify_signature(self.header.alg, &self.signing_input, &self.signature)
    }

    /// Verifies a `jwk` request with its own key and returns that key; a `kid` request is
    /// malformed here (newAccount and revokeCert-by-certificate-key need the key itself).
    pub fn verify_embedded(&self) -> Result<&Jwk, JoseError> {
        let jwk = self
            .header
            .jwk()
            .ok_or_else(|| malformed("this request must be signed with a jwk, not a kid"))?;
        self.verify(jwk)?;
        Ok(jwk)
    }
}

/// Verifies a newAccount request's `externalAccountBinding` (RFC 8555 §7.3.4) and returns its
/// key identifier. The binding is a flattened JWS MACed with HS256, HS384 or HS512 under the
/// key `lookup(kid)` returns, with `kid`, `url` equal to `expected_url` (the newAccount URL) and
/// no `nonce`, over the account key `outer_jwk` (compared as a key, not as text).
pub fn verify_eab(
    outer_jwk: &Jwk,
    eab: &serde_json::Value,
    expected_url: &str,
    lookup: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<String, JoseError> {
    let raw = RawJws::deserialize(eab)
        .map_err(|e| malformed(format!("the externalAccountBinding is not a flattened JWS: {e}")))?;
    let parts = Parts::decode(raw)?;
    let (alg, kid) = eab_header(parts.header, expected_url)?;
    let hmac_alg = alg
        .hmac()
        .ok_or_else(|| JoseError::BadSignatureAlgorithm(alg.name().into()))?;
    let key = lookup(&kid)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| JoseError::Unauthorized(format!("unknown external account key {}", quoted(&kid))))?;
    hmac::verify(&hmac::Key::new(hmac_alg, &key), &parts.signing_input, &parts.signature)
        .map_err(|_| JoseError::Unauthorized("the externalAccountBinding MAC does not verify".into()))?;
    let bound = serde_json::from_slice::<RawJwk>(&parts.payload)
        .ok()
        .and_then(|raw| Jwk::from_raw(raw).ok());
    if bound.as_ref() != Some(outer_jwk) {
        return Err(JoseError::KeyMismatch(
            "the externalAccountBinding payload is not the account key".into(),
        ));
    }
    Ok(kid)
}

/// The EAB protected header: a MAC `alg`, a `kid`, the newAccount `url`, and no `jwk`, `nonce`
/// or `crit`.
fn eab_header(raw: RawHeader, expected_url: &str) -> Result<(Algorithm, String), JoseError> {
    refuse_crit(&raw)?;
    let alg = mac_algorithm(raw.alg.as_deref())?;
    refuse_nonce(&raw, "externalAccountBinding")?;
    if raw.jwk.is_some() {
        return Err(malformed("the externalAccountBinding must use kid, not jwk"));
    }
    let kid = raw
        .kid
        .filter(|k| !k.is_empty())
        .ok_or_else(|| malformed("the externalAccountBinding has no kid"))?;
    if required_url(raw.url)? != expected_url {
        return Err(malformed("the externalAccountBinding url is not the newAccount URL"));
    }
    Ok((alg, kid))
}

/// A verified keyChange request's inner JWS (RFC 8555 §7.3.5).
#[derive(Debug, Clone)]
pub struct KeyChange {
    /// The key the account moves to; it signed the inner JWS.
    pub new_key: Jwk,
    /// The account URL from the payload, already checked to be the outer `kid`.
    pub account: String,
    /// The key the client says the account has now: the caller checks it is the stored key.
    pub old_key: Jwk,
}

#[derive(Deserialize)]
struct RawKeyChange {
    account: Option<String>,
    #[serde(rename = "oldKey")]
    old_key: Option<RawJwk>,
}

/// Verifies the inner JWS of a keyChange request, the payload of `outer` (RFC 8555 §7.3.5): a
/// flattened JWS signed by the `jwk` it carries (the new key), with `url` equal to the outer
/// `url`, no `nonce`, and payload `{account, oldKey}` where `account` is the outer `kid`.
///
/// The caller has already verified `outer` with the account's stored key, and still checks that
/// `old_key` is that key and that `new_key` is not used by any account.
pub fn verify_key_change(outer: &Jws) -> Result<KeyChange, JoseError> {
    let outer_kid = outer
        .header()
        .kid()
        .ok_or_else(|| malformed("a keyChange request must be signed with kid"))?;
    let inner = Parts::from_slice(outer.payload())?;
    refuse_crit(&inner.header)?;
    refuse_nonce(&inner.header, "inner keyChange")?;
    let alg = signature_algorithm(inner.header.alg.as_deref())?;
    if inner.header.kid.is_some() {
        return Err(malformed("the inner keyChange JWS must use jwk, not kid"));
    }
    let new_key = Jwk::from_raw(
        inner
            .header
            .jwk
            .ok_or_else(|| malformed("the inner keyChange JWS has no jwk"))?,
    )?;
    if required_url(inner.header.url)? != outer.header().url {
        return Err(malformed("the inner keyChange url is not the outer url"));
    }
    new_key.verify_signature(alg, &inner.signing_input, &inner.signature)?;
    let payload: RawKeyChange = serde_json::from_slice(&inner.payload)
        .map_err(|e| malformed(format!("the keyChange payload is not a JSON object: {e}")))?;
    let account = payload
        .account
        .ok_or_else(|| malformed("the keyChange payload has no account"))?;
    let old_key = payload
        .old_key
        .ok_or_else(|| malformed("the keyChange payload has no oldKey"))?;
    let old_key = Jwk::from_raw(old_key).map_err(|e| malformed(format!("the keyChange oldKey: {e}")))?;
    if account != outer_kid {
        return Err(JoseError::KeyMismatch(
            "the keyChange account is not the account that signed the request".into(),
        ));
    }
    Ok(KeyChange {
        new_key,
        account,
        old_key,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;

    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
    use serde_json::{Value, json};

    use super::*;

    /// The peer: josepy signing as certbot does. See `peer()`.
    const PEER_SCRIPT: &str = r#"
# Signs ACME requests the way certbot does: josepy's JWS with the protected header fields that
# certbot's acme package adds (acme/jws.py). josepy has no Ed25519, so EdDSA requests are built
# by hand and signed with the `cryptography` package josepy uses.
import hashlib
import json
import os
from typing import Optional

import josepy as jose
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

NEW_ACCOUNT = "https://acme.test/acme/default/new-account"
NEW_ORDER = "https://acme.test/acme/default/new-order"
KEY_CHANGE = "https://acme.test/acme/default/key-change"
ACCOUNT = "https://acme.test/acme/default/account/0190d2a4"
ORDER = "https://acme.test/acme/default/order/17"
EAB_KID = "eab-kid-1"


class Header(jose.Header):
    nonce: Optional[bytes] = jose.field("nonce", omitempty=True, encoder=jose.encode_b64jose)
    kid: Optional[str] = jose.field("kid", omitempty=True)
    url: Optional[str] = jose.field("url", omitempty=True)


class Signature(jose.Signature):
    __slots__ = jose.Signature._orig_slots
    header_cls = Header
    header: Header = jose.field("header", omitempty=True, default=header_cls(), decoder=header_cls.from_json)


class JWS(jose.JWS):
    signature_cls = Signature
    __slots__ = jose.JWS._orig_slots

    @classmethod
    def sign(cls, payload, key, alg, nonce, url=None, kid=None):
        return super().sign(payload, key=key, alg=alg,
                            protect=frozenset(["nonce", "url", "kid", "jwk", "alg"]),
                            nonce=nonce, url=url, kid=kid, include_jwk=kid is None)


def b64(data):
    return jose.b64.b64encode(data).decode("ascii")


def spki(public_key):
    return b64(public_key.public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo))


def request(key, alg, payload, url, kid=None, indent=None):
    return JWS.sign(payload, key, alg, os.urandom(16), url=url, kid=kid).json_dumps(indent=indent)


NEW_ACCOUNT_PAYLOAD = json.dumps({"termsOfServiceAgreed": True, "contact": ["mailto:ops@example.com"]}).encode()
NEW_ORDER_PAYLOAD = json.dumps({"identifiers": [{"type": "dns", "value": "example.com"}]}).encode()


def josepy_case(name, key, alg):
    return {
        "name": name,
        "alg": alg.name,
        "jwk": key.public_key().to_partial_json(),
        "thumbprint": b64(key.thumbprint()),
        "spki": spki(key.key.public_key()),
        "new_account": request(key, alg, NEW_ACCOUNT_PAYLOAD, NEW_ACCOUNT),
        "kid_request": request(key, alg, NEW_ORDER_PAYLOAD, NEW_ORDER, kid=ACCOUNT, indent=2),
        "post_as_get": request(key, alg, b"", ORDER, kid=ACCOUNT),
    }


def ed25519_request(private, payload, url, kid=None):
    header = {"alg": "EdDSA", "nonce": b64(os.urandom(16)), "url": url}
    if kid is None:
        header["jwk"] = ed25519_jwk(private)
    else:
        header["kid"] = kid
    protected = b64(json.dumps(header).encode())
    encoded = b64(payload)
    signature = private.sign(f"{protected}.{encoded}".encode())
    return json.dumps({"protected": protected, "payload": encoded, "signature": b64(signature)})


def ed25519_jwk(private):
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}


def ed25519_case():
    private = ed25519.Ed25519PrivateKey.generate()
    jwk = ed25519_jwk(private)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, sort_keys=True, separators=(",", ":"))
    return {
        "name": "EdDSA",
        "alg": "EdDSA",
        "jwk": jwk,
        "thumbprint": b64(hashlib.sha256(canonical.encode()).digest()),
        "spki": spki(private.public_key()),
        "new_account": ed25519_request(private, NEW_ACCOUNT_PAYLOAD, NEW_ACCOUNT),
        "kid_request": ed25519_request(private, NEW_ORDER_PAYLOAD, NEW_ORDER, kid=ACCOUNT),
        "post_as_get": ed25519_request(private, b"", ORDER, kid=ACCOUNT),
    }


def p256_with_leading_zero():
    """A P-256 key whose x or y starts with a zero byte: JWK coordinates keep it (RFC 7518)."""
    while True:
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        if numbers.x < 1 << 248 or numbers.y < 1 << 248:
            return key


def eab_case(account, alg, hmac_key):
    # As acme.messages.ExternalAccountBinding.from_data builds it.
    key_json = json.dumps(account.public_key().to_partial_json()).encode()
    eab = JWS.sign(key_json, jose.JWKOct(key=hmac_key), alg, None, NEW_ACCOUNT, EAB_KID).to_partial_json()
    payload = json.dumps({"termsOfServiceAgreed": True, "externalAccountBinding": eab}).encode()
    return {"alg": alg.name, "new_account": request(account, jose.ES256, payload, NEW_ACCOUNT)}


def key_change_case():
    old = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    new = jose.JWKRSA(key=rsa.generate_private_key(65537, 2048))
    inner_payload = json.dumps({"account": ACCOUNT, "oldKey": old.public_key().to_partial_json()}).encode()
    inner = JWS.sign(inner_payload, new, jose.RS256, None, url=KEY_CHANGE).json_dumps()
    return {
        "old_spki": spki(old.key.public_key()),
        "new_thumbprint": b64(new.thumbprint()),
        "request": request(old, jose.ES256, inner.encode(), KEY_CHANGE, kid=ACCOUNT),
    }


def main():
    cases = [
        josepy_case("ES256", jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1())), jose.ES256),
        josepy_case("ES384", jose.JWKEC(key=ec.generate_private_key(ec.SECP384R1())), jose.ES384),
        josepy_case("RS256", jose.JWKRSA(key=rsa.generate_private_key(65537, 2048)), jose.RS256),
        josepy_case("ES256 leading zero", jose.JWKEC(key=p256_with_leading_zero()), jose.ES256),
        ed25519_case(),
    ]
    rsa1024 = jose.JWKRSA(key=rsa.generate_private_key(65537, 1024))
    p521 = jose.JWKEC(key=ec.generate_private_key(ec.SECP521R1()))
    account = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    hmac_key = os.urandom(32)
    print(json.dumps({
        "urls": {"new_account": NEW_ACCOUNT, "new_order": NEW_ORDER, "key_change": KEY_CHANGE,
                 "account": ACCOUNT, "order": ORDER},
        "cases": cases,
        "rsa1024": request(rsa1024, jose.RS256, NEW_ACCOUNT_PAYLOAD, NEW_ACCOUNT),
        "p521": request(p521, jose.ES512, NEW_ACCOUNT_PAYLOAD, NEW_ACCOUNT),
        "eab": {
            "kid": EAB_KID,
            "hmac_key": b64(hmac_key),
            "cases": [eab_case(account, alg, hmac_key) for alg in (jose.HS256, jose.HS384, jose.HS512)],
        },
        "key_change": key_change_case(),
    }))


main()
"#;

    /// Runs the josepy peer once per test binary and returns what it printed.
    fn peer() -> &'static Value {
        static OUTPUT: OnceLock<Value> = OnceLock::new();
        OUTPUT.get_or_init(|| {
            let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python3");
            assert!(
                python.exists(),
                "{} is missing: these tests need the project virtualenv with josepy, which scripts/test.sh \
                 creates and installs",
                python.display()
            );
            let out = Command::new(&python).arg("-c").arg(PEER_SCRIPT).output().unwrap();
            assert!(
                out.status.success(),
                "the josepy peer failed (scripts/test.sh installs josepy into .venv): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        })
    }

    fn cases() -> &'static [Value] {
        peer()["cases"].as_array().unwrap()
    }

    fn url(name: &str) -> &'static str {
        peer()["urls"][name].as_str().unwrap()
    }

    fn text(value: &Value) -> &str {
        value.as_str().unwrap()
    }

    fn b64(bytes: impl AsRef<[u8]>) -> String {
        b64_encode(bytes.as_ref())
    }

    fn unb64(value: &str) -> Vec<u8> {
        b64_decode(value).unwrap()
    }

    fn parse(body: &str) -> Result<Jws, JoseError> {
        parse_flattened(body.as_bytes())
    }

    /// The decoded protected header of a body.
    fn protected_of(body: &str) -> Value {
        let body: Value = serde_json::from_str(body).unwrap();
        serde_json::from_slice(&unb64(text(&body["protected"]))).unwrap()
    }

    /// The body with one top-level member set, the rest (signature included) unchanged.
    fn with_member(body: &str, name: &str, value: Value) -> String {
        let mut body: Value = serde_json::from_str(body).unwrap();
        body[name] = value;
        body.to_string()
    }

    /// The body with another protected header and the old signature.
    fn with_protected(body: &str, header: &Value) -> String {
        with_member(body, "protected", json!(b64(header.to_string())))
    }

    /// A body with any header and signature, for checks made before the signature.
    fn unsigned(header: &Value, payload: &[u8]) -> String {
        json!({"protected": b64(header.to_string()), "payload": b64(payload), "signature": b64([7u8; 64])}).to_string()
    }

    /// A P-256 account key held by the test, to sign what josepy would never produce.
    struct TestKey(EcdsaKeyPair);

    impl TestKey {
        fn new() -> TestKey {
            TestKey(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
        }

        fn jwk_json(&self) -> Value {
            let point = self.0.public_key().as_ref();
            json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
        }

        fn jwk(&self) -> Jwk {
            Jwk::from_json(&self.jwk_json()).unwrap()
        }

        fn sign(&self, header: &Value, payload: &[u8]) -> String {
            let (protected, payload) = (b64(header.to_string()), b64(payload));
            let input = format!("{protected}.{payload}");
            let signature = self.0.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
            json!({"protected": protected, "payload": payload, "signature": b64(signature.as_ref())}).to_string()
        }
    }

    fn mac(alg: hmac::Algorithm, key: &[u8], header: &Value, payload: &[u8]) -> Value {
        let (protected, payload) = (b64(header.to_string()), b64(payload));
        let tag = hmac::sign(&hmac::Key::new(alg, key), format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload, "signature": b64(tag.as_ref())})
    }

    fn is_malformed(result: Result<impl fmt::Debug, JoseError>) -> bool {
        matches!(result, Err(JoseError::Malformed(_)))
    }

    #[test]
    fn jose_josepy_requests_verify_with_the_same_thumbprint() {
        assert_eq!(cases().len(), 5);
        for case in cases() {
            let name = text(&case["name"]);
            let jws = parse(text(&case["new_account"])).unwrap_or_else(|e| panic!("{name}: {e}"));
            let jwk = jws.verify_embedded().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(jws.header().alg.name(), text(&case["alg"]), "{name}");
            assert_eq!(jws.header().url, url("new_account"));
            assert!(is_base64url_token(&jws.header().nonce));
            assert_eq!(
                jwk.thumbprint(),
                text(&case["thumbprint"]),
                "{name}: thumbprint differs from josepy's"
            );
            assert_eq!(jwk, &Jwk::from_json(&case["jwk"]).unwrap(), "{name}");
            let payload: Value = jws.payload_json().unwrap();
            assert_eq!(payload["termsOfServiceAgreed"], json!(true));

            // The stored form: the same DER as `cryptography` writes, and back to the same key.
            let spki = unb64(text(&case["spki"]));
            assert_eq!(
                jwk.spki_der(),
                spki.as_slice(),
                "{name}: SPKI differs from cryptography's"
            );
            let stored = Jwk::from_spki_der(&spki).unwrap();
            assert_eq!(&stored, jwk, "{name}");
            assert_eq!(stored.thumbprint(), jwk.thumbprint());
            assert_eq!(Jwk::from_json(&jwk.to_json()).unwrap(), stored);

            let kid_request = parse(text(&case["kid_request"])).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(kid_request.header().kid(), Some(url("account")));
            assert!(kid_request.header().jwk().is_none());
            kid_request.verify(&stored).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!kid_request.is_post_as_get());
            assert!(
                is_malformed(kid_request.verify_embedded()),
                "a kid request has no key of its own"
            );

            let get = parse(text(&case["post_as_get"])).unwrap();
            get.verify(&stored).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(get.is_post_as_get() && get.payload().is_empty());
            assert_eq!(get.header().url, url("order"));
        }
    }

    #[test]
    fn jose_tampered_josepy_requests_are_refused() {
        for case in cases() {
            let name = text(&case["name"]);
            let body = text(&case["new_account"]);
            let key = Jwk::from_json(&case["jwk"]).unwrap();

            let other_payload = with_member(body, "payload", json!(b64(br#"{"termsOfServiceAgreed":false}"#)));
            assert_eq!(
                parse(&other_payload).unwrap().verify(&key),
                Err(JoseError::BadSignature),
                "{name}"
            );

            let mut header = protected_of(body);
            header["url"] = json!(url("new_order"));
            assert_eq!(
                parse(&with_protected(body, &header)).unwrap().verify(&key),
                Err(JoseError::BadSignature)
            );

            let original: Value = serde_json::from_str(body).unwrap();
            let mut signature = unb64(text(&original["signature"]));
            signature[5] ^= 0x01;
            let flipped = with_member(body, "signature", json!(b64(&signature)));
            assert_eq!(
                parse(&flipped).unwrap().verify(&key),
                Err(JoseError::BadSignature),
                "{name}"
            );

            // Another request's signature by the same key.
            let get: Value = serde_json::from_str(text(&case["post_as_get"])).unwrap();
            let swapped = with_member(body, "signature", get["signature"].clone());
            assert_eq!(
                parse(&swapped).unwrap().verify(&key),
                Err(JoseError::BadSignature),
                "{name}"
            );

            let short = with_member(body, "signature", json!(b64(&signature[1..])));
            assert_eq!(
                parse(&short).unwrap().verify(&key),
                Err(JoseError::BadSignature),
                "{name}"
            );
        }
    }

    #[test]
    fn jose_a_request_verifies_only_with_its_own_key() {
        for (i, case) in cases().iter().enumerate() {
            let jws = parse(text(&case["kid_request"])).unwrap();
            for (j, other) in cases().iter().enumerate() {
                let key = Jwk::from_json(&other["jwk"]).unwrap();
                let result = jws.verify(&key);
                if i == j {
                    assert_eq!(result, Ok(()));
                } else if key.algorithm() == jws.header().alg {
                    assert_eq!(result, Err(JoseError::BadSignature));
                } else {
                    assert!(matches!(result, Err(JoseError::BadSignatureAlgorithm(_))), "{result:?}");
                }
            }
        }
    }

    #[test]
    fn jose_unsupported_keys_and_algorithms_from_josepy() {
        let rsa1024 = parse(text(&peer()["rsa1024"]));
        assert!(
            matches!(rsa1024, Err(JoseError::BadPublicKey(ref m)) if m.contains("1024")),
            "{rsa1024:?}"
        );
        let p521 = parse(text(&peer()["p521"]));
        assert!(matches!(p521, Err(JoseError::BadSignatureAlgorithm(_))), "{p521:?}");
        assert_eq!(
            p521.unwrap_err().problem_type(),
            "urn:ietf:params:acme:error:badSignatureAlgorithm"
        );
    }

    #[test]
    fn jose_alg_must_match_the_key() {
        for case in cases() {
            let body = text(&case["new_account"]);
            for alg in ["ES256", "ES384", "RS256", "EdDSA"] {
                let mut header = protected_of(body);
                if header["alg"] == json!(alg) {
                    continue;
                }
                header["alg"] = json!(alg);
                let result = parse(&with_protected(body, &header));
                assert!(
                    matches!(result, Err(JoseError::BadSignatureAlgorithm(_))),
                    "{} with {alg}: {result:?}",
                    case["name"]
                );
            }
        }
    }

    #[test]
    fn jose_none_mac_and_unknown_algorithms_are_refused() {
        let key = TestKey::new();
        let url = "https://acme.test/acme/new-order";
        for alg in ["none", "None", "HS256", "HS512", "es256", "PS256", "ES512", "RS384", ""] {
            let header = json!({"alg": alg, "nonce": "abc", "url": url, "kid": "https://acme.test/acct/1"});
            let mut body: Value = serde_json::from_str(&unsigned(&header, b"{}")).unwrap();
            body["signature"] = json!("");
            let result = parse(&body.to_string());
            assert!(
                matches!(result, Err(JoseError::BadSignatureAlgorithm(_))),
                "{alg}: {result:?}"
            );
            let with_jwk = json!({"alg": alg, "nonce": "abc", "url": url, "jwk": key.jwk_json()});
            assert!(matches!(
                parse(&key.sign(&with_jwk, b"{}")),
                Err(JoseError::BadSignatureAlgorithm(_))
            ));
        }
        let no_alg = json!({"nonce": "abc", "url": url, "kid": "k"});
        assert!(is_malformed(parse(&unsigned(&no_alg, b""))));
        let numeric = json!({"alg": 256, "nonce": "abc", "url": url, "kid": "k"});
        assert!(is_malformed(parse(&unsigned(&numeric, b""))));
    }

    #[test]
    fn jose_protected_header_rules() {
        let key = TestKey::new();
        let url = "https://acme.test/acme/new-account";
        let good = json!({"alg": "ES256", "nonce": "bm9uY2U", "url": url, "jwk": key.jwk_json()});
        let jws = parse(&key.sign(&good, b"{}")).unwrap();
        assert_eq!(jws.verify_embedded(), Ok(&key.jwk()));

        let mut both = good.clone();
        both["kid"] = json!("https://acme.test/acct/1");
        assert!(is_malformed(parse(&key.sign(&both, b"{}"))));
        let mut neither = good.clone();
        neither.as_object_mut().unwrap().remove("jwk");
        assert!(is_malformed(parse(&key.sign(&neither, b"{}"))));
        let empty_kid = json!({"alg": "ES256", "nonce": "bm9uY2U", "url": url, "kid": ""});
        assert!(is_malformed(parse(&unsigned(&empty_kid, b""))));

        let mut no_nonce = good.clone();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        let result = parse(&key.sign(&no_nonce, b"{}"));
        assert!(matches!(result, Err(JoseError::BadNonce(_))), "{result:?}");
        assert_eq!(
            result.unwrap_err().problem_type(),
            "urn:ietf:params:acme:error:badNonce"
        );
        for nonce in [
            json!(""),
            json!("bm9u Y2U"),
            json!("bm9uY2U="),
            json!("bm9+Y2U"),
            json!(5),
        ] {
            let mut header = good.clone();
            header["nonce"] = nonce.clone();
            assert!(is_malformed(parse(&key.sign(&header, b"{}"))), "nonce {nonce}");
        }

        for bad_url in [None, Some(json!("")), Some(json!(["x"]))] {
            let mut header = good.clone();
            match bad_url {
                None => drop(header.as_object_mut().unwrap().remove("url")),
                Some(value) => header["url"] = value,
            }
            assert!(is_malformed(parse(&key.sign(&header, b"{}"))));
        }

        let mut crit = good.clone();
        crit["crit"] = json!(["b64"]);
        crit["b64"] = json!(false);
        assert!(is_malformed(parse(&key.sign(&crit, b"{}"))));

        // Unknown parameters are ignored (RFC 7515 §4).
        let mut extra = good.clone();
        extra["typ"] = json!("JWT");
        extra["x-custom"] = json!({"a": [1, 2]});
        parse(&key.sign(&extra, b"{}")).unwrap().verify_embedded().unwrap();

        // A repeated member is refused, not resolved (RFC 7515 §5.2 lets a parser do either).
        let repeated = format!(
            r#"{{"alg":"ES256","nonce":"bm9uY2U","url":"{url}","url":"https://evil.test/","jwk":{}}}"#,
            key.jwk_json()
        );
        let body = json!({"protected": b64(&repeated), "payload": "", "signature": b64([1u8; 64])});
        assert!(is_malformed(parse(&body.to_string())));
        let repeated_in_jwk =
            format!(r#"{{"alg":"ES256","nonce":"bm9uY2U","url":"{url}","jwk":{{"kty":"EC","kty":"RSA"}}}}"#);
        let body = json!({"protected": b64(&repeated_in_jwk), "payload": "", "signature": b64([1u8; 64])});
        assert!(is_malformed(parse(&body.to_string())));

        for header in [json!("ES256"), json!([good.clone()]), json!(null)] {
            assert!(is_malformed(parse(&unsigned(&header, b""))), "{header}");
        }
        let not_json = json!({"protected": b64("{not json"), "payload": "", "signature": ""});
        assert!(is_malformed(parse(&not_json.to_string())));
    }

    #[test]
    fn jose_embedded_jwk_rules() {
        let key = TestKey::new();
        let header = |jwk: Value| json!({"alg": "ES256", "nonce": "bm9uY2U", "url": "https://a.test/", "jwk": jwk});
        let bad_key = |jwk: Value| {
            let result = parse(&unsigned(&header(jwk.clone()), b""));
            assert!(matches!(result, Err(JoseError::BadPublicKey(_))), "{jwk}: {result:?}");
            assert_eq!(
                result.unwrap_err().problem_type(),
                "urn:ietf:params:acme:error:badPublicKey"
            );
        };
        let good = key.jwk_json();

        let mut private = good.clone();
        private["d"] = json!(b64([1u8; 32]));
        bad_key(private);
        let x = unb64(text(&good["x"]));
        let mut short_x = good.clone();
        short_x["x"] = json!(b64(&x[1..]));
        bad_key(short_x);
        let mut long_x = good.clone();
        long_x["x"] = json!(b64([&[0u8][..], &x].concat()));
        bad_key(long_x);
        let mut off_curve = good.clone();
        let mut y = unb64(text(&good["y"]));
        y[31] ^= 1;
        off_curve["y"] = json!(b64(&y));
        bad_key(off_curve);
        let mut padded = good.clone();
        padded["x"] = json!(format!("{}=", text(&good["x"])));
        bad_key(padded);
        let mut p384 = good.clone();
        p384["crv"] = json!("P-384");
        bad_key(p384);
        let mut no_y = good.clone();
        no_y.as_object_mut().unwrap().remove("y");
        bad_key(no_y);
        for crv in ["P-521", "secp256k1", "X25519", "Ed448"] {
            let mut other = good.clone();
            other["crv"] = json!(crv);
            bad_key(other);
        }
        bad_key(json!({"kty": "oct", "k": b64([1u8; 32])}));
        bad_key(json!({"crv": "P-256", "x": good["x"], "y": good["y"]}));
        bad_key(json!({"kty": "OKP", "crv": "X25519", "x": b64([9u8; 32])}));
        bad_key(json!({"kty": "OKP", "crv": "Ed25519", "x": b64([9u8; 31])}));

        let rsa = rsa_modulus();
        let e = [1u8, 0, 1];
        let rsa_jwk = |n: &[u8], e: &[u8]| json!({"kty": "RSA", "n": b64(n), "e": b64(e)});
        let rsa_header = |jwk: Value| json!({"alg": "RS256", "nonce": "bm9uY2U", "url": "https://a.test/", "jwk": jwk});
        parse(&unsigned(&rsa_header(rsa_jwk(&rsa, &e)), b"")).unwrap();
        for (n, e) in [
            ([&[0u8][..], &rsa].concat(), e.to_vec()),
            (rsa.clone(), vec![0, 1, 0, 1]),
            (rsa.clone(), vec![1]),
            (rsa.clone(), vec![1, 0, 0]),
            (rsa.clone(), vec![1, 0, 0, 0, 1]),
            (rsa[..255].to_vec(), e.to_vec()),
            (vec![], e.to_vec()),
        ] {
            let result = parse(&unsigned(&rsa_header(rsa_jwk(&n, &e)), b""));
            assert!(
                matches!(result, Err(JoseError::BadPublicKey(_))),
                "{} {e:?}: {result:?}",
                n.len()
            );
        }
    }

    /// A real RSA 2048 modulus, for JWK checks that need a valid one.
    fn rsa_modulus() -> Vec<u8> {
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        match Jwk::from_spki_der(key.public_key().as_der().unwrap().as_ref())
            .unwrap()
            .params
        {
            KeyParams::Rsa { n, .. } => n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn jose_thumbprints_match_the_rfc_examples() {
        // RFC 7638 §3.1.
        let rsa = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            Jwk::from_json(&rsa).unwrap().thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // RFC 8037 Appendix A.3.
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(
            Jwk::from_json(&ed).unwrap().thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn jose_spki_round_trips_and_refuses_other_keys() {
        let p256 = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let p384 = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        let ed = Ed25519KeyPair::generate().unwrap();
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa3072).unwrap();
        let spkis = [
            p256.public_key().as_der().unwrap().as_ref().to_vec(),
            p384.public_key().as_der().unwrap().as_ref().to_vec(),
            ed.public_key().as_der().unwrap().as_ref().to_vec(),
            rsa.public_key().as_der().unwrap().as_ref().to_vec(),
        ];
        let algs = [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa, Algorithm::Rs256];
        for (spki, alg) in spkis.iter().zip(algs) {
            let jwk = Jwk::from_spki_der(spki).unwrap();
            assert_eq!(jwk.spki_der(), spki.as_slice());
            assert_eq!(jwk.algorithm(), alg);
            assert_eq!(Jwk::from_json(&jwk.to_json()).unwrap(), jwk);
            let mut trailing = spki.clone();
            trailing.push(0);
            assert!(matches!(Jwk::from_spki_der(&trailing), Err(JoseError::BadPublicKey(_))));
            for len in 0..spki.len() {
                assert!(Jwk::from_spki_der(&spki[..len]).is_err());
            }
        }
        let p521 = EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_FIXED_SIGNING).unwrap();
        let p521 = p521.public_key().as_der().unwrap();
        assert!(matches!(
            Jwk::from_spki_der(p521.as_ref()),
            Err(JoseError::BadPublicKey(_))
        ));
        let rsa1024 = aws_lc_rs::rsa::PublicKeyComponents {
            n: &[0xc1u8; 128][..],
            e: &[1u8, 0, 1][..],
        };
        let rsa1024 = rsa1024.as_der().unwrap();
        let result = Jwk::from_spki_der(rsa1024.as_ref());
        assert!(
            matches!(result, Err(JoseError::BadPublicKey(ref m)) if m.contains("1024")),
            "{result:?}"
        );
        assert!(Jwk::from_spki_der(b"").is_err());
    }

    #[test]
    fn jose_serialization_rules() {
        let body = text(&cases()[0]["new_account"]);
        let key = Jwk::from_json(&cases()[0]["jwk"]).unwrap();

        let with_header = with_member(body, "header", json!({"kid": "x"}));
        assert!(is_malformed(parse(&with_header)));
        let empty_header = with_member(body, "header", json!({}));
        assert!(is_malformed(parse(&empty_header)));

        let original: Value = serde_json::from_str(body).unwrap();
        let general = json!({
            "payload": original["payload"],
            "signatures": [{"protected": original["protected"], "signature": original["signature"]}]
        });
        assert!(is_malformed(parse(&general.to_string())));
        let mixed = with_member(body, "signatures", json!([]));
        assert!(is_malformed(parse(&mixed)));

        // Unknown top-level members are ignored (RFC 7515 §7.2.1).
        parse(&with_member(body, "comment", json!("hi")))
            .unwrap()
            .verify(&key)
            .unwrap();

        for member in ["protected", "payload", "signature"] {
            let value = text(&original[member]);
            let padded = with_member(body, member, json!(format!("{value}==")));
            assert!(is_malformed(parse(&padded)), "padded {member}");
            let mut missing = original.clone();
            missing.as_object_mut().unwrap().remove(member);
            assert!(is_malformed(parse(&missing.to_string())), "missing {member}");
            let standard = with_member(body, member, json!(value.replace('-', "+").replace('_', "/") + "+/"));
            assert!(is_malformed(parse(&standard)), "standard base64 in {member}");
            let spaced = with_member(body, member, json!(format!("{} {}", &value[..4], &value[4..])));
            assert!(is_malformed(parse(&spaced)), "whitespace in {member}");
            assert!(
                is_malformed(parse(&with_member(body, member, json!(5)))),
                "number as {member}"
            );
        }
        // An unpadded value with stray low bits has two decodings: refused. (An ES256 signature is
        // 64 bytes, 86 characters: the last one carries 4 bits that must be zero.)
        let signature = text(&original["signature"]);
        assert_eq!(signature.len() % 4, 2);
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = alphabet.find(&signature[signature.len() - 1..]).unwrap();
        let stray = format!("{}{}", &signature[..signature.len() - 1], &alphabet[last + 1..last + 2]);
        assert!(is_malformed(parse(&with_member(body, "signature", json!(stray)))));

        let repeated = format!(r#"{{"payload":"","payload":{}}}"#, &body[1..]);
        assert!(is_malformed(parse(&repeated)));
        for not_an_object in ["", "null", "[]", "\"x\"", "{", "{}", "1e999"] {
            assert!(is_malformed(parse(not_an_object)), "{not_an_object}");
        }
        let oversized = with_member(body, "padding", json!("a".repeat(MAX_JWS_BYTES)));
        assert!(is_malformed(parse(&oversized)));
        let long_header = with_member(body, "protected", json!("A".repeat(MAX_PROTECTED_B64 + 4)));
        assert!(is_malformed(parse(&long_header)));
    }

    /// Every truncation and every single-bit flip of real requests, and some garbage: an error,
    /// never a panic, and a changed request never verifies.
    #[test]
    fn jose_garbage_and_damaged_requests_never_panic_or_verify() {
        for case in cases() {
            let body = text(&case["new_account"]).as_bytes();
            let key = Jwk::from_json(&case["jwk"]).unwrap();
            for len in 0..body.len() {
                if let Ok(jws) = parse_flattened(&body[..len]) {
                    panic!("a truncation parsed: {:?}", jws.header());
                }
            }
            for bit in 0..body.len() * 8 {
                let mut damaged = body.to_vec();
                damaged[bit / 8] ^= 1 << (bit % 8);
                if let Ok(jws) = parse_flattened(&damaged) {
                    assert!(jws.verify(&key).is_err(), "a flipped bit {bit} still verifies");
                    assert!(jws.verify_embedded().is_err());
                }
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for len in [0usize, 1, 2, 7, 64, 500, 4096] {
            for _ in 0..50 {
                let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                assert!(parse_flattened(&garbage).is_err());
                assert!(Jwk::from_spki_der(&garbage).is_err());
            }
        }
        let deep = "[".repeat(100_000);
        assert!(is_malformed(parse(&deep)));
        let deep_header =
            json!({"protected": b64("{\"alg\":".to_string() + &"[".repeat(5000)), "payload": "", "signature": ""});
        assert!(is_malformed(parse(&deep_header.to_string())));
        let eab_junk = json!({"protected": 1});
        assert!(verify_eab(&TestKey::new().jwk(), &eab_junk, "u", |_| None).is_err());
    }

    fn eab_lookup(kid: &str) -> Option<Vec<u8>> {
        (kid == text(&peer()["eab"]["kid"])).then(|| unb64(text(&peer()["eab"]["hmac_key"])))
    }

    /// The account key and `externalAccountBinding` of a josepy newAccount request.
    fn josepy_eab(index: usize) -> (Jwk, Value) {
        let case = &peer()["eab"]["cases"][index];
        let jws = parse(text(&case["new_account"])).unwrap();
        let jwk = jws.verify_embedded().unwrap().clone();
        let payload: Value = jws.payload_json().unwrap();
        (jwk, payload["externalAccountBinding"].clone())
    }

    #[test]
    fn jose_eab_from_josepy_verifies() {
        for (index, alg) in ["HS256", "HS384", "HS512"].iter().enumerate() {
            let (jwk, eab) = josepy_eab(index);
            assert_eq!(text(&peer()["eab"]["cases"][index]["alg"]), *alg);
            let kid = verify_eab(&jwk, &eab, url("new_account"), eab_lookup);
            assert_eq!(kid.as_deref(), Ok(text(&peer()["eab"]["kid"])), "{alg}");
        }
    }

    #[test]
    fn jose_eab_failures() {
        let (jwk, eab) = josepy_eab(0);
        let new_account = url("new_account");
        let kid = text(&peer()["eab"]["kid"]);
        let hmac_key = unb64(text(&peer()["eab"]["hmac_key"]));

        let wrong_key = verify_eab(&jwk, &eab, new_account, |_| Some(vec![7u8; 32]));
        assert!(matches!(wrong_key, Err(JoseError::Unauthorized(_))), "{wrong_key:?}");
        assert_eq!(
            wrong_key.unwrap_err().problem_type(),
            "urn:ietf:params:acme:error:unauthorized"
        );
        assert!(matches!(
            verify_eab(&jwk, &eab, new_account, |_| None),
            Err(JoseError::Unauthorized(_))
        ));
        assert!(matches!(
            verify_eab(&jwk, &eab, new_account, |_| Some(vec![])),
            Err(JoseError::Unauthorized(_))
        ));
        assert!(is_malformed(verify_eab(&jwk, &eab, url("new_order"), eab_lookup)));
        let other_account = TestKey::new().jwk();
        let result = verify_eab(&other_account, &eab, new_account, eab_lookup);
        assert!(matches!(result, Err(JoseError::KeyMismatch(_))), "{result:?}");

        let mut tampered = eab.clone();
        let mut tag = unb64(text(&eab["signature"]));
        tag[0] ^= 0x80;
        tampered["signature"] = json!(b64(&tag));
        assert!(matches!(
            verify_eab(&jwk, &tampered, new_account, eab_lookup),
            Err(JoseError::Unauthorized(_))
        ));

        let header = json!({"alg": "HS256", "kid": kid, "url": new_account});
        let account_json = jwk.to_json().to_string();
        let sign = |header: &Value, payload: &[u8]| mac(hmac::HMAC_SHA256, &hmac_key, header, payload);
        // The test's own MAC agrees with josepy's, so the failures below are the changes alone.
        assert_eq!(
            verify_eab(&jwk, &sign(&header, account_json.as_bytes()), new_account, eab_lookup).as_deref(),
            Ok(kid)
        );

        let with = |name: &str, value: Value| {
            let mut h = header.clone();
            h[name] = value;
            sign(&h, account_json.as_bytes())
        };
        assert!(is_malformed(verify_eab(
            &jwk,
            &with("nonce", json!("bm9uY2U")),
            new_account,
            eab_lookup
        )));
        assert!(is_malformed(verify_eab(
            &jwk,
            &with("jwk", jwk.to_json()),
            new_account,
            eab_lookup
        )));
        assert!(is_malformed(verify_eab(
            &jwk,
            &with("crit", json!(["x"])),
            new_account,
            eab_lookup
        )));
        assert!(is_malformed(verify_eab(
            &jwk,
            &with("kid", json!("")),
            new_account,
            eab_lookup
        )));
        assert!(is_malformed(verify_eab(
            &jwk,
            &with("url", json!(null)),
            new_account,
            eab_lookup
        )));
        for alg in ["ES256", "none", "RS256", "hs256"] {
            let result = verify_eab(&jwk, &with("alg", json!(alg)), new_account, eab_lookup);
            assert!(
                matches!(result, Err(JoseError::BadSignatureAlgorithm(_))),
                "{alg}: {result:?}"
            );
        }
        // HS384 on the header but an HS256 MAC.
        let result = verify_eab(&jwk, &with("alg", json!("HS384")), new_account, eab_lookup);
        assert!(matches!(result, Err(JoseError::Unauthorized(_))));

        for payload in [
            b"not json".to_vec(),
            b"{}".to_vec(),
            other_account.to_json().to_string().into_bytes(),
        ] {
            let result = verify_eab(&jwk, &sign(&header, &payload), new_account, eab_lookup);
            assert!(matches!(result, Err(JoseError::KeyMismatch(_))), "{result:?}");
        }
        // The same key written differently is the same key.
        let mut reordered = jwk.to_json();
        reordered["use"] = json!("sig");
        let reordered = format!(
            r#"{{ "y": {}, "kty": "EC", "x": {}, "crv": "P-256", "use": "sig" }}"#,
            reordered["y"], reordered["x"]
        );
        assert_eq!(
            verify_eab(&jwk, &sign(&header, reordered.as_bytes()), new_account, eab_lookup).as_deref(),
            Ok(kid)
        );

        let mut unprotected = eab.clone();
        unprotected["header"] = json!({"kid": kid});
        assert!(is_malformed(verify_eab(&jwk, &unprotected, new_account, eab_lookup)));
        assert!(is_malformed(verify_eab(&jwk, &json!("eab"), new_account, eab_lookup)));
    }

    #[test]
    fn jose_key_change_from_josepy_verifies() {
        let case = &peer()["key_change"];
        let outer = parse(text(&case["request"])).unwrap();
        let old_key = Jwk::from_spki_der(&unb64(text(&case["old_spki"]))).unwrap();
        outer.verify(&old_key).unwrap();
        let change = verify_key_change(&outer).unwrap();
        assert_eq!(change.account, url("account"));
        assert_eq!(change.old_key, old_key);
        assert_eq!(change.new_key.thumbprint(), text(&case["new_thumbprint"]));
        assert_eq!(change.new_key.algorithm(), Algorithm::Rs256);
    }

    #[test]
    fn jose_key_change_failures() {
        let (old, new) = (TestKey::new(), TestKey::new());
        let key_change = "https://acme.test/acme/key-change";
        let account = "https://acme.test/acme/acct/1";
        let outer_header = json!({"alg": "ES256", "nonce": "bm9uY2U", "url": key_change, "kid": account});
        let inner_header = json!({"alg": "ES256", "url": key_change, "jwk": new.jwk_json()});
        let payload = json!({"account": account, "oldKey": old.jwk_json()}).to_string();
        let outer_of = |inner: String| parse(&old.sign(&outer_header, inner.as_bytes())).unwrap();

        let change = verify_key_change(&outer_of(new.sign(&inner_header, payload.as_bytes()))).unwrap();
        assert_eq!(
            (change.new_key, change.old_key, change.account.as_str()),
            (new.jwk(), old.jwk(), account)
        );

        let inner_with = |name: &str, value: Value| {
            let mut h = inner_header.clone();
            h[name] = value;
            new.sign(&h, payload.as_bytes())
        };
        assert!(is_malformed(verify_key_change(&outer_of(inner_with(
            "url",
            json!("https://acme.test/other")
        )))));
        assert!(is_malformed(verify_key_change(&outer_of(inner_with(
            "nonce",
            json!("bm9uY2U")
        )))));
        assert!(is_malformed(verify_key_change(&outer_of(inner_with(
            "kid",
            json!(account)
        )))));
        assert!(is_malformed(verify_key_change(&outer_of(inner_with(
            "crit",
            json!(["x"])
        )))));
        let mut no_jwk = inner_header.clone();
        no_jwk.as_object_mut().unwrap().remove("jwk");
        assert!(is_malformed(verify_key_change(&outer_of(
            new.sign(&no_jwk, payload.as_bytes())
        ))));
        let result = verify_key_change(&outer_of(inner_with("alg", json!("RS256"))));
        assert!(matches!(result, Err(JoseError::BadSignatureAlgorithm(_))), "{result:?}");

        // Signed by the old key while naming the new one.
        let forged = old.sign(&inner_header, payload.as_bytes());
        assert_eq!(
            verify_key_change(&outer_of(forged)).unwrap_err(),
            JoseError::BadSignature
        );

        let other_account = json!({"account": "https://acme.test/acme/acct/2", "oldKey": old.jwk_json()});
        let result = verify_key_change(&outer_of(new.sign(&inner_header, other_account.to_string().as_bytes())));
        assert!(matches!(result, Err(JoseError::KeyMismatch(_))), "{result:?}");
        for bad_payload in [
            json!({"account": account}),
            json!({"oldKey": old.jwk_json()}),
            json!([1]),
        ] {
            let result = verify_key_change(&outer_of(new.sign(&inner_header, bad_payload.to_string().as_bytes())));
            assert!(is_malformed(result), "{bad_payload}");
        }
        let bad_old = json!({"account": account, "oldKey": {"kty": "EC"}});
        assert!(is_malformed(verify_key_change(&outer_of(
            new.sign(&inner_header, bad_old.to_string().as_bytes())
        ))));
        assert!(is_malformed(verify_key_change(&outer_of("not a jws".into()))));

        // The outer request must be an account's (kid), not a bare key's.
        let jwk_outer = json!({"alg": "ES256", "nonce": "bm9uY2U", "url": key_change, "jwk": old.jwk_json()});
        let inner = new.sign(&inner_header, payload.as_bytes());
        let outer = parse(&old.sign(&jwk_outer, inner.as_bytes())).unwrap();
        assert!(is_malformed(verify_key_change(&outer)));
    }
}

//! Answering OCSP requests from the [`Store`](crate::store::Store): the whole request path apart
//! from HTTP, so it can be fuzzed and benchmarked on its own.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use certctl_pki::ocsp::{self, CertStatus, ErrorStatus, SingleResponse};
use time::OffsetDateTime;

use crate::store::{CachedResponse, Issuer, Status, Store, etag_of};

#[derive(Clone, Copy, Debug)]
pub struct OcspSettings {
    /// nextUpdate - thisUpdate of every response.
    pub validity: Duration,
    /// Past this much time without reaching the database, no new response is signed: answers
    /// come from the response cache until their nextUpdate, then `tryLater`.
    pub stale_after: Duration,
}

/// An OCSP answer and whether HTTP caches may keep it.
pub struct Answer {
    pub der: Bytes,
    pub kind: AnswerKind,
}

pub enum AnswerKind {
    /// Without a nonce: the same bytes for everyone until `refresh_at`.
    Cacheable {
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        etag: String,
    },
    /// Signed for this request alone (nonce, several CertIDs).
    Live,
    /// An error status (malformedRequest, unauthorized, tryLater, internalError).
    Error(ErrorStatus),
}

impl Answer {
    fn error(status: ErrorStatus) -> Self {
        Self {
            der: Bytes::from_static(status.response()),
            kind: AnswerKind::Error(status),
        }
    }
}

fn cert_status(status: Option<Status>) -> CertStatus {
    match status {
        Some(Status::Good) => CertStatus::Good,
        Some(Status::Revoked { at, reason_code }) => CertStatus::Revoked { at, reason_code },
        None => CertStatus::Unknown,
    }
}

/// Answers a DER OCSP request for `issuer`.
pub fn answer(store: &Store, issuer: &Issuer, request: &[u8], settings: &OcspSettings) -> Answer {
    let Ok(request) = ocsp::parse_request(request) else {
        return Answer::error(ErrorStatus::MalformedRequest);
    };
    // This responder answers for one CA per URL: a CertID of any other CA is not ours to answer.
    if !request.cert_ids.iter().all(|id| id.matches(&issuer.identity)) {
        return Answer::error(ErrorStatus::Unauthorized);
    }
    let now = OffsetDateTime::now_utc();
    let fresh = store.staleness() <= settings.stale_after;
    if let [cert_id] = request.cert_ids.as_slice()
        && (request.nonce.is_none() || !fresh)
    {
        // RFC 9654 lets a responder leave the nonce out; with a stale view it must, since
        // it can only hand out what it signed while the view was current.
        return cached_answer(store, issuer, cert_id.raw, cert_id.serial, now, fresh, settings);
    }
    if !fresh {
        return Answer::error(ErrorStatus::TryLater);
    }
    let Some(signer) = issuer.valid_signer(now) else {
        return Answer::error(ErrorStatus::TryLater);
    };
    let next_update = (now + settings.validity).min(signer.not_after);
    let responses: Vec<SingleResponse<'_>> = request
        .cert_ids
        .iter()
        .map(|id| SingleResponse {
            cert_id: id.raw,
            status: cert_status(issuer.status(id.serial)),
            this_update: now,
            next_update,
        })
        .collect();
    match signer.signer.sign(&responses, now, request.nonce) {
        Ok(der) => Answer {
            der: Bytes::from(der),
            kind: AnswerKind::Live,
        },
        Err(e) => {
            tracing::error!(issuer = %issuer.id, error = %e, "OCSP signing failed");
            Answer::error(ErrorStatus::InternalError)
        }
    }
}

/// The answer for one CertID without a nonce: from the response cache while it is current,
/// otherwise signed now and cached.
pub fn cached_answer(
    store: &Store,
    issuer: &Issuer,
    cert_id: &[u8],
    serial: &[u8],
    now: OffsetDateTime,
    fresh: bool,
    settings: &OcspSettings,
) -> Answer {
    let status = issuer.status(serial);
    if let Some(hit) = issuer.cached_response(cert_id) {
        let current = hit.status == status && now < hit.refresh_at;
        // A stale view serves what it has until nextUpdate.
        if (current && fresh) || (!fresh && now < hit.next_update) {
            return cacheable(&hit);
        }
    }
    if !fresh {
        return Answer::error(ErrorStatus::TryLater);
    }
    let Some(signer) = issuer.valid_signer(now) else {
        return Answer::error(ErrorStatus::TryLater);
    };
    let next_update = (now + settings.validity).min(signer.not_after);
    let single = [SingleResponse {
        cert_id,
        status: cert_status(status),
        this_update: now,
        next_update,
    }];
    match signer.signer.sign(&single, now, None) {
        Ok(der) => {
            let response = Arc::new(CachedResponse {
                status,
                this_update: now,
                next_update,
                refresh_at: now + (next_update - now) / 2,
                etag: etag_of(&der),
                der: Bytes::from(der),
            });
            if status.is_some() {
                issuer.cache_response(store, cert_id, response.clone());
            }
            cacheable(&response)
        }
        Err(e) => {
            tracing::error!(issuer = %issuer.id, error = %e, "OCSP signing failed");
            Answer::error(ErrorStatus::InternalError)
        }
    }
}

fn cacheable(r: &CachedResponse) -> Answer {
    Answer {
        der: r.der.clone(),
        kind: AnswerKind::Cacheable {
            this_update: r.this_update,
            next_update: r.next_update,
            etag: r.etag.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use certctl_pki::{
        CaRequest, KeyAlgorithm, LoadedIssuer, PkiUrls, build_ca, generate_key, issue_ocsp_signer, ocsp::OcspSigner,
    };
    use uuid::Uuid;

    use super::*;
    use crate::store::Signer;

    fn setup() -> (Store, Arc<Issuer>) {
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let now = OffsetDateTime::now_utc();
        let id = Uuid::new_v4();
        let cert = build_ca(CaRequest {
            id,
            common_name: "Unit CA",
            key: &key,
            not_before: now,
            not_after: now + Duration::from_secs(30 * 86_400),
            parent: None,
            urls: &PkiUrls::new("http://pki.test"),
        })
        .unwrap();
        let ca = LoadedIssuer::load(id, cert.der.clone(), KeyAlgorithm::EcdsaP256, key.serialized_der()).unwrap();
        let signer_key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let signer_cert = issue_ocsp_signer(&ca, &signer_key, now, now + Duration::from_secs(86_400)).unwrap();
        let signer = Signer {
            id: Uuid::new_v4(),
            signer: OcspSigner::new(&signer_cert.der, KeyAlgorithm::EcdsaP256, signer_key.serialized_der()).unwrap(),
            not_after: signer_cert.not_after,
        };
        let store = Store::default();
        let issuer = store
            .insert_detached(id.into(), cert.der, Some(signer), [(vec![1u8; 16], Status::Good)])
            .unwrap();
        (store, issuer)
    }

    const SETTINGS: OcspSettings = OcspSettings {
        validity: Duration::from_secs(3600),
        stale_after: Duration::from_secs(5),
    };

    #[test]
    fn a_stale_view_serves_cached_answers_until_next_update_then_try_later() {
        let (store, issuer) = setup();
        let serial = [1u8; 16];
        let cert_id = ocsp::cert_id_for(&issuer.identity, &serial);
        let now = OffsetDateTime::now_utc();
        let first = cached_answer(&store, &issuer, &cert_id, &serial, now, true, &SETTINGS);
        assert!(matches!(first.kind, AnswerKind::Cacheable { .. }));
        // Fresh view, same status, before refresh_at: the very same bytes.
        let again = cached_answer(
            &store,
            &issuer,
            &cert_id,
            &serial,
            now + Duration::from_secs(60),
            true,
            &SETTINGS,
        );
        assert_eq!(again.der, first.der);
        // Stale view: still served until nextUpdate...
        let stale = cached_answer(
            &store,
            &issuer,
            &cert_id,
            &serial,
            now + Duration::from_secs(3500),
            false,
            &SETTINGS,
        );
        assert_eq!(stale.der, first.der);
        // ...and tryLater after it.
        let late = cached_answer(
            &store,
            &issuer,
            &cert_id,
            &serial,
            now + Duration::from_secs(3601),
            false,
            &SETTINGS,
        );
        assert_eq!(late.der.as_ref(), ErrorStatus::TryLater.response());
        // Past half its life, a fresh view signs a new one.
        let renewed = cached_answer(
            &store,
            &issuer,
            &cert_id,
            &serial,
            now + Duration::from_secs(1801),
            true,
            &SETTINGS,
        );
        assert_ne!(renewed.der, first.der);
    }

    #[test]
    fn unknown_serials_foreign_issuers_and_junk() {
        let (store, issuer) = setup();
        let (_, other) = setup();
        let unknown = ocsp::build_request(&issuer.identity, &[&[2u8; 16]], None);
        let a = answer(&store, &issuer, &unknown, &SETTINGS);
        assert!(matches!(a.kind, AnswerKind::Cacheable { .. }));
        let foreign = ocsp::build_request(&other.identity, &[&[1u8; 16]], None);
        let a = answer(&store, &issuer, &foreign, &SETTINGS);
        assert!(matches!(a.kind, AnswerKind::Error(ErrorStatus::Unauthorized)));
        let a = answer(&store, &issuer, &[0x30, 0x80, 0x00, 0x00], &SETTINGS);
        assert!(matches!(a.kind, AnswerKind::Error(ErrorStatus::MalformedRequest)));
        let with_nonce = ocsp::build_request(&issuer.identity, &[&[1u8; 16]], Some(&[7u8; 16]));
        let a = answer(&store, &issuer, &with_nonce, &SETTINGS);
        assert!(matches!(a.kind, AnswerKind::Live));
    }
}

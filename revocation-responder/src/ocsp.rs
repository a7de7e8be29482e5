//! Answering OCSP requests from the [`Store`](crate::store::Store): the whole request path apart
//! from HTTP, so it can be fuzzed and benchmarked on its own.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use certctl_shared::pki::ocsp::{self, CertStatus, ErrorStatus, SingleResponse};
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
        return cached_answer(issuer, cert_id.raw, cert_id.serial, now, fresh, settings);
    }
    if !fresh {
        return Answer::error(ErrorStatus::TryLater);
    }
    let Some(signer) = issuer.signer() else {
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
    let Some(signer) = issuer.signer() else {
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
            issuer.cache_response(cert_id, response.clone());
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

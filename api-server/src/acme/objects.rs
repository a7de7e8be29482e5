//! The ACME resources as the protocol writes them (RFC 8555 §7.1): accounts, orders,
//! authorizations and challenges, with their URLs under the endpoint.

use certctl_shared::entities::acme_account::Model as AcmeAccount;
use certctl_shared::entities::acme_authorization::Model as AcmeAuthz;
use certctl_shared::entities::acme_challenge::Model as AcmeChallenge;
use certctl_shared::entities::acme_order::Model as AcmeOrder;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::Ctx;

/// RFC 3339 in UTC with whole seconds, as ACME clients parse it.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn account(ctx: &Ctx, a: &AcmeAccount) -> Value {
    let mut body = json!({
        "status": a.status,
        "contact": a.contact,
        "orders": ctx.url(&format!("account/{}/orders", a.id)),
    });
    if a.eab_kid.is_some() {
        // RFC 8555 §7.3.4: the binding is echoed only as its presence; the MAC key is never shown.
        body["externalAccountBinding"] = json!({ "kid": a.eab_kid });
    }
    body
}

pub fn order(ctx: &Ctx, o: &AcmeOrder, authzs: &[AcmeAuthz]) -> Value {
    let mut body = json!({
        "status": o.status,
        "expires": time(o.expires_at),
        "identifiers": o.identifiers,
        "authorizations": authzs.iter().map(|a| ctx.url(&format!("authz/{}", a.id))).collect::<Vec<_>>(),
        "finalize": ctx.url(&format!("order/{}/finalize", o.id)),
    });
    if let Some(cert) = o.certificate_id
        && o.status == "valid"
    {
        body["certificate"] = json!(ctx.url(&format!("cert/{cert}")));
    }
    if let Some(error) = &o.error {
        body["error"] = error.clone();
    }
    if let Some(t) = o.not_before {
        body["notBefore"] = json!(time(t));
    }
    if let Some(t) = o.not_after {
        body["notAfter"] = json!(time(t));
    }
    body
}

pub fn challenge(ctx: &Ctx, c: &AcmeChallenge) -> Value {
    let mut body = json!({
        "type": c.kind,
        "url": ctx.url(&format!("chall/{}", c.id)),
        "status": c.status,
        "token": c.token,
    });
    if let Some(t) = c.validated_at {
        body["validated"] = json!(time(t));
    }
    if let Some(error) = &c.error {
        body["error"] = error.clone();
    }
    body
}

pub fn authorization(ctx: &Ctx, a: &AcmeAuthz, challenges: &[AcmeChallenge]) -> Value {
    // A valid authorization lists only the challenge that validated it (RFC 8555 §7.1.4).
    let shown: Vec<Value> = if a.status == "valid" {
        challenges
            .iter()
            .filter(|c| c.status == "valid")
            .map(|c| challenge(ctx, c))
            .collect()
    } else {
        challenges.iter().map(|c| challenge(ctx, c)).collect()
    };
    let mut body = json!({
        "identifier": { "type": a.identifier_type, "value": a.identifier_value },
        "status": a.status,
        "expires": time(a.expires_at),
        "challenges": shown,
    });
    if a.wildcard {
        body["wildcard"] = json!(true);
    }
    body
}

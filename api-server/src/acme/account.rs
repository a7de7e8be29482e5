//! Accounts (RFC 8555 §7.3): registration (with External Account Binding where the endpoint
//! requires it), lookup by key, contact updates, deactivation, key rollover, and the list of an
//! account's orders.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certctl_pki::jose::{self, Jwk};
use certctl_shared::entities::acme_account::Model as AcmeAccount;
use certctl_shared::model::{AcmeAccountId, AcmeOrderId};
use certctl_shared::repo::acme;
use chrono::Utc;
use sea_orm::{SqlErr, TransactionTrait};
use serde::Deserialize;
use serde_json::json;

use super::{KeyMode, Post, Problem, Signer, authenticate, json_response, objects, require_post_as_get};
use crate::service::acme_endpoints::eab_key_context;

/// At most this many contact URLs per account.
const MAX_CONTACTS: usize = 10;
/// Orders listed per page of an account's `orders`.
const ORDERS_PAGE: u64 = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewAccount {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    terms_of_service_agreed: Option<bool>,
    #[serde(default)]
    only_return_existing: Option<bool>,
    #[serde(default)]
    external_account_binding: Option<serde_json::Value>,
}

/// Contact URLs: `mailto:` addresses only, one address each, no header fields (RFC 8555 §7.3).
fn check_contacts(contact: Option<Vec<String>>) -> Result<Vec<String>, Problem> {
    let contact = contact.unwrap_or_default();
    if contact.len() > MAX_CONTACTS {
        return Err(Problem::malformed(format!("at most {MAX_CONTACTS} contacts")));
    }
    for c in &contact {
        let Some(addr) = c.strip_prefix("mailto:") else {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "unsupportedContact",
                format!(
                    "only mailto: contacts are supported, not `{}`",
                    c.chars().take(40).collect::<String>()
                ),
            ));
        };
        let valid = addr.len() <= 254
            && !addr.contains(['?', ',', ' ', '<', '>'])
            && addr.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && certctl_pki::names::is_dns_name(domain) && !domain.contains('@')
            });
        if !valid {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalidContact",
                format!(
                    "`{}` is not a single email address",
                    c.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    Ok(contact)
}

/// The `kid` of an External Account Binding's protected header, read before the MAC is checked
/// so its key can be looked up; [`jose::verify_eab`] checks everything.
fn eab_kid(eab: &serde_json::Value) -> Option<String> {
    let protected = eab.get("protected")?.as_str()?;
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(protected).ok()?).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

post_handler!(new_account => register);

async fn register(post: &Post) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Jwk).await?;
    let Signer::Key(key) = signer else {
        return Err(Problem::malformed("newAccount must be signed with a jwk"));
    };
    let req: NewAccount = jws.payload_json()?;
    let thumbprint = key.thumbprint();
    // RFC 8555 §7.3.1: a key already registered gets its account back, whatever else was sent.
    if let Some(existing) = acme::find_account_by_key(&ctx.state.db, ctx.endpoint.id, &thumbprint).await? {
        if existing.status != "valid" {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!("the account registered with this key is {}", existing.status),
            ));
        }
        let url = ctx.account_url(existing.id);
        return Ok(json_response(
            StatusCode::OK,
            objects::account(ctx, &existing),
            Some(&url),
        ));
    }
    if req.only_return_existing == Some(true) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "accountDoesNotExist",
            "no account is registered with this key",
        ));
    }
    if ctx.endpoint.terms_of_service_url.is_some() && req.terms_of_service_agreed != Some(true) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "userActionRequired",
            "agree to the terms of service (termsOfServiceAgreed: true) to register",
        ));
    }
    let contact = check_contacts(req.contact)?;
    let eab = match &req.external_account_binding {
        Some(binding) => Some(check_binding(ctx, &key, binding, &post.path).await?),
        None if ctx.endpoint.eab_required => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "externalAccountRequired",
                "this endpoint registers accounts only with an External Account Binding; ask an administrator for an EAB key",
            ));
        }
        None => None,
    };
    let now = Utc::now();
    let row = AcmeAccount {
        id: AcmeAccountId::new(),
        endpoint_id: ctx.endpoint.id,
        thumbprint,
        public_key_der: key.spki_der().to_vec(),
        status: "valid".into(),
        contact,
        eab_kid: eab.as_ref().map(|(kid, _)| kid.clone()),
        registered_by: eab.as_ref().map(|(_, by)| by.clone()),
        created_at: now,
        updated_at: now,
    };
    let txn = ctx.state.db.begin().await?;
    if let Some((kid, _)) = &eab
        && !acme::bind_eab_key(&txn, kid, ctx.endpoint.id).await?
    {
        return Err(Problem::unauthorized(
            "this External Account Binding key is unknown, revoked or already bound to an account",
        ));
    }
    let account = match acme::insert_account(&txn, row).await {
        Ok(account) => account,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            // Registered by a concurrent request with the same key: answer with that account.
            drop(txn);
            let existing = acme::find_account_by_key(&ctx.state.db, ctx.endpoint.id, &key.thumbprint())
                .await?
                .ok_or_else(|| Problem::from(sea_orm::DbErr::RecordNotFound("acme account".into())))?;
            let url = ctx.account_url(existing.id);
            return Ok(json_response(
                StatusCode::OK,
                objects::account(ctx, &existing),
                Some(&url),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    ctx.actor(&account)
        .audit(
            &txn,
            "acme_account.create",
            "acme_account",
            account.id,
            json!({ "endpoint_id": ctx.endpoint.id, "endpoint": ctx.endpoint.name, "thumbprint": account.thumbprint,
                    "key_algorithm": key.algorithm().name(), "contact": account.contact, "eab_kid": account.eab_kid,
                    "registered_by": account.registered_by, "source_ip": ctx.ip.map(|i| i.to_string()) }),
        )
        .await?;
    txn.commit().await?;
    let url = ctx.account_url(account.id);
    Ok(json_response(
        StatusCode::CREATED,
        objects::account(ctx, &account),
        Some(&url),
    ))
}

/// Verifies an External Account Binding and returns its key id and who issued the key.
async fn check_binding(
    ctx: &super::Ctx,
    key: &Jwk,
    binding: &serde_json::Value,
    path: &str,
) -> Result<(String, String), Problem> {
    let kid = eab_kid(binding).ok_or_else(|| Problem::malformed("the externalAccountBinding has no readable kid"))?;
    let stored = acme::find_eab_key(&ctx.state.db, &kid)
        .await?
        .filter(|k| k.endpoint_id == ctx.endpoint.id && k.revoked_at.is_none());
    let hmac_key = match &stored {
        Some(k) => Some(
            ctx.state
                .config
                .keys
                .open(&eab_key_context(&k.kid), &k.key_ciphertext)
                .map_err(|e| Problem::from(crate::service::Fault::from(e)))?,
        ),
        None => None,
    };
    let url = format!("{}{path}", ctx.origin);
    let verified = jose::verify_eab(key, binding, &url, |k| (k == kid).then(|| hmac_key.clone()).flatten())?;
    let stored = stored.ok_or_else(|| Problem::unauthorized("unknown External Account Binding key"))?;
    if stored.bound_at.is_some() {
        return Err(Problem::unauthorized(
            "this External Account Binding key is already bound to an account",
        ));
    }
    Ok((verified, stored.created_by))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountUpdate {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    status: Option<String>,
}

post_handler!(account => update_account, id);

/// The signer's own account, by the id in the URL; another account's URL is unauthorized.
fn own_account(signer: Signer, id: &str) -> Result<AcmeAccount, Problem> {
    let Signer::Account(account) = signer else {
        return Err(Problem::malformed("sign with the account key named by kid"));
    };
    if account.id.to_string() != id {
        return Err(Problem::unauthorized("an account can only read and change itself"));
    }
    Ok(account)
}

async fn update_account(post: &Post, id: &str) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Account).await?;
    let mut account = own_account(signer, id)?;
    let url = ctx.account_url(account.id);
    if jws.is_post_as_get() {
        return Ok(json_response(
            StatusCode::OK,
            objects::account(ctx, &account),
            Some(&url),
        ));
    }
    let update: AccountUpdate = jws.payload_json()?;
    let actor = ctx.actor(&account);
    let txn = ctx.state.db.begin().await?;
    let action = match update.status.as_deref() {
        Some("deactivated") => {
            account.status = "deactivated".into();
            "acme_account.deactivate"
        }
        Some("valid") | None => {
            if let Some(contact) = update.contact {
                account.contact = check_contacts(Some(contact))?;
            }
            "acme_account.update"
        }
        Some(other) => {
            return Err(Problem::malformed(format!(
                "an account's status can only be set to deactivated, not `{}`",
                other.chars().take(20).collect::<String>()
            )));
        }
    };
    account.updated_at = Utc::now();
    let account = acme::update_account(&txn, account).await?;
    actor
        .audit(
            &txn,
            action,
            "acme_account",
            account.id,
            json!({ "status": account.status, "contact": account.contact }),
        )
        .await?;
    txn.commit().await?;
    Ok(json_response(
        StatusCode::OK,
        objects::account(ctx, &account),
        Some(&url),
    ))
}

post_handler!(orders => list_orders, id);

/// RFC 8555 §7.1.2.1: the account's orders, a page at a time (`?cursor=` and a `Link: rel="next"`).
async fn list_orders(post: &Post, id: &str) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Account).await?;
    require_post_as_get(&jws)?;
    let account = own_account(signer, id)?;
    let cursor = post
        .path
        .split_once("?cursor=")
        .map(|(_, c)| {
            c.parse::<AcmeOrderId>()
                .map_err(|_| Problem::malformed("the cursor is not an order id"))
        })
        .transpose()?;
    let rows = acme::list_orders(&ctx.state.db, account.id, cursor, ORDERS_PAGE).await?;
    // RFC 8555 §7.1.2.1: invalid orders are left out (the page still advances past them).
    let urls: Vec<String> = rows
        .iter()
        .filter(|o| o.status != "invalid")
        .map(|o| ctx.url(&format!("order/{}", o.id)))
        .collect();
    let mut resp = json_response(StatusCode::OK, json!({ "orders": urls }), None);
    if rows.len() as u64 == ORDERS_PAGE
        && let Some(last) = rows.last()
        && let Ok(v) = axum::http::HeaderValue::from_str(&format!(
            "<{}?cursor={}>;rel=\"next\"",
            ctx.url(&format!("account/{}/orders", account.id)),
            last.id
        ))
    {
        resp.headers_mut().append(axum::http::header::LINK, v);
    }
    Ok(resp)
}

post_handler!(key_change => roll_key);

/// RFC 8555 §7.3.5: the account moves to the key that signed the inner JWS.
async fn roll_key(post: &Post) -> Result<Response, Problem> {
    let ctx = &post.ctx;
    let (jws, signer) = authenticate(ctx, &post.path, &post.headers, &post.body, KeyMode::Account).await?;
    let Signer::Account(account) = signer else {
        return Err(Problem::malformed(
            "keyChange must be signed with the account key named by kid",
        ));
    };
    let change = jose::verify_key_change(&jws)?;
    let current = Jwk::from_spki_der(&account.public_key_der)?;
    if change.old_key != current {
        return Err(Problem::malformed("oldKey is not the account's current key"));
    }
    let thumbprint = change.new_key.thumbprint();
    if let Some(other) = acme::find_account_by_key(&ctx.state.db, ctx.endpoint.id, &thumbprint).await? {
        let mut p = Problem::new(
            StatusCode::CONFLICT,
            "malformed",
            "the new key is already registered to an account",
        );
        p.location = Some(ctx.account_url(other.id));
        return Err(p);
    }
    let actor = ctx.actor(&account);
    let txn = ctx.state.db.begin().await?;
    let mut row = acme::find_account_for_update(&txn, account.id)
        .await?
        .ok_or_else(|| Problem::new(StatusCode::BAD_REQUEST, "accountDoesNotExist", "no such account"))?;
    if row.public_key_der != account.public_key_der {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "malformed",
            "the account key changed meanwhile; retry",
        ));
    }
    let old_thumbprint = row.thumbprint.clone();
    row.thumbprint = thumbprint;
    row.public_key_der = change.new_key.spki_der().to_vec();
    row.updated_at = Utc::now();
    let row = match acme::update_account(&txn, row).await {
        Ok(row) => row,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "malformed",
                "the new key is already registered to an account",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    actor
        .audit(
            &txn,
            "acme_account.key_change",
            "acme_account",
            row.id,
            json!({ "old_thumbprint": old_thumbprint, "new_thumbprint": row.thumbprint }),
        )
        .await?;
    txn.commit().await?;
    let url = ctx.account_url(row.id);
    Ok(json_response(StatusCode::OK, objects::account(ctx, &row), Some(&url)))
}

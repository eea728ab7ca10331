//! The isolate's short-lived views of apps, tenants, end-user policies, API keys and verified
//! tokens, so the hot paths do not ask who an app or tenant is on every request.
//!
//! A miss reads the KV mirror (`app:<id>`, `tenant:<app>:<id>`, `policy:<app>`, written after
//! each D1 change), and only when the mirror has no copy, D1 — which then repairs the mirror.
//! So introspection reads no D1 in steady state; when KV itself fails, introspection fails
//! closed (`OnKvFailure::FailClosed`) while the D1 paths fall back to D1.
//!
//! Entries (including "does not exist") live `TENANCY_CACHE_TTL_SECONDS` (default 30 s).
//! Changes forget the entries they touch in this isolate at once; other isolates see them when
//! their entry expires (the bound is documented in the README). Values are shared (`Rc`), never
//! cloned on the hot path. Must not depend on `http`.

use super::{Ctx, Stores};
use crate::domain::edge::MirroredDoc;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::policy::AppPolicy;
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::{ApiKey, App, Tenant};
use crate::domain::time::Timestamp;
use crate::domain::token::AccessClaims;
use crate::domain::Error;
use crate::store::{EdgeStore, TenancyStore, UserStateStore};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

/// Entries kept at most per map: lookups of random ids (cached as "not found") cannot grow an
/// isolate's memory without bound.
const MAX_ENTRIES: usize = 10_000;

/// Where a lookup may turn when the KV mirror cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnKvFailure {
    /// Read D1 instead (paths that use D1 anyway).
    ReadD1,
    /// Fail with `Unavailable` (introspection, which never reads D1).
    FailClosed,
}

/// An access token whose signature this isolate verified: its claims, `iat` and `exp` (Unix
/// seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub claims: AccessClaims,
    pub iat: i64,
    pub exp: i64,
}

/// A cached lookup: what the store said (possibly "nothing") and when that expires.
type Entry<T> = (Option<Rc<T>>, Timestamp);

/// One isolate's caches. The worker keeps one for the isolate's life; tests make their own.
#[derive(Default)]
pub struct Caches {
    apps: RefCell<HashMap<AppId, Entry<App>>>,
    tenants: RefCell<HashMap<(AppId, TenantId), Entry<Tenant>>>,
    policies: RefCell<HashMap<AppId, (Rc<AppPolicy>, Timestamp)>>,
    api_keys: RefCell<HashMap<SecretHash, (Rc<ApiKey>, Timestamp)>>,
    verified: RefCell<HashMap<String, Rc<VerifiedToken>>>,
    pub(super) keyrings: RefCell<HashMap<KeyOwner, Rc<super::keyring::Keyring>>>,
    /// The edge's last verdict on its deployment secret (`keyring::confirm_secret`): until
    /// when it holds, and whether the secret passed.
    pub(super) secret_verdict: std::cell::Cell<Option<(Timestamp, bool)>>,
    pub(super) signers: RefCell<HashMap<String, Rc<crate::domain::keys::SigningKey>>>,
    /// This isolate's KV writes of mirrored documents (per-key gap, deferred retries).
    pub edge: super::edge::EdgeWrites,
    /// The sets of hashing parameters in use per owner of passwords (see `credentials`).
    pub(super) password_params: RefCell<PasswordParamsCache>,
    /// Identity providers' key sets by `jwks_uri`, with when each was fetched (see
    /// `thirdparty`; at most `thirdparty::MAX_CACHED_JWKS`).
    pub(super) jwks: RefCell<HashMap<String, (Rc<crate::domain::jose::JwkSet>, Timestamp)>>,
    /// Client ID Metadata Documents by URL (`None`: its fetch failed), with until when each
    /// is kept (see `oauth::client_document`).
    pub(super) documents: RefCell<HashMap<String, CachedDocument>>,
}

/// A Client ID Metadata Document (`None`: its fetch failed) and until when it is kept.
pub(super) type CachedDocument = (Option<Rc<str>>, Timestamp);

type PasswordParamsCache =
    HashMap<KeyOwner, (Rc<Vec<crate::domain::password::PasswordParams>>, Timestamp)>;

/// Inserts into a bounded map: a full map is emptied first (the cache refills from KV).
pub(super) fn insert<K: Hash + Eq, V>(map: &RefCell<HashMap<K, V>>, key: K, value: V) {
    let mut map = map.borrow_mut();
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

fn fresh<T>(entry: Option<&Entry<T>>, now: Timestamp) -> Option<Option<Rc<T>>> {
    entry
        .filter(|(_, expires)| *expires > now)
        .map(|(value, _)| value.clone())
}

async fn load_app<S: Stores>(
    cx: &Ctx<'_, S>,
    id: &AppId,
    on_failure: OnKvFailure,
) -> Result<Option<App>, Error> {
    match cx.edge.find_app(id).await {
        Ok(Some(app)) => return Ok(Some(app)),
        Err(e) if on_failure == OnKvFailure::FailClosed => return Err(e),
        Ok(None) | Err(_) => {}
    }
    let found = cx.db.find_app(id).await?;
    if let Some(app) = &found {
        if let Err(e) = cx.edge.put_app(app).await {
            cx.warn(&format!("KV mirror of app {id} not repaired: {e:?}"));
        }
    }
    Ok(found)
}

async fn load_tenant<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &AppId,
    id: &TenantId,
    on_failure: OnKvFailure,
) -> Result<Option<Tenant>, Error> {
    match cx.edge.find_tenant(app, id).await {
        Ok(Some(tenant)) => return Ok(Some(tenant)),
        Err(e) if on_failure == OnKvFailure::FailClosed => return Err(e),
        Ok(None) | Err(_) => {}
    }
    let found = cx.db.find_tenant(app, id).await?;
    if let Some(tenant) = &found {
        if let Err(e) = cx.edge.put_tenant(tenant).await {
            cx.warn(&format!(
                "KV mirror of tenant {app}/{id} not repaired: {e:?}"
            ));
        }
    }
    Ok(found)
}

/// The app, from the cache, the KV mirror or D1. Unknown → `404 app_not_found`.
pub async fn app<S: Stores>(
    cx: &Ctx<'_, S>,
    id: &AppId,
    on_failure: OnKvFailure,
) -> Result<Rc<App>, Error> {
    let cached = fresh(cx.caches.apps.borrow().get(id), cx.now);
    let found = match cached {
        Some(found) => found,
        None => {
            let found = load_app(cx, id, on_failure).await?.map(Rc::new);
            let expires = cx.now.plus_ms(cx.cache_ttl_ms());
            insert(&cx.caches.apps, id.clone(), (found.clone(), expires));
            found
        }
    };
    found.ok_or(Error::AppNotFound)
}

/// The tenant, from the cache, the KV mirror or D1. Unknown app → `404 app_not_found`,
/// unknown tenant of a known app → `404 tenant_not_found`.
pub async fn tenant<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    id: &TenantId,
    on_failure: OnKvFailure,
) -> Result<Rc<Tenant>, Error> {
    app(cx, app_id, on_failure).await?;
    let key = (app_id.clone(), id.clone());
    let cached = fresh(cx.caches.tenants.borrow().get(&key), cx.now);
    let found = match cached {
        Some(found) => found,
        None => {
            let found = load_tenant(cx, app_id, id, on_failure).await?.map(Rc::new);
            let expires = cx.now.plus_ms(cx.cache_ttl_ms());
            insert(&cx.caches.tenants, key, (found.clone(), expires));
            found
        }
    };
    found.ok_or(Error::TenantNotFound)
}

/// The app and tenant a data-plane request addresses. An app waiting for its owner's email
/// runs no end-user flow (`403 app_not_verified`).
pub async fn place<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    on_failure: OnKvFailure,
) -> Result<(Rc<App>, Rc<Tenant>), Error> {
    let app = app(cx, app_id, on_failure).await?;
    app.require_usable()?;
    let tenant = tenant(cx, app_id, tenant_id, on_failure).await?;
    Ok((app, tenant))
}

/// After a change of an app in D1: this isolate forgets it and the KV mirror gets the new copy
/// — or, if that write fails, loses its copy (the next lookup reads D1 and repairs it). Only
/// when neither works is the change reported as `503`, so the caller retries.
pub async fn app_changed<S: Stores>(cx: &Ctx<'_, S>, app: &App) -> Result<(), Error> {
    cx.caches.apps.borrow_mut().remove(&app.id);
    if cx.edge.put_app(app).await.is_err() {
        cx.edge.delete_app(&app.id).await?;
    }
    Ok(())
}

/// As `app_changed` when only the app's id is at hand: reads it from D1 first, and withdraws
/// the mirror when that read fails.
pub async fn app_refreshed<S: Stores>(cx: &Ctx<'_, S>, app_id: &AppId) -> Result<(), Error> {
    match cx.db.find_app(app_id).await {
        Ok(Some(app)) => app_changed(cx, &app).await,
        Ok(None) | Err(_) => {
            cx.caches.apps.borrow_mut().remove(app_id);
            cx.edge.delete_app(app_id).await
        }
    }
}

/// After the deletion of an app began in D1: this isolate forgets the app, its tenants, its
/// policy, its keys and its password parameters, and the KV mirror of the app is withdrawn
/// (its tenants' mirrors go with their rows; without the app's, no lookup reaches them). A KV
/// failure is `503`, so the caller retries.
pub async fn app_deleted<S: Stores>(cx: &Ctx<'_, S>, app_id: &AppId) -> Result<(), Error> {
    cx.caches.apps.borrow_mut().remove(app_id);
    cx.caches
        .tenants
        .borrow_mut()
        .retain(|(app, _), _| app != app_id);
    cx.caches.policies.borrow_mut().remove(app_id);
    let owner = KeyOwner::App(app_id.clone());
    cx.caches.keyrings.borrow_mut().remove(&owner);
    cx.caches.password_params.borrow_mut().remove(&owner);
    cx.edge.delete_app(app_id).await
}

/// After the policy of a deleted app is gone from D1: this isolate forgets it and its KV
/// mirror is withdrawn.
pub async fn policy_deleted<S: Stores>(cx: &Ctx<'_, S>, app_id: &AppId) -> Result<(), Error> {
    cx.caches.policies.borrow_mut().remove(app_id);
    cx.edge.delete_policy(app_id).await
}

/// As `app_changed`, for a tenant created or changed (`Some`) or deleted (`None`).
pub async fn tenant_changed<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    id: &TenantId,
    tenant: Option<&Tenant>,
) -> Result<(), Error> {
    cx.caches
        .tenants
        .borrow_mut()
        .remove(&(app_id.clone(), id.clone()));
    let written = match tenant {
        Some(tenant) => cx.edge.put_tenant(tenant).await,
        None => cx.edge.delete_tenant(app_id, id).await,
    };
    if written.is_err() {
        cx.edge.delete_tenant(app_id, id).await?;
    }
    Ok(())
}

/// The app's end-user roles and plans, from the cache, the KV mirror or D1. A mirror that was
/// never written means the app defines none (introspection takes it so, never reading D1);
/// D1 paths read D1 then and write the mirror.
pub async fn policy<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    on_failure: OnKvFailure,
) -> Result<Rc<AppPolicy>, Error> {
    let cached = cx
        .caches
        .policies
        .borrow()
        .get(app_id)
        .filter(|(_, expires)| *expires > cx.now)
        .map(|(policy, _)| policy.clone());
    if let Some(policy) = cached {
        return Ok(policy);
    }
    let policy = match (cx.edge.find_policy(app_id).await, on_failure) {
        (Ok(Some(policy)), _) => policy,
        (Ok(None), OnKvFailure::FailClosed) => AppPolicy::default(),
        (Err(e), OnKvFailure::FailClosed) => return Err(e),
        (Ok(None) | Err(_), OnKvFailure::ReadD1) => {
            let policy = cx.db.find_policy(app_id).await?;
            if let Err(e) = cx.edge.put_policy(app_id, &policy).await {
                cx.warn(&format!(
                    "KV mirror of the policy of {app_id} not repaired: {e:?}"
                ));
            }
            policy
        }
    };
    let policy = Rc::new(policy);
    let expires = cx.now.plus_ms(cx.cache_ttl_ms());
    insert(
        &cx.caches.policies,
        app_id.clone(),
        (policy.clone(), expires),
    );
    Ok(policy)
}

/// After a change of a role or plan in D1 (which bumped `policy:<app>` in the same batch):
/// this isolate forgets its copy and the mirror is rewritten from D1. A failed write never
/// fails the change: the mirror stays pending and converges (`service::edge`).
pub async fn policy_changed<S: Stores>(cx: &Ctx<'_, S>, app_id: &AppId) {
    cx.caches.forget_policy(app_id);
    super::edge::publish_after_change(cx, &MirroredDoc::Policy(app_id.clone())).await;
}

/// The API key with this hash, from the isolate (keys found in the last cache lifetime) or the
/// KV copy — so a warm introspection spends its KV reads on the token alone. Unknown keys are
/// not cached: they cost a KV read each.
pub async fn api_key<S: Stores>(
    cx: &Ctx<'_, S>,
    hash: &SecretHash,
) -> Result<Option<Rc<ApiKey>>, Error> {
    let cached = cx
        .caches
        .api_keys
        .borrow()
        .get(hash)
        .filter(|(_, expires)| *expires > cx.now)
        .map(|(key, _)| key.clone());
    if cached.is_some() {
        return Ok(cached);
    }
    let found = cx.edge.find_api_key(hash).await?.map(Rc::new);
    if let Some(key) = &found {
        let expires = cx.now.plus_ms(cx.cache_ttl_ms());
        insert(&cx.caches.api_keys, hash.clone(), (key.clone(), expires));
    }
    Ok(found)
}

impl Caches {
    /// Drops this isolate's copy of an app's roles and plans (after they changed).
    pub fn forget_policy(&self, app: &AppId) {
        self.policies.borrow_mut().remove(app);
    }

    /// Drops what this isolate knows of an API key (after it is deleted).
    pub fn forget_api_key(&self, hash: &SecretHash) {
        self.api_keys.borrow_mut().remove(hash);
    }

    /// The token if this isolate already verified its signature and it has not expired at
    /// `now`. A signature, once valid, stays valid: only time, place and state can change, and
    /// callers check those on every request.
    pub fn verified_token(&self, token: &str, now: Timestamp) -> Option<Rc<VerifiedToken>> {
        self.verified
            .borrow()
            .get(token)
            .filter(|v| now.unix_seconds() < v.exp)
            .cloned()
    }

    /// Remembers a token whose signature was just verified (see `verified_token`).
    pub fn remember_verified(&self, token: &str, verified: Rc<VerifiedToken>) {
        insert(&self.verified, token.to_owned(), verified);
    }
}

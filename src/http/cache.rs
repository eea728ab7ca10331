//! Short-lived isolate caches of apps and tenants, so the end-user hot paths do not ask who an
//! app or tenant is on every request.
//!
//! A miss reads the KV mirror (`app:<id>`, `tenant:<app>:<id>`, written by `/admin` after each
//! D1 change), and only when the mirror has no copy, D1 — which then repairs the mirror. So the
//! introspection path reads no D1 in steady state; when KV itself fails, introspection fails
//! closed while the D1 paths (sign-in, refresh…) fall back to D1.
//!
//! API keys found for introspection are kept the same way (see `api_key`).
//!
//! Entries (including "does not exist") live `TENANCY_CACHE_TTL_SECONDS` (default 30 s).
//! Writes through `/admin` forget the entries they touch in this isolate at once; other
//! isolates see the change when their entry expires. That bound is documented in the README.

use super::context::Ctx;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::policy::AppPolicy;
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::{ApiKey, App, Tenant};
use crate::domain::token::AccessClaims;
use crate::domain::Error;
use crate::store::{EdgeStore, TenancyStore, UserStateStore};
use worker::console_error;

/// Where a lookup may turn when the KV mirror cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnKvFailure {
    /// Read D1 instead (paths that use D1 anyway).
    ReadD1,
    /// Fail with `Unavailable` (introspection, which never reads D1).
    FailClosed,
}

async fn load_app(ctx: &Ctx, id: &AppId, on_failure: OnKvFailure) -> Result<Option<App>, Error> {
    let mirrored = match ctx.edge() {
        Ok(edge) => edge.find_app(id).await,
        Err(e) => Err(e),
    };
    match mirrored {
        Ok(Some(app)) => return Ok(Some(app)),
        Err(e) if on_failure == OnKvFailure::FailClosed => return Err(e),
        Ok(None) | Err(_) => {}
    }
    let found = ctx.store.find_app(id).await?;
    if let Some(app) = &found {
        if let Err(e) = async { ctx.edge()?.put_app(app).await }.await {
            console_error!("KV mirror of app {id} not repaired: {e:?}");
        }
    }
    Ok(found)
}

async fn load_tenant(
    ctx: &Ctx,
    app: &AppId,
    id: &TenantId,
    on_failure: OnKvFailure,
) -> Result<Option<Tenant>, Error> {
    let mirrored = match ctx.edge() {
        Ok(edge) => edge.find_tenant(app, id).await,
        Err(e) => Err(e),
    };
    match mirrored {
        Ok(Some(tenant)) => return Ok(Some(tenant)),
        Err(e) if on_failure == OnKvFailure::FailClosed => return Err(e),
        Ok(None) | Err(_) => {}
    }
    let found = ctx.store.find_tenant(app, id).await?;
    if let Some(tenant) = &found {
        if let Err(e) = async { ctx.edge()?.put_tenant(tenant).await }.await {
            console_error!("KV mirror of tenant {app}/{id} not repaired: {e:?}");
        }
    }
    Ok(found)
}
use std::cell::RefCell;
use std::collections::HashMap;

const DEFAULT_TTL_SECONDS: i64 = 30;
/// Entries kept at most per map: lookups of random ids (cached as "not found") cannot grow an
/// isolate's memory without bound.
const MAX_ENTRIES: usize = 10_000;

fn insert<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

/// A cached lookup: what D1 said (possibly "nothing") and when that expires (Unix ms).
type Entry<T> = (Option<T>, i64);

/// An access token whose signature this isolate verified: its claims, `iat` and `exp`.
type Verified = (AccessClaims, i64, i64);

thread_local! {
    static VERIFIED: RefCell<HashMap<String, Verified>> = RefCell::new(HashMap::new());
    static API_KEYS: RefCell<HashMap<String, Entry<ApiKey>>> = RefCell::new(HashMap::new());
    static POLICIES: RefCell<HashMap<String, (AppPolicy, i64)>> = RefCell::new(HashMap::new());
    static APPS: RefCell<HashMap<String, Entry<App>>> = RefCell::new(HashMap::new());
    static TENANTS: RefCell<HashMap<(String, String), Entry<Tenant>>> =
        RefCell::new(HashMap::new());
}

fn ttl_ms(ctx: &Ctx) -> Result<i64, Error> {
    Ok(ctx.number_var("TENANCY_CACHE_TTL_SECONDS", DEFAULT_TTL_SECONDS)? * 1000)
}

/// The app, from the cache, the KV mirror or D1. Unknown → `404 app_not_found`.
pub async fn app(ctx: &Ctx, id: &AppId, on_failure: OnKvFailure) -> Result<App, Error> {
    let cached = APPS.with(|c| {
        c.borrow()
            .get(id.as_str())
            .filter(|(_, expires)| *expires > ctx.now_ms)
            .map(|(app, _)| app.clone())
    });
    let found = match cached {
        Some(found) => found,
        None => {
            let found = load_app(ctx, id, on_failure).await?;
            let expires = ctx.now_ms + ttl_ms(ctx)?;
            APPS.with(|c| {
                insert(
                    &mut c.borrow_mut(),
                    id.to_string(),
                    (found.clone(), expires),
                )
            });
            found
        }
    };
    found.ok_or(Error::AppNotFound)
}

/// The tenant, from the cache, the KV mirror or D1. Unknown app → `404 app_not_found`,
/// unknown tenant of a known app → `404 tenant_not_found`.
pub async fn tenant(
    ctx: &Ctx,
    app_id: &AppId,
    id: &TenantId,
    on_failure: OnKvFailure,
) -> Result<Tenant, Error> {
    app(ctx, app_id, on_failure).await?;
    let key = (app_id.to_string(), id.to_string());
    let cached = TENANTS.with(|c| {
        c.borrow()
            .get(&key)
            .filter(|(_, expires)| *expires > ctx.now_ms)
            .map(|(tenant, _)| tenant.clone())
    });
    let found = match cached {
        Some(found) => found,
        None => {
            let found = load_tenant(ctx, app_id, id, on_failure).await?;
            let expires = ctx.now_ms + ttl_ms(ctx)?;
            TENANTS.with(|c| insert(&mut c.borrow_mut(), key, (found.clone(), expires)));
            found
        }
    };
    found.ok_or(Error::TenantNotFound)
}

/// Drops what this isolate knows of an app.
fn forget_app(id: &AppId) {
    APPS.with(|c| c.borrow_mut().remove(id.as_str()));
}

/// Drops what this isolate knows of a tenant.
fn forget_tenant(app_id: &AppId, id: &TenantId) {
    TENANTS.with(|c| c.borrow_mut().remove(&(app_id.to_string(), id.to_string())));
}

/// After `/admin` changed an app in D1: this isolate forgets it and the KV mirror gets the new
/// copy — or, if that write fails, loses its copy (the next lookup reads D1 and repairs it). Only
/// when neither works is the change reported as `503`, so the caller retries.
pub async fn app_changed(ctx: &Ctx, app: &App) -> Result<(), Error> {
    forget_app(&app.id);
    let edge = ctx.edge()?;
    if edge.put_app(app).await.is_err() {
        edge.delete_app(&app.id).await?;
    }
    Ok(())
}

/// As `app_changed`, for a tenant created or changed (`Some`) or deleted (`None`).
pub async fn tenant_changed(
    ctx: &Ctx,
    app_id: &AppId,
    id: &TenantId,
    tenant: Option<&Tenant>,
) -> Result<(), Error> {
    forget_tenant(app_id, id);
    let edge = ctx.edge()?;
    let written = match tenant {
        Some(tenant) => edge.put_tenant(tenant).await,
        None => edge.delete_tenant(app_id, id).await,
    };
    if written.is_err() {
        edge.delete_tenant(app_id, id).await?;
    }
    Ok(())
}

/// The app's end-user roles and plans, from the cache, the KV mirror or D1. A mirror that was
/// never written means the app defines none (introspection takes it so, never reading D1);
/// D1 paths read D1 then and write the mirror.
pub async fn policy(
    ctx: &Ctx,
    app_id: &AppId,
    on_failure: OnKvFailure,
) -> Result<AppPolicy, Error> {
    let cached = POLICIES.with(|c| {
        c.borrow()
            .get(app_id.as_str())
            .filter(|(_, expires)| *expires > ctx.now_ms)
            .map(|(policy, _)| policy.clone())
    });
    if let Some(policy) = cached {
        return Ok(policy);
    }
    let mirrored = match ctx.edge() {
        Ok(edge) => edge.find_policy(app_id).await,
        Err(e) => Err(e),
    };
    let policy = match (mirrored, on_failure) {
        (Ok(Some(policy)), _) => policy,
        (Ok(None), OnKvFailure::FailClosed) => AppPolicy::default(),
        (Err(e), OnKvFailure::FailClosed) => return Err(e),
        (Ok(None) | Err(_), OnKvFailure::ReadD1) => {
            let policy = ctx.store.find_policy(app_id).await?;
            if let Err(e) = async { ctx.edge()?.put_policy(app_id, &policy).await }.await {
                console_error!("KV mirror of the policy of {app_id} not repaired: {e:?}");
            }
            policy
        }
    };
    let expires = ctx.now_ms + ttl_ms(ctx)?;
    POLICIES.with(|c| {
        insert(
            &mut c.borrow_mut(),
            app_id.to_string(),
            (policy.clone(), expires),
        )
    });
    Ok(policy)
}

/// After `/admin` changed a role or plan in D1: this isolate forgets its copy and the mirror
/// is rewritten from D1; if that write fails the change is reported as `503`, so the caller
/// retries (the D1 change is idempotent).
pub async fn policy_changed(ctx: &Ctx, app_id: &AppId) -> Result<AppPolicy, Error> {
    POLICIES.with(|c| c.borrow_mut().remove(app_id.as_str()));
    let policy = ctx.store.find_policy(app_id).await?;
    ctx.edge()?.put_policy(app_id, &policy).await?;
    Ok(policy)
}

/// The API key with this hash, from the isolate (keys found in the last
/// `TENANCY_CACHE_TTL_SECONDS`) or the KV copy — so a warm introspection spends its KV reads on
/// the token alone. Unknown keys are not cached: they cost a KV read each.
pub async fn api_key(ctx: &Ctx, hash: &SecretHash) -> Result<Option<ApiKey>, Error> {
    let cached = API_KEYS.with(|c| {
        c.borrow()
            .get(hash.as_str())
            .filter(|(_, expires)| *expires > ctx.now_ms)
            .and_then(|(key, _)| key.clone())
    });
    if cached.is_some() {
        return Ok(cached);
    }
    let found = ctx.edge()?.find_api_key(hash).await?;
    if found.is_some() {
        let expires = ctx.now_ms + ttl_ms(ctx)?;
        API_KEYS.with(|c| {
            insert(
                &mut c.borrow_mut(),
                hash.as_str().to_owned(),
                (found.clone(), expires),
            )
        });
    }
    Ok(found)
}

/// Drops what this isolate knows of an API key (after it is deleted).
pub fn forget_api_key(hash: &SecretHash) {
    API_KEYS.with(|c| c.borrow_mut().remove(hash.as_str()));
}

/// The claims of `token` if this isolate already verified its signature and it has not expired
/// at `now_ms`. A signature, once valid, stays valid: only time, place and state can change,
/// and callers check those on every request. This spares the Ed25519 verify (about a quarter of
/// a millisecond in wasm) when a backend introspects the same token again and again.
pub fn verified_token(token: &str, now_ms: i64) -> Option<Verified> {
    VERIFIED.with(|c| {
        c.borrow()
            .get(token)
            .filter(|(_, _, exp)| now_ms < exp.saturating_mul(1000))
            .cloned()
    })
}

/// Remembers a token whose signature was just verified (see `verified_token`).
pub fn remember_verified(token: &str, verified: &Verified) {
    VERIFIED.with(|c| insert(&mut c.borrow_mut(), token.to_owned(), verified.clone()));
}

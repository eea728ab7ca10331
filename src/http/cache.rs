//! Short-lived isolate caches of apps and tenants, so the end-user hot paths do not ask D1 who
//! an app or tenant is on every request.
//!
//! Entries (including "does not exist") live `TENANCY_CACHE_TTL_SECONDS` (default 30 s).
//! Writes through `/admin` forget the entries they touch in this isolate at once; other
//! isolates see the change when their entry expires. That bound is documented in the README.

use super::context::Ctx;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::tenancy::{App, Tenant};
use crate::domain::Error;
use crate::store::TenancyStore;
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

thread_local! {
    static APPS: RefCell<HashMap<String, Entry<App>>> = RefCell::new(HashMap::new());
    static TENANTS: RefCell<HashMap<(String, String), Entry<Tenant>>> =
        RefCell::new(HashMap::new());
}

fn ttl_ms(ctx: &Ctx) -> Result<i64, Error> {
    Ok(ctx.number_var("TENANCY_CACHE_TTL_SECONDS", DEFAULT_TTL_SECONDS)? * 1000)
}

/// The app, from the cache or D1. Unknown → `404 app_not_found`.
pub async fn app(ctx: &Ctx, id: &AppId) -> Result<App, Error> {
    let cached = APPS.with(|c| {
        c.borrow()
            .get(id.as_str())
            .filter(|(_, expires)| *expires > ctx.now_ms)
            .map(|(app, _)| app.clone())
    });
    let found = match cached {
        Some(found) => found,
        None => {
            let found = ctx.store.find_app(id).await?;
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

/// The tenant, from the cache or D1. Unknown app → `404 app_not_found`, unknown tenant of a
/// known app → `404 tenant_not_found`.
pub async fn tenant(ctx: &Ctx, app_id: &AppId, id: &TenantId) -> Result<Tenant, Error> {
    app(ctx, app_id).await?;
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
            let found = ctx.store.find_tenant(app_id, id).await?;
            let expires = ctx.now_ms + ttl_ms(ctx)?;
            TENANTS.with(|c| insert(&mut c.borrow_mut(), key, (found.clone(), expires)));
            found
        }
    };
    found.ok_or(Error::TenantNotFound)
}

/// Drops what this isolate knows of an app (after it is created).
pub fn forget_app(id: &AppId) {
    APPS.with(|c| c.borrow_mut().remove(id.as_str()));
}

/// Drops what this isolate knows of a tenant (after it is created, changed or deleted).
pub fn forget_tenant(app_id: &AppId, id: &TenantId) {
    TENANTS.with(|c| c.borrow_mut().remove(&(app_id.to_string(), id.to_string())));
}

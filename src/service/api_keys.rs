//! Tenant API keys: created with scopes (shown once, stored as a SHA-256), listed without
//! secrets, deleted — after which they stop working at once. A key never carries a permission
//! its creator does not hold on the tenant.

use super::principal::{actor, audit_entry, ensure_can_grant, Change};
use super::tenancy::existing_tenant;
use super::{Ctx, Stores};
use crate::domain::audit::AuditAction;
use crate::domain::authz::{authorize, Permission, Principal, Scope, Target};
use crate::domain::ids::{ApiKeyId, AppId, TenantId};
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::tenancy::{ApiKey, ApiKeyName};
use crate::domain::Error;
use crate::store::{ApiKeyStore, EdgeStore};
use serde_json::json;

fn allow(caller: &Principal, app_id: &AppId, tenant_id: &TenantId) -> Result<(), Error> {
    authorize(
        caller,
        Some(Permission::ApiKeysWrite),
        &Target::Tenant(app_id, tenant_id),
    )
    .into_result()
}

/// `POST /admin/apps/{app}/tenants/{tenant}/api-keys` — `apikeys:write`. Returns the key and
/// its secret, which is never shown again.
pub async fn create<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    name: ApiKeyName,
    scopes: Vec<Scope>,
) -> Result<(ApiKey, PlainSecret), Error> {
    allow(caller, app_id, tenant_id)?;
    // A key can never carry more than its creator holds on this tenant.
    let granted = scopes.iter().filter_map(|scope| match scope {
        Scope::Permission(permission) => Some(*permission),
        Scope::Introspect => None,
    });
    ensure_can_grant(caller, granted, &Target::Tenant(app_id, tenant_id))?;
    existing_tenant(cx, app_id, tenant_id).await?;
    let secret = PlainSecret::generate(SecretKind::ApiKey, cx.random()?);
    let key = ApiKey {
        id: ApiKeyId::generate(cx.now, cx.random()?),
        app_id: app_id.clone(),
        tenant_id: tenant_id.clone(),
        name,
        scopes,
        created_at: cx.now,
    };
    let scope_names: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::ApiKeyCreate,
            target: key.id.to_string(),
            tenant_id: Some(tenant_id),
            detail: json!({ "name": key.name, "scopes": scope_names }),
        },
    )?;
    // Publish to KV (where introspection finds keys) before D1 makes the key usable on /admin,
    // and withdraw it again if D1 refuses, so nothing half-made remains.
    let hash = secret.hash();
    cx.edge.put_api_key(&hash, &key).await?;
    if let Err(e) = cx.db.create_api_key(&key, &hash, &audit).await {
        if let Err(cleanup) = cx.edge.delete_api_key(&hash).await {
            cx.warn(&format!(
                "KV withdrawal of an unstored API key failed: {cleanup:?}"
            ));
        }
        return Err(e);
    }
    Ok((key, secret))
}

/// `GET /admin/apps/{app}/tenants/{tenant}/api-keys` — `apikeys:write`. Without secrets.
pub async fn list<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    page: &PageRequest,
) -> Result<Page<ApiKey>, Error> {
    allow(caller, app_id, tenant_id)?;
    existing_tenant(cx, app_id, tenant_id).await?;
    let keys = cx
        .db
        .list_api_keys(app_id, tenant_id, page.after.as_deref(), page.limit + 1)
        .await?;
    Ok(finish_page(keys, page.limit, |k| k.id.to_string()))
}

/// `DELETE /admin/apps/{app}/tenants/{tenant}/api-keys/{key}` — `apikeys:write`. The key
/// stops working at once: `/admin` looks keys up in D1, and the KV copy that introspection
/// reads is withdrawn first, so a failure leaves the key whole.
pub async fn delete<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    key_id: &ApiKeyId,
) -> Result<(), Error> {
    allow(caller, app_id, tenant_id)?;
    let Some(hash) = cx.db.find_api_key_hash(app_id, tenant_id, key_id).await? else {
        existing_tenant(cx, app_id, tenant_id).await?;
        return Err(Error::NotFound("no such API key".to_owned()));
    };
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::ApiKeyDelete,
            target: key_id.to_string(),
            tenant_id: Some(tenant_id),
            detail: json!({}),
        },
    )?;
    cx.caches.forget_api_key(&hash);
    cx.edge.delete_api_key(&hash).await?;
    cx.db
        .delete_api_key(app_id, tenant_id, key_id, Some(&audit))
        .await?;
    Ok(())
}

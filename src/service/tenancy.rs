//! Apps and tenants as the management plane sees them: creating and listing apps, their
//! settings and signing-key rotation (platform owner), creating, changing and reading tenants
//! (`tenants:*`); deleting them is `deletion`'s. Reads go to D1; every change forgets the isolate's copy and
//! rewrites the KV mirror (`cache::*_changed`).

use super::cache;
use super::principal::{actor, audit_entry, Change};
use super::{keyring, Ctx, Stores};
use crate::domain::audit::AuditAction;
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::links::WebUrl;
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::tenancy::{App, AppSettings, LoginMethod, Tenant};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::TenancyStore;
use serde_json::{json, Map, Value};

/// The app as D1 has it; `404 app_not_found`.
pub async fn existing_app<S: Stores>(cx: &Ctx<'_, S>, app_id: &AppId) -> Result<App, Error> {
    cx.db.find_app(app_id).await?.ok_or(Error::AppNotFound)
}

/// The tenant as D1 has it; `404 tenant_not_found`, or `app_not_found` when the app is gone.
pub async fn existing_tenant<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
) -> Result<Tenant, Error> {
    match cx.db.find_tenant(app_id, tenant_id).await? {
        Some(tenant) => Ok(tenant),
        None => {
            existing_app(cx, app_id).await?;
            Err(Error::TenantNotFound)
        }
    }
}

/// `POST /admin/apps` — platform owner. The app with its tenant `public`; `409` if it exists.
pub async fn create_app<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    id: AppId,
) -> Result<App, Error> {
    authorize(caller, None, &Target::Platform).into_result()?;
    let app = App {
        id,
        settings: AppSettings::default(),
        created_at: cx.now,
        pending_verification: false,
    };
    let public = Tenant::public_of(&app.id, cx.now);
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id: &app.id,
            action: AuditAction::AppCreate,
            target: app.id.to_string(),
            tenant_id: None,
            detail: json!({}),
        },
    )?;
    if !cx.db.create_app(&app, &public, &audit).await? {
        return Err(Error::Conflict(format!("app {} exists already", app.id)));
    }
    cache::app_changed(cx, &app).await?;
    cache::tenant_changed(cx, &app.id, &public.id, Some(&public)).await?;
    Ok(app)
}

/// `GET /admin/apps` — any operator or API key: the apps the caller can see (all for the
/// platform owner, the apps of its active memberships for an operator, its own for a key).
pub async fn list_apps<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    page: &PageRequest,
) -> Result<Page<App>, Error> {
    let apps = match caller {
        Principal::PlatformOwner(_) => {
            cx.db
                .list_apps(page.after.as_deref(), page.limit + 1)
                .await?
        }
        Principal::ApiKey { app_id, .. } => visible_apps(cx, &[app_id], page).await?,
        Principal::Operator { grants, .. } => {
            let ids: Vec<&AppId> = grants
                .iter()
                .filter(|g| caller.can_see_app(&g.app_id))
                .map(|g| &g.app_id)
                .collect();
            visible_apps(cx, &ids, page).await?
        }
    };
    Ok(finish_page(apps, page.limit, |a| a.id.to_string()))
}

/// The apps among `ids` that come after the page cursor, in id order, up to one more than a
/// page.
async fn visible_apps<S: Stores>(
    cx: &Ctx<'_, S>,
    ids: &[&AppId],
    page: &PageRequest,
) -> Result<Vec<App>, Error> {
    let mut ids: Vec<&AppId> = ids
        .iter()
        .copied()
        .filter(|id| page.after.as_deref().is_none_or(|a| id.as_str() > a))
        .collect();
    ids.sort();
    ids.dedup();
    let mut apps = Vec::new();
    for id in ids.into_iter().take(page.limit + 1) {
        if let Some(app) = cx.db.find_app(id).await? {
            apps.push(app);
        }
    }
    Ok(apps)
}

/// `GET /admin/apps/{app}` — `tenants:read` on the app. The app and its settings.
pub async fn get_app<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
) -> Result<App, Error> {
    authorize(caller, Some(Permission::TenantsRead), &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await
}

/// `PATCH /admin/apps/{app}` — platform owner. The given settings replace the stored ones;
/// an unknown name or a value out of range is `400`.
pub async fn patch_app<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    changes: Map<String, Value>,
) -> Result<App, Error> {
    authorize(caller, None, &Target::App(app_id)).into_result()?;
    let detail = json!({ "changed": changes.keys().collect::<Vec<_>>() });
    let mut app = existing_app(cx, app_id).await?;
    let mut merged = serde_json::to_value(&app.settings)
        .map_err(|e| Error::Internal(format!("settings: {e}")))?;
    for (name, value) in changes {
        if merged.get(&name).is_none() {
            return Err(Error::validation(format!("unknown setting {name:?}")));
        }
        merged[name] = value;
    }
    app.settings = serde_json::from_value(merged)
        .map_err(|e| Error::validation(format!("invalid settings: {e}")))?;
    app.settings.validate()?;
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::AppUpdate,
            target: app_id.to_string(),
            tenant_id: None,
            detail,
        },
    )?;
    if !cx
        .db
        .update_app_settings(app_id, &app.settings, &audit)
        .await?
    {
        return Err(Error::AppNotFound);
    }
    cache::app_changed(cx, &app).await?;
    Ok(app)
}

/// A key that was rotated in: its kid and when it starts signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedKey {
    pub kid: String,
    pub activates_at: Timestamp,
}

/// `POST /admin/apps/{app}/signing-keys/rotate` — platform owner. Adds a key published now
/// and signing once every cache in front of verifiers has seen it
/// (`keyring::publication_lead_ms`); the old key keeps verifying until its last token has
/// expired.
pub async fn rotate_signing_key<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
) -> Result<RotatedKey, Error> {
    authorize(caller, None, &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await?;
    let activates_at = cx.now.plus_ms(keyring::publication_lead_ms(cx.config));
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::SigningKeyRotate,
            target: app_id.to_string(),
            tenant_id: None,
            detail: json!({ "activates_at": activates_at.rfc3339() }),
        },
    )?;
    let kid = keyring::create_key(
        cx,
        &KeyOwner::App(app_id.clone()),
        activates_at,
        Some(&audit),
    )
    .await?;
    Ok(RotatedKey { kid, activates_at })
}

/// Whether `put_tenant` created the tenant or changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    Updated,
}

fn tenant_change(tenant: &Tenant, action: AuditAction) -> Change<'_> {
    let methods: Vec<&str> = tenant.login_methods.iter().map(|m| m.as_str()).collect();
    Change {
        app_id: &tenant.app_id,
        action,
        target: tenant.id.to_string(),
        tenant_id: Some(&tenant.id),
        detail: json!({
            "login_methods": methods,
            "link_base_url": tenant.link_base_url.as_ref().map(WebUrl::as_str),
            "redirect_uris": tenant.redirect_uris.iter().map(WebUrl::as_str).collect::<Vec<_>>(),
        }),
    }
}

/// What `PUT /admin/apps/{app}/tenants/{tenant}` sets; `None` keeps what the tenant has (on
/// creation: `["emailpassword"]`, no link base, no redirect URIs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSettings {
    pub login_methods: Option<Vec<LoginMethod>>,
    /// `Some(None)` removes the link base.
    pub link_base_url: Option<Option<WebUrl>>,
    /// Where third-party sign-ins may return (`domain::tenancy::parse_redirect_uris`).
    pub redirect_uris: Option<Vec<WebUrl>>,
}

/// `PUT /admin/apps/{app}/tenants/{tenant}` — `tenants:write`. Creates or updates a tenant;
/// `login_methods` defaults to `["emailpassword"]` on creation and is kept when absent on
/// update, and so are `link_base_url` and `redirect_uris` (none on creation).
pub async fn put_tenant<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    settings: TenantSettings,
) -> Result<(Tenant, Put), Error> {
    authorize(
        caller,
        Some(Permission::TenantsWrite),
        &Target::Tenant(app_id, tenant_id),
    )
    .into_result()?;
    existing_app(cx, app_id).await?;
    let (tenant, put) = match cx.db.find_tenant(app_id, tenant_id).await? {
        Some(mut tenant) => {
            if let Some(methods) = settings.login_methods {
                tenant.login_methods = methods;
            }
            if let Some(link_base_url) = settings.link_base_url {
                tenant.link_base_url = link_base_url;
            }
            if let Some(redirect_uris) = settings.redirect_uris {
                tenant.redirect_uris = redirect_uris;
            }
            tenant.updated_at = cx.now;
            let audit = audit_entry(
                cx,
                actor(caller),
                tenant_change(&tenant, AuditAction::TenantUpdate),
            )?;
            if !cx.db.update_tenant(&tenant, &audit).await? {
                return Err(Error::TenantNotFound);
            }
            (tenant, Put::Updated)
        }
        None => {
            let tenant = Tenant {
                app_id: app_id.clone(),
                id: tenant_id.clone(),
                login_methods: settings
                    .login_methods
                    .unwrap_or_else(|| vec![LoginMethod::EmailPassword]),
                link_base_url: settings.link_base_url.flatten(),
                redirect_uris: settings.redirect_uris.unwrap_or_default(),
                created_at: cx.now,
                updated_at: cx.now,
            };
            let audit = audit_entry(
                cx,
                actor(caller),
                tenant_change(&tenant, AuditAction::TenantCreate),
            )?;
            if !cx.db.create_tenant(&tenant, &audit).await? {
                return Err(Error::Conflict(
                    "the tenant was created concurrently; retry".into(),
                ));
            }
            (tenant, Put::Created)
        }
    };
    cache::tenant_changed(cx, app_id, tenant_id, Some(&tenant)).await?;
    Ok((tenant, put))
}

/// `GET /admin/apps/{app}/tenants/{tenant}` — `tenants:read`.
pub async fn get_tenant<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
) -> Result<Tenant, Error> {
    authorize(
        caller,
        Some(Permission::TenantsRead),
        &Target::Tenant(app_id, tenant_id),
    )
    .into_result()?;
    existing_tenant(cx, app_id, tenant_id).await
}

/// `GET /admin/apps/{app}/tenants` — `tenants:read` on the app.
pub async fn list_tenants<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    page: &PageRequest,
) -> Result<Page<Tenant>, Error> {
    authorize(caller, Some(Permission::TenantsRead), &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await?;
    let tenants = cx
        .db
        .list_tenants(app_id, page.after.as_deref(), page.limit + 1)
        .await?;
    Ok(finish_page(tenants, page.limit, |t| t.id.to_string()))
}

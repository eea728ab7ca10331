//! The management plane (`/admin`): bootstrap, operator sign-in, apps, tenants, API keys.
//!
//! Every handler below authenticates first (`401 unauthorized`), then asks the pure
//! `domain::authz::authorize` for the permission named in its doc comment (`403 forbidden`),
//! and only then looks at the target (`404`). Admin reads go to D1 directly; writes forget
//! the isolate caches they make stale.

use super::cache;
use super::context::{random, Ctx};
use super::enduser::client_subject_of;
use super::keyring;
use super::request::{bearer, json_body, query};
use super::routes::Params;
use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::authz::{authorize, Permission, Principal, Scope, Target};
use crate::domain::email::Email;
use crate::domain::ids::{new_uuid_v7, ApiKeyId, AppId, OperatorId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::operator::Operator;
use crate::domain::page::{finish_page, PageRequest};
use crate::domain::password::Password;
use crate::domain::secret::{secrets_match, PlainSecret, SecretKind};
use crate::domain::tenancy::{parse_api_key_name, ApiKey, App, LoginMethod, Tenant};
use crate::domain::time::rfc3339;
use crate::domain::token::{self, OperatorClaims};
use crate::domain::Error;
use crate::store::{ApiKeyStore, Attempt, EdgeStore, MemberStore, OperatorStore, TenancyStore};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{console_error, Request, Response};

/// A JSON response that no cache keeps.
pub fn respond(status: u16, body: &Value) -> Result<Response, Error> {
    let response = Response::from_json(body)?.with_status(status);
    response.headers().set("Cache-Control", "no-store")?;
    Ok(response)
}

pub(super) fn app_param(params: &Params) -> Result<AppId, Error> {
    AppId::parse(params.get("app_id").map(String::as_str).unwrap_or(""))
}

pub(super) fn tenant_param(params: &Params) -> Result<TenantId, Error> {
    TenantId::parse(params.get("tenant_id").map(String::as_str).unwrap_or(""))
}

pub(super) fn page_request(req: &Request) -> Result<PageRequest, Error> {
    let q = query(req)?;
    PageRequest::parse(
        q.get("limit").map(String::as_str),
        q.get("cursor").map(String::as_str),
    )
}

pub(super) fn page_body(items: Vec<Value>, next_cursor: Option<String>) -> Value {
    json!({ "items": items, "next_cursor": next_cursor })
}

fn app_view(app: &App) -> Value {
    json!({ "id": app.id, "settings": app.settings, "created_at": rfc3339(app.created_at_ms) })
}

fn tenant_view(t: &Tenant) -> Value {
    let methods: Vec<&str> = t.login_methods.iter().map(|m| m.as_str()).collect();
    json!({
        "id": t.id,
        "app_id": t.app_id,
        "login_methods": methods,
        "created_at": rfc3339(t.created_at_ms),
        "updated_at": rfc3339(t.updated_at_ms),
    })
}

fn api_key_view(k: &ApiKey) -> Value {
    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
    json!({
        "id": k.id.to_string(),
        "app_id": k.app_id,
        "tenant_id": k.tenant_id,
        "name": k.name,
        "scopes": scopes,
        "created_at": rfc3339(k.created_at_ms),
    })
}

pub(super) fn operator_view(o: &Operator) -> Value {
    json!({
        "id": o.id.to_string(),
        "email": o.email,
        "is_platform_owner": o.is_platform_owner,
        "created_at": rfc3339(o.created_at_ms),
    })
}

/// Who is calling: an operator (by access token) or a tenant API key (`tsk_…`).
/// Anything else, or a credential that no longer exists, is `401 unauthorized`.
pub(super) async fn principal(ctx: &Ctx, req: &Request) -> Result<Principal, Error> {
    let credential = bearer(req).ok_or(Error::Unauthorized)?;
    if credential.starts_with(SecretKind::ApiKey.prefix()) {
        let secret =
            PlainSecret::from_client(SecretKind::ApiKey, &credential).ok_or(Error::Unauthorized)?;
        let key = ctx
            .store
            .find_api_key_by_hash(&secret.hash())
            .await?
            .ok_or(Error::Unauthorized)?;
        return Ok(Principal::ApiKey {
            id: key.id,
            app_id: key.app_id,
            tenant_id: key.tenant_id,
            scopes: key.scopes,
        });
    }
    let kid = token::peek_kid(&credential).ok_or(Error::Unauthorized)?;
    let ttl_ms = ctx.operator_token_ttl_seconds()? * 1000;
    let key = keyring::public_key(ctx, &KeyOwner::Operators, &kid, ttl_ms)
        .await?
        .ok_or(Error::Unauthorized)?;
    let subject = token::verify_operator_token(&credential, |_| Some(key), ctx.now_ms)
        .ok_or(Error::Unauthorized)?;
    let id = OperatorId::parse(&subject).map_err(|_| Error::Unauthorized)?;
    let operator = ctx
        .store
        .find_operator(&id)
        .await?
        .ok_or(Error::Unauthorized)?;
    if operator.is_platform_owner {
        return Ok(Principal::PlatformOwner(id));
    }
    // Read on every request, so a suspension or departure takes effect at the next request,
    // whatever tokens the operator still holds.
    let grants = ctx.store.find_grants(&id).await?;
    Ok(Principal::Operator { id, grants })
}

/// The audit entry of a change made by `principal`.
pub(super) fn audit_entry(
    ctx: &Ctx,
    principal: &Principal,
    app_id: &AppId,
    action: &'static str,
    target: impl Into<String>,
    tenant_id: Option<&TenantId>,
    detail: Value,
) -> Result<AuditEntry, Error> {
    let actor = match principal {
        Principal::PlatformOwner(id) | Principal::Operator { id, .. } => {
            Actor::Operator(id.to_string())
        }
        Principal::ApiKey { id, .. } => Actor::ApiKey(id.to_string()),
    };
    Ok(AuditEntry {
        id: new_uuid_v7(ctx.now_ms, random()?).to_string(),
        app_id: app_id.clone(),
        at_ms: ctx.now_ms,
        actor,
        action,
        target: target.into(),
        tenant_id: tenant_id.cloned(),
        detail,
    })
}

/// Authenticates the caller and checks `permission` on `target`.
async fn allow(
    ctx: &Ctx,
    req: &Request,
    permission: Option<Permission>,
    target: Target<'_>,
) -> Result<Principal, Error> {
    let principal = principal(ctx, req).await?;
    authorize(&principal, permission, &target).into_result()?;
    Ok(principal)
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

/// `POST /admin/bootstrap` — permission: the `ADMIN_ROOT_TOKEN` secret as bearer.
/// Creates the first operator, a platform owner; once one exists, `409 already_bootstrapped`.
pub async fn bootstrap(ctx: &Ctx, mut req: Request) -> Result<Response, Error> {
    let presented = bearer(&req).unwrap_or_default();
    let expected = ctx.secret("ADMIN_ROOT_TOKEN");
    // Always compare, so a missing secret costs the same as a wrong token.
    let matches = secrets_match(&presented, expected.as_deref().unwrap_or(""));
    if !matches || expected.is_none() {
        return Err(Error::Unauthorized);
    }
    let body: Credentials = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let password = Password::parse(&body.password)?;
    let operator = Operator {
        id: OperatorId::generate(ctx.now_ms, random()?),
        email,
        password_hash: Some(ctx.password_policy()?.hash(&password, random()?)),
        is_platform_owner: true,
        created_at_ms: ctx.now_ms,
    };
    if !ctx.store.create_platform_owner(&operator).await? {
        return Err(Error::AlreadyBootstrapped);
    }
    respond(201, &json!({ "operator": operator_view(&operator) }))
}

/// `POST /admin/auth/signin` — permission: none (email and password).
/// Unknown email and wrong password answer alike, and cost alike (dummy hash).
pub async fn operator_signin(ctx: &Ctx, mut req: Request) -> Result<Response, Error> {
    let body: Credentials = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let password = Password::parse(&body.password)?;
    let attempt = Attempt {
        account: format!("operator:{email}"),
        client: client_subject_of(&req),
        now_ms: ctx.now_ms,
    };
    let record = ctx.store.begin_operator_signin(&email, &attempt).await?;
    if let Some(seconds) = record.retry_after {
        return Err(Error::RateLimited(seconds));
    }
    let policy = ctx.password_policy()?;
    let stored = record.user.as_ref().and_then(|o| o.password_hash.clone());
    let verified = match &stored {
        Some(hash) => hash.verify(&password),
        None => {
            policy.dummy_hash().verify(&password);
            false
        }
    };
    let (Some(operator), Some(hash), true) = (record.user, stored, verified) else {
        return Err(Error::InvalidCredentials);
    };
    ctx.store.finish_operator_signin(&attempt).await?;
    if policy.needs_rehash(&hash) {
        let upgraded = policy.hash(&password, random()?);
        // A failed upgrade must not fail the sign-in: the old hash still verifies.
        if let Err(e) = ctx
            .store
            .update_operator_password(&operator.id, &upgraded)
            .await
        {
            console_error!("password rehash failed: {e:?}");
        }
    }
    let ttl = ctx.operator_token_ttl_seconds()?;
    let key = keyring::signing_key(ctx, &KeyOwner::Operators, ttl * 1000).await?;
    let claims = OperatorClaims::new(&ctx.origin, &operator.id.to_string());
    let access_token = token::sign(&key, claims, ctx.now_ms, ttl)?;
    respond(
        200,
        &json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": ttl }),
    )
}

#[derive(Deserialize)]
struct CreateAppBody {
    id: String,
}

/// `POST /admin/apps` — permission: platform owner. Creates the app with its tenant `public`.
pub async fn create_app(ctx: &Ctx, mut req: Request) -> Result<Response, Error> {
    let principal = allow(ctx, &req, None, Target::Platform).await?;
    let body: CreateAppBody = json_body(&mut req).await?;
    let app = App {
        id: AppId::parse(&body.id)?,
        settings: Default::default(),
        created_at_ms: ctx.now_ms,
    };
    let public = Tenant::public_of(&app.id, ctx.now_ms);
    let audit = audit_entry(
        ctx,
        &principal,
        &app.id,
        "app.create",
        app.id.as_str(),
        None,
        json!({}),
    )?;
    if !ctx.store.create_app(&app, &public, &audit).await? {
        return Err(Error::Conflict(format!("app {} exists already", app.id)));
    }
    cache::app_changed(ctx, &app).await?;
    cache::tenant_changed(ctx, &app.id, &public.id, Some(&public)).await?;
    respond(201, &json!({ "app": app_view(&app) }))
}

/// `GET /admin/apps` — permission: any operator or API key; lists the apps the caller can see
/// (all for the platform owner, its own app for an API key).
pub async fn list_apps(ctx: &Ctx, req: Request) -> Result<Response, Error> {
    let principal = principal(ctx, &req).await?;
    let page = page_request(&req)?;
    let apps = match &principal {
        Principal::PlatformOwner(_) => {
            ctx.store
                .list_apps(page.after.as_deref(), page.limit + 1)
                .await?
        }
        Principal::ApiKey { app_id, .. } => visible_apps(ctx, &[app_id], &page).await?,
        Principal::Operator { grants, .. } => {
            let ids: Vec<&AppId> = grants
                .iter()
                .filter(|g| principal.can_see_app(&g.app_id))
                .map(|g| &g.app_id)
                .collect();
            visible_apps(ctx, &ids, &page).await?
        }
    };
    let (apps, next) = finish_page(apps, page.limit, |a| a.id.to_string());
    respond(200, &page_body(apps.iter().map(app_view).collect(), next))
}

/// The apps among `ids` that come after the page cursor, in id order, up to one more than a page.
async fn visible_apps(ctx: &Ctx, ids: &[&AppId], page: &PageRequest) -> Result<Vec<App>, Error> {
    let mut ids: Vec<&AppId> = ids
        .iter()
        .copied()
        .filter(|id| page.after.as_deref().is_none_or(|a| id.as_str() > a))
        .collect();
    ids.sort();
    ids.dedup();
    let mut apps = Vec::new();
    for id in ids.into_iter().take(page.limit + 1) {
        if let Some(app) = ctx.store.find_app(id).await? {
            apps.push(app);
        }
    }
    Ok(apps)
}

#[derive(Deserialize)]
struct PutTenantBody {
    login_methods: Option<Vec<String>>,
}

/// `PUT /admin/apps/{app_id}/tenants/{tenant_id}` — permission: `tenants:write`.
/// Creates (`201`) or updates (`200`) a tenant; `login_methods` defaults to `["emailpassword"]`
/// on creation and is left as it is when absent on update.
pub async fn put_tenant(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = (app_param(params)?, tenant_param(params)?);
    let principal = allow(
        ctx,
        &req,
        Some(Permission::TenantsWrite),
        Target::Tenant(&app_id, &tenant_id),
    )
    .await?;
    let body: PutTenantBody = json_body(&mut req).await?;
    let methods = body
        .login_methods
        .as_deref()
        .map(LoginMethod::parse_list)
        .transpose()?;
    ctx.store
        .find_app(&app_id)
        .await?
        .ok_or(Error::AppNotFound)?;
    let existing = ctx.store.find_tenant(&app_id, &tenant_id).await?;
    let (tenant, status) = match existing {
        Some(mut tenant) => {
            if let Some(methods) = methods {
                tenant.login_methods = methods;
            }
            tenant.updated_at_ms = ctx.now_ms;
            let audit = tenant_audit(ctx, &principal, &tenant, "tenant.update")?;
            if !ctx.store.update_tenant(&tenant, &audit).await? {
                return Err(Error::TenantNotFound);
            }
            (tenant, 200)
        }
        None => {
            let tenant = Tenant {
                app_id: app_id.clone(),
                id: tenant_id.clone(),
                login_methods: methods.unwrap_or_else(|| vec![LoginMethod::EmailPassword]),
                created_at_ms: ctx.now_ms,
                updated_at_ms: ctx.now_ms,
            };
            let audit = tenant_audit(ctx, &principal, &tenant, "tenant.create")?;
            if !ctx.store.create_tenant(&tenant, &audit).await? {
                return Err(Error::Conflict(
                    "the tenant was created concurrently; retry".into(),
                ));
            }
            (tenant, 201)
        }
    };
    cache::tenant_changed(ctx, &app_id, &tenant_id, Some(&tenant)).await?;
    respond(status, &json!({ "tenant": tenant_view(&tenant) }))
}

fn tenant_audit(
    ctx: &Ctx,
    principal: &Principal,
    tenant: &Tenant,
    action: &'static str,
) -> Result<AuditEntry, Error> {
    let methods: Vec<&str> = tenant.login_methods.iter().map(|m| m.as_str()).collect();
    audit_entry(
        ctx,
        principal,
        &tenant.app_id,
        action,
        tenant.id.as_str(),
        Some(&tenant.id),
        json!({ "login_methods": methods }),
    )
}

/// `GET /admin/apps/{app_id}/tenants/{tenant_id}` — permission: `tenants:read`.
pub async fn get_tenant(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = (app_param(params)?, tenant_param(params)?);
    allow(
        ctx,
        &req,
        Some(Permission::TenantsRead),
        Target::Tenant(&app_id, &tenant_id),
    )
    .await?;
    let tenant = find_tenant(ctx, &app_id, &tenant_id).await?;
    respond(200, &json!({ "tenant": tenant_view(&tenant) }))
}

pub(super) async fn find_tenant(
    ctx: &Ctx,
    app_id: &AppId,
    tenant_id: &TenantId,
) -> Result<Tenant, Error> {
    match ctx.store.find_tenant(app_id, tenant_id).await? {
        Some(tenant) => Ok(tenant),
        None => {
            ctx.store
                .find_app(app_id)
                .await?
                .ok_or(Error::AppNotFound)?;
            Err(Error::TenantNotFound)
        }
    }
}

/// `GET /admin/apps/{app_id}/tenants` — permission: `tenants:read` on the app.
pub async fn list_tenants(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    allow(
        ctx,
        &req,
        Some(Permission::TenantsRead),
        Target::App(&app_id),
    )
    .await?;
    let page = page_request(&req)?;
    ctx.store
        .find_app(&app_id)
        .await?
        .ok_or(Error::AppNotFound)?;
    let tenants = ctx
        .store
        .list_tenants(&app_id, page.after.as_deref(), page.limit + 1)
        .await?;
    let (tenants, next) = finish_page(tenants, page.limit, |t| t.id.to_string());
    respond(
        200,
        &page_body(tenants.iter().map(tenant_view).collect(), next),
    )
}

/// `DELETE /admin/apps/{app_id}/tenants/{tenant_id}` — permission: `tenants:write`.
/// Deletes the tenant and its API keys; `public` cannot be deleted (`409 conflict`).
pub async fn delete_tenant(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = (app_param(params)?, tenant_param(params)?);
    let principal = allow(
        ctx,
        &req,
        Some(Permission::TenantsWrite),
        Target::Tenant(&app_id, &tenant_id),
    )
    .await?;
    if tenant_id.is_public() {
        return Err(Error::Conflict(
            "the public tenant cannot be deleted".to_owned(),
        ));
    }
    let audit = audit_entry(
        ctx,
        &principal,
        &app_id,
        "tenant.delete",
        tenant_id.as_str(),
        Some(&tenant_id),
        json!({}),
    )?;
    let deleted = ctx.store.delete_tenant(&app_id, &tenant_id, &audit).await?;
    // Also when it was gone already: a retry after a failed mirror update must still clear it.
    cache::tenant_changed(ctx, &app_id, &tenant_id, None).await?;
    let Some(key_hashes) = deleted else {
        find_tenant(ctx, &app_id, &tenant_id).await?;
        return Err(Error::TenantNotFound);
    };
    // The KV copies of the tenant's keys are unusable now (their tenant is gone, so every
    // route they could open answers 404), but clear them anyway; a failure is only logged.
    match ctx.edge() {
        Ok(edge) => {
            for hash in &key_hashes {
                cache::forget_api_key(hash);
                if let Err(e) = edge.delete_api_key(hash).await {
                    console_error!("KV cleanup of a deleted tenant's key failed: {e:?}");
                }
            }
        }
        Err(e) => console_error!("KV cleanup of a deleted tenant's keys failed: {e:?}"),
    }
    Ok(Response::empty()?.with_status(204))
}

#[derive(Deserialize)]
struct CreateApiKeyBody {
    name: String,
    scopes: Vec<String>,
}

/// `POST /admin/apps/{app_id}/tenants/{tenant_id}/api-keys` — permission: `apikeys:write`.
/// The key is returned this once; only its SHA-256 is stored.
pub async fn create_api_key(
    ctx: &Ctx,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = (app_param(params)?, tenant_param(params)?);
    let principal = allow(
        ctx,
        &req,
        Some(Permission::ApiKeysWrite),
        Target::Tenant(&app_id, &tenant_id),
    )
    .await?;
    let body: CreateApiKeyBody = json_body(&mut req).await?;
    let name = parse_api_key_name(&body.name)?;
    let scopes = Scope::parse_list(&body.scopes)?;
    // A key can never carry more than its creator holds on this tenant.
    for scope in &scopes {
        if let Scope::Permission(permission) = scope {
            authorize(
                &principal,
                Some(*permission),
                &Target::Tenant(&app_id, &tenant_id),
            )
            .into_result()
            .map_err(|_| {
                Error::Forbidden(format!(
                    "the credentials cannot grant the scope {}",
                    permission.as_str()
                ))
            })?;
        }
    }
    find_tenant(ctx, &app_id, &tenant_id).await?;
    let secret = PlainSecret::generate(SecretKind::ApiKey, random()?);
    let key = ApiKey {
        id: ApiKeyId::generate(ctx.now_ms, random()?),
        app_id,
        tenant_id,
        name,
        scopes,
        created_at_ms: ctx.now_ms,
    };
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    let audit = audit_entry(
        ctx,
        &principal,
        &key.app_id,
        "api_key.create",
        key.id.to_string(),
        Some(&key.tenant_id),
        json!({ "name": key.name, "scopes": scopes }),
    )?;
    // Publish to KV (where introspection finds keys) before D1 makes the key usable on /admin,
    // and withdraw it again if D1 refuses, so nothing half-made remains.
    let edge = ctx.edge()?;
    edge.put_api_key(&secret.hash(), &key).await?;
    if let Err(e) = ctx.store.create_api_key(&key, &secret.hash(), &audit).await {
        if let Err(cleanup) = edge.delete_api_key(&secret.hash()).await {
            console_error!("KV withdrawal of an unstored API key failed: {cleanup:?}");
        }
        return Err(e);
    }
    let mut view = api_key_view(&key);
    view["key"] = Value::from(secret.expose());
    respond(201, &view)
}

/// `GET /admin/apps/{app_id}/tenants/{tenant_id}/api-keys` — permission: `apikeys:write`.
/// Lists keys without their secrets.
pub async fn list_api_keys(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = (app_param(params)?, tenant_param(params)?);
    allow(
        ctx,
        &req,
        Some(Permission::ApiKeysWrite),
        Target::Tenant(&app_id, &tenant_id),
    )
    .await?;
    let page = page_request(&req)?;
    find_tenant(ctx, &app_id, &tenant_id).await?;
    let keys = ctx
        .store
        .list_api_keys(&app_id, &tenant_id, page.after.as_deref(), page.limit + 1)
        .await?;
    let (keys, next) = finish_page(keys, page.limit, |k| k.id.to_string());
    respond(
        200,
        &page_body(keys.iter().map(api_key_view).collect(), next),
    )
}

/// `DELETE /admin/apps/{app_id}/tenants/{tenant_id}/api-keys/{key_id}` — permission:
/// `apikeys:write`. The key stops working at once: `/admin` looks keys up in D1, and the KV
/// copy that introspection reads is withdrawn first, so a failure leaves the key whole.
pub async fn delete_api_key(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = (app_param(params)?, tenant_param(params)?);
    let key_id = ApiKeyId::parse(params.get("key_id").map(String::as_str).unwrap_or(""))?;
    let principal = allow(
        ctx,
        &req,
        Some(Permission::ApiKeysWrite),
        Target::Tenant(&app_id, &tenant_id),
    )
    .await?;
    let Some(hash) = ctx
        .store
        .find_api_key_hash(&app_id, &tenant_id, &key_id)
        .await?
    else {
        find_tenant(ctx, &app_id, &tenant_id).await?;
        return Err(Error::NotFound("no such API key".to_owned()));
    };
    let audit = audit_entry(
        ctx,
        &principal,
        &app_id,
        "api_key.delete",
        key_id.to_string(),
        Some(&tenant_id),
        json!({}),
    )?;
    cache::forget_api_key(&hash);
    ctx.edge()?.delete_api_key(&hash).await?;
    ctx.store
        .delete_api_key(&app_id, &tenant_id, &key_id, Some(&audit))
        .await?;
    Ok(Response::empty()?.with_status(204))
}

/// `GET /admin/apps/{app_id}` — permission: `tenants:read` on the app. The app and its settings.
pub async fn get_app(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    allow(
        ctx,
        &req,
        Some(Permission::TenantsRead),
        Target::App(&app_id),
    )
    .await?;
    let app = ctx
        .store
        .find_app(&app_id)
        .await?
        .ok_or(Error::AppNotFound)?;
    respond(200, &json!({ "app": app_view(&app) }))
}

#[derive(Deserialize)]
struct PatchAppBody {
    settings: Value,
}

/// `PATCH /admin/apps/{app_id}` — permission: platform owner. Changes settings (lifetimes,
/// hashing cost, rotation schedule); the fields given replace the stored ones.
pub async fn patch_app(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    let principal = allow(ctx, &req, None, Target::App(&app_id)).await?;
    let body: PatchAppBody = json_body(&mut req).await?;
    let Value::Object(changes) = body.settings else {
        return Err(Error::validation("settings must be an object"));
    };
    let detail = json!({ "changed": changes.keys().collect::<Vec<_>>() });
    let mut app = ctx
        .store
        .find_app(&app_id)
        .await?
        .ok_or(Error::AppNotFound)?;
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
        ctx,
        &principal,
        &app_id,
        "app.update",
        app_id.as_str(),
        None,
        detail,
    )?;
    if !ctx
        .store
        .update_app_settings(&app_id, &app.settings, &audit)
        .await?
    {
        return Err(Error::AppNotFound);
    }
    cache::app_changed(ctx, &app).await?;
    respond(200, &json!({ "app": app_view(&app) }))
}

/// `POST /admin/apps/{app_id}/signing-keys/rotate` — permission: platform owner. Adds a new
/// end-user signing key, published now and signing after `JWKS_MAX_AGE_SECONDS`; the old key
/// keeps verifying until the last token it signed has expired.
pub async fn rotate_signing_key(
    ctx: &Ctx,
    req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    let principal = allow(ctx, &req, None, Target::App(&app_id)).await?;
    ctx.store
        .find_app(&app_id)
        .await?
        .ok_or(Error::AppNotFound)?;
    let activates_at_ms = ctx.now_ms + ctx.jwks_max_age_seconds()? * 1000;
    let audit = audit_entry(
        ctx,
        &principal,
        &app_id,
        "signing_key.rotate",
        app_id.as_str(),
        None,
        json!({ "activates_at": rfc3339(activates_at_ms) }),
    )?;
    let kid =
        keyring::create_key(ctx, &KeyOwner::App(app_id), activates_at_ms, Some(&audit)).await?;
    respond(
        201,
        &json!({ "kid": kid, "activates_at": rfc3339(activates_at_ms) }),
    )
}

//! The management plane (`/admin`): bootstrap, operator sign-in, apps, tenants, API keys.
//!
//! Every handler below authenticates first (`401 unauthorized`), then asks the pure
//! `domain::authz::authorize` for the permission named in its doc comment (`403 forbidden`),
//! and only then looks at the target (`404`). Admin reads go to D1 directly; writes forget
//! the isolate caches they make stale.

use super::cache;
use super::context::{random, Ctx};
use super::keyring;
use super::request::{bearer, json_body, query};
use super::routes::Params;
use crate::domain::authz::{authorize, Permission, Principal, Scope, Target};
use crate::domain::email::Email;
use crate::domain::ids::{ApiKeyId, AppId, OperatorId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::operator::Operator;
use crate::domain::page::{finish_page, PageRequest};
use crate::domain::password::Password;
use crate::domain::secret::{secrets_match, PlainSecret, SecretKind};
use crate::domain::tenancy::{parse_api_key_name, ApiKey, App, LoginMethod, Tenant};
use crate::domain::time::rfc3339;
use crate::domain::token::{self, OperatorClaims};
use crate::domain::Error;
use crate::store::{ApiKeyStore, EdgeStore, OperatorStore, TenancyStore};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{console_error, Request, Response};

/// A JSON response that no cache keeps.
pub fn respond(status: u16, body: &Value) -> Result<Response, Error> {
    let response = Response::from_json(body)?.with_status(status);
    response.headers().set("Cache-Control", "no-store")?;
    Ok(response)
}

fn app_param(params: &Params) -> Result<AppId, Error> {
    AppId::parse(params.get("app_id").map(String::as_str).unwrap_or(""))
}

fn tenant_param(params: &Params) -> Result<TenantId, Error> {
    TenantId::parse(params.get("tenant_id").map(String::as_str).unwrap_or(""))
}

fn page_request(req: &Request) -> Result<PageRequest, Error> {
    let q = query(req)?;
    PageRequest::parse(
        q.get("limit").map(String::as_str),
        q.get("cursor").map(String::as_str),
    )
}

fn page_body(items: Vec<Value>, next_cursor: Option<String>) -> Value {
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

fn operator_view(o: &Operator) -> Value {
    json!({
        "id": o.id.to_string(),
        "email": o.email,
        "is_platform_owner": o.is_platform_owner,
        "created_at": rfc3339(o.created_at_ms),
    })
}

/// Who is calling: an operator (by access token) or a tenant API key (`tsk_…`).
/// Anything else, or a credential that no longer exists, is `401 unauthorized`.
async fn principal(ctx: &Ctx, req: &Request) -> Result<Principal, Error> {
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
    Ok(if operator.is_platform_owner {
        Principal::PlatformOwner(id)
    } else {
        Principal::Operator(id)
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
    let policy = ctx.password_policy()?;
    let operator = ctx.store.find_operator_by_email(email.as_str()).await?;
    let stored = operator.as_ref().and_then(|o| o.password_hash.clone());
    let verified = match &stored {
        Some(hash) => hash.verify(&password),
        None => {
            policy.dummy_hash().verify(&password);
            false
        }
    };
    let (Some(operator), Some(hash), true) = (operator, stored, verified) else {
        return Err(Error::InvalidCredentials);
    };
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
    allow(ctx, &req, None, Target::Platform).await?;
    let body: CreateAppBody = json_body(&mut req).await?;
    let app = App {
        id: AppId::parse(&body.id)?,
        settings: Default::default(),
        created_at_ms: ctx.now_ms,
    };
    let public = Tenant::public_of(&app.id, ctx.now_ms);
    if !ctx.store.create_app(&app, &public).await? {
        return Err(Error::Conflict(format!("app {} exists already", app.id)));
    }
    cache::forget_app(&app.id);
    cache::forget_tenant(&app.id, &public.id);
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
        Principal::ApiKey { app_id, .. } => {
            let visible = page.after.as_deref().is_none_or(|a| app_id.as_str() > a);
            match visible {
                true => ctx.store.find_app(app_id).await?.into_iter().collect(),
                false => Vec::new(),
            }
        }
        Principal::Operator(_) => Vec::new(),
    };
    let (apps, next) = finish_page(apps, page.limit, |a| a.id.to_string());
    respond(200, &page_body(apps.iter().map(app_view).collect(), next))
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
    allow(
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
            if !ctx.store.update_tenant(&tenant).await? {
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
            if !ctx.store.create_tenant(&tenant).await? {
                return Err(Error::Conflict(
                    "the tenant was created concurrently; retry".into(),
                ));
            }
            (tenant, 201)
        }
    };
    cache::forget_tenant(&app_id, &tenant_id);
    respond(status, &json!({ "tenant": tenant_view(&tenant) }))
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

async fn find_tenant(ctx: &Ctx, app_id: &AppId, tenant_id: &TenantId) -> Result<Tenant, Error> {
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
    allow(
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
    let Some(key_hashes) = ctx.store.delete_tenant(&app_id, &tenant_id).await? else {
        find_tenant(ctx, &app_id, &tenant_id).await?;
        return Err(Error::TenantNotFound);
    };
    cache::forget_tenant(&app_id, &tenant_id);
    // The KV copies of the tenant's keys are unusable now (their tenant is gone, so every
    // route they could open answers 404), but clear them anyway; a failure is only logged.
    match ctx.edge() {
        Ok(edge) => {
            for hash in &key_hashes {
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
    allow(
        ctx,
        &req,
        Some(Permission::ApiKeysWrite),
        Target::Tenant(&app_id, &tenant_id),
    )
    .await?;
    let body: CreateApiKeyBody = json_body(&mut req).await?;
    let name = parse_api_key_name(&body.name)?;
    let scopes = Scope::parse_list(&body.scopes)?;
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
    ctx.store.create_api_key(&key, &secret.hash()).await?;
    // Introspection finds keys in KV. If publishing fails, take the key back out of D1 so that
    // nothing half-made remains, and say so.
    let published = async { ctx.edge()?.put_api_key(&secret.hash(), &key).await }.await;
    if let Err(e) = published {
        ctx.store
            .delete_api_key(&key.app_id, &key.tenant_id, &key.id)
            .await?;
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
    allow(
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
    ctx.edge()?.delete_api_key(&hash).await?;
    ctx.store
        .delete_api_key(&app_id, &tenant_id, &key_id)
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
    allow(ctx, &req, None, Target::App(&app_id)).await?;
    let body: PatchAppBody = json_body(&mut req).await?;
    let Value::Object(changes) = body.settings else {
        return Err(Error::validation("settings must be an object"));
    };
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
    if !ctx
        .store
        .update_app_settings(&app_id, &app.settings)
        .await?
    {
        return Err(Error::AppNotFound);
    }
    cache::forget_app(&app_id);
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
    allow(ctx, &req, None, Target::App(&app_id)).await?;
    ctx.store
        .find_app(&app_id)
        .await?
        .ok_or(Error::AppNotFound)?;
    let activates_at_ms = ctx.now_ms + ctx.jwks_max_age_seconds()? * 1000;
    let kid = keyring::create_key(ctx, &KeyOwner::App(app_id), activates_at_ms).await?;
    respond(
        201,
        &json!({ "kid": kid, "activates_at": rfc3339(activates_at_ms) }),
    )
}

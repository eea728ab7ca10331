//! Apps (`/admin/apps…`): create, list, read, change settings, rotate the signing key.

use super::context::Ctx;
use super::dto::{AppBody, AppEnvelope, PageBody, RotatedKeyBody};
use super::extract::{allowed, app_id, caller, json_body, page_request, query};
use super::respond;
use super::routes::Params;
use crate::domain::authz::Target;
use crate::domain::ids::AppId;
use crate::domain::Error;
use crate::service::tenancy;
use serde::Deserialize;
use serde_json::Value;
use worker::{Request, Response};

#[derive(Deserialize)]
struct CreateAppBody {
    id: String,
}

fn app(status: u16, app: &crate::domain::tenancy::App) -> Result<Response, Error> {
    respond::json(status, &AppEnvelope { app: app.into() })
}

/// `POST /admin/apps` — platform owner. The app with its tenant `public`.
pub async fn create(cx: &Ctx<'_>, mut req: Request) -> Result<Response, Error> {
    let caller = allowed(cx, &req, None, Target::Platform).await?;
    let body: CreateAppBody = json_body(&mut req).await?;
    let created = tenancy::create_app(cx, &caller, AppId::parse(&body.id)?).await?;
    app(201, &created)
}

/// `GET /admin/apps` — any operator or API key: the apps the caller can see.
pub async fn list(cx: &Ctx<'_>, req: Request) -> Result<Response, Error> {
    let caller = caller(cx, &req).await?;
    let page = page_request(&query(&req)?)?;
    let apps = tenancy::list_apps(cx, &caller, &page).await?;
    respond::json(200, &PageBody::of(&apps, AppBody::from))
}

/// `GET /admin/apps/{app_id}` — `tenants:read` on the app.
pub async fn get(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = caller(cx, &req).await?;
    app(200, &tenancy::get_app(cx, &caller, &app_id).await?)
}

#[derive(Deserialize)]
struct PatchAppBody {
    settings: Value,
}

/// `PATCH /admin/apps/{app_id}` — platform owner. The given settings replace the stored ones.
pub async fn patch(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = allowed(cx, &req, None, Target::App(&app_id)).await?;
    let body: PatchAppBody = json_body(&mut req).await?;
    let Value::Object(changes) = body.settings else {
        return Err(Error::validation("settings must be an object"));
    };
    app(
        200,
        &tenancy::patch_app(cx, &caller, &app_id, changes).await?,
    )
}

/// `POST /admin/apps/{app_id}/signing-keys/rotate` — platform owner.
pub async fn rotate_signing_key(
    cx: &Ctx<'_>,
    req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = caller(cx, &req).await?;
    let rotated = tenancy::rotate_signing_key(cx, &caller, &app_id).await?;
    respond::json(
        201,
        &RotatedKeyBody {
            kid: rotated.kid,
            activates_at: rotated.activates_at.rfc3339(),
        },
    )
}

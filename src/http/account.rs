//! An end user's own account (`/apps/{app_id}/tenants/{tenant_id}/auth/…`, bearer access
//! token): password change, sessions, leaving the tenant.

use super::context::Ctx;
use super::dto::{OwnSessionBody, PageBody};
use super::extract::{bearer, client_subject_of, json_body, page_request, param, place, query};
use super::respond;
use super::routes::Params;
use crate::domain::password::Password;
use crate::domain::session::SessionId;
use crate::domain::Error;
use crate::service::account;
use serde::Deserialize;
use worker::{Request, Response};

#[derive(Deserialize)]
struct PasswordBody {
    current_password: Option<String>,
    new_password: String,
}

/// `POST …/auth/password` — bearer access token. `204`; the other sessions are revoked.
pub async fn change_password(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    // Parsed here, judged by the use case after the bearer token (401 before 400).
    let change = json_body::<PasswordBody>(&mut req).await.and_then(|body| {
        Ok(account::PasswordChange {
            current: body
                .current_password
                .as_deref()
                .map(Password::parse)
                .transpose()?,
            new: Password::parse(&body.new_password)?,
        })
    });
    let client = client_subject_of(&req);
    account::change_password(
        cx,
        &app_id,
        &tenant_id,
        bearer(&req).as_deref(),
        change,
        client,
    )
    .await?;
    respond::no_content()
}

/// `GET …/auth/sessions` — bearer access token. The live sessions, newest first.
pub async fn sessions(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let page = page_request(&query(&req)?)?;
    let own = account::sessions(cx, &app_id, &tenant_id, bearer(&req).as_deref(), &page).await?;
    respond::json(
        200,
        &PageBody::of(&own.page, |s| OwnSessionBody::new(s, &own.current)),
    )
}

/// `DELETE …/auth/sessions/{session_id}` — bearer access token. Own sessions only.
pub async fn end_session(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    // An id that is not a UUID names no session: 404 like any other's (after the token).
    let session = SessionId::parse(param(params, "session_id")).ok();
    let bearer = bearer(&req);
    account::end_session(cx, &app_id, &tenant_id, bearer.as_deref(), session.as_ref()).await?;
    respond::no_content()
}

/// `DELETE …/auth/me` — bearer access token. Leaves the tenant.
pub async fn leave(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    account::leave(cx, &app_id, &tenant_id, bearer(&req).as_deref()).await?;
    respond::no_content()
}

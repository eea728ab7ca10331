//! End users of a tenant (`/apps/{app_id}/tenants/{tenant_id}/auth/…`): sign-up, sign-in,
//! refresh, sign-out and `/auth/me`. Each handler parses, calls its use case in
//! `service::{signin, sessions, introspection}`, and answers.

use super::context::Ctx;
use super::dto::{SessionEnvelope, UserAndSession, UserEnvelope};
use super::extract::{bearer, client_subject_of, cookie, json_body, place, DEVICE_COOKIE};
use super::respond;
use super::routes::Params;
use crate::domain::email::Email;
use crate::domain::password::Password;
use crate::domain::Error;
use crate::service::signin::SignedIn;
use crate::service::{introspection, sessions, signin};
use serde::Deserialize;
use worker::{Request, Response};

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

/// The email and password of a body; both are checked before any hashing.
pub async fn credentials(req: &mut Request) -> Result<(Email, Password), Error> {
    let body: Credentials = json_body(req).await?;
    Ok((Email::parse(&body.email)?, Password::parse(&body.password)?))
}

fn signed_in(status: u16, signed: &SignedIn) -> Result<Response, Error> {
    let response = respond::json(
        status,
        &UserAndSession {
            user: (&signed.user).into(),
            session: (&signed.session).into(),
        },
    )?;
    let face = &signed.user.face;
    let path = format!("/apps/{}/tenants/{}/auth", face.app_id, face.tenant_id);
    respond::with_device_cookie(response, signed.device.expose(), &path, "None")
}

/// `POST …/auth/signup` — no credential. A new user of the tenant, signed in.
pub async fn signup(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let (email, password) = credentials(&mut req).await?;
    let client = client_subject_of(&req);
    let signed =
        signin::signup(cx, &app_id, &tenant_id, email, &password, client.as_deref()).await?;
    signed_in(201, &signed)
}

/// `POST …/auth/signin` — no credential (email and password).
pub async fn signin(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let (email, password) = credentials(&mut req).await?;
    let client = client_subject_of(&req);
    let device = cookie(&req, DEVICE_COOKIE);
    let signed = signin::signin(
        cx,
        &app_id,
        &tenant_id,
        email,
        &password,
        client,
        device.as_deref(),
    )
    .await?;
    signed_in(200, &signed)
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

/// `POST …/auth/refresh` — the refresh token in the body.
pub async fn refresh(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let body: RefreshBody = json_body(&mut req).await?;
    let session = sessions::refresh(cx, &app_id, &tenant_id, &body.refresh_token).await?;
    respond::json(
        200,
        &SessionEnvelope {
            session: (&session).into(),
        },
    )
}

/// `POST …/auth/signout` — bearer access token. Revokes its session.
pub async fn signout(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    introspection::signout(cx, &app_id, &tenant_id, bearer(&req).as_deref()).await?;
    respond::no_content()
}

/// `GET …/auth/me` — bearer access token. The user as this tenant sees it.
pub async fn me(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let user = introspection::me(cx, &app_id, &tenant_id, bearer(&req).as_deref()).await?;
    respond::json(200, &UserEnvelope::from(&user))
}

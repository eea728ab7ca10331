//! The operator plane's entry: bootstrap of the first platform owner and operator sign-in.

use super::auth::credentials;
use super::context::Ctx;
use super::dto::{OperatorEnvelope, OperatorTokenBody};
use super::extract::{bearer, client_subject_of, cookie, json_body, DEVICE_COOKIE};
use super::respond;
use crate::domain::email::Email;
use crate::domain::Error;
use crate::service::operators;
use serde::Deserialize;
use worker::{Request, Response};

/// `POST /admin/bootstrap` — bearer `ADMIN_ROOT_TOKEN`. The first platform owner.
pub async fn bootstrap(cx: &Ctx<'_>, mut req: Request) -> Result<Response, Error> {
    let presented = bearer(&req);
    // The root token is checked before the body is read, so a wrong token learns nothing.
    operators::check_root_token(cx, presented.as_deref())?;
    let (email, password) = credentials(&mut req).await?;
    let operator = operators::bootstrap(cx, presented.as_deref(), email, &password).await?;
    respond::json(
        201,
        &OperatorEnvelope {
            operator: (&operator).into(),
        },
    )
}

/// `POST /admin/auth/signin` — no credential (email and password). Sets the device cookie.
pub async fn signin(cx: &Ctx<'_>, mut req: Request) -> Result<Response, Error> {
    let (email, password) = credentials(&mut req).await?;
    let client = client_subject_of(&req);
    let device = cookie(&req, DEVICE_COOKIE);
    let signed = operators::signin(cx, email, &password, client, device.as_deref()).await?;
    let response = respond::json(200, &OperatorTokenBody::from(signed.token))?;
    respond::with_device_cookie(response, signed.device.expose(), "/admin/auth", "Strict")
}

#[derive(Deserialize)]
struct UnlockBody {
    email: String,
}

/// `POST /admin/auth/unlock` — bearer `ADMIN_ROOT_TOKEN`. Clears an operator email's sign-in
/// counter.
pub async fn unlock(cx: &Ctx<'_>, mut req: Request) -> Result<Response, Error> {
    let presented = bearer(&req);
    operators::check_root_token(cx, presented.as_deref())?;
    let body: UnlockBody = json_body(&mut req).await?;
    operators::unlock(cx, presented.as_deref(), &Email::parse(&body.email)?).await?;
    respond::no_content()
}

//! The operator plane's entry: bootstrap of the first platform owner, operator sign-up (when
//! the deployment opens it), operator sign-in, the verification of an operator's email, and
//! the caller's own account and memberships.

use super::auth::credentials;
use super::context::Ctx;
use super::dto::{Empty, MeBody, OperatorEnvelope, OperatorTokenBody, SignedUpBody};
use super::extract::{bearer, caller, client_subject_of, cookie, json_body, DEVICE_COOKIE};
use super::respond;
use crate::domain::email::Email;
use crate::domain::ids::AppId;
use crate::domain::password::Password;
use crate::domain::Error;
use crate::service::{operators, recovery};
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

/// `GET /admin/me` — any operator (an API key: `403`). The caller and its memberships, with
/// the permissions each binds.
pub async fn me(cx: &Ctx<'_>, req: Request) -> Result<Response, Error> {
    let caller = caller(cx, &req).await?;
    let me = operators::me(cx, &caller).await?;
    respond::json(200, &MeBody::from(&me))
}

#[derive(Deserialize)]
struct SignupBody {
    email: String,
    password: String,
    app_id: String,
}

/// `POST /admin/signup` — no credential; `404` unless the deployment sets
/// `OPERATOR_SIGNUP = "open"`. A new app with its `public` tenant, the caller its owner.
pub async fn signup(cx: &Ctx<'_>, mut req: Request) -> Result<Response, Error> {
    if !cx.config.operator_signup_open {
        return Err(Error::RouteNotFound);
    }
    let body: SignupBody = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let password = Password::parse(&body.password)?;
    let app_id = AppId::parse(&body.app_id)?;
    let client = client_subject_of(&req);
    let signed_up = operators::signup(cx, email, &password, app_id, client).await?;
    respond::json(
        201,
        &SignedUpBody {
            operator: (&signed_up.operator).into(),
            app: (&signed_up.app).into(),
        },
    )
}

/// `POST /admin/auth/email-verification/send` — an operator token. `202 {}`.
pub async fn send_verification(cx: &Ctx<'_>, req: Request) -> Result<Response, Error> {
    let caller = caller(cx, &req).await?;
    let client = client_subject_of(&req);
    recovery::send_operator_verification(cx, &caller, client).await?;
    respond::json(202, &Empty {})
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

/// `POST /admin/auth/email-verification/verify` — the link's token. `200 {"operator"}`.
pub async fn verify_email(cx: &Ctx<'_>, mut req: Request) -> Result<Response, Error> {
    let body: TokenBody = json_body(&mut req).await?;
    let client = client_subject_of(&req);
    let operator = recovery::verify_operator_email(cx, &body.token, client).await?;
    respond::json(
        200,
        &OperatorEnvelope {
            operator: (&operator).into(),
        },
    )
}

//! Proving an email by mail (`/apps/{app_id}/tenants/{tenant_id}/auth/…`): email
//! verification, password reset, passwordless sign-in — and the operators' password reset
//! (`/admin/auth/password-reset…`). Sends answer `202 {}` whatever the address.

use super::context::Ctx;
use super::dto::{Empty, PasswordlessSignedIn, PasswordlessStarted, UserEnvelope};
use super::extract::{bearer, client_subject_of, json_body, place};
use super::respond;
use super::routes::Params;
use crate::domain::challenge::Code;
use crate::domain::email::Email;
use crate::domain::ids::ChallengeId;
use crate::domain::password::Password;
use crate::domain::Error;
use crate::service::passwordless::{self, Proof};
use crate::service::recovery;
use serde::Deserialize;
use worker::{Request, Response};

#[derive(Deserialize)]
struct EmailBody {
    email: String,
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

#[derive(Deserialize)]
struct ResetBody {
    token: String,
    password: String,
}

fn accepted() -> Result<Response, Error> {
    respond::json(202, &Empty {})
}

/// `POST …/auth/email-verification/send` — bearer access token.
pub async fn send_verification(
    cx: &Ctx<'_>,
    req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let client = client_subject_of(&req);
    recovery::send_verification(cx, &app_id, &tenant_id, bearer(&req).as_deref(), client).await?;
    accepted()
}

/// `POST …/auth/email-verification/verify` — the link's token.
pub async fn verify_email(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let body: TokenBody = json_body(&mut req).await?;
    let client = client_subject_of(&req);
    let user = recovery::verify_email(cx, &app_id, &tenant_id, &body.token, client).await?;
    respond::json(200, &UserEnvelope::from(&user))
}

/// `POST …/auth/password-reset/send` — no credential.
pub async fn send_reset(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let body: EmailBody = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let client = client_subject_of(&req);
    recovery::send_reset(cx, &app_id, &tenant_id, email, client).await?;
    accepted()
}

/// `POST …/auth/password-reset` — the link's token and the new password.
pub async fn reset_password(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let body: ResetBody = json_body(&mut req).await?;
    let password = Password::parse(&body.password)?;
    let client = client_subject_of(&req);
    recovery::reset_password(cx, &app_id, &tenant_id, &body.token, &password, client).await?;
    respond::json(200, &Empty {})
}

/// `POST …/auth/passwordless/start` — no credential.
pub async fn passwordless_start(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let body: EmailBody = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let client = client_subject_of(&req);
    let started = passwordless::start(cx, &app_id, &tenant_id, email, client).await?;
    respond::json(
        200,
        &PasswordlessStarted {
            attempt_id: started.attempt_id.to_string(),
            expires_in: started.expires_in,
        },
    )
}

#[derive(Deserialize)]
struct ConsumeBody {
    attempt_id: Option<String>,
    code: Option<String>,
    link_token: Option<String>,
}

/// `POST …/auth/passwordless/consume` — `{"attempt_id", "code"}` or `{"link_token"}`.
pub async fn passwordless_consume(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let body: ConsumeBody = json_body(&mut req).await?;
    let proof = match (body.link_token, body.attempt_id, body.code) {
        (Some(token), None, None) => Proof::Link { token },
        (None, Some(attempt_id), Some(code)) => Proof::Code {
            attempt_id: ChallengeId::parse(&attempt_id)?,
            code: Code::from_client(&code)
                .ok_or_else(|| Error::validation("code must be 6 digits"))?,
        },
        _ => {
            return Err(Error::validation(
                "give either attempt_id and code, or link_token",
            ))
        }
    };
    let client = client_subject_of(&req);
    let consumed = passwordless::consume(cx, &app_id, &tenant_id, proof, client).await?;
    let signed = &consumed.signed_in;
    respond::json(
        200,
        &PasswordlessSignedIn {
            user: (&signed.user).into(),
            session: (&signed.session).into(),
            created: consumed.created,
        },
    )
}

/// `POST /admin/auth/password-reset/send` — no credential.
pub async fn send_operator_reset(cx: &Ctx<'_>, mut req: Request) -> Result<Response, Error> {
    let body: EmailBody = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let client = client_subject_of(&req);
    recovery::send_operator_reset(cx, email, client).await?;
    accepted()
}

/// `POST /admin/auth/password-reset` — the link's token and the new password.
pub async fn reset_operator_password(cx: &Ctx<'_>, mut req: Request) -> Result<Response, Error> {
    let body: ResetBody = json_body(&mut req).await?;
    let password = Password::parse(&body.password)?;
    let client = client_subject_of(&req);
    recovery::reset_operator_password(cx, &body.token, &password, client).await?;
    respond::json(200, &Empty {})
}

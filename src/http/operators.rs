//! The operator plane's entry: bootstrap of the first platform owner and operator sign-in.

use super::auth::credentials;
use super::context::Ctx;
use super::dto::{OperatorEnvelope, OperatorTokenBody};
use super::extract::{bearer, client_subject_of};
use super::respond;
use crate::domain::Error;
use crate::service::operators;
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

/// `POST /admin/auth/signin` — no credential (email and password).
pub async fn signin(cx: &Ctx<'_>, mut req: Request) -> Result<Response, Error> {
    let (email, password) = credentials(&mut req).await?;
    let client = client_subject_of(&req);
    let token = operators::signin(cx, email, &password, client).await?;
    respond::json(200, &OperatorTokenBody::from(token))
}

//! An app's email delivery (`/admin/apps/{app_id}/email-delivery…`) and its outbox
//! (`/admin/apps/{app_id}/outbox`).

use super::context::Ctx;
use super::dto::{DeadLetterBody, DeliveryBody, DeliveryEnvelope, OutboxMessageBody, PageBody};
use super::extract::{allowed, app_id, json_body, page_request, query};
use super::respond;
use super::routes::Params;
use crate::domain::authz::{Permission, Target};
use crate::domain::delivery::DeliveryKind;
use crate::domain::email::Email;
use crate::domain::links::WebUrl;
use crate::domain::Error;
use crate::service::email::{self, DeliveryRequest};
use serde::Deserialize;
use worker::{Request, Response};

#[derive(Deserialize)]
struct PutDeliveryBody {
    kind: String,
    url: Option<String>,
}

/// `PUT /admin/apps/{app_id}/email-delivery` — `tenants:write` on the app. `webhook` answers
/// its signing secret this once.
pub async fn put_delivery(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let target = Target::App(&app_id);
    let caller = allowed(cx, &req, Some(Permission::TenantsWrite), target).await?;
    let body: PutDeliveryBody = json_body(&mut req).await?;
    let request = match (DeliveryKind::parse(&body.kind)?, body.url) {
        (DeliveryKind::Webhook, Some(url)) => {
            DeliveryRequest::Webhook(WebUrl::parse_webhook(&url)?)
        }
        (DeliveryKind::Webhook, None) => {
            return Err(Error::validation("a webhook delivery needs a url"))
        }
        (_, Some(_)) => return Err(Error::validation("only a webhook delivery has a url")),
        (DeliveryKind::Outbox, None) => DeliveryRequest::Outbox,
        (DeliveryKind::None, None) => DeliveryRequest::None,
    };
    let (delivery, secret) = email::put_delivery(cx, &caller, &app_id, request).await?;
    respond::json(
        200,
        &DeliveryEnvelope {
            delivery: DeliveryBody::from(&delivery),
            secret: secret.map(|s| s.0),
        },
    )
}

/// `GET /admin/apps/{app_id}/email-delivery` — `tenants:read` on the app.
pub async fn get_delivery(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let target = Target::App(&app_id);
    let caller = allowed(cx, &req, Some(Permission::TenantsRead), target).await?;
    let delivery = email::get_delivery(cx, &caller, &app_id).await?;
    respond::json(
        200,
        &DeliveryEnvelope {
            delivery: DeliveryBody::from(&delivery),
            secret: None,
        },
    )
}

/// `GET /admin/apps/{app_id}/outbox` — `users:write` on the app. Query `to`, `limit`,
/// `cursor`.
pub async fn outbox(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let target = Target::App(&app_id);
    let caller = allowed(cx, &req, Some(Permission::UsersWrite), target).await?;
    let q = query(&req)?;
    let to = q.get("to").map(|to| Email::parse(to)).transpose()?;
    let page = page_request(&q)?;
    let messages = email::outbox(cx, &caller, &app_id, to.as_ref(), &page).await?;
    respond::json(200, &PageBody::of(&messages, OutboxMessageBody::from))
}

/// `GET /admin/apps/{app_id}/email-delivery/dead-letters` — `users:read` on the app.
pub async fn dead_letters(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let target = Target::App(&app_id);
    let caller = allowed(cx, &req, Some(Permission::UsersRead), target).await?;
    let page = page_request(&query(&req)?)?;
    let letters = email::dead_letters(cx, &caller, &app_id, &page).await?;
    respond::json(200, &PageBody::of(&letters, DeadLetterBody::from))
}

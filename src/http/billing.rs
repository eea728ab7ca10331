//! The billing webhook (`/apps/{app_id}/webhooks/billing`) and its secret
//! (`/admin/apps/{app_id}/webhook-secret`).

use super::context::Ctx;
use super::dto::{SecretEnvelope, Status};
use super::extract::{app_id, bounded_body, caller, header, parse_json};
use super::respond;
use super::routes::Params;
use crate::domain::ids::TenantId;
use crate::domain::names::PlanTier;
use crate::domain::user::UserId;
use crate::domain::Error;
use crate::service::billing::{self, EventStatus, PlanEvent};
use serde::Deserialize;
use worker::{Request, Response};

/// `POST /admin/apps/{app_id}/webhook-secret` — `webhooks:write`. The new secret, shown once.
pub async fn rotate_secret(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = caller(cx, &req).await?;
    let secret = billing::rotate_secret(cx, &caller, &app_id).await?;
    respond::json(200, &SecretEnvelope { secret: secret.0 })
}

#[derive(Deserialize)]
struct BillingEvent {
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    tenant_id: String,
    user_id: String,
    plan_tier: String,
}

/// `POST /apps/{app_id}/webhooks/billing` — the `Webhook-Signature` header. A signed
/// `plan.updated` event; one seen before answers `200` and changes nothing.
pub async fn webhook(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let body = bounded_body(&mut req).await?;
    let signature = header(&req, "Webhook-Signature").unwrap_or_default();
    billing::verify_signature(cx, &app_id, &signature, &body).await?;
    let event: BillingEvent = parse_json(&body).map_err(|e| {
        Error::validation(e.to_string().replace("invalid JSON body", "invalid event"))
    })?;
    if event.kind != "plan.updated" {
        return Err(Error::validation(format!(
            "unknown event type {:?}",
            event.kind
        )));
    }
    let event = PlanEvent {
        event_id: event.event_id,
        tenant_id: TenantId::parse(&event.tenant_id)?,
        user_id: UserId::parse(&event.user_id)?,
        plan_tier: PlanTier::parse(&event.plan_tier)?,
    };
    let status = match billing::apply_plan_event(cx, &app_id, event).await? {
        EventStatus::Applied => "applied",
        EventStatus::Duplicate => "duplicate",
    };
    respond::json(200, &Status { status })
}

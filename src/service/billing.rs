//! The billing webhook of an app: its secret (sealed at rest, shown once when rotated) and
//! signed `plan.updated` events that set a user's plan in a tenant. Plan-derived roles follow
//! the plan (hand-assigned ones stay: `domain::policy`); an event id is applied at most once.

use super::cache::{self, OnKvFailure};
use super::principal::{actor, audit_entry, Change};
use super::tenancy::existing_app;
use super::users::{face_of, heal_flags};
use super::{Ctx, Stores};
use crate::domain::audit::{Actor, AuditAction};
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::ids::{AppId, TenantId};
use crate::domain::names::PlanTier;
use crate::domain::user::UserId;
use crate::domain::webhook;
use crate::domain::Error;
use crate::store::{EventOutcome, UserStateStore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::json;

/// The associated data under which an app's webhook secret is sealed.
fn sealing_context(app_id: &AppId) -> String {
    format!("webhook:{app_id}")
}

/// A billing webhook secret, shown to the operator once.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(pub String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// `POST /admin/apps/{app}/webhook-secret` — `webhooks:write`. Rotates the secret and returns
/// the new one; the old one stops verifying at once.
pub async fn rotate_secret<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
) -> Result<WebhookSecret, Error> {
    authorize(
        caller,
        Some(Permission::WebhooksWrite),
        &Target::App(app_id),
    )
    .into_result()?;
    existing_app(cx, app_id).await?;
    let secret = format!("whsec_{}", B64URL.encode(cx.random::<32>()?));
    let sealed = cx.encryption_key()?.seal_bytes(
        &sealing_context(app_id),
        secret.as_bytes(),
        cx.random()?,
    )?;
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::WebhookSecretRotate,
            target: app_id.to_string(),
            tenant_id: None,
            detail: json!({}),
        },
    )?;
    cx.db
        .put_webhook_secret(app_id, &sealed, cx.now, &audit)
        .await?;
    Ok(WebhookSecret(secret))
}

/// A `plan.updated` event, as the sender posts it (checked after the signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEvent {
    pub event_id: String,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub plan_tier: PlanTier,
}

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Applied,
    /// Seen before: nothing changed.
    Duplicate,
}

/// Checks the `Webhook-Signature` of `body` with the app's secret (HMAC-SHA256, constant
/// time, `t` within 300 s of now). Anything wrong — no secret yet included — is
/// `401 invalid_signature`.
pub async fn verify_signature<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    header: &str,
    body: &[u8],
) -> Result<(), Error> {
    cache::app(cx, app_id, OnKvFailure::ReadD1).await?;
    let secret = match cx.db.find_webhook_secret(app_id).await? {
        Some(sealed) => cx
            .encryption_key()?
            .open_bytes(&sealing_context(app_id), &sealed)?,
        None => return Err(Error::InvalidSignature),
    };
    let secret = String::from_utf8(secret)
        .map_err(|_| Error::Internal("webhook secret is not text".into()))?;
    if webhook::verify(&secret, header, body, cx.now.unix_seconds()) {
        Ok(())
    } else {
        Err(Error::InvalidSignature)
    }
}

/// `POST /apps/{app}/webhooks/billing` after `verify_signature`: sets the user's plan in the
/// tenant (`422 unknown_plan` for an undefined tier), once per event id. A replay changes
/// nothing but rewrites the user's flags from D1, healing an edge write that failed the first
/// time (the sender retries when it sees no `200`).
pub async fn apply_plan_event<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    event: PlanEvent,
) -> Result<EventStatus, Error> {
    if event.event_id.is_empty() || event.event_id.len() > 200 {
        return Err(Error::validation("event_id must be 1 to 200 characters"));
    }
    let (tenant_id, user_id) = (&event.tenant_id, &event.user_id);
    if cx.db.has_event(app_id, &event.event_id).await? {
        heal_flags(cx, app_id, tenant_id, user_id).await;
        return Ok(EventStatus::Duplicate);
    }
    if !cx.db.find_policy(app_id).await?.has_plan(&event.plan_tier) {
        return Err(Error::UnknownPlan(event.plan_tier.to_string()));
    }
    let current = face_of(cx, app_id, tenant_id, user_id).await?;
    let mut updated = current.clone();
    updated.plan_tier = event.plan_tier;
    let audit = audit_entry(
        cx,
        Actor::Webhook,
        Change {
            app_id,
            action: AuditAction::UserPlan,
            target: user_id.to_string(),
            tenant_id: Some(tenant_id),
            detail: json!({
                "event_id": event.event_id,
                "plan_tier": { "from": current.plan_tier, "to": updated.plan_tier },
            }),
        },
    )?;
    let outcome = cx
        .db
        .apply_plan_event(app_id, &event.event_id, &updated, cx.now, &audit)
        .await?;
    if outcome == EventOutcome::Duplicate {
        heal_flags(cx, app_id, tenant_id, user_id).await;
        return Ok(EventStatus::Duplicate);
    }
    heal_flags(cx, app_id, tenant_id, user_id).await;
    Ok(EventStatus::Applied)
}

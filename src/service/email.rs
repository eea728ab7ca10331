//! Email delivery per app: the setting (`PUT`/`GET /admin/apps/{app}/email-delivery`), the
//! outbox and the dead letters as operators read them, the one way a flow sends a message
//! (sealed onto the queue), and the queue's consumer, which delivers it — to the outbox or,
//! signed, to the app's mailer — and retries with back-off or records a dead letter.
//!
//! Nothing here decides an HTTP answer from a delivery: flows only enqueue, and whether the
//! address has an account, or the mailer is up, is settled later in the consumer. The sealed
//! envelope (`domain::delivery`) keeps codes, links and addresses out of the queue. Must not
//! depend on `http`.

use super::principal::{actor, audit_entry, Change};
use super::tenancy::existing_app;
use super::{Ctx, Stores};
use crate::domain::audit::AuditAction;
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::delivery::{
    after_failure, secret_context, AfterFailure, DeadLetter, Delivery, Envelope, Message,
    DEAD_LETTER_RETENTION_MS, OUTBOX_RETENTION_MS,
};
use crate::domain::email::Email;
use crate::domain::ids::AppId;
use crate::domain::links::WebUrl;
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::webhook;
use crate::domain::Error;
use crate::store::{EmailStore, MailQueue, Mailer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::json;

/// What an operator asks an app's delivery to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryRequest {
    None,
    Outbox,
    Webhook(WebUrl),
}

/// A webhook delivery's signing secret, shown to the operator once. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct DeliverySecret(pub String);

impl std::fmt::Debug for DeliverySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliverySecret(<redacted>)")
    }
}

/// `PUT /admin/apps/{app}/email-delivery` — `tenants:write` on the app. Replaces the app's
/// delivery; a `webhook` gets a new secret (returned this once, stored sealed). Leaving
/// `outbox` deletes the outbox.
pub async fn put_delivery<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    request: DeliveryRequest,
) -> Result<(Delivery, Option<DeliverySecret>), Error> {
    authorize(caller, Some(Permission::TenantsWrite), &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await?;
    let (delivery, secret) = match request {
        DeliveryRequest::None => (Delivery::None, None),
        DeliveryRequest::Outbox => (Delivery::Outbox, None),
        DeliveryRequest::Webhook(url) => {
            let secret = format!("whsec_{}", B64URL.encode(cx.random::<32>()?));
            let sealed_secret = cx.encryption_key()?.seal_bytes(
                &secret_context(app_id),
                secret.as_bytes(),
                cx.random()?,
            )?;
            let delivery = Delivery::Webhook { url, sealed_secret };
            (delivery, Some(DeliverySecret(secret)))
        }
    };
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::EmailDeliveryPut,
            target: app_id.to_string(),
            tenant_id: None,
            detail: json!({
                "kind": delivery.kind().as_str(),
                "url": delivery.url().map(WebUrl::as_str),
            }),
        },
    )?;
    if !cx
        .db
        .put_email_delivery(app_id, &delivery, cx.now, &audit)
        .await?
    {
        return Err(Error::AppNotFound);
    }
    Ok((delivery, secret))
}

/// `GET /admin/apps/{app}/email-delivery` — `tenants:read` on the app. The setting, without
/// its secret.
pub async fn get_delivery<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
) -> Result<Delivery, Error> {
    authorize(caller, Some(Permission::TenantsRead), &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await?;
    cx.db.find_email_delivery(app_id).await
}

/// `GET /admin/apps/{app}/outbox` — `users:write` on the app. The messages of the last 24 h,
/// newest first, optionally to one address; only while the app's delivery is `outbox`
/// (`409 conflict` otherwise).
pub async fn outbox<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    to: Option<&Email>,
    page: &PageRequest,
) -> Result<Page<Message>, Error> {
    authorize(caller, Some(Permission::UsersWrite), &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await?;
    if cx.db.find_email_delivery(app_id).await? != Delivery::Outbox {
        return Err(Error::Conflict(
            "the app's email delivery is not the outbox".to_owned(),
        ));
    }
    let since = cx.now.plus_ms(-OUTBOX_RETENTION_MS);
    let messages = cx
        .db
        .list_outbox(app_id, to, since, page.after.as_deref(), page.limit + 1)
        .await?;
    Ok(finish_page(messages, page.limit, |m| m.id.to_string()))
}

/// `GET /admin/apps/{app}/email-delivery/dead-letters` — `users:read` on the app. The
/// messages that could not be delivered in the last 7 days, newest first (no code, no link).
pub async fn dead_letters<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    page: &PageRequest,
) -> Result<Page<DeadLetter>, Error> {
    authorize(caller, Some(Permission::UsersRead), &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await?;
    let letters = cx
        .db
        .list_dead_letters(app_id, page.after.as_deref(), page.limit + 1)
        .await?;
    Ok(finish_page(letters, page.limit, |d| d.id.to_string()))
}

/// The app's delivery when a flow is about to send: `409 email_delivery_not_configured` when
/// it is `none`, for every address alike.
pub async fn require_delivery<S: Stores>(cx: &Ctx<'_, S>, app_id: &AppId) -> Result<(), Error> {
    match cx.db.find_email_delivery(app_id).await? {
        Delivery::None => Err(Error::EmailDeliveryNotConfigured),
        Delivery::Outbox | Delivery::Webhook { .. } => Ok(()),
    }
}

/// Seals `message` and puts it on the queue. `deliver: false` makes a decoy that costs what a
/// real message does and that the consumer drops unseen.
pub async fn enqueue<S: Stores>(
    cx: &Ctx<'_, S>,
    message: &Message,
    deliver: bool,
) -> Result<(), Error> {
    let envelope = Envelope::seal(&cx.encryption_key()?, message, deliver, cx.random()?)?;
    cx.queue.enqueue(&envelope, 0).await
}

/// What the consumer did with one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Kept in the outbox, or accepted by the mailer (2xx).
    Delivered,
    /// A decoy, dropped unseen.
    Dropped,
    /// The envelope cannot be read (another secret, a corrupt body): dropped, never retried.
    Unreadable,
    /// The delivery failed and the next attempt is queued after this many seconds.
    Retried { delay_seconds: u32 },
    /// Given up: recorded as a dead letter, for this reason.
    DeadLettered { reason: String },
}

/// The queue's consumer, for one envelope (at-least-once: a repeat writes nothing twice). A
/// storage failure is an error, so the queue delivers the envelope again; everything else is
/// an `Outcome`, and the envelope is done with.
pub async fn deliver<S: Stores, M: Mailer>(
    cx: &Ctx<'_, S>,
    mailer: &M,
    envelope: &Envelope,
) -> Result<Outcome, Error> {
    let (message, real) = match envelope.open(&cx.encryption_key()?) {
        Ok(opened) => opened,
        Err(e) => {
            cx.warn(&format!("queued message {} dropped: {e:?}", envelope.id));
            return Ok(Outcome::Unreadable);
        }
    };
    if !real {
        return Ok(Outcome::Dropped);
    }
    if cx.now >= message.expires_at {
        return dead_letter(cx, &message, envelope.attempt, "expired before delivery").await;
    }
    let failure = match cx.db.find_email_delivery(&message.app_id).await? {
        Delivery::None => {
            return dead_letter(cx, &message, envelope.attempt, "delivery is not configured").await;
        }
        Delivery::Outbox => {
            let prune_before = cx.now.plus_ms(-OUTBOX_RETENTION_MS);
            cx.db.create_outbox_message(&message, prune_before).await?;
            return Ok(Outcome::Delivered);
        }
        Delivery::Webhook { url, sealed_secret } => {
            let secret = cx
                .encryption_key()?
                .open_bytes(&secret_context(&message.app_id), &sealed_secret)?;
            let secret = String::from_utf8(secret)
                .map_err(|_| Error::Internal("delivery secret is not text".to_owned()))?;
            let body = message.webhook_body()?;
            let t = cx.now.unix_seconds();
            let signature = format!("t={t},v1={}", webhook::sign(&secret, t, &body));
            match mailer.post(&url, &signature, &body).await {
                Ok(status) if (200..300).contains(&status) => return Ok(Outcome::Delivered),
                Ok(status) => format!("the mailer answered {status}"),
                Err(reason) => format!("the mailer could not be reached: {reason}"),
            }
        }
    };
    let base = cx.config.email_retry_base_seconds;
    match after_failure(envelope.attempt, base, cx.now, message.expires_at) {
        AfterFailure::Retry { delay_seconds } => {
            cx.queue
                .enqueue(&envelope.next_attempt(), delay_seconds)
                .await?;
            Ok(Outcome::Retried { delay_seconds })
        }
        AfterFailure::GiveUp => dead_letter(cx, &message, envelope.attempt, &failure).await,
    }
}

async fn dead_letter<S: Stores>(
    cx: &Ctx<'_, S>,
    message: &Message,
    attempts: u32,
    reason: &str,
) -> Result<Outcome, Error> {
    let letter = DeadLetter::of(message, attempts, reason, cx.now);
    let prune_before = cx.now.plus_ms(-DEAD_LETTER_RETENTION_MS);
    cx.db.create_dead_letter(&letter, prune_before).await?;
    Ok(Outcome::DeadLettered {
        reason: letter.reason,
    })
}

/// The daily clean-up (the cron trigger): expired challenges, ended send windows, outbox
/// messages older than 24 h, dead letters older than 7 days.
pub async fn prune<S: Stores>(cx: &Ctx<'_, S>) -> Result<(), Error> {
    cx.db
        .prune_email(
            cx.now,
            cx.now.plus_ms(-OUTBOX_RETENTION_MS),
            cx.now.plus_ms(-DEAD_LETTER_RETENTION_MS),
        )
        .await
}

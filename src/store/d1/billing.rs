//! The billing webhook's state: the app's sealed webhook secret and the events already applied
//! (a plan change is applied once per event id, with its audit entry, in one batch). These are
//! `UserStateStore` methods; the trait's impl in `user_state` calls them. Must not depend on
//! `service` or `http`.

use super::{audit_insert, first_changed, text, time, NumberRow, SqlBackend, SqlStore, Statement};
use crate::domain::audit::AuditEntry;
use crate::domain::ids::AppId;
use crate::domain::time::Timestamp;
use crate::domain::user::TenantUser;
use crate::domain::Error;
use crate::store::EventOutcome;
use serde::Deserialize;

pub(super) async fn find_webhook_secret<B: SqlBackend>(
    store: &SqlStore<B>,
    app: &AppId,
) -> Result<Option<String>, Error> {
    #[derive(Deserialize)]
    struct SecretRow {
        secret: String,
    }
    Ok(store
        .first::<SecretRow>(Statement::new(
            "SELECT secret FROM webhook_secrets WHERE app_id = ?1",
            vec![text(app.as_str())],
        ))
        .await?
        .map(|r| r.secret))
}

pub(super) async fn put_webhook_secret<B: SqlBackend>(
    store: &SqlStore<B>,
    app: &AppId,
    sealed: &str,
    now: Timestamp,
    audit: &AuditEntry,
) -> Result<(), Error> {
    store
        .batch(vec![
            Statement::new(
                "INSERT INTO webhook_secrets (app_id, secret, created_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (app_id) DO UPDATE SET secret = excluded.secret, \
                 created_at = excluded.created_at",
                vec![text(app.as_str()), text(sealed), time(now)],
            ),
            audit_insert(audit, false),
        ])
        .await
        .map(drop)
}

pub(super) async fn has_event<B: SqlBackend>(
    store: &SqlStore<B>,
    app: &AppId,
    event_id: &str,
) -> Result<bool, Error> {
    Ok(store
        .first::<NumberRow>(Statement::new(
            "SELECT 1 AS n FROM webhook_events WHERE app_id = ?1 AND event_id = ?2",
            vec![text(app.as_str()), text(event_id)],
        ))
        .await?
        .is_some())
}

pub(super) async fn apply_plan_event<B: SqlBackend>(
    store: &SqlStore<B>,
    app: &AppId,
    event_id: &str,
    face: &TenantUser,
    now: Timestamp,
    audit: &AuditEntry,
) -> Result<EventOutcome, Error> {
    // The event is recorded first; the plan change and the audit entry follow only if that
    // insert happened, so a replay racing the original changes nothing.
    let results = store
        .batch(vec![
            Statement::new(
                "INSERT OR IGNORE INTO webhook_events (app_id, event_id, received_at) \
                 VALUES (?1, ?2, ?3)",
                vec![text(app.as_str()), text(event_id), time(now)],
            ),
            Statement::new(
                "UPDATE tenant_users SET plan_tier = ?4, version = version + 1 \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND user_id = ?3 \
                 AND (SELECT changes()) > 0",
                vec![
                    text(face.app_id.as_str()),
                    text(face.tenant_id.as_str()),
                    text(&face.user_id.to_string()),
                    text(face.plan_tier.as_str()),
                ],
            ),
            super::edge_sync::edge_bump(&super::user_state::face_doc(face), now, true),
            audit_insert(audit, true),
        ])
        .await?;
    Ok(if first_changed(&results)? {
        EventOutcome::Applied
    } else {
        EventOutcome::Duplicate
    })
}

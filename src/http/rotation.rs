//! Scheduled signing-key rotation: for the operator plane and every app whose newest key is
//! older than its rotation age, add a key that is published now and signs after the JWKS
//! cache lifetime. Old keys keep verifying until their last token expires (`keyring`).

use super::context::Ctx;
use super::keyring;
use crate::domain::keys::KeyOwner;
use crate::domain::Error;
use crate::store::TenancyStore;

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn rotate_if_due(ctx: &Ctx, owner: &KeyOwner, max_age_days: i64) -> Result<(), Error> {
    let Some(newest) = keyring::newest_key_created_at(ctx, owner).await? else {
        // No key yet: the first is made when first needed.
        return Ok(());
    };
    if ctx.now_ms - newest >= max_age_days * DAY_MS {
        let activates_at = ctx.now_ms + ctx.jwks_max_age_seconds()? * 1000;
        keyring::create_key(ctx, owner, activates_at, None).await?;
    }
    Ok(())
}

/// Rotates every key set that is due (`OPERATOR_KEY_ROTATION_DAYS` for operators, default 30;
/// each app's `signing_key_rotation_days`).
pub async fn rotate_due_keys(ctx: &Ctx) -> Result<(), Error> {
    let operator_days = ctx.number_var("OPERATOR_KEY_ROTATION_DAYS", 30)?;
    rotate_if_due(ctx, &KeyOwner::Operators, operator_days).await?;
    let mut after: Option<String> = None;
    loop {
        let apps = ctx.store.list_apps(after.as_deref(), 100).await?;
        for app in &apps {
            let owner = KeyOwner::App(app.id.clone());
            rotate_if_due(ctx, &owner, app.settings.signing_key_rotation_days).await?;
        }
        match apps.last() {
            Some(last) if apps.len() == 100 => after = Some(last.id.to_string()),
            _ => return Ok(()),
        }
    }
}

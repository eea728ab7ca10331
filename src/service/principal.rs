//! Who calls the management plane, what they may do, and the audit entry of what they did.
//!
//! A caller is an operator (by an operator access token) or a tenant API key (`tsk_…`);
//! anything else is `401 unauthorized`. The permission check is the pure
//! `domain::authz::authorize`; this module only fetches what it needs (the key, the operator,
//! its memberships — read on every request, so a suspension takes effect at once).

use super::{keyring, Ctx, Stores};
use crate::domain::audit::{Actor, AuditAction, AuditEntry};
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::ids::{AppId, AuditId, OperatorId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::token;
use crate::domain::Error;
use crate::store::{ApiKeyStore, MemberStore, OperatorStore};
use serde_json::Value;

/// Who is calling, from the bearer credential of the request (`None` when there is none).
pub async fn principal<S: Stores>(
    cx: &Ctx<'_, S>,
    credential: Option<&str>,
) -> Result<Principal, Error> {
    let credential = credential.ok_or(Error::Unauthorized)?;
    if credential.starts_with(SecretKind::ApiKey.prefix()) {
        let secret =
            PlainSecret::from_client(SecretKind::ApiKey, credential).ok_or(Error::Unauthorized)?;
        let key = cx
            .db
            .find_api_key_by_hash(&secret.hash())
            .await?
            .ok_or(Error::Unauthorized)?;
        return Ok(Principal::ApiKey {
            id: key.id,
            app_id: key.app_id,
            tenant_id: key.tenant_id,
            scopes: key.scopes,
        });
    }
    let kid = token::peek_kid(credential).ok_or(Error::Unauthorized)?;
    let ttl_ms = cx.config.operator_token_ttl_seconds.saturating_mul(1000);
    let key = keyring::public_key(cx, &KeyOwner::Operators, &kid, ttl_ms)
        .await?
        .ok_or(Error::Unauthorized)?;
    let verified = token::verify_operator_token(credential, |_| Some(key), cx.now)
        .ok_or(Error::Unauthorized)?;
    let id = OperatorId::parse(&verified.sub).map_err(|_| Error::Unauthorized)?;
    let operator = cx
        .db
        .find_operator(&id)
        .await?
        .filter(|o| !o.predates_reset(verified.iat))
        .ok_or(Error::Unauthorized)?;
    if operator.is_platform_owner {
        return Ok(Principal::PlatformOwner(id));
    }
    // Read on every request, so a suspension or departure takes effect at the next request,
    // whatever tokens the operator still holds.
    let grants = cx.db.find_grants(&id).await?;
    Ok(Principal::Operator { id, grants })
}

/// Authenticates the caller and checks `permission` on `target` (`None`: platform owner only).
pub async fn allow<S: Stores>(
    cx: &Ctx<'_, S>,
    credential: Option<&str>,
    permission: Option<Permission>,
    target: Target<'_>,
) -> Result<Principal, Error> {
    let principal = principal(cx, credential).await?;
    authorize(&principal, permission, &target).into_result()?;
    Ok(principal)
}

/// Checks that `principal` holds each of `permissions` on `target`: nobody hands out a
/// permission they do not hold, in the scope they hold it (API-key scopes today).
pub fn ensure_can_grant(
    principal: &Principal,
    permissions: impl IntoIterator<Item = Permission>,
    target: &Target<'_>,
) -> Result<(), Error> {
    for permission in permissions {
        authorize(principal, Some(permission), target)
            .into_result()
            .map_err(|_| {
                Error::Forbidden(format!(
                    "the credentials cannot grant the permission {}",
                    permission.as_str()
                ))
            })?;
    }
    Ok(())
}

/// The actor an audit entry names for `principal`.
pub fn actor(principal: &Principal) -> Actor {
    match principal {
        Principal::PlatformOwner(id) | Principal::Operator { id, .. } => {
            Actor::Operator(id.to_string())
        }
        Principal::ApiKey { id, .. } => Actor::ApiKey(id.to_string()),
    }
}

/// What a change was, for its audit entry.
pub struct Change<'a> {
    pub app_id: &'a AppId,
    pub action: AuditAction,
    pub target: String,
    pub tenant_id: Option<&'a TenantId>,
    pub detail: Value,
}

/// The audit entry of a change made by `actor` now.
pub fn audit_entry<S: Stores>(
    cx: &Ctx<'_, S>,
    actor: Actor,
    change: Change<'_>,
) -> Result<AuditEntry, Error> {
    Ok(AuditEntry {
        id: AuditId::generate(cx.now, cx.random()?),
        app_id: change.app_id.clone(),
        at: cx.now,
        actor,
        action: change.action,
        target: change.target,
        tenant_id: change.tenant_id.cloned(),
        detail: change.detail,
    })
}

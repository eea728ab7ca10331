//! Steps the scenarios share: writes through the ports that a scenario needs as its setting,
//! and reads of the audit log.

use super::fixtures::*;
use tessera::domain::audit::{AuditAction, AuditRecord};
use tessera::domain::ids::{ApiKeyId, AppId, TenantId};
use tessera::domain::member::MemberId;
use tessera::domain::secret::{SecretHash, SecretKind};
use tessera::domain::session::SessionId;
use tessera::domain::user::{TenantUser, User, UserId};
use tessera::store::Database;

/// Every audit entry of an app (at most 1,000), newest first.
pub async fn audit_of<D: Database>(db: &D, app_id: &AppId) -> Vec<AuditRecord> {
    db.list_audit(app_id, None, None, 1_000)
        .await
        .expect("list_audit")
}

/// The actions of an app's audit log, oldest first.
pub async fn actions_of<D: Database>(db: &D, app_id: &AppId) -> Vec<AuditAction> {
    let mut actions: Vec<AuditAction> = audit_of(db, app_id)
        .await
        .into_iter()
        .map(|r| r.action)
        .collect();
    actions.reverse();
    actions
}

/// Creates app `id` (with its public tenant); audit entry number `n`.
pub async fn create_app<D: Database>(db: &D, id: &str, n: u32) -> AppId {
    let (a, public) = new_app(id);
    let e = entry(n, &a.id, AuditAction::AppCreate, None);
    assert!(db.create_app(&a, &public, &e).await.unwrap(), "app {id}");
    a.id
}

/// Creates tenant `id` of an app; audit entry number `n`.
pub async fn create_tenant<D: Database>(db: &D, app_id: &AppId, id: &str, n: u32) -> TenantId {
    let t = new_tenant(app_id, id);
    let e = entry(n, app_id, AuditAction::TenantCreate, Some(&t.id));
    assert!(db.create_tenant(&t, &e).await.unwrap(), "tenant {id}");
    t.id
}

/// What `populate` wrote in one tenant.
pub struct Populated {
    pub tenant: TenantId,
    pub address: String,
    pub user: UserId,
    pub session: SessionId,
    pub token: SecretHash,
    pub key: ApiKeyId,
    pub key_hash: SecretHash,
    pub narrowed_member: MemberId,
    pub narrowed_invite: SecretHash,
}

/// Writes into tenant `id` of `shop` a user with a session, an API key, a blocked sign-in
/// account, and an invitation narrowed to the tenant. `n` keeps ids apart between tenants.
pub async fn populate<D: Database>(db: &D, shop: &AppId, id: &str, n: u32) -> Populated {
    let t = create_tenant(db, shop, id, n).await;
    let address = format!("user@{id}.example");
    let (u, face) = user(shop, &t, &address, n);
    let s = session(&face, n);
    let tok = token(n as u8);
    assert!(db.create_user(&u, &face, &s, &tok).await.unwrap());
    let (key, key_hash) = api_key(shop, &t, n);
    let e = entry(n + 1, shop, AuditAction::ApiKeyCreate, Some(&t));
    db.create_api_key(&key, &key_hash, &e).await.unwrap();
    let blocked = attempt(&format!("account:{address}"), None, at(0));
    for _ in 0..6 {
        db.begin_signin(shop, &t, &face.email, &blocked)
            .await
            .unwrap();
    }
    assert!(
        db.begin_signin(shop, &t, &face.email, &blocked)
            .await
            .unwrap()
            .retry_after
            .is_some(),
        "the account is blocked"
    );
    let mut narrowed = invitation(shop, &format!("ops@{id}.example"), n, at(1_000_000));
    narrowed.tenant_id = Some(t.clone());
    let invite = secret(SecretKind::InviteToken, n as u8);
    let e = entry(n + 2, shop, AuditAction::MemberInvite, Some(&t));
    assert!(db.create_member(&narrowed, &invite, &e).await.unwrap());
    Populated {
        tenant: t,
        address,
        user: u.id,
        session: s.id,
        token: tok,
        key: key.id,
        key_hash,
        narrowed_member: narrowed.id,
        narrowed_invite: invite,
    }
}

/// Signs up user number `n` in a tenant.
pub async fn sign_up<D: Database>(
    db: &D,
    app_id: &AppId,
    tenant_id: &TenantId,
    address: &str,
    n: u32,
) -> (User, TenantUser) {
    let (u, face) = user(app_id, tenant_id, address, n);
    assert!(db
        .create_user(&u, &face, &session(&face, n), &token(n as u8))
        .await
        .unwrap());
    (u, face)
}

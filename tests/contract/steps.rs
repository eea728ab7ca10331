//! Steps the scenarios share: writes through the ports that a scenario needs as its setting,
//! and reads of the audit log.

use super::fixtures::*;
use tessera::domain::audit::{AuditAction, AuditRecord};
use tessera::domain::deletion::{Deletion, Phase, Target};
use tessera::domain::ids::DeletionId;
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

/// What a deletion driven through the ports purged besides rows: the API keys' hashes, the
/// OAuth clients' secret hashes (forgotten before the rows) and the faces, in the order they
/// went.
#[derive(Debug, Default)]
pub struct Purged {
    pub key_hashes: Vec<SecretHash>,
    pub client_hashes: Vec<SecretHash>,
    pub faces: Vec<(TenantId, UserId)>,
    pub tenants: Vec<TenantId>,
    pub rows: usize,
}

/// Deletes `target` through the ports as `service::deletion` does, without the edge: the first
/// step (audit entry `n`, action `action`), then every phase in order, each purge repeated in
/// batches of `limit` until fewer come back. `None` when the first step found nothing.
pub async fn delete_through_ports<D: Database>(
    db: &D,
    target: &Target,
    tenants: Vec<TenantId>,
    n: u32,
    limit: usize,
) -> Option<(Deletion, Purged)> {
    let audit_app = match target {
        Target::App(_) => app("public"),
        other => other.app_id().clone(),
    };
    let action = match target {
        Target::App(_) => AuditAction::AppDelete,
        Target::Tenant(..) => AuditAction::TenantDelete,
        Target::User {
            tenant: Some(_), ..
        } => AuditAction::UserDelete,
        Target::User { tenant: None, .. } => AuditAction::UserErase,
    };
    let mut e = entry(n, &audit_app, action, target.tenant_id());
    if let Some(user) = target.user_id() {
        e.target = user.to_string();
    }
    let mut deletion = Deletion::begin(
        DeletionId::generate(at(i64::from(n)), random(n)),
        target,
        tenants,
        at(i64::from(n)),
    );
    if !db
        .begin_deletion(&deletion, &e)
        .await
        .expect("begin_deletion")
    {
        return None;
    }
    let mut purged = Purged::default();
    while let Some(phase) = deletion.current_phase() {
        let rows = match phase {
            Phase::Revocations | Phase::Flags => 0,
            Phase::ApiKeys => {
                let hashes = db.purge_api_keys(target, limit).await.unwrap();
                let count = hashes.len();
                purged.key_hashes.extend(hashes);
                count
            }
            Phase::Sessions => db.purge_sessions(target, limit).await.unwrap(),
            Phase::ThirdParty => {
                // The clients' secrets first (their edge copies would go here), then the rows.
                let hashes = db.find_client_secrets(target, limit).await.unwrap();
                if !hashes.is_empty() {
                    let forgotten = db.forget_client_secrets(target, &hashes).await.unwrap();
                    assert_eq!(forgotten, hashes.len(), "each found secret is forgotten");
                    purged.client_hashes.extend(hashes);
                    deletion.record_step(forgotten, false, None, at(i64::from(n)));
                    continue;
                }
                db.purge_thirdparty(target, limit).await.unwrap()
            }
            Phase::Users => {
                let faces = db.find_faces(target, limit).await.unwrap();
                let deleted = db.purge_users(target, &faces, limit).await.unwrap();
                let found = faces.len();
                purged.faces.extend(faces);
                if found > 0 {
                    purged.rows += deleted;
                    deletion.record_step(deleted, false, None, at(i64::from(n)));
                    continue;
                }
                deleted
            }
            Phase::Email => db.purge_email(target, limit).await.unwrap(),
            Phase::Throttle => db.purge_signin_failures(target, limit).await.unwrap(),
            Phase::Members => db.purge_members(target, limit).await.unwrap(),
            Phase::Catalogue => db.purge_catalogue(target, limit).await.unwrap(),
            Phase::Billing => db.purge_billing(target, limit).await.unwrap(),
            Phase::Audit => db
                .purge_audit(target, &format!("erased:{}", deletion.id), limit)
                .await
                .unwrap(),
            Phase::SigningKeys => db.purge_signing_keys(target, limit).await.unwrap(),
            Phase::Tenants => {
                let gone = db.purge_tenants(target, limit).await.unwrap();
                let count = gone.len();
                purged.tenants.extend(gone);
                count
            }
            Phase::Row => {
                assert!(db.delete_target_row(target).await.unwrap());
                0
            }
        };
        purged.rows += rows;
        let finished =
            matches!(phase, Phase::Revocations | Phase::Flags | Phase::Row) || rows < limit;
        deletion.record_step(rows, finished, None, at(i64::from(n)));
        db.update_deletion(&deletion)
            .await
            .expect("update_deletion");
    }
    Some((deletion, purged))
}

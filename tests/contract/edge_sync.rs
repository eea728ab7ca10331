//! Scenarios of the edge bookkeeping (`EdgeSyncStore`, table `edge_sync`): the changes a
//! document mirrors bump its version in their own batch, a lease reads what the document must
//! say, and the closing rule; and `/auth/me`'s one read (`find_session_user`).

use super::fixtures::*;
use super::steps::{create_tenant, sign_up};
use tessera::domain::audit::AuditAction;
use tessera::domain::edge::{EdgeKey, MirroredDoc, MAX_LISTED_REVOCATIONS};
use tessera::domain::ids::{AppId, TenantId};
use tessera::domain::keys::KeyOwner;
use tessera::domain::names::{PlanTier, RoleName};
use tessera::domain::policy::Plan;
use tessera::domain::secret::SecretHash;
use tessera::domain::user::{TenantUser, User, UserStatus};
use tessera::store::{Database, LeaseAt};

/// The users' documents among the stale ones (a fresh store also has the `public` app's
/// policy pending: migration 0006 queues it).
async fn stale_users<D: Database>(db: &D, limit: usize) -> Vec<String> {
    db.find_stale_edges(at(0), limit)
        .await
        .unwrap()
        .into_iter()
        .filter(|doc| doc.starts_with("flags:"))
        .collect()
}

pub(super) fn key_of(face: &TenantUser) -> EdgeKey {
    EdgeKey {
        app: face.app_id.clone(),
        tenant: face.tenant_id.clone(),
        user: face.user_id,
    }
}

/// The version of `doc` as a lease reads it (and gives the lease straight back, unwritten).
pub(super) async fn version_of<D: Database>(db: &D, key: &EdgeKey) -> i64 {
    let state = db.lease_user_edge(key, at(0), at(1)).await.unwrap();
    db.release_edge(&key.doc(), state.version, false)
        .await
        .unwrap();
    state.version
}

pub async fn every_change_a_document_mirrors_bumps_its_version<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (_, face) = sign_up(db, &a, &t, "ann@example.com", 1).await;
    let key = key_of(&face);
    assert_eq!(
        version_of(db, &key).await,
        0,
        "a new user has nothing to mirror"
    );
    let mut changed = face.clone();
    changed.status = UserStatus::Suspended;
    let e = entry(2, &a, AuditAction::UserSuspend, Some(&t));
    assert!(db.update_face(&changed, 0, &e).await.unwrap());
    assert_eq!(version_of(db, &key).await, 1);
    let e = entry(3, &a, AuditAction::UserUnsuspend, Some(&t));
    assert!(!db.update_face(&face, 0, &e).await.unwrap());
    assert_eq!(
        version_of(db, &key).await,
        1,
        "a refused change bumps nothing"
    );
    let s = session(&face, 1);
    db.revoke_session(&s.id, at(4)).await.unwrap().unwrap();
    assert_eq!(version_of(db, &key).await, 2);
    db.revoke_session(&s.id, at(5)).await.unwrap().unwrap();
    assert_eq!(
        version_of(db, &key).await,
        3,
        "a repeated revocation republishes"
    );
    let e = entry(6, &a, AuditAction::UserSessionsRevoke, Some(&t));
    db.revoke_user_sessions(&a, &t, &face.user_id, at(6), &e)
        .await
        .unwrap();
    assert_eq!(version_of(db, &key).await, 4);
    let mut pro = changed.clone();
    pro.plan_tier = PlanTier::parse("pro").unwrap();
    let e = entry(7, &a, AuditAction::UserPlan, Some(&t));
    db.apply_plan_event(&a, "evt_1", &pro, at(7), &e)
        .await
        .unwrap();
    assert_eq!(version_of(db, &key).await, 5);
    let e = entry(8, &a, AuditAction::UserPlan, Some(&t));
    db.apply_plan_event(&a, "evt_1", &pro, at(8), &e)
        .await
        .unwrap();
    assert_eq!(
        version_of(db, &key).await,
        5,
        "a replayed event bumps nothing"
    );
    let acme = create_tenant(db, &a, "acme", 9).await;
    let mut there = face.clone();
    there.tenant_id = acme.clone();
    let e = entry(10, &a, AuditAction::UserAssociate, Some(&acme));
    assert!(db.associate(&there, &e).await.unwrap());
    assert_eq!(version_of(db, &key_of(&there)).await, 1);
    db.mark_edge_changed(&key.doc(), at(11)).await.unwrap();
    assert_eq!(version_of(db, &key).await, 6);
    let policy = MirroredDoc::Policy(a.clone());
    let (before, _) = db.lease_policy_edge(&a, at(12)).await.unwrap();
    db.release_edge(&policy.name(), before, false)
        .await
        .unwrap();
    let e = entry(13, &a, AuditAction::RolePut, None);
    db.put_role(&a, &RoleName::parse("editor").unwrap(), &[], at(13), &e)
        .await
        .unwrap();
    let plan = Plan {
        roles: vec![],
        rate_limit: None,
    };
    let e = entry(14, &a, AuditAction::PlanPut, None);
    db.put_plan(&a, &PlanTier::parse("pro").unwrap(), &plan, at(14), &e)
        .await
        .unwrap();
    let (after, _) = db.lease_policy_edge(&a, at(15)).await.unwrap();
    assert_eq!(after, before + 2);
}

pub async fn a_lease_reads_what_the_document_must_say<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (_, face) = sign_up(db, &a, &t, "ann@example.com", 1).await;
    let key = key_of(&face);
    let signin = attempt("account:ann@example.com", None, at(0));
    let mut ids = Vec::new();
    for n in 2..(MAX_LISTED_REVOCATIONS as u32 + 4) {
        let s = session(&face, n);
        let hash = SecretHash::from_stored(format!("{n:064x}"));
        db.create_session(&s, &hash, &signin).await.unwrap();
        ids.push(s.id);
    }
    // Revoked one by one, a millisecond apart: the newest come first, one past the list.
    for (i, id) in ids.iter().enumerate() {
        db.revoke_session(id, at(100 + i as i64)).await.unwrap();
    }
    let state = db.lease_user_edge(&key, at(0), at(10_000)).await.unwrap();
    assert!(state.tenant_created_at.is_some());
    assert_eq!(state.face.as_ref().map(|f| f.user_id), Some(face.user_id));
    assert_eq!(state.revoked.len(), MAX_LISTED_REVOCATIONS + 1);
    assert_eq!(state.revoked[0].0, *ids.last().unwrap(), "newest first");
    assert!(state.revoked.windows(2).all(|w| w[0].1 >= w[1].1));
    assert_eq!(state.version, ids.len() as i64);
    let later = db.lease_user_edge(&key, at(101), at(10_001)).await.unwrap();
    assert!(
        later.revoked.iter().all(|(_, when)| *when > at(101)),
        "only revocations after the window's start"
    );
    let elsewhere = EdgeKey {
        tenant: tenant("nowhere"),
        ..key.clone()
    };
    let none = db
        .lease_user_edge(&elsewhere, at(0), at(10_002))
        .await
        .unwrap();
    assert_eq!(none.tenant_created_at, None);
    assert_eq!(none.face, None);
    assert!(none.revoked.is_empty());
}

pub async fn only_the_last_writer_of_the_current_version_closes_a_document<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (_, face) = sign_up(db, &a, &t, "ann@example.com", 1).await;
    let key = key_of(&face);
    db.mark_edge_changed(&key.doc(), at(1)).await.unwrap();
    // Two writers of version 1 in flight: the first to finish cannot close (the other may
    // still write an older copy after it); the last one closes.
    let first = db.lease_user_edge(&key, at(0), at(2)).await.unwrap();
    let second = db.lease_user_edge(&key, at(0), at(3)).await.unwrap();
    assert_eq!((first.version, second.version), (1, 1));
    assert!(!db.release_edge(&key.doc(), 1, true).await.unwrap());
    assert_eq!(stale_users(db, 10).await, [key.doc()]);
    assert!(db.release_edge(&key.doc(), 1, true).await.unwrap());
    assert!(stale_users(db, 10).await.is_empty());
    // A failed write never closes.
    db.mark_edge_changed(&key.doc(), at(4)).await.unwrap();
    let third = db.lease_user_edge(&key, at(0), at(5)).await.unwrap();
    assert!(!db
        .release_edge(&key.doc(), third.version, false)
        .await
        .unwrap());
    assert_eq!(stale_users(db, 10).await, [key.doc()]);
}

pub async fn a_writer_that_was_overtaken_reopens_the_document<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (_, face) = sign_up(db, &a, &t, "ann@example.com", 1).await;
    let key = key_of(&face);
    db.mark_edge_changed(&key.doc(), at(1)).await.unwrap();
    let slow = db.lease_user_edge(&key, at(0), at(2)).await.unwrap();
    db.mark_edge_changed(&key.doc(), at(3)).await.unwrap();
    let fast = db.lease_user_edge(&key, at(0), at(4)).await.unwrap();
    assert_eq!((slow.version, fast.version), (1, 2));
    assert!(!db.release_edge(&key.doc(), 2, true).await.unwrap());
    // The slow writer's copy of version 1 may have landed after the fast one's.
    assert!(!db.release_edge(&key.doc(), 1, true).await.unwrap());
    assert_eq!(stale_users(db, 10).await, [key.doc()]);
    // Reopened by a new version, which the sweep's writer reads and closes.
    let retry = db.lease_user_edge(&key, at(0), at(5)).await.unwrap();
    assert_eq!(retry.version, 3);
    assert!(db.release_edge(&key.doc(), 3, true).await.unwrap());
}

pub async fn an_overtaken_writer_that_finishes_first_keeps_the_document_open<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (_, face) = sign_up(db, &a, &t, "ann@example.com", 1).await;
    let key = key_of(&face);
    db.mark_edge_changed(&key.doc(), at(1)).await.unwrap();
    let slow = db.lease_user_edge(&key, at(0), at(2)).await.unwrap();
    db.mark_edge_changed(&key.doc(), at(3)).await.unwrap();
    let fast = db.lease_user_edge(&key, at(0), at(4)).await.unwrap();
    // The fast writer's copy landed first, the slow one's (older) after it; the slow writer
    // gives its lease back first. The fast one must not close the document then: KV holds
    // the slow writer's older copy.
    assert!(!db
        .release_edge(&key.doc(), slow.version, true)
        .await
        .unwrap());
    assert!(!db
        .release_edge(&key.doc(), fast.version, true)
        .await
        .unwrap());
    assert_eq!(stale_users(db, 10).await, [key.doc()]);
}

pub async fn the_sweep_lists_open_documents_and_takes_back_dead_leases<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (_, ann) = sign_up(db, &a, &t, "ann@example.com", 1).await;
    let (_, bob) = sign_up(db, &a, &t, "bob@example.com", 2).await;
    let (ann, bob) = (key_of(&ann), key_of(&bob));
    db.mark_edge_changed(&bob.doc(), at(10)).await.unwrap();
    db.mark_edge_changed(&ann.doc(), at(20)).await.unwrap();
    assert_eq!(
        stale_users(db, 10).await,
        [bob.doc(), ann.doc()],
        "oldest change first"
    );
    assert_eq!(stale_users(db, 2).await[0], bob.doc());
    // A writer died holding a lease: no one can close the document until no request's writer
    // has leased it for the timeout. The sweep's own leases do not renew the count (else a
    // document the sweep rewrites more often than the timeout would stay open for ever).
    db.lease_user_edge(&ann, at(0), at(30)).await.unwrap();
    let live = db.lease_user_edge(&ann, at(0), at(40)).await.unwrap();
    assert!(!db
        .release_edge(&ann.doc(), live.version, true)
        .await
        .unwrap());
    db.find_stale_edges(at(35), 10).await.unwrap();
    let swept = db
        .lease_user_edge(&ann, at(0), LeaseAt::sweep(at(45)))
        .await
        .unwrap();
    assert!(
        !db.release_edge(&ann.doc(), swept.version, true)
            .await
            .unwrap(),
        "a request leased it 5 ms before: the dead lease still counts"
    );
    db.find_stale_edges(at(41), 10).await.unwrap();
    let after = db.lease_user_edge(&ann, at(0), at(50)).await.unwrap();
    assert!(db
        .release_edge(&ann.doc(), after.version, true)
        .await
        .unwrap());
    assert_eq!(stale_users(db, 10).await, [bob.doc()]);
}

pub async fn the_policy_document_is_leased_with_the_policy<D: Database>(db: &D) {
    let a = app("public");
    let name = MirroredDoc::Policy(a.clone()).name();
    assert!(
        db.find_stale_edges(at(0), 10)
            .await
            .unwrap()
            .contains(&name),
        "migration 0006 queues every app's policy"
    );
    let (queued, _) = db.lease_policy_edge(&a, at(1)).await.unwrap();
    db.release_edge(&name, queued, false).await.unwrap();
    let e = entry(1, &a, AuditAction::RolePut, None);
    db.put_role(&a, &RoleName::parse("editor").unwrap(), &[], at(1), &e)
        .await
        .unwrap();
    let (version, policy) = db.lease_policy_edge(&a, at(2)).await.unwrap();
    assert_eq!(version, queued + 1);
    assert_eq!(policy, db.find_policy(&a).await.unwrap());
    assert!(db.release_edge(&name, version, true).await.unwrap());
    assert!(!db
        .find_stale_edges(at(0), 10)
        .await
        .unwrap()
        .contains(&name));
}

pub async fn me_finds_the_user_only_through_a_live_session_of_it<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (u, face) = sign_up(db, &a, &t, "ann@example.com", 1).await;
    let (_, bob) = sign_up(db, &a, &t, "bob@example.com", 2).await;
    let s = session(&face, 1);
    let found = db.find_session_user(&a, &t, &u.id, &s.id).await.unwrap();
    assert_eq!(found.map(|(_, f)| f.user_id), Some(u.id));
    let bobs = session(&bob, 2);
    assert_eq!(
        db.find_session_user(&a, &t, &u.id, &bobs.id).await.unwrap(),
        None,
        "another user's session"
    );
    let acme = create_tenant(db, &a, "acme", 3).await;
    assert_eq!(
        db.find_session_user(&a, &acme, &u.id, &s.id).await.unwrap(),
        None,
        "another tenant"
    );
    db.revoke_session(&s.id, at(4)).await.unwrap();
    assert_eq!(
        db.find_session_user(&a, &t, &u.id, &s.id).await.unwrap(),
        None,
        "a revoked session"
    );
}

pub async fn a_new_signing_key_bumps_its_owners_keys_document_leased_with_the_keys<D: Database>(
    db: &D,
) {
    let shop = KeyOwner::App(app("public"));
    let doc = MirroredDoc::Keys(shop.clone()).name();
    assert_eq!(doc, "pub:app:public");
    let (before, keys) = db.lease_keys_edge(&shop, at(1)).await.unwrap();
    db.release_edge(&doc, before, false).await.unwrap();
    let known = keys.len();
    db.create_signing_key(&signing_key(&shop, "k-new", 9_000), None)
        .await
        .unwrap();
    db.create_signing_key(&signing_key(&KeyOwner::Operators, "k-ops", 9_000), None)
        .await
        .unwrap();
    let (after, keys) = db.lease_keys_edge(&shop, at(2)).await.unwrap();
    assert_eq!(
        after,
        before + 1,
        "the key's batch bumped its owner's document only"
    );
    assert_eq!(keys.len(), known + 1);
    assert_eq!(
        keys[0].kid, "k-new",
        "newest activation first, as find_signing_keys"
    );
    assert!(keys.iter().all(|k| k.owner == shop));
    assert!(
        db.release_edge(&doc, after, true).await.unwrap(),
        "the writer of the current version closes it"
    );
    assert!(
        !stale_docs(db).await.contains(&doc),
        "a closed document is not swept"
    );
    assert!(stale_docs(db).await.contains(&"pub:operators".to_owned()));
}

async fn stale_docs<D: Database>(db: &D) -> Vec<String> {
    db.find_stale_edges(at(0), 100).await.unwrap()
}

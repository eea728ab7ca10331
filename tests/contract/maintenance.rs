//! Scenarios of `MaintenanceStore`: pruning deletes what is past its use, nothing else, in
//! bounded batches.

use super::fixtures::*;
use tessera::domain::audit::AuditAction;
use tessera::domain::ids::{AppId, TenantId};
use tessera::domain::names::RoleName;
use tessera::store::Database;

fn public() -> (AppId, TenantId) {
    (app("public"), tenant("public"))
}

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

pub async fn dead_sessions_go_with_their_refresh_tokens_in_bounded_batches<D: Database>(db: &D) {
    let (a, t) = public();
    let mut ids = Vec::new();
    for n in 1..=5u32 {
        let (u, face) = user(&a, &t, &format!("u{n}@example.com"), n);
        let s = session(&face, n);
        assert!(db
            .create_user(&u, &face, &s, &token(n as u8))
            .await
            .unwrap());
        ids.push(s);
    }
    // Session 1 revoked at 10 ms, 2 revoked at 30 ms; the others live until 86,400,000 ms.
    assert!(db.revoke_session(&ids[0].id, at(10)).await.unwrap());
    assert!(db.revoke_session(&ids[1].id, at(30)).await.unwrap());
    assert_eq!(db.prune_sessions(at(20), 10).await.unwrap(), 1);
    assert!(db.find_session(&ids[0].id).await.unwrap().is_none());
    assert!(
        db.find_by_refresh_token(&token(1)).await.unwrap().is_none(),
        "its tokens went too"
    );
    assert!(
        db.find_session(&ids[1].id).await.unwrap().is_some(),
        "revoked later: kept"
    );
    // Past the absolute end of every session, one batch of two at a time.
    assert_eq!(db.prune_sessions(at(86_400_001), 2).await.unwrap(), 2);
    assert_eq!(db.prune_sessions(at(86_400_001), 2).await.unwrap(), 2);
    assert_eq!(db.prune_sessions(at(86_400_001), 2).await.unwrap(), 0);
    for s in &ids {
        assert!(db.find_session(&s.id).await.unwrap().is_none());
    }
}

pub async fn counters_go_once_they_neither_block_nor_count<D: Database>(db: &D) {
    let (a, t) = public();
    let idle = attempt("account:idle@example.com", None, at(0));
    let blocked = attempt("account:blocked@example.com", None, at(0));
    db.begin_signin(&a, &t, &email("idle@example.com"), &idle)
        .await
        .unwrap();
    for _ in 0..100 {
        db.begin_signin(&a, &t, &email("blocked@example.com"), &blocked)
            .await
            .unwrap();
    }
    // At 999 ms: the idle one is older than the cut-off and free; the other is blocked until
    // 1,000 ms (its fifth failure).
    assert_eq!(
        db.prune_signin_failures(at(1), at(999), 10).await.unwrap(),
        1
    );
    let still = db
        .begin_signin(
            &a,
            &t,
            &email("blocked@example.com"),
            &attempt("account:blocked@example.com", None, at(999)),
        )
        .await
        .unwrap();
    assert!(still.retry_after.is_some(), "a blocked counter is kept");
}

pub async fn old_billing_events_and_audit_entries_go_after_their_retention<D: Database>(db: &D) {
    let (a, t) = public();
    let (u, face) = user(&a, &t, "w@example.com", 1);
    assert!(db
        .create_user(&u, &face, &session(&face, 1), &token(1))
        .await
        .unwrap());
    let e = entry(2, &a, AuditAction::UserPlan, Some(&t));
    db.apply_plan_event(&a, "evt-1", &face, at(5), &e)
        .await
        .unwrap();
    assert_eq!(
        db.prune_webhook_events(at(5), 10).await.unwrap(),
        0,
        "not before it arrived"
    );
    assert_eq!(db.prune_webhook_events(at(6), 10).await.unwrap(), 1);
    assert!(!db.has_event(&a, "evt-1").await.unwrap());
    for n in 3..6 {
        let e = entry(n, &a, AuditAction::RolePut, None);
        db.put_role(&a, &role(&format!("r{n}")), &[], at(0), &e)
            .await
            .unwrap();
    }
    // Entries at 2, 3, 4 and 5 ms; those before 4 ms go.
    assert_eq!(db.prune_audit(at(4), 1).await.unwrap(), 1);
    assert_eq!(db.prune_audit(at(4), 10).await.unwrap(), 1);
    let left = db.list_audit(&a, None, None, 10).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|e| e.at >= at(4)));
}

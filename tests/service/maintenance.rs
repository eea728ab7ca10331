//! The cron's pruning: what is past its use goes, nothing else.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::Error;
use tessera::service::{maintenance, sessions};

#[test]
fn pruning_removes_dead_sessions_a_day_after_their_end_and_spent_counters() {
    let w = World::new();
    let owner = w.owner();
    let (p, t) = (app("public"), tenant("public"));
    let first = signup(&w, &p, &t, "a@example.com");
    let kept = signup(&w, &p, &t, "b@example.com");
    // One revoked session, one failed sign-in for an email nobody has.
    block_on(tessera::service::users::revoke_sessions(
        &w.cx(),
        &owner,
        &p,
        &t,
        &first.user.face.user_id,
    ))
    .unwrap();
    let _ = signin(
        &w,
        &p,
        &t,
        "nobody@example.com",
        PASSWORD,
        Some("client:192.0.2.1"),
    );
    let nothing = block_on(maintenance::prune(&w.cx())).unwrap();
    assert_eq!(
        (nothing.sessions, nothing.signin_failures),
        (0, 0),
        "too early for anything"
    );
    w.advance_ms(24 * 3600 * 1000 + 1);
    let pruned = block_on(maintenance::prune(&w.cx())).unwrap();
    assert_eq!(pruned.sessions, 1);
    assert_eq!(
        pruned.signin_failures, 2,
        "the account's and the client's counters"
    );
    let refused = block_on(sessions::refresh(
        &w.cx(),
        &p,
        &t,
        first.session.refresh_token.expose(),
    ));
    assert_eq!(
        refused.unwrap_err(),
        Error::InvalidToken,
        "a pruned session refreshes no more than a revoked one"
    );
    assert!(
        block_on(sessions::refresh(
            &w.cx(),
            &p,
            &t,
            kept.session.refresh_token.expose()
        ))
        .is_ok(),
        "a live session is kept"
    );
}

#[test]
fn audit_entries_go_after_the_retention() {
    let mut w = World::new();
    w.config.audit_retention_days = 30;
    let owner = w.owner();
    w.app(&owner, "shop");
    w.advance_ms(30 * 24 * 3600 * 1000);
    assert_eq!(block_on(maintenance::prune(&w.cx())).unwrap().audit, 0);
    w.advance_ms(1);
    assert_eq!(block_on(maintenance::prune(&w.cx())).unwrap().audit, 1);
}

//! Scenarios of end users: sign-up (all or nothing), sign-in attempts counted before hashing
//! (blocking, Retry-After, bursts, decay, settlement), and refresh sessions (rotation as a
//! compare-and-swap, revocation, the status a refresh sees).

use super::fixtures::*;
use super::steps::{actions_of, create_tenant};
use tessera::domain::audit::AuditAction;
use tessera::domain::ids::{AppId, TenantId};
use tessera::domain::user::UserStatus;
use tessera::store::Database;

fn public() -> (AppId, TenantId) {
    (app("public"), tenant("public"))
}

pub async fn signing_up_writes_the_user_its_face_its_session_and_its_token_together<D: Database>(
    db: &D,
) {
    let (a, t) = public();
    let (u, face) = user(&a, &t, "ann@example.com", 1);
    let s = session(&face, 1);
    assert!(db.create_user(&u, &face, &s, &token(1)).await.unwrap());
    assert_eq!(
        db.find_tenant_user(&a, &t, &u.id).await.unwrap(),
        Some((u.clone(), face.clone()))
    );
    assert_eq!(db.find_user(&a, &u.id).await.unwrap(), Some(u.clone()));
    assert_eq!(db.find_session(&s.id).await.unwrap(), Some(s.clone()));
    let presented = db.find_by_refresh_token(&token(1)).await.unwrap().unwrap();
    assert_eq!(presented.session, s);
    assert_eq!(presented.generation, 0);
    assert_eq!(presented.status, UserStatus::Active);
    let signin = attempt("account:ann@example.com", None, at(0));
    let record = db.begin_signin(&a, &t, &face.email, &signin).await.unwrap();
    assert_eq!(record.user, Some((u, face)));
}

pub async fn a_duplicate_email_in_the_tenant_writes_nothing_at_all<D: Database>(db: &D) {
    let (a, t) = public();
    let (u, face) = user(&a, &t, "ann@example.com", 1);
    assert!(db
        .create_user(&u, &face, &session(&face, 1), &token(1))
        .await
        .unwrap());
    let (twin, twin_face) = user(&a, &t, "Ann@Example.com", 2);
    let twin_session = session(&twin_face, 2);
    assert!(!db
        .create_user(&twin, &twin_face, &twin_session, &token(2))
        .await
        .unwrap());
    assert_eq!(db.find_user(&a, &twin.id).await.unwrap(), None);
    assert_eq!(db.find_tenant_user(&a, &t, &twin.id).await.unwrap(), None);
    assert_eq!(db.find_session(&twin_session.id).await.unwrap(), None);
    assert_eq!(db.find_by_refresh_token(&token(2)).await.unwrap(), None);
    let imported = db
        .create_user_only(
            &twin,
            &twin_face,
            &entry(3, &a, AuditAction::UserCreate, Some(&t)),
        )
        .await
        .unwrap();
    assert!(!imported, "an import of a taken email is refused too");
    assert_eq!(db.find_user(&a, &twin.id).await.unwrap(), None);
    assert!(actions_of(db, &a).await.is_empty());

    // The same email in another tenant is another user.
    let acme = create_tenant(db, &a, "acme", 4).await;
    let (other, other_face) = user(&a, &acme, "ann@example.com", 5);
    assert!(db
        .create_user(&other, &other_face, &session(&other_face, 5), &token(5))
        .await
        .unwrap());
}

pub async fn a_password_hash_is_replaced<D: Database>(db: &D) {
    let (a, t) = public();
    let (u, face) = user(&a, &t, "ann@example.com", 1);
    assert!(db
        .create_user(&u, &face, &session(&face, 1), &token(1))
        .await
        .unwrap());
    db.update_user_password(&a, &u.id, &password_hash(2))
        .await
        .unwrap();
    let found = db.find_user(&a, &u.id).await.unwrap().unwrap();
    assert_eq!(found.password_hash, Some(password_hash(2)));
    // The parameters in use follow the hashes: the old set is gone, the new one listed once.
    let (other, other_face) = user(&a, &t, "bob@example.com", 3);
    assert!(db
        .create_user(&other, &other_face, &session(&other_face, 3), &token(3))
        .await
        .unwrap());
    let mut expected: Vec<_> = [Some(password_hash(2)), other.password_hash.clone()]
        .into_iter()
        .flatten()
        .map(|h| h.params())
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(db.find_password_params(&a).await.unwrap(), expected);
    assert!(db
        .find_password_params(&app("other"))
        .await
        .unwrap()
        .is_empty());
}

/// The Retry-After of one end-user attempt in the public tenant.
async fn try_signin<D: Database>(
    db: &D,
    account: &str,
    client: Option<&str>,
    ms: i64,
) -> Option<i64> {
    let (a, t) = public();
    let address = account.trim_start_matches("account:");
    db.begin_signin(&a, &t, &email(address), &attempt(account, client, at(ms)))
        .await
        .unwrap()
        .retry_after
}

pub async fn sign_in_attempts_past_the_free_ones_are_refused_uncounted_with_retry_after<
    D: Database,
>(
    db: &D,
) {
    let ann = "account:ann@example.com";
    for n in 1..=5 {
        assert_eq!(
            try_signin(db, ann, None, 0).await,
            None,
            "attempt {n} is free"
        );
    }
    assert_eq!(
        try_signin(db, ann, None, 0).await,
        Some(1),
        "blocked for 1 s"
    );
    assert_eq!(try_signin(db, ann, None, 400).await, Some(1), "rounded up");
    // The refused attempts were not counted: the 6th counted failure blocks for 2 s, not more.
    assert_eq!(try_signin(db, ann, None, 1_000).await, None);
    assert_eq!(try_signin(db, ann, None, 1_000).await, Some(2));
    assert_eq!(try_signin(db, ann, None, 3_000).await, None);
    assert_eq!(try_signin(db, ann, None, 3_000).await, Some(4));
    // Another account is not affected.
    assert_eq!(
        try_signin(db, "account:bob@example.com", None, 3_000).await,
        None
    );
}

pub async fn a_burst_of_attempts_gets_at_most_the_free_ones_through<D: Database>(db: &D) {
    let through = {
        let mut n = 0;
        for _ in 0..50 {
            n += usize::from(
                try_signin(db, "account:ann@example.com", None, 0)
                    .await
                    .is_none(),
            );
        }
        n
    };
    assert_eq!(through, 5, "one account");
    let client = Some("client:203.0.113.9");
    let mut through = 0;
    for n in 0..50 {
        let account = format!("account:user{n}@example.com");
        through += usize::from(try_signin(db, &account, client, 0).await.is_none());
    }
    assert_eq!(through, 20, "one client, many accounts");
}

pub async fn retry_after_is_the_later_of_the_blocked_subjects<D: Database>(db: &D) {
    let client = Some("client:203.0.113.9");
    let ann = "account:ann@example.com";
    for _ in 0..5 {
        assert_eq!(try_signin(db, ann, client, 0).await, None);
    }
    // ann: 6 failures, blocked until 1 s + 2 s.
    assert_eq!(try_signin(db, ann, client, 1_000).await, None);
    // The client reaches 20 failures: blocked until 1 s + 1 s.
    for n in 7..=20 {
        let other = format!("account:u{n}@example.com");
        assert_eq!(try_signin(db, &other, client, 1_000).await, None, "{n}");
    }
    assert_eq!(
        try_signin(db, ann, client, 1_000).await,
        Some(2),
        "ann's block is later"
    );
    assert_eq!(
        try_signin(db, "account:new@example.com", client, 1_000).await,
        Some(1),
        "the client's block"
    );
    assert_eq!(
        try_signin(db, ann, None, 1_000).await,
        Some(2),
        "without the client"
    );
}

pub async fn a_count_left_alone_for_longer_than_a_day_starts_again<D: Database>(db: &D) {
    const DAY: i64 = 24 * 3_600_000;
    let ann = "account:ann@example.com";
    for _ in 0..5 {
        assert_eq!(try_signin(db, ann, None, 0).await, None);
    }
    // Exactly a day later the count goes on (6th failure: 2 s)...
    assert_eq!(try_signin(db, ann, None, DAY).await, None);
    assert_eq!(try_signin(db, ann, None, DAY).await, Some(2));
    // ...and more than a day after the last failure it starts from one again.
    for n in 1..=5 {
        assert_eq!(
            try_signin(db, ann, None, 2 * DAY + 1).await,
            None,
            "attempt {n}"
        );
    }
    assert_eq!(try_signin(db, ann, None, 2 * DAY + 1).await, Some(1));
}

pub async fn a_blocked_client_adds_no_count_for_the_emails_it_tries<D: Database>(db: &D) {
    let blocked = Some("client:198.51.100.7");
    for n in 0..20 {
        let account = format!("account:guess{n}@example.com");
        assert_eq!(
            try_signin(db, &account, blocked, 0).await,
            None,
            "attempt {n}"
        );
    }
    // The client is blocked now: its attempt at a new email is refused and not counted.
    assert!(try_signin(db, "account:fresh@example.com", blocked, 0)
        .await
        .is_some());
    // From elsewhere, that email still has all its free attempts: nothing was counted for it.
    let elsewhere = Some("client:203.0.113.50");
    for n in 0..5 {
        assert_eq!(
            try_signin(db, "account:fresh@example.com", elsewhere, 10_000).await,
            None,
            "free attempt {n}"
        );
    }
    assert!(
        try_signin(db, "account:fresh@example.com", elsewhere, 10_000)
            .await
            .is_some()
    );
}

pub async fn sign_in_counters_are_kept_per_tenant<D: Database>(db: &D) {
    let (a, t) = public();
    let acme = create_tenant(db, &a, "acme", 1).await;
    let ann = email("ann@example.com");
    let signin = attempt("account:ann@example.com", None, at(0));
    for _ in 0..6 {
        db.begin_signin(&a, &t, &ann, &signin).await.unwrap();
    }
    assert!(db
        .begin_signin(&a, &t, &ann, &signin)
        .await
        .unwrap()
        .retry_after
        .is_some());
    assert_eq!(
        db.begin_signin(&a, &acme, &ann, &signin)
            .await
            .unwrap()
            .retry_after,
        None
    );
}

pub async fn a_success_clears_the_account_and_gives_the_client_one_attempt_back<D: Database>(
    db: &D,
) {
    let (a, t) = public();
    let client = Some("client:203.0.113.9");
    let (u, face) = user(&a, &t, "ann@example.com", 1);
    assert!(db
        .create_user(&u, &face, &session(&face, 1), &token(1))
        .await
        .unwrap());
    for _ in 1..=4 {
        assert_eq!(
            try_signin(db, "account:ann@example.com", client, 0).await,
            None
        );
    }
    for n in 5..=19 {
        let other = format!("account:u{n}@example.com");
        assert_eq!(try_signin(db, &other, client, 0).await, None);
    }
    // The 20th counted attempt is ann's right password: the client is now blocked.
    let ann = attempt("account:ann@example.com", client, at(0));
    assert_eq!(
        db.begin_signin(&a, &t, &face.email, &ann)
            .await
            .unwrap()
            .retry_after,
        None
    );
    assert_eq!(
        try_signin(db, "account:x@example.com", client, 0).await,
        Some(1)
    );
    db.create_session(&session(&face, 2), &token(2), &ann)
        .await
        .unwrap();
    // One attempt back (19 < 20 free: unblocked), and only one.
    assert_eq!(
        try_signin(db, "account:y@example.com", client, 0).await,
        None
    );
    assert_eq!(
        try_signin(db, "account:z@example.com", client, 0).await,
        Some(1)
    );
    // ann's account count was cleared: five free attempts again (from another client).
    for n in 1..=5 {
        assert_eq!(
            try_signin(
                db,
                "account:ann@example.com",
                Some("client:198.51.100.1"),
                0
            )
            .await,
            None,
            "attempt {n}"
        );
    }
    assert!(db
        .find_session(&session(&face, 2).id)
        .await
        .unwrap()
        .is_some());
}

pub async fn settling_a_refused_sign_in_gives_the_attempt_back_without_a_session<D: Database>(
    db: &D,
) {
    let (a, t) = public();
    let client = Some("client:203.0.113.9");
    for n in 1..=20 {
        let other = format!("account:u{n}@example.com");
        assert_eq!(try_signin(db, &other, client, 0).await, None);
    }
    assert_eq!(
        try_signin(db, "account:x@example.com", client, 0).await,
        Some(1)
    );
    let settled = attempt("account:u20@example.com", client, at(0));
    db.settle_signin(&a, &t, &settled).await.unwrap();
    assert_eq!(
        try_signin(db, "account:y@example.com", client, 0).await,
        None
    );
    assert_eq!(
        try_signin(db, "account:z@example.com", client, 0).await,
        Some(1)
    );
    // u20's account count is gone; u19's is not.
    for _ in 0..5 {
        assert_eq!(
            try_signin(db, "account:u20@example.com", None, 0).await,
            None
        );
    }
    assert_eq!(
        try_signin(db, "account:u20@example.com", None, 0).await,
        Some(1)
    );
}

pub async fn sign_ups_are_counted_per_client_and_tenant<D: Database>(db: &D) {
    let (a, t) = public();
    let acme = create_tenant(db, &a, "acme", 1).await;
    let client = "client:203.0.113.9";
    for n in 1..=100 {
        assert_eq!(
            db.count_signup(&a, &t, client, at(0)).await.unwrap(),
            None,
            "{n}"
        );
    }
    assert_eq!(
        db.count_signup(&a, &t, client, at(0)).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        db.count_signup(&a, &t, "client:198.51.100.1", at(0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.count_signup(&a, &acme, client, at(0)).await.unwrap(),
        None
    );
    // Sign-ups and sign-ins of one address are counted apart.
    assert_eq!(
        try_signin(db, "account:ann@example.com", Some(client), 0).await,
        None
    );
    // An hour without a sign-up forgets the count.
    assert_eq!(
        db.count_signup(&a, &t, client, at(1_000)).await.unwrap(),
        None
    );
    assert_eq!(
        db.count_signup(&a, &t, client, at(1_000)).await.unwrap(),
        Some(2)
    );
    let later = 1_000 + 3_600_001;
    for _ in 0..100 {
        assert_eq!(
            db.count_signup(&a, &t, client, at(later)).await.unwrap(),
            None
        );
    }
}

pub async fn twenty_rotations_from_one_generation_succeed_exactly_once<D: Database>(db: &D) {
    let (a, t) = public();
    let (u, face) = user(&a, &t, "ann@example.com", 1);
    let s = session(&face, 1);
    assert!(db.create_user(&u, &face, &s, &token(1)).await.unwrap());
    let mut moved = 0;
    for n in 0..20 {
        moved += usize::from(
            db.rotate_session(&s.id, 0, &token(2), at(100 + n))
                .await
                .unwrap(),
        );
    }
    assert_eq!(moved, 1);
    let now = db.find_session(&s.id).await.unwrap().unwrap();
    assert_eq!(now.generation, 1);
    assert_eq!((now.rotated_at, now.last_used_at), (at(100), at(100)));
    let successor = db.find_by_refresh_token(&token(2)).await.unwrap().unwrap();
    assert_eq!(successor.generation, 1);
    let old = db.find_by_refresh_token(&token(1)).await.unwrap().unwrap();
    assert_eq!(old.generation, 0, "the old token is still known, as theft");
    assert!(db
        .rotate_session(&s.id, 1, &token(3), at(200))
        .await
        .unwrap());
    assert!(!db
        .rotate_session(&s.id, 1, &token(3), at(201))
        .await
        .unwrap());
    assert_eq!(db.find_session(&s.id).await.unwrap().unwrap().generation, 2);
}

pub async fn a_revoked_session_cannot_rotate<D: Database>(db: &D) {
    let (a, t) = public();
    let (u, face) = user(&a, &t, "ann@example.com", 1);
    let s = session(&face, 1);
    assert!(db.create_user(&u, &face, &s, &token(1)).await.unwrap());
    let (revoked, newly) = db.revoke_session(&s.id, at(50)).await.unwrap().unwrap();
    assert!(newly);
    assert_eq!(revoked.revoked_at, Some(at(50)));
    let (again, newly) = db.revoke_session(&s.id, at(60)).await.unwrap().unwrap();
    assert!(!newly, "revoked already");
    assert_eq!(
        again.revoked_at,
        Some(at(50)),
        "the first revocation stands"
    );
    assert!(!db
        .rotate_session(&s.id, 0, &token(2), at(70))
        .await
        .unwrap());
    let found = db.find_session(&s.id).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(at(50)));
    assert_eq!(found.generation, 0);
    let missing = session(&face, 9);
    assert_eq!(db.revoke_session(&missing.id, at(60)).await.unwrap(), None);
    assert_eq!(db.find_session(&missing.id).await.unwrap(), None);
}

pub async fn the_current_token_of_a_live_session_rotates_in_one_call<D: Database>(db: &D) {
    let (a, t) = public();
    let (u, face) = user(&a, &t, "ann@example.com", 1);
    let s = session(&face, 1);
    assert!(db.create_user(&u, &face, &s, &token(1)).await.unwrap());
    let (rotated, found) = db
        .rotate_presented(&a, &t, &token(1), &token(2), None, at(10))
        .await
        .unwrap();
    assert!(rotated);
    let found = found.unwrap();
    assert_eq!((found.generation, found.session.generation), (0, 1));
    assert_eq!(found.session.rotated_at, at(10));
    // The same token again: not rotated, and the answer says why (it is now the previous one).
    let (again, found) = db
        .rotate_presented(&a, &t, &token(1), &token(2), None, at(11))
        .await
        .unwrap();
    assert!(!again);
    assert_eq!(found.unwrap().session.generation, 1);
    // The successor is the current token now; at another tenant nothing moves.
    let (elsewhere, _) = db
        .rotate_presented(&a, &tenant("acme"), &token(2), &token(3), None, at(12))
        .await
        .unwrap();
    assert!(!elsewhere);
    // Past the idle lifetime (an hour after the last use) nothing moves either.
    let (idle, found) = db
        .rotate_presented(&a, &t, &token(2), &token(3), None, at(10 + 3_600_000))
        .await
        .unwrap();
    assert!(!idle);
    assert_eq!(found.unwrap().session.generation, 1);
    // A suspended user's session does not rotate.
    let mut suspended = face.clone();
    suspended.status = tessera::domain::user::UserStatus::Suspended;
    let e = entry(
        20,
        &a,
        tessera::domain::audit::AuditAction::UserSuspend,
        Some(&t),
    );
    assert!(db.update_face(&suspended, 0, &e).await.unwrap());
    let (refused, found) = db
        .rotate_presented(&a, &t, &token(2), &token(3), None, at(13))
        .await
        .unwrap();
    assert!(!refused);
    assert_eq!(
        found.unwrap().status,
        tessera::domain::user::UserStatus::Suspended
    );
    assert_eq!(
        db.rotate_presented(&a, &t, &token(9), &token(3), None, at(14))
            .await
            .unwrap(),
        (false, None),
        "an unknown token"
    );
}

pub async fn a_refresh_sees_the_users_status_in_the_sessions_tenant<D: Database>(db: &D) {
    let (a, t) = public();
    let acme = create_tenant(db, &a, "acme", 1).await;
    let (u, face) = user(&a, &t, "ann@example.com", 1);
    assert!(db
        .create_user(&u, &face, &session(&face, 1), &token(1))
        .await
        .unwrap());
    // A session in a tenant where the user has no face: as good as suspended.
    let mut elsewhere = face.clone();
    elsewhere.tenant_id = acme.clone();
    let signin = attempt("account:ann@example.com", None, at(0));
    db.create_session(&session(&elsewhere, 2), &token(2), &signin)
        .await
        .unwrap();
    let presented = db.find_by_refresh_token(&token(2)).await.unwrap().unwrap();
    assert_eq!(presented.status, UserStatus::Suspended);
    assert_eq!(presented.session.tenant_id, acme);
    // A suspended face.
    let mut suspended = face.clone();
    suspended.status = UserStatus::Suspended;
    let e = entry(2, &a, AuditAction::UserSuspend, Some(&t));
    assert!(db.update_face(&suspended, 0, &e).await.unwrap());
    let presented = db.find_by_refresh_token(&token(1)).await.unwrap().unwrap();
    assert_eq!(presented.status, UserStatus::Suspended);
    assert_eq!(db.find_by_refresh_token(&token(9)).await.unwrap(), None);
}

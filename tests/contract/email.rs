//! The contract of `EmailStore` (and `UserStore::find_tenant_user_by_email`): delivery
//! settings, the outbox, dead letters, send windows, challenges and their one-use consumes,
//! self-service writes and the clean-up.

use super::edge_sync::{key_of, version_of};
use super::fixtures::*;
use super::steps::*;
use tessera::domain::audit::AuditAction;
use tessera::domain::challenge::{Plane, Purpose, Subject, MAX_WRONG_CODES, SHORT_TTL_MS};
use tessera::domain::deletion::Target;
use tessera::domain::delivery::Delivery;
use tessera::domain::ids::{AppId, TenantId};
use tessera::domain::links::WebUrl;
use tessera::domain::user::{TenantUser, User};
use tessera::store::{ConsumeCount, Database, SendCount, Settlement, SignUpOutcome};

fn tenant_plane(app_id: &AppId, t: &str) -> Plane {
    Plane::Tenant(app_id.clone(), tenant(t))
}

/// The app `shop` (audit entry 1) with its tenant `acme` (2), and there the user
/// `ada@example.com` (number 3) with her first session.
async fn ada_in_acme<D: Database>(db: &D) -> (AppId, TenantId, User, TenantUser) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let (u, face) = user(&shop, &acme, "ada@example.com", 3);
    assert!(db
        .create_user(&u, &face, &session(&face, 3), &token(3))
        .await
        .unwrap());
    (shop, acme, u, face)
}

fn hook() -> Delivery {
    Delivery::Webhook {
        url: WebUrl::parse_webhook("https://mail.example/hook").unwrap(),
        sealed_secret: "v1.nonce.sealed".into(),
    }
}

fn no_count(now: i64) -> ConsumeCount {
    ConsumeCount {
        address: None,
        client: None,
        now: at(now),
    }
}

pub async fn the_email_delivery_defaults_to_none_and_is_replaced_with_an_audit_entry<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    assert_eq!(db.find_email_delivery(&shop).await.unwrap(), Delivery::None);
    let e = |n| entry(n, &shop, AuditAction::EmailDeliveryPut, None);
    assert!(db
        .put_email_delivery(&shop, &hook(), at(1), &e(2))
        .await
        .unwrap());
    assert_eq!(db.find_email_delivery(&shop).await.unwrap(), hook());
    assert!(db
        .put_email_delivery(&shop, &Delivery::Outbox, at(2), &e(3))
        .await
        .unwrap());
    assert_eq!(
        db.find_email_delivery(&shop).await.unwrap(),
        Delivery::Outbox
    );
    let ghost = app("ghost");
    let ghost_entry = entry(4, &ghost, AuditAction::EmailDeliveryPut, None);
    assert!(!db
        .put_email_delivery(&ghost, &hook(), at(3), &ghost_entry)
        .await
        .unwrap());
    assert_eq!(
        actions_of(db, &shop).await,
        [
            AuditAction::AppCreate,
            AuditAction::EmailDeliveryPut,
            AuditAction::EmailDeliveryPut
        ]
    );
    assert!(audit_of(db, &ghost).await.is_empty());
}

pub async fn outbox_messages_are_kept_once_listed_newest_first_and_leave_with_the_outbox<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let first = message(&shop, Some(&acme), "ada@example.com", 10, 100);
    let second = message(&shop, Some(&acme), "bob@example.com", 11, 200);
    let third = message(&shop, None, "ada@example.com", 12, 300);
    for m in [&first, &second, &third, &first] {
        db.create_outbox_message(m, at(0)).await.unwrap();
    }
    let all = db.list_outbox(&shop, None, at(0), None, 10).await.unwrap();
    assert_eq!(
        all,
        [third.clone(), second.clone(), first.clone()],
        "once each, newest first"
    );
    let ada = db
        .list_outbox(&shop, Some(&email("ada@example.com")), at(0), None, 10)
        .await
        .unwrap();
    assert_eq!(ada, [third.clone(), first.clone()]);
    let page = db
        .list_outbox(&shop, None, at(0), Some(&third.id.to_string()), 1)
        .await
        .unwrap();
    assert_eq!(page, std::slice::from_ref(&second), "after the cursor");
    let recent = db
        .list_outbox(&shop, None, at(200), None, 10)
        .await
        .unwrap();
    assert_eq!(recent, [third.clone(), second.clone()], "made since");
    // A new message prunes what was made before the bound.
    let fourth = message(&shop, Some(&acme), "cy@example.com", 13, 400);
    db.create_outbox_message(&fourth, at(250)).await.unwrap();
    let kept = db.list_outbox(&shop, None, at(0), None, 10).await.unwrap();
    assert_eq!(kept, [fourth.clone(), third.clone()]);
    let e = entry(5, &shop, AuditAction::EmailDeliveryPut, None);
    assert!(db
        .put_email_delivery(&shop, &Delivery::Outbox, at(5), &e)
        .await
        .unwrap());
    assert_eq!(
        db.list_outbox(&shop, None, at(0), None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    let e = entry(6, &shop, AuditAction::EmailDeliveryPut, None);
    assert!(db
        .put_email_delivery(&shop, &hook(), at(6), &e)
        .await
        .unwrap());
    assert!(db
        .list_outbox(&shop, None, at(0), None, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn dead_letters_are_kept_once_listed_newest_first_and_pruned<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let old = dead_letter(&shop, Some(&acme), "ada@example.com", 10, 100);
    let new = dead_letter(&shop, None, "bob@example.com", 11, 200);
    for letter in [&old, &new, &old] {
        db.create_dead_letter(letter, at(0)).await.unwrap();
    }
    assert_eq!(
        db.list_dead_letters(&shop, None, 10).await.unwrap(),
        [new.clone(), old.clone()]
    );
    assert_eq!(
        db.list_dead_letters(&shop, Some(&new.id.to_string()), 10)
            .await
            .unwrap(),
        std::slice::from_ref(&old)
    );
    let newest = dead_letter(&shop, None, "cy@example.com", 12, 300);
    db.create_dead_letter(&newest, at(150)).await.unwrap();
    assert_eq!(
        db.list_dead_letters(&shop, None, 10).await.unwrap(),
        [newest, new],
        "the old one was pruned"
    );
    assert!(db
        .list_dead_letters(&app("public"), None, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn sends_are_counted_in_fixed_windows_per_address_and_client<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let plane = tenant_plane(&shop, "public");
    let send = |address: &str, client: Option<&str>, now: i64| SendCount {
        address: format!("send:{address}"),
        client: client.map(str::to_owned),
        now: at(now),
    };
    for n in 0..5 {
        let counted = db
            .count_send(&plane, &send("ada@example.com", None, n * 1_000))
            .await;
        assert_eq!(counted.unwrap(), None, "send {n}");
    }
    // The window began at 0 and lasts 15 minutes.
    assert_eq!(
        db.count_send(&plane, &send("ada@example.com", None, 5_000))
            .await
            .unwrap(),
        Some(895)
    );
    assert_eq!(
        db.count_send(&Plane::Operators, &send("ada@example.com", None, 5_000))
            .await
            .unwrap(),
        None,
        "another plane counts apart"
    );
    assert_eq!(
        db.count_send(&plane, &send("ada@example.com", None, 900_000))
            .await
            .unwrap(),
        None,
        "a new window"
    );
    let client = Some("client:203.0.113.9");
    for n in 0..20 {
        let address = format!("u{n}@example.com");
        assert_eq!(
            db.count_send(&plane, &send(&address, client, 0))
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        db.count_send(&plane, &send("u20@example.com", client, 60_000))
            .await
            .unwrap(),
        Some(840)
    );
}

pub async fn a_challenge_names_the_account_of_its_email_in_its_plane<D: Database>(db: &D) {
    let (shop, _, u, _) = ada_in_acme(db).await;
    let mut owner = operator("ada@example.com", 4);
    owner.is_platform_owner = true;
    assert!(db
        .create_platform_owner(&owner, &bootstrap_membership(&owner))
        .await
        .unwrap());
    let plane = tenant_plane(&shop, "acme");
    let known = challenge(
        &plane,
        Purpose::PasswordReset,
        "ada@example.com",
        10,
        0,
        false,
    );
    assert_eq!(
        db.create_challenge(&known).await.unwrap(),
        Some(Subject::User(u.id))
    );
    let unknown = challenge(
        &plane,
        Purpose::PasswordReset,
        "bob@example.com",
        11,
        0,
        false,
    );
    assert_eq!(db.create_challenge(&unknown).await.unwrap(), None);
    let elsewhere = challenge(
        &tenant_plane(&shop, "public"),
        Purpose::PasswordReset,
        "ada@example.com",
        12,
        0,
        false,
    );
    assert_eq!(db.create_challenge(&elsewhere).await.unwrap(), None);
    let operators = challenge(
        &Plane::Operators,
        Purpose::OperatorPasswordReset,
        "ada@example.com",
        13,
        0,
        false,
    );
    assert_eq!(
        db.create_challenge(&operators).await.unwrap(),
        Some(Subject::Operator(owner.id))
    );
    let found = db.find_challenge(&plane, &known.id).await.unwrap().unwrap();
    assert_eq!(found.challenge, known);
    assert_eq!((found.tries, found.consumed_at), (0, None));
    assert_eq!(
        db.find_challenge(&Plane::Operators, &known.id)
            .await
            .unwrap(),
        None
    );
    let mut twin = challenge(&plane, Purpose::Passwordless, "cy@example.com", 14, 0, true);
    twin.token_hash = known.token_hash.clone();
    assert!(
        db.create_challenge(&twin).await.is_err(),
        "a token hash is unique"
    );
    assert_eq!(db.find_challenge(&plane, &twin.id).await.unwrap(), None);
}

pub async fn a_code_try_counts_on_an_open_attempt_and_on_its_subjects<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let plane = tenant_plane(&shop, "public");
    let attempt = challenge(
        &plane,
        Purpose::Passwordless,
        "ada@example.com",
        10,
        0,
        true,
    );
    db.create_challenge(&attempt).await.unwrap();
    let count = |now: i64| ConsumeCount {
        address: Some("code:ada@example.com".into()),
        client: Some("client:203.0.113.9".into()),
        now: at(now),
    };
    for n in 1..=MAX_WRONG_CODES {
        let tried = db
            .begin_code_try(&plane, &attempt.id, &count(n * 10_000))
            .await
            .unwrap();
        assert_eq!(tried.retry_after, None);
        assert_eq!(tried.found.map(|c| c.tries), Some(n));
    }
    let over = db
        .begin_code_try(&plane, &attempt.id, &count(60_000))
        .await
        .unwrap();
    assert_eq!(over.found, None, "five tries end the attempt");
    assert_eq!(
        over.retry_after, None,
        "the address was counted a sixth time"
    );
    let blocked = db
        .begin_code_try(&plane, &attempt.id, &count(60_001))
        .await
        .unwrap();
    assert_eq!(blocked.retry_after, Some(2));
    let other = challenge(
        &plane,
        Purpose::Passwordless,
        "bob@example.com",
        11,
        0,
        true,
    );
    db.create_challenge(&other).await.unwrap();
    let late = db
        .begin_code_try(&plane, &other.id, &no_count(SHORT_TTL_MS))
        .await
        .unwrap();
    assert_eq!(late.found, None, "expired");
    let link_only = challenge(
        &plane,
        Purpose::PasswordReset,
        "cy@example.com",
        12,
        0,
        false,
    );
    db.create_challenge(&link_only).await.unwrap();
    assert_eq!(
        db.begin_code_try(&plane, &link_only.id, &no_count(1))
            .await
            .unwrap()
            .found,
        None,
        "no code, no code try"
    );
    let open = db
        .begin_code_try(&plane, &other.id, &no_count(1))
        .await
        .unwrap();
    assert_eq!(open.found.map(|c| c.tries), Some(1));
}

pub async fn a_link_try_finds_only_an_open_challenge_of_its_purpose_and_plane<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let plane = tenant_plane(&shop, "public");
    let reset = challenge(
        &plane,
        Purpose::PasswordReset,
        "ada@example.com",
        10,
        0,
        false,
    );
    db.create_challenge(&reset).await.unwrap();
    let find = |purpose, plane: &Plane, now| {
        let plane = plane.clone();
        let hash = reset.token_hash.clone();
        async move {
            db.begin_link_try(&plane, purpose, &hash, &no_count(now))
                .await
                .unwrap()
                .found
                .map(|c| c.challenge.id)
        }
    };
    assert_eq!(
        find(Purpose::PasswordReset, &plane, 1).await,
        Some(reset.id)
    );
    assert_eq!(find(Purpose::EmailVerification, &plane, 1).await, None);
    assert_eq!(
        find(Purpose::PasswordReset, &Plane::Operators, 1).await,
        None
    );
    assert_eq!(
        find(Purpose::PasswordReset, &plane, SHORT_TTL_MS).await,
        None
    );
    let client = ConsumeCount {
        address: None,
        client: Some("client:203.0.113.9".into()),
        now: at(2),
    };
    for _ in 0..20 {
        let counted = db
            .begin_link_try(
                &plane,
                Purpose::PasswordReset,
                &secret(tessera::domain::secret::SecretKind::LinkToken, 99),
                &client,
            )
            .await
            .unwrap();
        assert_eq!((counted.found, counted.retry_after), (None, None));
    }
    let blocked = db
        .begin_link_try(&plane, Purpose::PasswordReset, &reset.token_hash, &client)
        .await
        .unwrap();
    assert_eq!(
        blocked.retry_after,
        Some(1),
        "a blocked client is refused even with the right token"
    );
}

pub async fn a_verification_is_consumed_once_and_marks_the_email_verified<D: Database>(db: &D) {
    let (shop, acme, u, _) = ada_in_acme(db).await;
    let plane = tenant_plane(&shop, "acme");
    let proof = challenge(
        &plane,
        Purpose::EmailVerification,
        "ada@example.com",
        10,
        0,
        false,
    );
    db.create_challenge(&proof).await.unwrap();
    let settle = Settlement::default();
    assert!(db
        .verify_email(&proof.id, (&shop, &acme), &u.id, at(1), &settle)
        .await
        .unwrap());
    assert!(!db
        .verify_email(&proof.id, (&shop, &acme), &u.id, at(2), &settle)
        .await
        .unwrap());
    let (stored, _) = db
        .find_tenant_user(&shop, &acme, &u.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.email_verified);
    let found = db.find_challenge(&plane, &proof.id).await.unwrap().unwrap();
    assert_eq!(found.consumed_at, Some(at(1)));
    let expired = challenge(
        &plane,
        Purpose::EmailVerification,
        "ada@example.com",
        11,
        0,
        false,
    );
    db.create_challenge(&expired).await.unwrap();
    let day = expired.expires_at.ms_since(at(0));
    assert!(!db
        .verify_email(&expired.id, (&shop, &acme), &u.id, at(day), &settle)
        .await
        .unwrap());
}

pub async fn a_reset_is_consumed_once_and_revokes_the_users_sessions_of_its_tenant<D: Database>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let (u, face) = user(&shop, &acme, "ada@example.com", 3);
    let first = session(&face, 3);
    assert!(db.create_user(&u, &face, &first, &token(3)).await.unwrap());
    let second = session(&face, 4);
    db.create_session(
        &second,
        &token(4),
        &attempt("account:ada@example.com", None, at(0)),
    )
    .await
    .unwrap();
    let (bob, bob_face) = user(&shop, &acme, "bob@example.com", 5);
    let bobs = session(&bob_face, 5);
    assert!(db
        .create_user(&bob, &bob_face, &bobs, &token(5))
        .await
        .unwrap());
    let failures = attempt("account:ada@example.com", Some("client:203.0.113.9"), at(0));
    for _ in 0..5 {
        db.begin_signin(&shop, &acme, &face.email, &failures)
            .await
            .unwrap();
    }
    let blocked = db
        .begin_signin(&shop, &acme, &face.email, &failures)
        .await
        .unwrap();
    assert!(
        blocked.retry_after.is_some(),
        "five failures block the account for a second"
    );
    let plane = tenant_plane(&shop, "acme");
    let proof = challenge(
        &plane,
        Purpose::PasswordReset,
        "ada@example.com",
        10,
        0,
        false,
    );
    db.create_challenge(&proof).await.unwrap();
    let settle = Settlement {
        clear: Some("account:ada@example.com".into()),
        give_back: Some("client:203.0.113.9".into()),
    };
    let hash = password_hash(7);
    let revoked = db
        .reset_user_password(&proof.id, (&shop, &acme), &u.id, &hash, at(1), &settle)
        .await
        .unwrap();
    let mut revoked = revoked.expect("consumed");
    revoked.sort();
    let mut expected = vec![first.id, second.id];
    expected.sort();
    assert_eq!(revoked, expected);
    assert_eq!(
        version_of(db, &key_of(&face)).await,
        1,
        "the revocations bump ada's edge document in the reset's batch"
    );
    assert_eq!(version_of(db, &key_of(&bob_face)).await, 0);
    assert_eq!(
        db.find_session(&bobs.id).await.unwrap().unwrap().revoked_at,
        None
    );
    let (stored, _) = db
        .find_tenant_user(&shop, &acme, &u.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.password_hash, Some(hash.clone()));
    assert!(stored.email_verified);
    let again = db
        .reset_user_password(
            &proof.id,
            (&shop, &acme),
            &u.id,
            &password_hash(8),
            at(2),
            &settle,
        )
        .await
        .unwrap();
    assert_eq!(again, None, "one use");
    assert_eq!(
        version_of(db, &key_of(&face)).await,
        1,
        "a refused reset bumps nothing"
    );
    let (stored, _) = db
        .find_tenant_user(&shop, &acme, &u.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.password_hash, Some(hash));
    // The settlement cleared the account's block.
    let after = attempt("account:ada@example.com", None, at(2));
    let record = db
        .begin_signin(&shop, &acme, &face.email, &after)
        .await
        .unwrap();
    assert_eq!(record.retry_after, None);
}

pub async fn an_operator_reset_is_consumed_once_and_dated<D: Database>(db: &D) {
    let mut owner = operator("root@example.com", 4);
    owner.is_platform_owner = true;
    assert!(db
        .create_platform_owner(&owner, &bootstrap_membership(&owner))
        .await
        .unwrap());
    let proof = challenge(
        &Plane::Operators,
        Purpose::OperatorPasswordReset,
        "root@example.com",
        10,
        0,
        false,
    );
    db.create_challenge(&proof).await.unwrap();
    let settle = Settlement::default();
    let hash = password_hash(9);
    assert!(db
        .reset_operator_password(&proof.id, &owner.id, &hash, at(5), &settle)
        .await
        .unwrap());
    assert!(!db
        .reset_operator_password(&proof.id, &owner.id, &hash, at(6), &settle)
        .await
        .unwrap());
    let stored = db.find_operator(&owner.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.password_hash, stored.password_reset_at),
        (Some(hash), Some(at(5)))
    );
}

pub async fn a_passwordless_sign_in_writes_its_session_only_with_the_consume<D: Database>(db: &D) {
    let (shop, acme, u, face) = ada_in_acme(db).await;
    let plane = tenant_plane(&shop, "acme");
    let proof = challenge(
        &plane,
        Purpose::Passwordless,
        "ada@example.com",
        10,
        0,
        true,
    );
    db.create_challenge(&proof).await.unwrap();
    let mut fresh = session(&face, 20);
    fresh.created_at = at(1);
    let settle = Settlement::default();
    assert!(db
        .passwordless_sign_in(&proof.id, &fresh, &token(20), &settle)
        .await
        .unwrap());
    assert!(db.find_session(&fresh.id).await.unwrap().is_some());
    let (stored, _) = db
        .find_tenant_user(&shop, &acme, &u.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.email_verified && stored.passwordless);
    let mut late = session(&face, 21);
    late.created_at = at(2);
    assert!(!db
        .passwordless_sign_in(&proof.id, &late, &token(21), &settle)
        .await
        .unwrap());
    assert_eq!(
        db.find_session(&late.id).await.unwrap(),
        None,
        "no session without the consume"
    );
    assert_eq!(db.find_by_refresh_token(&token(21)).await.unwrap(), None);
}

pub async fn a_passwordless_sign_up_writes_the_user_once_and_never_over_a_taken_email<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let plane = tenant_plane(&shop, "acme");
    let proof = challenge(
        &plane,
        Purpose::Passwordless,
        "new@example.com",
        10,
        0,
        true,
    );
    db.create_challenge(&proof).await.unwrap();
    let (mut u, face) = user(&shop, &acme, "new@example.com", 3);
    u.password_hash = None;
    u.email_verified = true;
    u.passwordless = true;
    let mut s = session(&face, 3);
    s.created_at = at(1);
    let settle = Settlement::default();
    let outcome = db
        .passwordless_sign_up(&proof.id, &u, &face, (&s, &token(3)), &settle)
        .await
        .unwrap();
    assert_eq!(outcome, SignUpOutcome::SignedUp);
    let (stored, _) = db
        .find_tenant_user(&shop, &acme, &u.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored,
        User {
            email: email("new@example.com"),
            ..u.clone()
        }
    );
    assert!(db.find_session(&s.id).await.unwrap().is_some());
    let (other, other_face) = user(&shop, &acme, "other@example.com", 4);
    let again = db
        .passwordless_sign_up(
            &proof.id,
            &other,
            &other_face,
            (&session(&other_face, 4), &token(4)),
            &settle,
        )
        .await
        .unwrap();
    assert_eq!(again, SignUpOutcome::ChallengeGone);
    assert_eq!(db.find_user(&shop, &other.id).await.unwrap(), None);
    // A second attempt for the same email, which the tenant meanwhile has.
    let second = challenge(
        &plane,
        Purpose::Passwordless,
        "new@example.com",
        11,
        0,
        true,
    );
    db.create_challenge(&second).await.unwrap();
    let (twin, twin_face) = user(&shop, &acme, "new@example.com", 5);
    let mut twin_session = session(&twin_face, 5);
    twin_session.created_at = at(2);
    let taken = db
        .passwordless_sign_up(
            &second.id,
            &twin,
            &twin_face,
            (&twin_session, &token(5)),
            &settle,
        )
        .await
        .unwrap();
    assert_eq!(taken, SignUpOutcome::EmailTaken);
    assert_eq!(db.find_user(&shop, &twin.id).await.unwrap(), None);
    assert_eq!(db.find_session(&twin_session.id).await.unwrap(), None);
    let consumed = db
        .find_challenge(&plane, &second.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        consumed.consumed_at,
        Some(at(2)),
        "the proof is spent all the same"
    );
}

pub async fn a_password_change_revokes_every_other_live_session_of_the_tenant<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let (u, face) = user(&shop, &acme, "ada@example.com", 3);
    let kept = session(&face, 3);
    assert!(db.create_user(&u, &face, &kept, &token(3)).await.unwrap());
    let none = attempt("account:ada@example.com", None, at(0));
    let others: Vec<_> = (4..7).map(|n| session(&face, n)).collect();
    for (n, s) in others.iter().enumerate() {
        db.create_session(s, &token(4 + n as u8), &none)
            .await
            .unwrap();
    }
    assert!(
        db.revoke_session(&others[0].id, at(1))
            .await
            .unwrap()
            .unwrap()
            .1
    );
    assert_eq!(version_of(db, &key_of(&face)).await, 1);
    let hash = password_hash(9);
    let mut revoked = db
        .change_password(
            (&shop, &acme),
            &u.id,
            &hash,
            &kept.id,
            at(2),
            &Settlement::default(),
        )
        .await
        .unwrap();
    revoked.sort();
    let mut expected = vec![others[1].id, others[2].id];
    expected.sort();
    assert_eq!(
        revoked, expected,
        "the live others, not the kept one nor the revoked one"
    );
    assert_eq!(
        version_of(db, &key_of(&face)).await,
        2,
        "the revocations bump the edge document in the change's batch"
    );
    assert_eq!(
        db.find_session(&kept.id).await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(
        db.find_session(&others[0].id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at(1))
    );
    let (stored, _) = db
        .find_tenant_user(&shop, &acme, &u.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.password_hash, Some(hash));
    let none_left = db
        .change_password(
            (&shop, &acme),
            &u.id,
            &password_hash(10),
            &kept.id,
            at(3),
            &Settlement::default(),
        )
        .await
        .unwrap();
    assert!(none_left.is_empty());
    assert_eq!(
        version_of(db, &key_of(&face)).await,
        2,
        "nothing revoked, nothing to rewrite"
    );
}

pub async fn live_sessions_are_listed_newest_first_without_revoked_or_expired_ones<D: Database>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let (u, face) = user(&shop, &acme, "ada@example.com", 3);
    let oldest = session(&face, 3);
    assert!(db.create_user(&u, &face, &oldest, &token(3)).await.unwrap());
    let none = attempt("account:ada@example.com", None, at(0));
    let revoked = session(&face, 4);
    let mut short = session(&face, 5);
    short.expires_at = at(1_000);
    let newest = session(&face, 6);
    for (s, n) in [(&revoked, 4), (&short, 5), (&newest, 6)] {
        db.create_session(s, &token(n), &none).await.unwrap();
    }
    db.revoke_session(&revoked.id, at(1)).await.unwrap();
    let (bob, bob_face) = user(&shop, &acme, "bob@example.com", 7);
    assert!(db
        .create_user(&bob, &bob_face, &session(&bob_face, 7), &token(7))
        .await
        .unwrap());
    let ids = |sessions: Vec<tessera::domain::session::Session>| -> Vec<_> {
        sessions.into_iter().map(|s| s.id).collect()
    };
    let listed = db
        .list_live_sessions((&shop, &acme), &u.id, at(2), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(listed), [newest.id, short.id, oldest.id]);
    let later = db
        .list_live_sessions((&shop, &acme), &u.id, at(1_000), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(later), [newest.id, oldest.id], "past its absolute end");
    let idle = db
        .list_live_sessions((&shop, &acme), &u.id, at(3_600_000), None, 10)
        .await
        .unwrap();
    assert!(idle.is_empty(), "past their idle end");
    let page = db
        .list_live_sessions(
            (&shop, &acme),
            &u.id,
            at(2),
            Some(&newest.id.to_string()),
            1,
        )
        .await
        .unwrap();
    assert_eq!(ids(page), [short.id]);
}

pub async fn a_user_is_found_by_email_in_its_tenant_only<D: Database>(db: &D) {
    let (shop, acme, u, face) = ada_in_acme(db).await;
    let found = db
        .find_tenant_user_by_email(&shop, &acme, &email("ada@example.com"))
        .await;
    assert_eq!(found.unwrap(), Some((u.clone(), face.clone())));
    let public = tenant("public");
    assert_eq!(
        db.find_tenant_user_by_email(&shop, &public, &email("ada@example.com"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.find_tenant_user_by_email(&shop, &acme, &email("bob@example.com"))
            .await
            .unwrap(),
        None
    );
}

pub async fn the_clean_up_forgets_expired_challenges_ended_windows_and_old_messages<D: Database>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let plane = tenant_plane(&shop, "public");
    let early = challenge(
        &plane,
        Purpose::PasswordReset,
        "ada@example.com",
        10,
        0,
        false,
    );
    let late = challenge(
        &plane,
        Purpose::EmailVerification,
        "ada@example.com",
        11,
        0,
        false,
    );
    db.create_challenge(&early).await.unwrap();
    db.create_challenge(&late).await.unwrap();
    let count = SendCount {
        address: "send:ada@example.com".into(),
        client: None,
        now: at(0),
    };
    for _ in 0..5 {
        db.count_send(&plane, &count).await.unwrap();
    }
    let old = message(&shop, None, "ada@example.com", 20, 0);
    let new = message(&shop, None, "ada@example.com", 21, 2_000_000);
    db.create_outbox_message(&old, at(0)).await.unwrap();
    db.create_outbox_message(&new, at(0)).await.unwrap();
    let gone = dead_letter(&shop, None, "ada@example.com", 22, 0);
    let kept = dead_letter(&shop, None, "ada@example.com", 23, 2_000_000);
    db.create_dead_letter(&gone, at(0)).await.unwrap();
    db.create_dead_letter(&kept, at(0)).await.unwrap();
    db.prune_email(at(SHORT_TTL_MS), at(1_000_000), at(1_000_000))
        .await
        .unwrap();
    assert_eq!(db.find_challenge(&plane, &early.id).await.unwrap(), None);
    assert!(db.find_challenge(&plane, &late.id).await.unwrap().is_some());
    assert_eq!(
        db.list_outbox(&shop, None, at(0), None, 10).await.unwrap(),
        [new]
    );
    assert_eq!(db.list_dead_letters(&shop, None, 10).await.unwrap(), [kept]);
    assert_eq!(
        db.count_send(&plane, &count).await.unwrap(),
        None,
        "the ended window was forgotten, so this send starts a new one"
    );
}

pub async fn deleting_a_tenant_forgets_its_email_state<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let plane = tenant_plane(&shop, "acme");
    let proof = challenge(
        &plane,
        Purpose::PasswordReset,
        "ada@example.com",
        10,
        0,
        false,
    );
    db.create_challenge(&proof).await.unwrap();
    let count = SendCount {
        address: "send:ada@example.com".into(),
        client: None,
        now: at(0),
    };
    for _ in 0..5 {
        db.count_send(&plane, &count).await.unwrap();
    }
    db.create_outbox_message(
        &message(&shop, Some(&acme), "ada@example.com", 20, 0),
        at(0),
    )
    .await
    .unwrap();
    let kept = message(&shop, None, "ada@example.com", 21, 0);
    db.create_outbox_message(&kept, at(0)).await.unwrap();
    db.create_dead_letter(
        &dead_letter(&shop, Some(&acme), "ada@example.com", 22, 0),
        at(0),
    )
    .await
    .unwrap();
    let target = Target::Tenant(shop.clone(), acme.clone());
    assert!(delete_through_ports(db, &target, vec![], 3, 1)
        .await
        .is_some());
    create_tenant(db, &shop, "acme", 4).await;
    assert_eq!(db.find_challenge(&plane, &proof.id).await.unwrap(), None);
    assert_eq!(
        db.count_send(&plane, &count).await.unwrap(),
        None,
        "no full window"
    );
    assert_eq!(
        db.list_outbox(&shop, None, at(0), None, 10).await.unwrap(),
        [kept]
    );
    assert!(db
        .list_dead_letters(&shop, None, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn an_operator_verification_is_consumed_once_and_makes_its_signed_up_apps_usable<
    D: Database,
>(
    db: &D,
) {
    use tessera::domain::member::MembershipSource;
    let (mine, public) = new_app("mine");
    let pending = tessera::domain::tenancy::App {
        pending_verification: true,
        ..mine
    };
    let dev = operator("dev@example.com", 1);
    let mut owner = bootstrap_membership(&dev);
    owner.app_id = pending.id.clone();
    owner.source = MembershipSource::Signup;
    assert!(db
        .sign_up_operator(
            Some(&dev),
            &pending,
            &public,
            &owner,
            &entry(2, &pending.id, AuditAction::AppSignup, None)
        )
        .await
        .unwrap());
    // An app it was only invited to stays as it is (it was never pending).
    let shop = create_app(db, "shop", 3).await;
    let proof = challenge(
        &Plane::Operators,
        Purpose::OperatorEmailVerification,
        "dev@example.com",
        20,
        0,
        false,
    );
    assert_eq!(
        db.create_challenge(&proof).await.unwrap(),
        Some(Subject::Operator(dev.id))
    );
    let settle = Settlement::default();
    assert_eq!(
        db.verify_operator_email(&proof.id, &dev.id, at(5), &settle)
            .await
            .unwrap(),
        Some(vec![pending.id.clone()])
    );
    assert!(
        !db.find_app(&pending.id)
            .await
            .unwrap()
            .unwrap()
            .pending_verification
    );
    assert!(
        !db.find_app(&shop)
            .await
            .unwrap()
            .unwrap()
            .pending_verification
    );
    let verified = db.find_operator(&dev.id).await.unwrap().unwrap();
    assert_eq!(verified.email_verified_at, Some(at(5)));
    assert_eq!(
        db.verify_operator_email(&proof.id, &dev.id, at(6), &settle)
            .await
            .unwrap(),
        None,
        "once"
    );
    // An expired link does nothing.
    let other = operator("other@example.com", 30);
    let mut other_owner = bootstrap_membership(&other);
    other_owner.app_id = app("theirs");
    other_owner.source = MembershipSource::Signup;
    let (theirs, theirs_public) = new_app("theirs");
    let theirs = tessera::domain::tenancy::App {
        pending_verification: true,
        ..theirs
    };
    assert!(db
        .sign_up_operator(
            Some(&other),
            &theirs,
            &theirs_public,
            &other_owner,
            &entry(31, &theirs.id, AuditAction::AppSignup, None)
        )
        .await
        .unwrap());
    let stale = challenge(
        &Plane::Operators,
        Purpose::OperatorEmailVerification,
        "other@example.com",
        32,
        0,
        false,
    );
    db.create_challenge(&stale).await.unwrap();
    assert_eq!(
        db.verify_operator_email(&stale.id, &other.id, at(24 * 3_600_000), &settle)
            .await
            .unwrap(),
        None
    );
    assert!(
        db.find_app(&theirs.id)
            .await
            .unwrap()
            .unwrap()
            .pending_verification
    );
    assert_eq!(
        db.find_operator(&other.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified_at,
        None
    );
}

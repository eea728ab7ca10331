//! An end user's self-service: password change, own sessions, leaving a tenant.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::authz::Principal;
use tessera::domain::ids::{AppId, TenantId};
use tessera::domain::page::PageRequest;
use tessera::domain::session::SessionId;
use tessera::domain::tenancy::LoginMethod;
use tessera::domain::Error;
use tessera::service::account;
use tessera::service::signin::SignedIn;
use tessera::service::{edge, passwordless, sessions, users};
use tessera::store::UserStateStore;

fn change(w: &World, who: &SignedIn, current: Option<&str>, new: &str) -> Result<(), Error> {
    block_on(account::change_password(
        &w.cx(),
        &app("shop"),
        &tenant("acme"),
        Some(&who.session.access_token),
        Ok(account::PasswordChange {
            current: current.map(password),
            new: password(new),
        }),
        None,
    ))
}

fn refreshes(w: &World, who: &SignedIn) -> bool {
    block_on(sessions::refresh(
        &w.cx(),
        &app("shop"),
        &tenant("acme"),
        who.session.refresh_token.expose(),
    ))
    .is_ok()
}

fn own_sessions(w: &World, who: &SignedIn) -> Vec<(SessionId, bool)> {
    let own = block_on(account::sessions(
        &w.cx(),
        &app("shop"),
        &tenant("acme"),
        Some(&who.session.access_token),
        &PageRequest::parse(None, None).unwrap(),
    ))
    .unwrap();
    own.page
        .items
        .iter()
        .map(|s| (s.id, s.id == own.current))
        .collect()
}

fn end(w: &World, who: &SignedIn, session: &SessionId) -> Result<(), Error> {
    block_on(account::end_session(
        &w.cx(),
        &app("shop"),
        &tenant("acme"),
        Some(&who.session.access_token),
        Some(session),
    ))
}

#[test]
fn changing_the_password_keeps_this_session_and_revokes_the_others() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    let key = w.api_key(&owner, &shop, &acme, &["introspect"]);
    let here = signup(&w, &shop, &acme, "ada@example.com");
    let there = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap();
    assert_eq!(
        change(&w, &here, Some(PASSWORD), "a brand new password"),
        Ok(())
    );
    assert!(is_active(
        &w,
        &shop,
        &acme,
        &key,
        &here.session.access_token
    ));
    assert!(!is_active(
        &w,
        &shop,
        &acme,
        &key,
        &there.session.access_token
    ));
    assert!(!refreshes(&w, &there));
    assert!(refreshes(&w, &here));
    assert!(signin(
        &w,
        &shop,
        &acme,
        "ada@example.com",
        "a brand new password",
        None
    )
    .is_ok());
    assert_eq!(
        signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap_err(),
        Error::InvalidCredentials
    );
}

#[test]
fn a_wrong_or_missing_current_password_changes_nothing_and_a_wrong_one_is_counted() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    assert_eq!(
        change(&w, &ada, Some("not the password"), "a brand new password"),
        Err(Error::InvalidCredentials)
    );
    assert_eq!(
        w.db.failure_count("shop", "acme", "account:ada@example.com"),
        Some(1)
    );
    let missing = change(&w, &ada, None, "a brand new password").unwrap_err();
    assert!(matches!(missing, Error::Validation(_)), "{missing:?}");
    assert!(signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).is_ok());
    // The sign-in cleared the count; five more wrong ones block the account like sign-in's.
    for _ in 0..5 {
        let _ = change(&w, &ada, Some("not the password"), "a brand new password");
    }
    assert!(matches!(
        change(&w, &ada, Some(PASSWORD), "a brand new password"),
        Err(Error::RateLimited(_))
    ));
}

/// The bearer token is judged before the body: without a valid one the answer is 401 whatever
/// the body holds, so a client learns nothing about the input rules (found by schemathesis'
/// missing-header check: a change without `Authorization` answered 400).
#[test]
fn a_password_change_without_a_valid_token_is_unauthorized_whatever_its_body() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    for bearer in [None, Some("not a token")] {
        let refused = block_on(account::change_password(
            &w.cx(),
            &shop,
            &acme,
            bearer,
            Err(Error::validation(
                "password must be 8 to 128 characters long",
            )),
            None,
        ));
        assert_eq!(refused, Err(Error::InvalidToken), "{bearer:?}");
    }
    let judged = block_on(account::change_password(
        &w.cx(),
        &shop,
        &acme,
        Some(&ada.session.access_token),
        Err(Error::validation(
            "password must be 8 to 128 characters long",
        )),
        None,
    ));
    assert!(matches!(judged, Err(Error::Validation(_))), "{judged:?}");
}

#[test]
fn a_passwordless_user_sets_a_first_password_without_a_current_one() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    let started = block_on(passwordless::start(
        &w.cx(),
        &shop,
        &acme,
        email("new@example.com"),
        None,
    ))
    .unwrap();
    let code = w.last_message(&shop, "new@example.com").code.unwrap();
    let signed = block_on(passwordless::consume(
        &w.cx(),
        &shop,
        &acme,
        passwordless::Proof::Code {
            attempt_id: started.attempt_id,
            code: tessera::domain::challenge::Code::from_client(&code).unwrap(),
        },
        None,
    ))
    .unwrap()
    .signed_in;
    assert_eq!(change(&w, &signed, None, "a first password!"), Ok(()));
    let again = signin(
        &w,
        &shop,
        &acme,
        "new@example.com",
        "a first password!",
        None,
    )
    .unwrap();
    assert_eq!(
        again.user.methods,
        [LoginMethod::EmailPassword, LoginMethod::Passwordless]
    );
}

#[test]
fn a_user_lists_its_live_sessions_here_newest_first_with_its_own_marked() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    let first = signup(&w, &shop, &acme, "ada@example.com");
    w.advance_ms(1);
    let second = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap();
    w.advance_ms(1);
    let third = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap();
    signup(&w, &shop, &acme, "bob@example.com");
    // Another tenant's session of the same user is not listed here.
    w.mail_tenant(&owner, &shop, "bravo");
    block_on(users::associate(
        &w.cx(),
        &owner,
        &shop,
        &tenant("bravo"),
        &first.user.face.user_id,
    ))
    .unwrap();
    signin(
        &w,
        &shop,
        &tenant("bravo"),
        "ada@example.com",
        PASSWORD,
        None,
    )
    .unwrap();
    assert_eq!(
        own_sessions(&w, &second),
        [
            (third.session.session_id, false),
            (second.session.session_id, true),
            (first.session.session_id, false)
        ]
    );
    end(&w, &second, &third.session.session_id).unwrap();
    let listed: Vec<SessionId> = own_sessions(&w, &second).into_iter().map(|s| s.0).collect();
    assert_eq!(
        listed,
        [second.session.session_id, first.session.session_id]
    );
}

#[test]
fn a_user_ends_its_own_sessions_only_and_anything_else_is_not_found() {
    let (w, _, shop, acme, key, ada) = ada_in_acme();
    let other = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap();
    let bob = signup(&w, &shop, &acme, "bob@example.com");
    let nowhere = SessionId::generate(w.now(), [3; 10]);
    for foreign in [&bob.session.session_id, &nowhere] {
        assert_eq!(
            end(&w, &ada, foreign),
            Err(Error::NotFound("no such session".into()))
        );
    }
    assert!(is_active(&w, &shop, &acme, &key, &bob.session.access_token));
    let unparsable = block_on(account::end_session(
        &w.cx(),
        &shop,
        &acme,
        Some(&ada.session.access_token),
        None,
    ));
    assert_eq!(unparsable, Err(Error::NotFound("no such session".into())));
    assert_eq!(end(&w, &ada, &other.session.session_id), Ok(()));
    assert!(!is_active(
        &w,
        &shop,
        &acme,
        &key,
        &other.session.access_token
    ));
    assert!(!refreshes(&w, &other));
    assert_eq!(
        end(&w, &ada, &other.session.session_id),
        Ok(()),
        "ending it again answers alike (and rewrites its edge revocation)"
    );
    assert_eq!(
        end(&w, &ada, &ada.session.session_id),
        Ok(()),
        "its own, too"
    );
    assert_eq!(
        end(&w, &ada, &ada.session.session_id),
        Err(Error::InvalidToken)
    );
}

/// Ada signed up in acme, a tenant of an app with mail, with an introspection key there.
fn ada_in_acme() -> (World, Principal, AppId, TenantId, String, SignedIn) {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    let key = w.api_key(&owner, &shop, &acme, &["introspect"]);
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    (w, owner, shop, acme, key, ada)
}

/// `ada_in_acme`, and ada associated with bravo, whose face keeps the user (and its id) when it leaves acme.
fn ada_in_acme_and_bravo() -> (World, Principal, AppId, TenantId, String, SignedIn) {
    let (w, owner, shop, acme, key, ada) = ada_in_acme();
    w.mail_tenant(&owner, &shop, "bravo");
    block_on(users::associate(
        &w.cx(),
        &owner,
        &shop,
        &tenant("bravo"),
        &ada.user.face.user_id,
    ))
    .unwrap();
    (w, owner, shop, acme, key, ada)
}

#[test]
fn leaving_a_tenant_deletes_the_users_state_and_sessions_there_and_the_user_with_its_last_tenant() {
    let (w, owner, shop, acme, key, ada) = ada_in_acme_and_bravo();
    let user_id = ada.user.face.user_id;
    let in_bravo = signin(
        &w,
        &shop,
        &tenant("bravo"),
        "ada@example.com",
        PASSWORD,
        None,
    )
    .unwrap();
    block_on(users::patch_metadata(
        &w.cx(),
        &owner,
        &shop,
        &user_id,
        &serde_json::json!({"a": 1}),
    ))
    .unwrap();
    let leave = |who: &SignedIn, tenant_id: &str| {
        block_on(account::leave(
            &w.cx(),
            &shop,
            &tenant(tenant_id),
            Some(&who.session.access_token),
        ))
    };
    assert_eq!(leave(&ada, "acme"), Ok(()));
    assert!(!is_active(
        &w,
        &shop,
        &acme,
        &key,
        &ada.session.access_token
    ));
    assert!(!refreshes(&w, &ada));
    assert_eq!(leave(&ada, "acme"), Err(Error::InvalidToken));
    let here = block_on(users::get(&w.cx(), &owner, &shop, &acme, &user_id));
    assert_eq!(here.unwrap_err(), Error::UserNotFound);
    assert!(
        block_on(w.db.find_user(&shop, &user_id)).unwrap().is_some(),
        "bravo keeps it"
    );
    // The email is free again in acme: a sign-up there is a new user.
    let again = signup(&w, &shop, &acme, "ada@example.com");
    assert_ne!(again.user.face.user_id, user_id);
    assert_eq!(leave(&in_bravo, "bravo"), Ok(()));
    assert_eq!(block_on(w.db.find_user(&shop, &user_id)).unwrap(), None);
    assert_eq!(
        block_on(users::metadata(&w.cx(), &owner, &shop, &user_id)).unwrap_err(),
        Error::UserNotFound
    );
}

#[test]
fn self_service_needs_an_active_user_and_a_valid_token_of_this_tenant() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    w.suspend(&owner, &shop, &acme, &ada.user.face.user_id);
    assert_eq!(
        change(&w, &ada, Some(PASSWORD), "a brand new password"),
        Err(Error::InvalidToken)
    );
    let leave = block_on(account::leave(
        &w.cx(),
        &shop,
        &acme,
        Some(&ada.session.access_token),
    ));
    assert_eq!(
        leave,
        Err(Error::InvalidToken),
        "a suspended user cannot leave its suspension"
    );
    let none = block_on(account::leave(&w.cx(), &shop, &acme, None));
    assert_eq!(none, Err(Error::InvalidToken));
}

#[test]
fn a_session_ended_while_kv_is_down_is_ended_at_once_and_at_the_edge_by_the_retry_or_ending_it_again(
) {
    let (w, _, shop, acme, key, ada) = ada_in_acme();
    let other = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap();
    w.kv.faults()
        .fail_when(|call| call.starts_with("kv put flags:"));
    assert_eq!(
        end(&w, &ada, &other.session.session_id),
        Ok(()),
        "a KV failure never refuses or undoes the change"
    );
    assert!(!refreshes(&w, &other), "D1 has it ended");
    w.kv.faults().heal();
    assert!(
        is_active(&w, &shop, &acme, &key, &other.session.access_token),
        "the edge does not yet"
    );
    assert_eq!(end(&w, &ada, &other.session.session_id), Ok(()));
    assert!(!is_active(
        &w,
        &shop,
        &acme,
        &key,
        &other.session.access_token
    ));
    // The same with no second request: the isolate's deferred retry converges it.
    let third = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap();
    w.advance_ms(edge::KEY_WRITE_GAP_MS);
    w.kv.faults()
        .fail_when(|call| call.starts_with("kv put flags:"));
    assert_eq!(end(&w, &ada, &third.session.session_id), Ok(()));
    w.kv.faults().heal();
    assert!(is_active(
        &w,
        &shop,
        &acme,
        &key,
        &third.session.access_token
    ));
    w.advance_ms(edge::KEY_WRITE_GAP_MS);
    assert_eq!(block_on(edge::retry_deferred(&w.cx())), 0);
    assert!(!is_active(
        &w,
        &shop,
        &acme,
        &key,
        &third.session.access_token
    ));
}

#[test]
fn a_user_that_leaves_while_kv_is_down_is_refused_at_the_edge_once_the_sweep_ran() {
    let (w, _, shop, acme, key, ada) = ada_in_acme();
    w.kv.faults().fail_when(|call| call.starts_with("kv put "));
    let left = block_on(account::leave(
        &w.cx(),
        &shop,
        &acme,
        Some(&ada.session.access_token),
    ));
    assert_eq!(left, Ok(()), "a KV failure never refuses the change");
    w.kv.faults().heal();
    assert!(
        is_active(&w, &shop, &acme, &key, &ada.session.access_token),
        "the edge has not heard of it yet"
    );
    // Another isolate's cron: the pending document is in D1, not only in this isolate.
    w.advance_ms(edge::LEASE_TIMEOUT_MS);
    let swept = block_on(edge::sweep(&w.cx(), 100)).unwrap();
    assert!(swept.converged >= 1, "{swept:?}");
    assert!(!is_active(
        &w,
        &shop,
        &acme,
        &key,
        &ada.session.access_token
    ));
}

#[test]
fn a_user_that_leaves_and_is_associated_again_does_not_bring_back_its_old_tokens() {
    let (w, owner, shop, acme, key, ada) = ada_in_acme_and_bravo();
    let user_id = ada.user.face.user_id;
    w.advance_ms(2_000);
    let left = block_on(account::leave(
        &w.cx(),
        &shop,
        &acme,
        Some(&ada.session.access_token),
    ));
    assert_eq!(left, Ok(()));
    w.advance_ms(2_000);
    block_on(users::associate(&w.cx(), &owner, &shop, &acme, &user_id)).unwrap();
    assert!(
        !is_active(&w, &shop, &acme, &key, &ada.session.access_token),
        "a token of the face that left is not one of the face that came back"
    );
    let back = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap();
    assert!(is_active(
        &w,
        &shop,
        &acme,
        &key,
        &back.session.access_token
    ));
}

#[test]
fn a_session_from_before_the_user_left_does_not_come_back_with_a_new_face() {
    // The leave's later steps fail (its sessions are still in D1 when the user comes back):
    // the old refresh token must not mint tokens for the new face, nor the old access token
    // reach /auth/me.
    let (mut w, owner, shop, acme, _key, ada) = ada_in_acme_and_bravo();
    let user_id = ada.user.face.user_id;
    w.db.faults().fail_when(|c| c == "db purge_sessions");
    let left = block_on(account::leave(
        &w.cx(),
        &shop,
        &acme,
        Some(&ada.session.access_token),
    ));
    assert!(!w.db.faults().injected().is_empty());
    w.db.faults().heal();
    assert_eq!(left, Ok(()));
    w.advance_ms(2_000);
    block_on(users::associate(&w.cx(), &owner, &shop, &acme, &user_id)).unwrap();
    w.new_isolate();
    assert!(!refreshes(&w, &ada), "the old refresh token is refused");
    assert!(block_on(tessera::service::introspection::me(
        &w.cx(),
        &shop,
        &acme,
        Some(&ada.session.access_token)
    ))
    .is_err());
    let back = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap();
    assert!(refreshes(&w, &back), "the new face's own session refreshes");
}

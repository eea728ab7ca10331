//! Passwordless sign-in and sign-up: one message, a code and a link, one use, 15 minutes, the
//! attempt limit and the address's failure budget.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::challenge::{Code, Purpose};
use tessera::domain::ids::ChallengeId;
use tessera::domain::tenancy::LoginMethod;
use tessera::domain::Error;
use tessera::service::passwordless::{self, Consumed, Proof, Started};
use tessera::service::{sessions, tenancy};

fn start(w: &World, to: &str) -> Started {
    start_from(w, to, None).expect("started")
}

fn start_from(w: &World, to: &str, client: Option<&str>) -> Result<Started, Error> {
    block_on(passwordless::start(
        &w.cx(),
        &app("shop"),
        &tenant("acme"),
        email(to),
        client.map(str::to_owned),
    ))
}

fn with_code(w: &World, attempt: &ChallengeId, code: &str) -> Result<Consumed, Error> {
    with_code_from(w, attempt, code, None)
}

fn with_code_from(
    w: &World,
    attempt: &ChallengeId,
    code: &str,
    client: Option<&str>,
) -> Result<Consumed, Error> {
    block_on(passwordless::consume(
        &w.cx(),
        &app("shop"),
        &tenant("acme"),
        Proof::Code {
            attempt_id: *attempt,
            code: Code::from_client(code).expect("6 digits"),
        },
        client.map(str::to_owned),
    ))
}

fn with_link(w: &World, token: &str) -> Result<Consumed, Error> {
    block_on(passwordless::consume(
        &w.cx(),
        &app("shop"),
        &tenant("acme"),
        Proof::Link {
            token: token.to_owned(),
        },
        None,
    ))
}

/// The code of the newest message to `to`.
fn code_to(w: &World, to: &str) -> String {
    w.last_message(&app("shop"), to).code.expect("a code")
}

/// A six-digit code that is not `code`.
fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

#[test]
fn a_new_email_gets_a_code_and_a_link_in_one_message_and_is_signed_up_by_the_code() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    let started = start(&w, "new@example.com");
    assert_eq!(started.expires_in, 900);
    let message = w.last_message(&shop, "new@example.com");
    assert_eq!(message.purpose, Purpose::Passwordless);
    let code = message.code.clone().unwrap();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
    assert!(message
        .link
        .as_deref()
        .unwrap()
        .starts_with(&format!("{LINK_BASE}?type=passwordless&token=tsl_")));
    let consumed = with_code(&w, &started.attempt_id, &code).unwrap();
    assert!(consumed.created);
    let user = &consumed.signed_in.user;
    assert!(user.email_verified);
    assert_eq!(user.methods, [LoginMethod::Passwordless]);
    assert_eq!(user.face.email.as_str(), "new@example.com");
    let refreshed = block_on(sessions::refresh(
        &w.cx(),
        &shop,
        &acme,
        consumed.signed_in.session.refresh_token.expose(),
    ));
    assert!(refreshed.is_ok(), "the session is real");
    assert_eq!(
        with_code(&w, &started.attempt_id, &code).unwrap_err(),
        Error::WrongCode,
        "one use"
    );
    assert_eq!(
        with_link(&w, &token_of(&message)).unwrap_err(),
        Error::InvalidCode,
        "the link of a used attempt is used too"
    );
}

#[test]
fn a_known_user_signs_in_by_the_link_and_keeps_its_password() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    start(&w, "ada@example.com");
    let token = token_of(&w.last_message(&shop, "ada@example.com"));
    let consumed = with_link(&w, &token).unwrap();
    assert!(!consumed.created);
    let user = &consumed.signed_in.user;
    assert_eq!(user.face.user_id, ada.user.face.user_id);
    assert!(user.email_verified);
    assert_eq!(
        user.methods,
        [LoginMethod::EmailPassword, LoginMethod::Passwordless]
    );
    assert_ne!(
        consumed.signed_in.session.session_id,
        ada.session.session_id
    );
    assert!(signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).is_ok());
    assert_eq!(
        with_link(&w, &token).unwrap_err(),
        Error::InvalidCode,
        "one use"
    );
}

#[test]
fn the_fifth_wrong_code_ends_the_attempt() {
    let w = World::new();
    w.mail_place();
    let started = start(&w, "ada@example.com");
    let code = code_to(&w, "ada@example.com");
    for n in 0..4 {
        w.advance_ms(60_000);
        let refused = with_code(&w, &started.attempt_id, &wrong(&code)).unwrap_err();
        assert_eq!(refused, Error::WrongCode, "try {n}");
    }
    w.advance_ms(60_000);
    assert_eq!(
        with_code(&w, &started.attempt_id, &wrong(&code)).unwrap_err(),
        Error::WrongCode
    );
    w.advance_ms(60_000);
    assert_eq!(
        with_code(&w, &started.attempt_id, &code).unwrap_err(),
        Error::WrongCode,
        "the right code no longer opens the ended attempt"
    );
}

#[test]
fn the_right_code_on_the_fifth_try_still_signs_in() {
    let w = World::new();
    w.mail_place();
    let started = start(&w, "ada@example.com");
    let code = code_to(&w, "ada@example.com");
    for _ in 0..4 {
        w.advance_ms(60_000);
        let _ = with_code(&w, &started.attempt_id, &wrong(&code));
    }
    w.advance_ms(60_000);
    assert!(with_code(&w, &started.attempt_id, &code).is_ok());
    assert_eq!(
        w.db.failure_count("shop", "acme", "code:ada@example.com"),
        None,
        "a success clears the address's budget"
    );
}

#[test]
fn a_new_attempt_does_not_reset_the_failure_budget_of_the_address() {
    let w = World::new();
    w.mail_place();
    let first = start(&w, "ada@example.com");
    let code = code_to(&w, "ada@example.com");
    for _ in 0..5 {
        w.advance_ms(60_000);
        let _ = with_code(&w, &first.attempt_id, &wrong(&code));
    }
    w.advance_ms(60_000);
    let second = start(&w, "ada@example.com");
    let code = code_to(&w, "ada@example.com");
    // The sixth wrong code of the address blocks it (sign-in's back-off: 2 s) …
    assert_eq!(
        with_code(&w, &second.attempt_id, &wrong(&code)).unwrap_err(),
        Error::WrongCode
    );
    assert_eq!(
        w.db.failure_count("shop", "acme", "code:ada@example.com"),
        Some(6)
    );
    // … so even the right code of the new attempt waits.
    assert_eq!(
        with_code(&w, &second.attempt_id, &code).unwrap_err(),
        Error::RateLimited(2)
    );
    w.advance_ms(2_000);
    assert!(with_code(&w, &second.attempt_id, &code).is_ok());
}

#[test]
fn codes_are_counted_per_client_before_they_are_compared() {
    let w = World::new();
    w.mail_place();
    let client = Some("client:203.0.113.9");
    let mut refusals = Vec::new();
    for n in 0..5 {
        let started = start_from(&w, &format!("u{n}@example.com"), client).unwrap();
        let code = code_to(&w, &format!("u{n}@example.com"));
        for _ in 0..4 {
            refusals
                .push(with_code_from(&w, &started.attempt_id, &wrong(&code), client).unwrap_err());
        }
    }
    assert!(
        refusals.iter().all(|e| *e == Error::WrongCode),
        "{refusals:?}"
    );
    let started = start_from(&w, "last@example.com", client).unwrap();
    let code = code_to(&w, "last@example.com");
    assert_eq!(
        with_code_from(&w, &started.attempt_id, &code, client).unwrap_err(),
        Error::RateLimited(1),
        "twenty wrong codes from one client block it, whatever the address"
    );
}

#[test]
fn an_attempt_expires_after_15_minutes() {
    let w = World::new();
    w.mail_place();
    let started = start(&w, "ada@example.com");
    let message = w.last_message(&app("shop"), "ada@example.com");
    w.advance_ms(15 * 60_000);
    let code = message.code.clone().unwrap();
    assert_eq!(
        with_code(&w, &started.attempt_id, &code).unwrap_err(),
        Error::WrongCode
    );
    assert_eq!(
        with_link(&w, &token_of(&message)).unwrap_err(),
        Error::InvalidCode
    );
}

#[test]
fn an_unknown_attempt_or_a_code_of_another_attempt_is_a_wrong_code() {
    let w = World::new();
    w.mail_place();
    let first = start(&w, "ada@example.com");
    let first_code = code_to(&w, "ada@example.com");
    let second = start(&w, "bob@example.com");
    assert_eq!(
        with_code(&w, &second.attempt_id, &first_code).unwrap_err(),
        Error::WrongCode
    );
    let nowhere = ChallengeId::generate(w.now(), [42; 10]);
    assert_eq!(
        with_code(&w, &nowhere, &first_code).unwrap_err(),
        Error::WrongCode
    );
    assert!(with_code(&w, &first.attempt_id, &first_code).is_ok());
}

#[test]
fn starting_answers_alike_and_does_the_same_work_for_known_and_unknown_addresses() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    signup(&w, &shop, &acme, "ada@example.com");
    let mut work = Vec::new();
    for to in ["ada@example.com", "nobody@example.com"] {
        w.db.faults().clear_calls();
        let started = start(&w, to);
        work.push((started.expires_in, w.db.faults().calls()));
    }
    assert_eq!(work[0], work[1]);
}

#[test]
fn a_tenant_without_passwordless_refuses_it() {
    let w = World::new();
    let (owner, shop, _) = w.mail_place();
    block_on(tenancy::put_tenant(
        &w.cx(),
        &owner,
        &shop,
        &tenant("acme"),
        tenancy::TenantSettings {
            login_methods: Some(vec![LoginMethod::EmailPassword]),
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(
        start_from(&w, "ada@example.com", None).unwrap_err(),
        Error::LoginMethodDisabled
    );
    assert_eq!(
        with_link(&w, "tsl_x").unwrap_err(),
        Error::LoginMethodDisabled
    );
}

#[test]
fn a_suspended_user_is_not_signed_in() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    w.suspend(&owner, &shop, &acme, &ada.user.face.user_id);
    let started = start(&w, "ada@example.com");
    let code = code_to(&w, "ada@example.com");
    assert_eq!(
        with_code(&w, &started.attempt_id, &code).unwrap_err(),
        Error::UserSuspended
    );
}

#[test]
fn codes_and_link_tokens_are_stored_only_as_hashes() {
    let w = World::new();
    let (_, shop, _) = w.mail_place();
    start(&w, "ada@example.com");
    let message = w.last_message(&shop, "ada@example.com");
    let snapshot = format!("{:#?}", w.db.challenge_rows());
    let code = message.code.clone().unwrap();
    assert!(!snapshot.contains(&code), "the code is not stored");
    assert!(
        !snapshot.contains(&token_of(&message)[4..]),
        "the token is not stored"
    );
}

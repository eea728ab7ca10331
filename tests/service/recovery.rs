//! Email verification, password reset (end users and operators), and the throttles on
//! sending and consuming.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::challenge::Purpose;
use tessera::domain::delivery::Delivery;
use tessera::domain::links::WebUrl;
use tessera::domain::secret::{PlainSecret, SecretKind};
use tessera::domain::tenancy::LoginMethod;
use tessera::domain::Error;
use tessera::service::email::DeliveryRequest;
use tessera::service::{introspection, principal, recovery, sessions, tenancy, users};
use tessera::store::{EmailStore, UserStateStore};

fn send_reset(w: &World, to: &str, client: Option<&str>) -> Result<(), Error> {
    block_on(recovery::send_reset(
        &w.cx(),
        &app("shop"),
        &tenant("acme"),
        email(to),
        client.map(str::to_owned),
    ))
}

fn reset(w: &World, token: &str, new: &str) -> Result<(), Error> {
    block_on(recovery::reset_password(
        &w.cx(),
        &app("shop"),
        &tenant("acme"),
        token,
        &password(new),
        None,
    ))
}

fn verify(w: &World, tenant_id: &str, token: &str) -> Result<users::EndUser, Error> {
    block_on(recovery::verify_email(
        &w.cx(),
        &app("shop"),
        &tenant(tenant_id),
        token,
        None,
    ))
}

fn send_verification(w: &World, access_token: &str) -> Result<(), Error> {
    block_on(recovery::send_verification(
        &w.cx(),
        &app("shop"),
        &tenant("acme"),
        Some(access_token),
        None,
    ))
}

#[test]
fn a_verification_link_verifies_the_email_once_within_a_day() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    assert!(!ada.user.email_verified);
    send_verification(&w, &ada.session.access_token).unwrap();
    let message = w.last_message(&shop, "ada@example.com");
    assert_eq!(message.purpose, Purpose::EmailVerification);
    let link = message.link.as_deref().unwrap();
    assert!(link.starts_with(&format!("{LINK_BASE}?type=email_verification&token=tsl_")));
    let token = token_of(&message);
    w.advance_ms(24 * 3_600_000 - 1);
    let user = verify(&w, "acme", &token).unwrap();
    assert!(user.email_verified);
    assert_eq!(user.face.user_id, ada.user.face.user_id);
    assert_eq!(
        verify(&w, "acme", &token).unwrap_err(),
        Error::InvalidCode,
        "one use"
    );
    let again = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap();
    let me = block_on(introspection::me(
        &w.cx(),
        &shop,
        &acme,
        Some(&again.session.access_token),
    ));
    assert!(me.unwrap().email_verified);

    send_verification(&w, &again.session.access_token).unwrap();
    let late = token_of(&w.last_message(&shop, "ada@example.com"));
    w.advance_ms(24 * 3_600_000);
    assert_eq!(
        verify(&w, "acme", &late).unwrap_err(),
        Error::InvalidCode,
        "expired"
    );
}

#[test]
fn a_link_works_only_for_its_purpose_and_its_tenant() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    w.mail_tenant(&owner, &shop, "bravo");
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    send_verification(&w, &ada.session.access_token).unwrap();
    let token = token_of(&w.last_message(&shop, "ada@example.com"));
    assert_eq!(verify(&w, "bravo", &token).unwrap_err(), Error::InvalidCode);
    assert_eq!(
        reset(&w, &token, "brand new password"),
        Err(Error::InvalidCode)
    );
    for bad in [
        "",
        "tsl_short",
        "tsr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert_eq!(
            verify(&w, "acme", bad).unwrap_err(),
            Error::InvalidCode,
            "{bad:?}"
        );
    }
    assert!(verify(&w, "acme", &token).unwrap().email_verified);
}

#[test]
fn a_reset_answers_alike_and_does_the_same_work_for_known_and_unknown_addresses() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    signup(&w, &shop, &acme, "ada@example.com");
    let mut work = Vec::new();
    for to in ["ada@example.com", "nobody@example.com"] {
        w.db.faults().clear_calls();
        let answer = send_reset(&w, to, Some("client:203.0.113.9"));
        work.push((answer, w.db.faults().calls()));
    }
    assert_eq!(work[0], work[1]);
    assert_eq!(work[0].0, Ok(()));
    assert_eq!(
        work[0].1,
        [
            "db find_email_delivery",
            "db count_send",
            "db create_challenge",
            "queue send"
        ]
    );
    let queued = w.queue.take();
    assert_eq!(queued.len(), 2, "a message for each");
    let key = w.cx().encryption_key().unwrap();
    let real: Vec<bool> = queued
        .iter()
        .map(|(envelope, delay)| {
            assert_eq!((envelope.attempt, *delay), (1, 0));
            envelope.open(&key).unwrap().1
        })
        .collect();
    assert_eq!(
        real,
        [true, false],
        "only the sealed letter knows the second is a decoy"
    );
}

#[test]
fn a_reset_sets_the_password_once_revokes_the_tenants_sessions_and_signs_nobody_in() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    let key = w.api_key(&owner, &shop, &acme, &["introspect"]);
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    // The same user in another tenant keeps its session there.
    w.mail_tenant(&owner, &shop, "bravo");
    block_on(users::associate(
        &w.cx(),
        &owner,
        &shop,
        &tenant("bravo"),
        &ada.user.face.user_id,
    ))
    .unwrap();
    let elsewhere = signin(
        &w,
        &shop,
        &tenant("bravo"),
        "ada@example.com",
        PASSWORD,
        None,
    )
    .unwrap();
    // Failed sign-ins of the address are forgotten by a reset.
    for _ in 0..3 {
        let _ = signin(&w, &shop, &acme, "ada@example.com", "wrong password!", None);
    }
    send_reset(&w, "ada@example.com", None).unwrap();
    let token = token_of(&w.last_message(&shop, "ada@example.com"));
    w.advance_ms(15 * 60_000 - 1);
    assert_eq!(reset(&w, &token, "a brand new password"), Ok(()));
    assert_eq!(
        reset(&w, &token, "yet another password"),
        Err(Error::InvalidCode)
    );
    assert!(!is_active(
        &w,
        &shop,
        &acme,
        &key,
        &ada.session.access_token
    ));
    let refreshed = block_on(sessions::refresh(
        &w.cx(),
        &shop,
        &acme,
        ada.session.refresh_token.expose(),
    ));
    assert_eq!(refreshed.unwrap_err(), Error::InvalidToken);
    assert!(block_on(sessions::refresh(
        &w.cx(),
        &shop,
        &tenant("bravo"),
        elsewhere.session.refresh_token.expose()
    ))
    .is_ok());
    assert_eq!(
        signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap_err(),
        Error::InvalidCredentials
    );
    let signed = signin(
        &w,
        &shop,
        &acme,
        "ada@example.com",
        "a brand new password",
        None,
    );
    assert!(signed.unwrap().user.email_verified);
    assert_eq!(
        w.db.failure_count("shop", "acme", "account:ada@example.com"),
        None
    );
}

#[test]
fn a_reset_link_expires_after_15_minutes() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    signup(&w, &shop, &acme, "ada@example.com");
    send_reset(&w, "ada@example.com", None).unwrap();
    let token = token_of(&w.last_message(&shop, "ada@example.com"));
    w.advance_ms(15 * 60_000);
    assert_eq!(
        reset(&w, &token, "a brand new password"),
        Err(Error::InvalidCode)
    );
    assert!(signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).is_ok());
}

#[test]
fn a_reset_of_an_unknown_address_cannot_be_consumed() {
    let w = World::new();
    let (_, shop, _) = w.mail_place();
    send_reset(&w, "nobody@example.com", None).unwrap();
    w.deliver_all(&ScriptedMailer::default());
    assert_eq!(w.outbox_len(&shop), 0, "the decoy was not delivered");
    // Even with the decoy's token in hand (a leaked queue), there is no account to reset.
    let stored =
        block_on(w.db.list_tenant_users(&shop, &tenant("acme"), &Default::default(), None, 10))
            .unwrap();
    assert!(stored.is_empty());
}

#[test]
fn a_tenant_without_email_and_password_has_no_password_reset() {
    let w = World::new();
    let (owner, shop, _) = w.mail_place();
    block_on(tenancy::put_tenant(
        &w.cx(),
        &owner,
        &shop,
        &tenant("acme"),
        tenancy::TenantSettings {
            login_methods: Some(vec![LoginMethod::Passwordless]),
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(
        send_reset(&w, "ada@example.com", None),
        Err(Error::LoginMethodDisabled)
    );
    assert_eq!(
        reset(&w, "tsl_x", "a brand new password"),
        Err(Error::LoginMethodDisabled)
    );
}

#[test]
fn five_sends_per_address_in_15_minutes_known_or_not_then_429_until_the_window_ends() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    signup(&w, &shop, &acme, "ada@example.com");
    for to in ["ada@example.com", "nobody@example.com"] {
        for n in 0..5 {
            w.advance_ms(60_000);
            assert_eq!(send_reset(&w, to, None), Ok(()), "{to} send {n}");
        }
        let refused = send_reset(&w, to, None).unwrap_err();
        // The window began with the first of the five, four minutes ago.
        assert_eq!(refused, Error::RateLimited(11 * 60), "{to}");
    }
    w.advance_ms(11 * 60_000);
    assert_eq!(send_reset(&w, "nobody@example.com", None), Ok(()));
    assert_eq!(send_reset(&w, "ada@example.com", None), Ok(()));
}

#[test]
fn twenty_sends_per_client_in_15_minutes_then_429() {
    let w = World::new();
    let (_, shop, _) = w.mail_place();
    let client = Some("client:203.0.113.9");
    for n in 0..20 {
        assert_eq!(send_reset(&w, &format!("u{n}@example.com"), client), Ok(()));
    }
    let refused = send_reset(&w, "u20@example.com", client).unwrap_err();
    assert_eq!(refused, Error::RateLimited(15 * 60));
    assert_eq!(
        send_reset(&w, "u20@example.com", Some("client:198.51.100.1")),
        Ok(()),
        "another client is not held back"
    );
    assert_eq!(w.queue.take().len(), 21);
    let _ = shop;
}

#[test]
fn consuming_links_is_counted_per_client_before_any_work() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    send_verification(&w, &ada.session.access_token).unwrap();
    let token = token_of(&w.last_message(&shop, "ada@example.com"));
    let client = Some("client:203.0.113.9".to_owned());
    let bogus = PlainSecret::generate(SecretKind::LinkToken, [7; 32]);
    let try_link = |t: &str| {
        block_on(recovery::verify_email(
            &w.cx(),
            &shop,
            &acme,
            t,
            client.clone(),
        ))
    };
    for _ in 0..20 {
        assert_eq!(try_link(bogus.expose()).unwrap_err(), Error::InvalidCode);
    }
    assert_eq!(
        try_link(&token).unwrap_err(),
        Error::RateLimited(1),
        "blocked before the lookup"
    );
    w.advance_ms(1_000);
    assert!(try_link(&token).unwrap().email_verified);
    assert_eq!(
        w.db.failure_count("shop", "acme", "client:203.0.113.9"),
        Some(20),
        "the success gave its attempt back"
    );
}

#[test]
fn a_suspended_user_cannot_send_itself_a_verification() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    w.suspend(&owner, &shop, &acme, &ada.user.face.user_id);
    assert_eq!(
        send_verification(&w, &ada.session.access_token),
        Err(Error::InvalidToken)
    );
}

fn operator_world() -> (World, String) {
    let mut w = World::new();
    w.config.operator_link_base_url =
        Some(WebUrl::parse_link_base("https://console.example/reset").unwrap());
    let owner = w.owner();
    w.set_delivery(&owner, &app("public"), DeliveryRequest::Outbox);
    let token = block_on(tessera::service::operators::signin(
        &w.cx(),
        email("owner@example.com"),
        &password(PASSWORD),
        None,
        None,
    ))
    .unwrap()
    .token
    .access_token;
    (w, token)
}

#[test]
fn an_operator_resets_its_password_by_mail_and_older_operator_tokens_stop_working() {
    let (w, old_token) = operator_world();
    block_on(recovery::send_operator_reset(
        &w.cx(),
        email("owner@example.com"),
        None,
    ))
    .unwrap();
    let message = w.last_message(&app("public"), "owner@example.com");
    assert_eq!(message.purpose, Purpose::OperatorPasswordReset);
    assert_eq!(message.tenant_id, None);
    assert!(message
        .link
        .as_deref()
        .unwrap()
        .starts_with("https://console.example/reset?type=operator_password_reset&token=tsl_"));
    let token = token_of(&message);
    w.advance_ms(1_000);
    let reset = |t: &str| {
        block_on(recovery::reset_operator_password(
            &w.cx(),
            t,
            &password("the operator's new password"),
            None,
        ))
    };
    assert_eq!(reset(&token), Ok(()));
    assert_eq!(reset(&token), Err(Error::InvalidCode), "one use");
    let old = block_on(principal::principal(&w.cx(), Some(&old_token)));
    assert_eq!(old.unwrap_err(), Error::Unauthorized);
    w.advance_ms(1_000);
    let new = block_on(tessera::service::operators::signin(
        &w.cx(),
        email("owner@example.com"),
        &password("the operator's new password"),
        None,
        None,
    ))
    .unwrap();
    assert!(block_on(principal::principal(&w.cx(), Some(&new.token.access_token))).is_ok());
}

#[test]
fn an_operator_reset_answers_alike_for_unknown_addresses_and_needs_a_link_base() {
    let (mut w, _) = operator_world();
    let mut work = Vec::new();
    for to in ["owner@example.com", "nobody@example.com"] {
        w.db.faults().clear_calls();
        let answer = block_on(recovery::send_operator_reset(&w.cx(), email(to), None));
        work.push((answer, w.db.faults().calls()));
    }
    assert_eq!(work[0], work[1]);
    w.deliver_all(&ScriptedMailer::default());
    assert_eq!(
        w.outbox_len(&app("public")),
        1,
        "only the known address got mail"
    );
    w.config.operator_link_base_url = None;
    let refused = block_on(recovery::send_operator_reset(
        &w.cx(),
        email("owner@example.com"),
        None,
    ));
    assert_eq!(refused, Err(Error::EmailDeliveryNotConfigured));
    assert_eq!(
        block_on(w.db.find_email_delivery(&app("public"))).unwrap(),
        Delivery::Outbox
    );
}

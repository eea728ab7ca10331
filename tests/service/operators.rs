//! Bootstrap and operator sign-in.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::authz::Principal;
use tessera::domain::password::derivations;
use tessera::domain::Error;
use tessera::service::{introspection, operators, principal};

#[test]
fn bootstrap_needs_the_root_token_and_happens_once() {
    let w = World::new();
    let try_with = |token: Option<&str>| {
        block_on(operators::bootstrap(
            &w.cx(),
            token,
            email("o@example.com"),
            &password(PASSWORD),
        ))
    };
    assert_eq!(try_with(None).unwrap_err(), Error::Unauthorized);
    assert_eq!(try_with(Some("wrong")).unwrap_err(), Error::Unauthorized);
    assert!(try_with(Some(ROOT_TOKEN)).unwrap().is_platform_owner);
    assert_eq!(
        try_with(Some(ROOT_TOKEN)).unwrap_err(),
        Error::AlreadyBootstrapped
    );
}

#[test]
fn a_deployment_without_a_root_token_cannot_be_bootstrapped() {
    let mut w = World::new();
    w.config.admin_root_token = None;
    let refused = block_on(operators::bootstrap(
        &w.cx(),
        Some(""),
        email("o@example.com"),
        &password(PASSWORD),
    ));
    assert_eq!(refused.unwrap_err(), Error::Unauthorized);
}

#[test]
fn operator_signin_is_timing_safe_throttled_and_yields_an_operator_token() {
    let w = World::new();
    w.owner();
    let before = derivations();
    let unknown = block_on(operators::signin(
        &w.cx(),
        email("nobody@example.com"),
        &password(PASSWORD),
        None,
        None,
    ));
    assert_eq!(unknown.unwrap_err(), Error::InvalidCredentials);
    assert_eq!(derivations() - before, 1);
    for _ in 0..4 {
        let wrong = block_on(operators::signin(
            &w.cx(),
            email("owner@example.com"),
            &password("wrong horse battery"),
            None,
            None,
        ));
        assert_eq!(wrong.unwrap_err(), Error::InvalidCredentials);
    }
    let token = block_on(operators::signin(
        &w.cx(),
        email("owner@example.com"),
        &password(PASSWORD),
        None,
        None,
    ))
    .unwrap();
    let caller = block_on(principal::principal(
        &w.cx(),
        Some(&token.token.access_token),
    ))
    .unwrap();
    assert!(matches!(caller, Principal::PlatformOwner(_)));
    for _ in 0..5 {
        let _ = block_on(operators::signin(
            &w.cx(),
            email("owner@example.com"),
            &password("wrong horse battery"),
            None,
            None,
        ));
    }
    let blocked = block_on(operators::signin(
        &w.cx(),
        email("owner@example.com"),
        &password(PASSWORD),
        None,
        None,
    ));
    assert!(matches!(blocked, Err(Error::RateLimited(_))));
}

#[test]
fn operator_and_end_user_tokens_are_never_confused() {
    let w = World::new();
    w.owner();
    let operator = block_on(operators::signin(
        &w.cx(),
        email("owner@example.com"),
        &password(PASSWORD),
        None,
        None,
    ))
    .unwrap();
    let me = block_on(introspection::me(
        &w.cx(),
        &app("public"),
        &tenant("public"),
        Some(&operator.token.access_token),
    ));
    assert_eq!(me.unwrap_err(), Error::InvalidToken);
    let user = signup(&w, &app("public"), &tenant("public"), "u@example.com");
    let as_admin = block_on(principal::principal(
        &w.cx(),
        Some(&user.session.access_token),
    ));
    assert_eq!(as_admin.unwrap_err(), Error::Unauthorized);
    w.advance_ms(900_000);
    let expired = block_on(principal::principal(
        &w.cx(),
        Some(&operator.token.access_token),
    ));
    assert_eq!(expired.unwrap_err(), Error::Unauthorized);
}

fn operator_signin(
    w: &World,
    secret: &str,
    client: &str,
    device: Option<&str>,
) -> Result<operators::OperatorSignedIn, Error> {
    block_on(operators::signin(
        &w.cx(),
        email("owner@example.com"),
        &password(secret),
        Some(client.to_owned()),
        device,
    ))
}

/// The operator side of `signin::a_stored_hash_under_the_production_floor_is_never_trusted`:
/// an operator hash planted with one iteration never signs in outside tests.
#[test]
fn a_stored_operator_hash_under_the_production_floor_is_never_trusted() {
    use tessera::domain::password::PasswordPolicy;
    use tessera::store::OperatorStore;
    let mut w = World::new();
    let Principal::PlatformOwner(id) = w.owner() else {
        panic!("the bootstrap operator is the platform owner")
    };
    // The deployed operator policy (no test cost) from here on.
    w.config.test_pbkdf2_iterations = None;
    w.new_isolate();
    let weak = PasswordPolicy::insecure_for_tests(1).hash(&password(PASSWORD), [7; 16]);
    block_on(w.db.update_operator_password(&id, &weak)).unwrap();
    let refused = operator_signin(&w, PASSWORD, "client:192.0.2.1", None);
    assert_eq!(refused.unwrap_err(), Error::InvalidCredentials);
    let floor = PasswordPolicy::insecure_for_tests(100_000).hash(&password(PASSWORD), [7; 16]);
    block_on(w.db.update_operator_password(&id, &floor)).unwrap();
    let control = operator_signin(&w, PASSWORD, "client:192.0.2.1", None);
    assert!(control.is_ok(), "a hash at the floor verifies: {control:?}");
}

#[test]
fn a_locked_out_owner_still_gets_in_from_a_browser_that_signed_in_before() {
    let w = World::new();
    w.owner();
    let device = operator_signin(&w, PASSWORD, "client:192.0.2.1", None)
        .unwrap()
        .device;
    // Someone who knows only the email locks the account out from many addresses.
    for n in 0..120 {
        let _ = operator_signin(
            &w,
            "wrong horse battery",
            &format!("client:198.51.100.{n}"),
            None,
        );
    }
    let locked = operator_signin(&w, PASSWORD, "client:192.0.2.1", None);
    assert!(
        matches!(locked, Err(Error::RateLimited(_))),
        "the account is locked for browsers without a device token"
    );
    let back_in = operator_signin(&w, PASSWORD, "client:192.0.2.1", Some(device.expose()));
    assert!(
        back_in.is_ok(),
        "the owner's browser is let through: {back_in:?}"
    );
    // A device token of another account, or a stolen one guessed with, is throttled on its own.
    let stolen = back_in.unwrap().device;
    for _ in 0..5 {
        let wrong = operator_signin(
            &w,
            "wrong horse battery",
            "client:203.0.113.9",
            Some(stolen.expose()),
        );
        assert_eq!(wrong.unwrap_err(), Error::InvalidCredentials);
    }
    let throttled = operator_signin(
        &w,
        "wrong horse battery",
        "client:203.0.113.9",
        Some(stolen.expose()),
    );
    assert!(matches!(throttled, Err(Error::RateLimited(_))));
}

#[test]
fn the_root_token_unlocks_an_operator_email() {
    let w = World::new();
    w.owner();
    for n in 0..100 {
        let _ = operator_signin(
            &w,
            "wrong horse battery",
            &format!("client:198.51.100.{n}"),
            None,
        );
    }
    assert!(matches!(
        operator_signin(&w, PASSWORD, "client:192.0.2.1", None),
        Err(Error::RateLimited(_))
    ));
    let refused = block_on(operators::unlock(
        &w.cx(),
        Some("wrong"),
        &email("owner@example.com"),
    ));
    assert_eq!(refused.unwrap_err(), Error::Unauthorized);
    block_on(operators::unlock(
        &w.cx(),
        Some(ROOT_TOKEN),
        &email("owner@example.com"),
    ))
    .unwrap();
    assert!(operator_signin(&w, PASSWORD, "client:192.0.2.1", None).is_ok());
}

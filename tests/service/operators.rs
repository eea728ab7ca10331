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
    ));
    assert_eq!(unknown.unwrap_err(), Error::InvalidCredentials);
    assert_eq!(derivations() - before, 1);
    for _ in 0..4 {
        let wrong = block_on(operators::signin(
            &w.cx(),
            email("owner@example.com"),
            &password("wrong horse battery"),
            None,
        ));
        assert_eq!(wrong.unwrap_err(), Error::InvalidCredentials);
    }
    let token = block_on(operators::signin(
        &w.cx(),
        email("owner@example.com"),
        &password(PASSWORD),
        None,
    ))
    .unwrap();
    let caller = block_on(principal::principal(&w.cx(), Some(&token.access_token))).unwrap();
    assert!(matches!(caller, Principal::PlatformOwner(_)));
    for _ in 0..5 {
        let _ = block_on(operators::signin(
            &w.cx(),
            email("owner@example.com"),
            &password("wrong horse battery"),
            None,
        ));
    }
    let blocked = block_on(operators::signin(
        &w.cx(),
        email("owner@example.com"),
        &password(PASSWORD),
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
    ))
    .unwrap();
    let me = block_on(introspection::me(
        &w.cx(),
        &app("public"),
        &tenant("public"),
        Some(&operator.access_token),
    ));
    assert_eq!(me.unwrap_err(), Error::InvalidToken);
    let user = signup(&w, &app("public"), &tenant("public"), "u@example.com");
    let as_admin = block_on(principal::principal(
        &w.cx(),
        Some(&user.session.access_token),
    ));
    assert_eq!(as_admin.unwrap_err(), Error::Unauthorized);
    w.advance_ms(900_000);
    let expired = block_on(principal::principal(&w.cx(), Some(&operator.access_token)));
    assert_eq!(expired.unwrap_err(), Error::Unauthorized);
}

/// The operator side of `an_implanted_hash_of_one_iteration_is_refused_outside_tests`.
///
/// HOLE: today this operator signs in with the implanted hash (issue 10; `make test-security`
/// runs it with `--include-ignored`).
#[test]
#[ignore = "issue 10: an implanted i=1 operator hash signs in today; make test-security runs it"]
fn an_implanted_operator_hash_of_one_iteration_is_refused_outside_tests() {
    use tessera::domain::password::PasswordPolicy;
    use tessera::store::OperatorStore;
    let mut w = World::new();
    w.config.test_pbkdf2_iterations = None;
    let Principal::PlatformOwner(id) = w.owner() else {
        panic!("the bootstrap operator is the platform owner")
    };
    let weak = PasswordPolicy::insecure_for_tests(1).hash(&password(PASSWORD), [7; 16]);
    block_on(w.db.update_operator_password(&id, &weak)).unwrap();
    let result = block_on(operators::signin(
        &w.cx(),
        email("owner@example.com"),
        &password(PASSWORD),
        None,
    ));
    assert!(
        result.is_err(),
        "a stored operator hash of 1 iteration signed in outside tests"
    );
}

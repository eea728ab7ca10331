//! Sign-up and sign-in of end users.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::ids::{AppId, TenantId};
use tessera::domain::password::derivations;
use tessera::domain::tenancy::LoginMethod;
use tessera::domain::user::UserStatus;
use tessera::domain::Error;
use tessera::service::{signin, tenancy, users};
use tessera::store::UserStateStore;

#[test]
fn a_signup_answers_the_user_and_a_session_and_the_same_email_again_is_taken() {
    let w = World::new();
    let (shop, acme) = (app("public"), tenant("public"));
    let signed = signup(&w, &shop, &acme, "Alice@Example.com");
    assert_eq!(signed.user.face.email.as_str(), "alice@example.com");
    assert_eq!(signed.user.face.status, UserStatus::Active);
    assert!(signed.session.refresh_token.expose().starts_with("tsr_"));
    let again = block_on(signin::signup(
        &w.cx(),
        &shop,
        &acme,
        email("alice@example.com"),
        &password("another password"),
        None,
    ));
    assert_eq!(again.unwrap_err(), Error::EmailTaken);
}

#[test]
fn the_same_email_in_two_tenants_is_two_users() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let a = signup(&w, &shop, &acme, "bob@example.com");
    let b = signup(&w, &shop, &tenant("public"), "bob@example.com");
    assert_ne!(a.user.face.user_id, b.user.face.user_id);
}

#[test]
fn an_unknown_email_and_a_wrong_password_both_cost_one_hash_and_answer_alike() {
    let w = World::new();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    signup(&w, &app_id, &tenant_id, "carol@example.com");
    let before = derivations();
    let unknown = signin(
        &w,
        &app_id,
        &tenant_id,
        "nobody@example.com",
        PASSWORD,
        None,
    );
    assert_eq!(
        derivations() - before,
        1,
        "the unknown email verified a dummy hash"
    );
    let before = derivations();
    let wrong = signin(
        &w,
        &app_id,
        &tenant_id,
        "carol@example.com",
        "wrong horse battery",
        None,
    );
    assert_eq!(derivations() - before, 1);
    assert_eq!(unknown.unwrap_err(), Error::InvalidCredentials);
    assert_eq!(wrong.unwrap_err(), Error::InvalidCredentials);
    assert!(signin(&w, &app_id, &tenant_id, "carol@example.com", PASSWORD, None).is_ok());
}

#[test]
fn a_blocked_account_is_refused_before_any_hashing_and_unblocks_with_time() {
    let w = World::new();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    signup(&w, &app_id, &tenant_id, "dave@example.com");
    for _ in 0..5 {
        let refused = signin(
            &w,
            &app_id,
            &tenant_id,
            "dave@example.com",
            "wrong horse battery",
            None,
        );
        assert_eq!(refused.unwrap_err(), Error::InvalidCredentials);
    }
    let before = derivations();
    let blocked = signin(&w, &app_id, &tenant_id, "dave@example.com", PASSWORD, None);
    assert_eq!(blocked.unwrap_err(), Error::RateLimited(1));
    assert_eq!(derivations(), before, "nothing was hashed while blocked");
    w.advance_ms(1_000);
    assert!(signin(&w, &app_id, &tenant_id, "dave@example.com", PASSWORD, None).is_ok());
}

#[test]
fn a_client_address_is_throttled_across_accounts() {
    let w = World::new();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    for n in 0..20 {
        let who = format!("guess{n}@example.com");
        let refused = signin(
            &w,
            &app_id,
            &tenant_id,
            &who,
            PASSWORD,
            Some("client:203.0.113.9"),
        );
        assert_eq!(
            refused.unwrap_err(),
            Error::InvalidCredentials,
            "attempt {n}"
        );
    }
    let blocked = signin(
        &w,
        &app_id,
        &tenant_id,
        "other@example.com",
        PASSWORD,
        Some("client:203.0.113.9"),
    );
    assert!(matches!(blocked, Err(Error::RateLimited(_))));
    let elsewhere = signin(
        &w,
        &app_id,
        &tenant_id,
        "other@example.com",
        PASSWORD,
        Some("client:198.51.100.1"),
    );
    assert_eq!(
        elsewhere.unwrap_err(),
        Error::InvalidCredentials,
        "another client is not blocked"
    );
}

#[test]
fn a_success_clears_the_accounts_failures() {
    let w = World::new();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    signup(&w, &app_id, &tenant_id, "erin@example.com");
    for _ in 0..4 {
        let _ = signin(
            &w,
            &app_id,
            &tenant_id,
            "erin@example.com",
            "wrong horse battery",
            None,
        );
    }
    assert!(signin(&w, &app_id, &tenant_id, "erin@example.com", PASSWORD, None).is_ok());
    for _ in 0..4 {
        let _ = signin(
            &w,
            &app_id,
            &tenant_id,
            "erin@example.com",
            "wrong horse battery",
            None,
        );
    }
    assert!(
        signin(&w, &app_id, &tenant_id, "erin@example.com", PASSWORD, None).is_ok(),
        "four more failures after a success are still free"
    );
}

#[test]
fn a_weaker_stored_hash_is_upgraded_at_the_next_successful_signin() {
    let mut w = World::new();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    let signed = signup(&w, &app_id, &tenant_id, "frank@example.com");
    w.config.test_pbkdf2_iterations = Some(3);
    signin(&w, &app_id, &tenant_id, "frank@example.com", PASSWORD, None).unwrap();
    let user = block_on(w.db.find_user(&app_id, &signed.user.face.user_id))
        .unwrap()
        .unwrap();
    let phc = user.password_hash.unwrap().to_phc_string();
    assert!(phc.contains("i=3"), "{phc}");
    assert!(signin(&w, &app_id, &tenant_id, "frank@example.com", PASSWORD, None).is_ok());
}

#[test]
fn a_suspended_user_with_the_right_password_is_refused_and_not_counted_as_a_failure() {
    let w = World::new();
    let owner = w.owner();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    let signed = signup(&w, &app_id, &tenant_id, "gina@example.com");
    block_on(users::set_status(
        &w.cx(),
        &owner,
        &app_id,
        &tenant_id,
        &signed.user.face.user_id,
        UserStatus::Suspended,
        Some("abuse"),
    ))
    .unwrap();
    for _ in 0..10 {
        let refused = signin(&w, &app_id, &tenant_id, "gina@example.com", PASSWORD, None);
        assert_eq!(refused.unwrap_err(), Error::UserSuspended);
    }
}

#[test]
fn a_tenant_without_email_and_password_refuses_signup_and_signin() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    block_on(tenancy::put_tenant(
        &w.cx(),
        &owner,
        &shop,
        &tenant("closed"),
        tenancy::TenantSettings {
            login_methods: Some(Vec::<LoginMethod>::new()),
            ..Default::default()
        },
    ))
    .unwrap();
    let up = block_on(signin::signup(
        &w.cx(),
        &shop,
        &tenant("closed"),
        email("x@example.com"),
        &password(PASSWORD),
        None,
    ));
    assert_eq!(up.unwrap_err(), Error::LoginMethodDisabled);
    let inn = signin(
        &w,
        &shop,
        &tenant("closed"),
        "x@example.com",
        PASSWORD,
        None,
    );
    assert_eq!(inn.unwrap_err(), Error::LoginMethodDisabled);
}

#[test]
fn unknown_apps_and_tenants_are_not_found() {
    let w = World::new();
    let up = block_on(signin::signup(
        &w.cx(),
        &app("nope"),
        &tenant("public"),
        email("x@example.com"),
        &password(PASSWORD),
        None,
    ));
    assert_eq!(up.unwrap_err(), Error::AppNotFound);
    let inn = signin(
        &w,
        &app("public"),
        &tenant("nope"),
        "x@example.com",
        PASSWORD,
        None,
    );
    assert_eq!(inn.unwrap_err(), Error::TenantNotFound);
}

#[test]
fn signups_are_throttled_per_client_address_before_hashing() {
    let w = World::new();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    for n in 0..100 {
        block_on(signin::signup(
            &w.cx(),
            &app_id,
            &tenant_id,
            email(&format!("s{n}@example.com")),
            &password(PASSWORD),
            Some("signup-client"),
        ))
        .unwrap();
    }
    let before = derivations();
    let refused = block_on(signin::signup(
        &w.cx(),
        &app_id,
        &tenant_id,
        email("late@example.com"),
        &password(PASSWORD),
        Some("signup-client"),
    ));
    assert!(matches!(refused, Err(Error::RateLimited(_))));
    assert_eq!(derivations(), before);
}

#[test]
fn after_a_hashing_change_unknown_and_known_emails_cost_the_same() {
    let mut w = World::new();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    signup(&w, &app_id, &tenant_id, "old@example.com");
    // The app's cost changes: new hashes get other parameters; old users keep theirs.
    w.config.test_pbkdf2_iterations = Some(3);
    w.new_isolate();
    signup(&w, &app_id, &tenant_id, "new@example.com");
    let cost = |who: &str| {
        let before = derivations();
        let refused = signin(&w, &app_id, &tenant_id, who, "wrong horse battery", None);
        assert_eq!(refused.unwrap_err(), Error::InvalidCredentials, "{who}");
        derivations() - before
    };
    let unknown = cost("nobody@example.com");
    assert_eq!(unknown, 2, "one dummy per parameter set in use");
    assert_eq!(cost("old@example.com"), unknown);
    assert_eq!(cost("new@example.com"), unknown);
}

/// A hash written into the database with almost no cost (an attacker with write access, a
/// restored backup, a test database copied into production) never signs anyone in outside
/// tests: anything under the floor of 100,000 iterations is refused even with the right
/// password, and is not upgraded (which would erase the trace). At the floor it verifies.
#[test]
fn a_stored_hash_under_the_production_floor_is_never_trusted() {
    use tessera::domain::password::PasswordPolicy;
    use tessera::store::UserStore;
    let mut w = World::new();
    let owner = w.owner();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    // Created under a test cost, so the first planted hash comes through the real write path.
    w.config.test_pbkdf2_iterations = Some(1);
    let user = block_on(users::create(
        &w.cx(),
        &owner,
        &app_id,
        &tenant_id,
        email("planted@example.com"),
        Some(&password(PASSWORD)),
    ))
    .unwrap()
    .face
    .user_id;
    // The deployed policy (no test cost) from here on, at its cheapest production cost so
    // the test stays quick: the floor is the same for every production policy.
    let serde_json::Value::Object(cheapest) = serde_json::json!({
        "password_algorithm": "pbkdf2-sha256",
        "password_iterations": 100_000,
    }) else {
        unreachable!()
    };
    block_on(tenancy::patch_app(&w.cx(), &owner, &app_id, cheapest)).unwrap();
    w.config.test_pbkdf2_iterations = None;
    w.new_isolate();
    let stored = || {
        block_on(w.db.find_user(&app_id, &user))
            .unwrap()
            .and_then(|found| found.password_hash)
            .unwrap()
    };
    // Writes a hash of `iterations` for the password, then signs in with the password.
    let planted = |iterations: u32| {
        let hash =
            PasswordPolicy::insecure_for_tests(iterations).hash(&password(PASSWORD), [7; 16]);
        block_on(w.db.update_user_password(&app_id, &user, &hash)).unwrap();
        let signed = signin(
            &w,
            &app_id,
            &tenant_id,
            "planted@example.com",
            PASSWORD,
            None,
        );
        (hash, signed)
    };
    for iterations in [1, 1_000, 99_999] {
        let (weak, refused) = planted(iterations);
        assert_eq!(
            refused.unwrap_err(),
            Error::InvalidCredentials,
            "a stored hash of {iterations} iterations"
        );
        assert_eq!(stored(), weak, "a refused hash is not upgraded");
    }
    let (_, control) = planted(100_000);
    assert!(control.is_ok(), "a hash at the floor verifies: {control:?}");
}

/// Locks `who`'s account in the tenant out the way someone who knows only the email would:
/// wrong guesses from 120 client addresses.
fn lock_out(w: &World, app_id: &AppId, tenant_id: &TenantId, who: &str) {
    for n in 0..120 {
        let _ = signin(
            w,
            app_id,
            tenant_id,
            who,
            "wrong horse battery",
            Some(&format!("client:198.51.100.{n}")),
        );
    }
}

#[test]
fn a_users_own_browser_signs_in_while_its_account_is_locked_out() {
    let w = World::new();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    let device = signup(&w, &app_id, &tenant_id, "victim@example.com").device;
    lock_out(&w, &app_id, &tenant_id, "victim@example.com");
    let locked = signin(
        &w,
        &app_id,
        &tenant_id,
        "victim@example.com",
        PASSWORD,
        Some("client:192.0.2.1"),
    );
    assert!(matches!(locked, Err(Error::RateLimited(_))));
    let with_device = block_on(signin::signin(
        &w.cx(),
        &app_id,
        &tenant_id,
        email("victim@example.com"),
        &password(PASSWORD),
        Some("client:192.0.2.1".to_owned()),
        Some(device.expose()),
    ));
    assert!(with_device.is_ok(), "{with_device:?}");
}

/// A device token lifts the lockout of the one account it was issued for: the email in that
/// app's tenant. Anyone can sign up with the victim's email in another app (or tenant) with
/// open sign-up and so earn a device token for that email there; presented at the victim's
/// locked-out account it must not move the attacker's guesses onto a fresh device counter.
#[test]
fn a_device_token_of_the_same_email_elsewhere_does_not_lift_a_lockout() {
    let w = World::new();
    let owner = w.owner();
    let (app_id, tenant_id) = (app("public"), tenant("public"));
    let victim = signup(&w, &app_id, &tenant_id, "victim@example.com").device;
    let elsewhere = w.app(&owner, "shop");
    let other_tenant = w.tenant(&owner, &elsewhere, "acme");
    let foreign = signup(&w, &elsewhere, &other_tenant, "victim@example.com").device;
    let sibling = w.tenant(&owner, &app_id, "sibling");
    let sibling_device = block_on(signin::signup(
        &w.cx(),
        &app_id,
        &sibling,
        email("victim@example.com"),
        &password(PASSWORD),
        None,
    ))
    .expect("a sibling tenant's sign-up")
    .device;
    lock_out(&w, &app_id, &tenant_id, "victim@example.com");
    let with = |device: &str| {
        block_on(signin::signin(
            &w.cx(),
            &app_id,
            &tenant_id,
            email("victim@example.com"),
            &password(PASSWORD),
            Some("client:203.0.113.7".to_owned()),
            Some(device),
        ))
    };
    for (whence, device) in [
        ("another app", &foreign),
        ("another tenant of the app", &sibling_device),
    ] {
        assert!(
            matches!(with(device.expose()), Err(Error::RateLimited(_))),
            "a device token from {whence} lifted the lockout"
        );
    }
    assert!(
        with(victim.expose()).is_ok(),
        "the control: the account's own device token lifts it"
    );
}

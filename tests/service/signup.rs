//! Operator sign-up (`OPERATOR_SIGNUP = "open"`): the new app and its owner, the throttles,
//! the verification of the operator's email, and what an app waiting for it offers (its
//! settings only) — on the management plane and on its end-user plane.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::authz::{Permission, Principal, SETTINGS};
use tessera::domain::challenge::Purpose;
use tessera::domain::ids::AppId;
use tessera::domain::links::WebUrl;
use tessera::domain::member::{MemberStatus, MembershipSource, MembershipType, OperatorRole};
use tessera::domain::page::PageRequest;
use tessera::domain::Error;
use tessera::service::email::DeliveryRequest;
use tessera::service::operators::{self, SignedUp};
use tessera::service::{api_keys, members, principal, recovery, signin, tenancy, users};
use tessera::store::MemberStore;

const CONSOLE: &str = "https://console.example/verify";

/// A deployment that opens sign-up, with the operators' mail in the outbox of `public`; and
/// its platform owner.
fn open_world_and_owner() -> (World, Principal) {
    let mut w = World::new();
    w.config.operator_signup_open = true;
    w.config.operator_link_base_url = Some(WebUrl::parse_link_base(CONSOLE).unwrap());
    let owner = w.owner();
    w.set_delivery(&owner, &app("public"), DeliveryRequest::Outbox);
    (w, owner)
}

fn open_world() -> World {
    open_world_and_owner().0
}

fn sign_up(w: &World, who: &str, app_id: &str, client: Option<&str>) -> Result<SignedUp, Error> {
    block_on(operators::signup(
        &w.cx(),
        email(who),
        &password(PASSWORD),
        app(app_id),
        client.map(str::to_owned),
    ))
}

/// The principal of `who` signed in now.
fn as_operator(w: &World, who: &str) -> (Principal, String) {
    let token = block_on(operators::signin(
        &w.cx(),
        email(who),
        &password(PASSWORD),
        None,
        None,
    ))
    .expect("operator sign-in")
    .token
    .access_token;
    let principal = block_on(principal::principal(&w.cx(), Some(&token))).unwrap();
    (principal, token)
}

/// Verifies `who`'s email with the last link it was sent.
fn verify(w: &World, who: &str) -> Result<tessera::domain::operator::Operator, Error> {
    let message = w.last_message(&app("public"), who);
    assert_eq!(message.purpose, Purpose::OperatorEmailVerification);
    block_on(recovery::verify_operator_email(
        &w.cx(),
        &token_of(&message),
        None,
    ))
}

#[test]
fn sign_up_is_not_found_unless_the_deployment_opens_it() {
    let mut w = open_world();
    w.config.operator_signup_open = false;
    let before = w.db.snapshot();
    assert_eq!(
        sign_up(&w, "dev@example.com", "devshop", None).unwrap_err(),
        Error::RouteNotFound
    );
    assert_eq!(w.db.snapshot(), before, "nothing was counted or written");
}

#[test]
fn a_sign_up_makes_an_app_with_its_public_tenant_and_the_caller_its_owner() {
    let (w, owner) = open_world_and_owner();
    let done = sign_up(&w, "Dev@Example.com", "devshop", None).unwrap();
    assert_eq!(done.app.id, app("devshop"));
    assert!(done.app.pending_verification);
    assert_eq!(done.operator.email, email("dev@example.com"));
    assert!(done.operator.email_verified_at.is_none());
    assert!(!done.operator.is_platform_owner);
    let (caller, _) = as_operator(&w, "dev@example.com");
    let page = PageRequest::parse(None, None).unwrap();
    let tenants = block_on(tenancy::list_tenants(
        &w.cx(),
        &caller,
        &app("devshop"),
        &page,
    ))
    .unwrap();
    assert_eq!(tenants.items.len(), 1);
    assert!(tenants.items[0].id.is_public());
    let listed = block_on(members::list(&w.cx(), &owner, &app("devshop"), &page)).unwrap();
    let member = &listed.items[0];
    assert_eq!(listed.items.len(), 1);
    assert_eq!(member.membership_type, MembershipType::Owner);
    assert_eq!(member.roles, [OperatorRole::Admin]);
    assert_eq!(member.source, MembershipSource::Signup);
    assert_eq!(member.status, MemberStatus::Active);
    assert_eq!(member.operator_id, Some(done.operator.id));
    let actions: Vec<_> =
        w.db.audit_entries()
            .iter()
            .filter(|e| e.app_id == app("devshop"))
            .map(|e| e.action.as_str())
            .collect();
    assert_eq!(actions, ["app.signup"]);
    // A verification link went to the operator, to the console.
    let message = w.last_message(&app("public"), "dev@example.com");
    assert_eq!(message.tenant_id, None);
    assert!(message.link.unwrap().starts_with(&format!(
        "{CONSOLE}?type=operator_email_verification&token=tsl_"
    )));
}

#[test]
fn an_app_waiting_for_its_owners_email_offers_its_settings_only() {
    let w = open_world();
    sign_up(&w, "dev@example.com", "devshop", None).unwrap();
    let (dev, _) = as_operator(&w, "dev@example.com");
    let devshop = app("devshop");
    let public = tenant("public");
    // Settings: tenants and their login methods, link bases and the email delivery.
    let acme = block_on(tenancy::put_tenant(
        &w.cx(),
        &dev,
        &devshop,
        &tenant("acme"),
        Default::default(),
    ));
    assert!(acme.is_ok(), "{acme:?}");
    assert!(block_on(tessera::service::email::put_delivery(
        &w.cx(),
        &dev,
        &devshop,
        DeliveryRequest::Outbox
    ))
    .is_ok());
    assert!(block_on(tenancy::get_app(&w.cx(), &dev, &devshop)).is_ok());
    // Anything else: 403 app_not_verified.
    let page = PageRequest::parse(None, None).unwrap();
    let users = block_on(users::list(
        &w.cx(),
        &dev,
        &devshop,
        &public,
        &Default::default(),
        &page,
    ));
    assert_eq!(users.unwrap_err(), Error::AppNotVerified);
    let members = block_on(members::list(&w.cx(), &dev, &devshop, &page));
    assert_eq!(members.unwrap_err(), Error::AppNotVerified);
    let key = block_on(api_keys::create(
        &w.cx(),
        &dev,
        &devshop,
        &public,
        tessera::domain::tenancy::ApiKeyName::parse("ci").unwrap(),
        vec![tessera::domain::authz::Scope::Introspect],
    ));
    assert_eq!(key.unwrap_err(), Error::AppNotVerified);
    // The end-user plane runs no flow at all.
    let end_user = block_on(signin::signup(
        &w.cx(),
        &devshop,
        &public,
        email("user@example.com"),
        &password(PASSWORD),
        None,
    ));
    assert_eq!(end_user.unwrap_err(), Error::AppNotVerified);
    // What "settings" means, exactly.
    assert_eq!(
        SETTINGS,
        [Permission::TenantsRead, Permission::TenantsWrite]
    );
}

#[test]
fn verifying_the_email_makes_the_app_usable_at_once_and_the_link_works_once() {
    let w = open_world();
    sign_up(&w, "dev@example.com", "devshop", None).unwrap();
    let operator = verify(&w, "dev@example.com").unwrap();
    assert!(operator.email_verified_at.is_some());
    let devshop = app("devshop");
    let app_now = block_on(tenancy::existing_app(&w.cx(), &devshop)).unwrap();
    assert!(!app_now.pending_verification);
    let (dev, _) = as_operator(&w, "dev@example.com");
    let page = PageRequest::parse(None, None).unwrap();
    assert!(block_on(members::list(&w.cx(), &dev, &devshop, &page)).is_ok());
    // This isolate saw the change at once (the mirror and its cache were rewritten).
    signup(&w, &devshop, &tenant("public"), "user@example.com");
    let message = w.last_message(&app("public"), "dev@example.com");
    assert_eq!(
        block_on(recovery::verify_operator_email(
            &w.cx(),
            &token_of(&message),
            None
        ))
        .unwrap_err(),
        Error::InvalidCode
    );
}

#[test]
fn a_verification_link_is_sent_again_on_request_and_expires_after_a_day() {
    let w = open_world();
    sign_up(&w, "dev@example.com", "devshop", None).unwrap();
    let first = w.last_message(&app("public"), "dev@example.com");
    let (dev, _) = as_operator(&w, "dev@example.com");
    w.advance_ms(24 * 3_600_000);
    let stale = block_on(recovery::verify_operator_email(
        &w.cx(),
        &token_of(&first),
        None,
    ));
    assert_eq!(stale.unwrap_err(), Error::InvalidCode);
    block_on(recovery::send_operator_verification(&w.cx(), &dev, None)).unwrap();
    assert!(verify(&w, "dev@example.com").is_ok());
    // An API key has no email to verify.
    let key = Principal::ApiKey {
        id: tessera::domain::ids::ApiKeyId::generate(w.now(), [1; 10]),
        app_id: app("devshop"),
        tenant_id: tenant("public"),
        scopes: vec![],
    };
    assert!(matches!(
        block_on(recovery::send_operator_verification(&w.cx(), &key, None)),
        Err(Error::Forbidden(_))
    ));
}

#[test]
fn a_verified_operator_signs_up_another_app_only_with_its_password_and_it_is_usable_at_once() {
    let w = open_world();
    sign_up(&w, "dev@example.com", "devshop", None).unwrap();
    verify(&w, "dev@example.com").unwrap();
    let wrong = block_on(operators::signup(
        &w.cx(),
        email("dev@example.com"),
        &password("not the operator's password"),
        app("other"),
        None,
    ));
    assert_eq!(wrong.unwrap_err(), Error::InvalidCredentials);
    assert!(block_on(tenancy::existing_app(&w.cx(), &app("other"))).is_err());
    let second = sign_up(&w, "dev@example.com", "other", None).unwrap();
    assert!(!second.app.pending_verification);
    let operators_of = |id: &AppId| {
        block_on(w.db.list_members(id, None, 10))
            .unwrap()
            .iter()
            .map(|m| m.operator_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(operators_of(&app("other")), operators_of(&app("devshop")));
}

#[test]
fn an_app_id_that_exists_is_a_conflict_and_writes_no_operator() {
    let w = open_world();
    for taken in ["public", "devshop"] {
        if taken == "devshop" {
            sign_up(&w, "first@example.com", "devshop", None).unwrap();
        }
        let refused = sign_up(&w, "late@example.com", taken, None);
        assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
    }
    let late = block_on(tessera::store::OperatorStore::find_operator_by_email(
        &w.db,
        &email("late@example.com"),
    ))
    .unwrap();
    assert_eq!(late, None);
}

#[test]
fn sign_up_needs_the_operators_email_delivery_before_anything_is_written() {
    let mut w = World::new();
    w.config.operator_signup_open = true;
    w.owner();
    let before = w.db.snapshot();
    assert_eq!(
        sign_up(&w, "dev@example.com", "devshop", None).unwrap_err(),
        Error::EmailDeliveryNotConfigured
    );
    assert_eq!(w.db.snapshot(), before);
}

#[test]
fn sign_ups_are_throttled_per_client_before_any_hashing() {
    let w = open_world();
    let client = Some("client:203.0.113.7");
    for n in 0..100 {
        sign_up(
            &w,
            &format!("dev{n}@example.com"),
            &format!("app-{n}"),
            client,
        )
        .unwrap();
    }
    let refused = sign_up(&w, "one-more@example.com", "app-x", client);
    assert!(matches!(refused, Err(Error::RateLimited(_))), "{refused:?}");
    assert!(block_on(tenancy::existing_app(&w.cx(), &app("app-x"))).is_err());
    // Another client is not held back.
    assert!(sign_up(
        &w,
        "other@example.com",
        "app-y",
        Some("client:198.51.100.1")
    )
    .is_ok());
}

#[test]
fn guessing_an_operators_password_through_sign_up_is_throttled_like_sign_in() {
    let w = open_world();
    sign_up(&w, "dev@example.com", "devshop", None).unwrap();
    let guess = |n: u32| {
        block_on(operators::signup(
            &w.cx(),
            email("dev@example.com"),
            &password("a wrong password guess"),
            app(&format!("guess-{n}")),
            None,
        ))
    };
    for n in 0..5 {
        assert_eq!(guess(n).unwrap_err(), Error::InvalidCredentials);
    }
    assert!(matches!(guess(5), Err(Error::RateLimited(_))));
    // The operator's own sign-in is held back by the same counter.
    let signin = block_on(operators::signin(
        &w.cx(),
        email("dev@example.com"),
        &password(PASSWORD),
        None,
        None,
    ));
    assert!(matches!(signin, Err(Error::RateLimited(_))));
}

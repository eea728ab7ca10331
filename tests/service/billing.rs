//! The billing webhook: signatures, idempotency, reconciliation of plan roles.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::names::{PlanTier, RoleName, UserPermission};
use tessera::domain::webhook;
use tessera::domain::Error;
use tessera::service::billing::{self, EventStatus, PlanEvent};
use tessera::service::{catalogue, users};

/// A `Webhook-Signature` header of `body` at `t`.
fn signed(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", webhook::sign(secret, t, body))
}

fn r(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

#[test]
fn a_signed_event_sets_the_plan_once_and_keeps_hand_assigned_roles() {
    let w = World::new();
    let owner = w.owner();
    let p = app("public");
    let cx = w.cx();
    let secret = block_on(billing::rotate_secret(&cx, &owner, &p)).unwrap().0;
    for role in ["beta", "editor", "support"] {
        block_on(catalogue::put_role(
            &cx,
            &owner,
            &p,
            &r(role),
            vec![UserPermission::parse("x:y").unwrap()],
        ))
        .unwrap();
    }
    block_on(catalogue::put_plan(
        &cx,
        &owner,
        &p,
        &PlanTier::parse("pro").unwrap(),
        vec![r("editor")],
        None,
    ))
    .unwrap();
    block_on(catalogue::put_plan(
        &cx,
        &owner,
        &p,
        &PlanTier::parse("team").unwrap(),
        vec![r("beta")],
        None,
    ))
    .unwrap();
    let user = signup(&w, &p, &tenant("public"), "a@example.com")
        .user
        .face
        .user_id;
    block_on(users::set_roles(
        &cx,
        &owner,
        &p,
        &tenant("public"),
        &user,
        vec![r("support")],
    ))
    .unwrap();
    let event = |id: &str, tier: &str| PlanEvent {
        event_id: id.into(),
        tenant_id: tenant("public"),
        user_id: user,
        plan_tier: PlanTier::parse(tier).unwrap(),
    };
    let body = b"{}";
    let header = signed(&secret, w.now().unix_seconds(), body);
    block_on(billing::verify_signature(&cx, &p, &header, body)).unwrap();
    assert_eq!(
        block_on(billing::apply_plan_event(&cx, &p, event("e1", "pro"))).unwrap(),
        EventStatus::Applied
    );
    assert_eq!(
        block_on(billing::apply_plan_event(&cx, &p, event("e2", "team"))).unwrap(),
        EventStatus::Applied
    );
    assert_eq!(
        block_on(billing::apply_plan_event(&cx, &p, event("e1", "pro"))).unwrap(),
        EventStatus::Duplicate
    );
    let now = block_on(users::get(&cx, &owner, &p, &tenant("public"), &user)).unwrap();
    assert_eq!(now.face.plan_tier.as_str(), "team");
    assert_eq!(
        now.effective.roles,
        [r("beta"), r("support")],
        "editor left with pro; support stays"
    );
    let unknown = block_on(billing::apply_plan_event(&cx, &p, event("e3", "gold")));
    assert_eq!(unknown.unwrap_err(), Error::UnknownPlan("gold".into()));
}

#[test]
fn a_missing_wrong_or_stale_signature_is_refused() {
    let w = World::new();
    let owner = w.owner();
    let p = app("public");
    let cx = w.cx();
    let body = b"{\"event_id\":\"x\"}";
    let before_secret = signed("whsec_none", w.now().unix_seconds(), body);
    assert_eq!(
        block_on(billing::verify_signature(&cx, &p, &before_secret, body)).unwrap_err(),
        Error::InvalidSignature,
        "no secret yet"
    );
    let secret = block_on(billing::rotate_secret(&cx, &owner, &p)).unwrap().0;
    for header in [
        String::new(),
        signed("whsec_other", w.now().unix_seconds(), body),
        signed(&secret, w.now().unix_seconds() - 301, body),
        signed(&secret, w.now().unix_seconds(), b"{\"event_id\":\"y\"}"),
    ] {
        assert_eq!(
            block_on(billing::verify_signature(&cx, &p, &header, body)).unwrap_err(),
            Error::InvalidSignature,
            "{header}"
        );
    }
    let rotated = block_on(billing::rotate_secret(&cx, &owner, &p)).unwrap().0;
    let old = signed(&secret, w.now().unix_seconds(), body);
    assert_eq!(
        block_on(billing::verify_signature(&cx, &p, &old, body)).unwrap_err(),
        Error::InvalidSignature,
        "the old secret stops at once"
    );
    assert!(block_on(billing::verify_signature(
        &cx,
        &p,
        &signed(&rotated, w.now().unix_seconds(), body),
        body
    ))
    .is_ok());
}

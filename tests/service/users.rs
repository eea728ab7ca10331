//! End users managed by operators: suspension per tenant, plans, roles, association,
//! revocation, metadata, listing — and KV kept in step with D1.

use crate::world::*;
use futures_executor::block_on;
use serde_json::json;
use tessera::domain::names::{PlanTier, RoleName, UserPermission};
use tessera::domain::page::PageRequest;
use tessera::domain::user::UserStatus;
use tessera::domain::Error;
use tessera::service::catalogue;
use tessera::service::users::{self, PlanChange};
use tessera::store::UserFilter;

fn r(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}
fn t(name: &str) -> PlanTier {
    PlanTier::parse(name).unwrap()
}

#[test]
fn suspension_is_per_tenant() {
    let w = World::new();
    let owner = w.owner();
    let p = app("public");
    let acme = w.tenant(&owner, &p, "acme");
    let signed = signup(&w, &p, &tenant("public"), "a@example.com");
    block_on(users::associate(
        &w.cx(),
        &owner,
        &p,
        &acme,
        &signed.user.face.user_id,
    ))
    .unwrap();
    let at_acme = signin(&w, &p, &acme, "a@example.com", PASSWORD, None).unwrap();
    block_on(users::set_status(
        &w.cx(),
        &owner,
        &p,
        &tenant("public"),
        &signed.user.face.user_id,
        UserStatus::Suspended,
        Some("spam"),
    ))
    .unwrap();
    let key = w.api_key(&owner, &p, &acme, &["introspect"]);
    assert!(
        is_active(&w, &p, &acme, &key, &at_acme.session.access_token),
        "acme is untouched"
    );
    assert!(signin(&w, &p, &acme, "a@example.com", PASSWORD, None).is_ok());
    assert_eq!(
        signin(&w, &p, &tenant("public"), "a@example.com", PASSWORD, None).unwrap_err(),
        Error::UserSuspended
    );
}

#[test]
fn a_kv_failure_while_suspending_keeps_the_change_in_d1() {
    let w = World::new();
    let owner = w.owner();
    let p = app("public");
    let signed = signup(&w, &p, &tenant("public"), "b@example.com");
    w.kv.faults()
        .fail_when(|call| call.starts_with("kv put flags:"));
    let answer = block_on(users::set_status(
        &w.cx(),
        &owner,
        &p,
        &tenant("public"),
        &signed.user.face.user_id,
        UserStatus::Suspended,
        None,
    ))
    .expect("KV failing does not refuse the change (it converges: tests/service/edge.rs)");
    assert_eq!(answer.face.status, UserStatus::Suspended);
    w.kv.faults().heal();
    let now = block_on(users::get(
        &w.cx(),
        &owner,
        &p,
        &tenant("public"),
        &signed.user.face.user_id,
    ))
    .unwrap();
    assert_eq!(now.face.status, UserStatus::Suspended, "D1 kept it");
    assert_eq!(
        signin(&w, &p, &tenant("public"), "b@example.com", PASSWORD, None).unwrap_err(),
        Error::UserSuspended
    );
}

#[test]
fn plans_roles_and_overrides_make_the_effective_view() {
    let w = World::new();
    let owner = w.owner();
    let p = app("public");
    let signed = signup(&w, &p, &tenant("public"), "c@example.com");
    let id = signed.user.face.user_id;
    let cx = w.cx();
    let unknown_plan = block_on(users::change_plan(
        &cx,
        &owner,
        &p,
        &tenant("public"),
        &id,
        PlanChange {
            plan_tier: Some(t("gold")),
            rate_limit_override: None,
        },
    ));
    assert_eq!(unknown_plan.unwrap_err(), Error::UnknownPlan("gold".into()));
    let unknown_role = block_on(users::set_roles(
        &cx,
        &owner,
        &p,
        &tenant("public"),
        &id,
        vec![r("ghost")],
    ));
    assert_eq!(
        unknown_role.unwrap_err(),
        Error::UnknownRole("ghost".into())
    );
    block_on(catalogue::put_role(
        &cx,
        &owner,
        &p,
        &r("viewer"),
        vec![UserPermission::parse("docs:read").unwrap()],
    ))
    .unwrap();
    block_on(catalogue::put_role(
        &cx,
        &owner,
        &p,
        &r("editor"),
        vec![UserPermission::parse("docs:write").unwrap()],
    ))
    .unwrap();
    block_on(catalogue::put_plan(
        &cx,
        &owner,
        &p,
        &t("pro"),
        vec![r("editor")],
        Some(600),
    ))
    .unwrap();
    block_on(users::set_roles(
        &cx,
        &owner,
        &p,
        &tenant("public"),
        &id,
        vec![r("viewer")],
    ))
    .unwrap();
    let pro = block_on(users::change_plan(
        &cx,
        &owner,
        &p,
        &tenant("public"),
        &id,
        PlanChange {
            plan_tier: Some(t("pro")),
            rate_limit_override: None,
        },
    ))
    .unwrap();
    assert_eq!(pro.effective.roles, [r("editor"), r("viewer")]);
    assert_eq!(pro.effective.rate_limit, Some(600));
    let over = block_on(users::change_plan(
        &cx,
        &owner,
        &p,
        &tenant("public"),
        &id,
        PlanChange {
            plan_tier: None,
            rate_limit_override: Some(Some(5)),
        },
    ))
    .unwrap();
    assert_eq!(over.effective.rate_limit, Some(5), "the override wins");
    let bad = block_on(users::change_plan(
        &cx,
        &owner,
        &p,
        &tenant("public"),
        &id,
        PlanChange {
            plan_tier: None,
            rate_limit_override: Some(Some(-1)),
        },
    ));
    assert!(matches!(bad, Err(Error::Validation(_))));
    let cleared = block_on(users::change_plan(
        &cx,
        &owner,
        &p,
        &tenant("public"),
        &id,
        PlanChange {
            plan_tier: None,
            rate_limit_override: Some(None),
        },
    ))
    .unwrap();
    assert_eq!(cleared.effective.rate_limit, Some(600));
    let flags = w.kv.raw(&format!("flags:public:public:{id}")).unwrap().0;
    assert!(flags.contains("\"plan_tier\":\"pro\""), "{flags}");
}

#[test]
fn association_gives_a_second_tenant_and_refuses_a_taken_email() {
    let w = World::new();
    let owner = w.owner();
    let p = app("public");
    let acme = w.tenant(&owner, &p, "acme");
    let a = signup(&w, &p, &tenant("public"), "d@example.com");
    signup(&w, &p, &acme, "d@example.com");
    let taken = block_on(users::associate(
        &w.cx(),
        &owner,
        &p,
        &acme,
        &a.user.face.user_id,
    ));
    assert_eq!(taken.unwrap_err(), Error::EmailTaken);
    let missing = block_on(users::associate(
        &w.cx(),
        &owner,
        &p,
        &acme,
        &tessera::domain::user::UserId::generate(w.now(), [3; 10]),
    ));
    assert_eq!(missing.unwrap_err(), Error::UserNotFound);
}

#[test]
fn revoking_a_users_sessions_counts_them_and_ends_their_tokens() {
    let w = World::new();
    let owner = w.owner();
    let p = app("public");
    let key = w.api_key(&owner, &p, &tenant("public"), &["introspect"]);
    let first = signup(&w, &p, &tenant("public"), "e@example.com");
    let second = signin(&w, &p, &tenant("public"), "e@example.com", PASSWORD, None).unwrap();
    let revoked = block_on(users::revoke_sessions(
        &w.cx(),
        &owner,
        &p,
        &tenant("public"),
        &first.user.face.user_id,
    ))
    .unwrap();
    assert_eq!(revoked, 2);
    assert!(!is_active(
        &w,
        &p,
        &tenant("public"),
        &key,
        &first.session.access_token
    ));
    assert!(!is_active(
        &w,
        &p,
        &tenant("public"),
        &key,
        &second.session.access_token
    ));
}

#[test]
fn metadata_is_merged_per_rfc_7396_and_bounded() {
    let w = World::new();
    let owner = w.owner();
    let p = app("public");
    let id = signup(&w, &p, &tenant("public"), "f@example.com")
        .user
        .face
        .user_id;
    let cx = w.cx();
    assert_eq!(
        block_on(users::metadata(&cx, &owner, &p, &id)).unwrap(),
        json!({})
    );
    block_on(users::patch_metadata(
        &cx,
        &owner,
        &p,
        &id,
        &json!({"team": "blue", "n": 1}),
    ))
    .unwrap();
    let merged = block_on(users::patch_metadata(
        &cx,
        &owner,
        &p,
        &id,
        &json!({"n": null}),
    ))
    .unwrap();
    assert_eq!(merged, json!({"team": "blue"}));
    let big = json!({"blob": "x".repeat(17 * 1024)});
    assert!(matches!(
        block_on(users::patch_metadata(&cx, &owner, &p, &id, &big)),
        Err(Error::PayloadTooLarge(_))
    ));
    assert!(matches!(
        block_on(users::patch_metadata(&cx, &owner, &p, &id, &json!([1]))),
        Err(Error::Validation(_))
    ));
}

#[test]
fn users_are_listed_in_keyset_pages_with_filters() {
    let w = World::new();
    let owner = w.owner();
    let p = app("public");
    let mut ids = Vec::new();
    for n in 0..25 {
        ids.push(
            signup(&w, &p, &tenant("public"), &format!("u{n:02}@example.com"))
                .user
                .face
                .user_id,
        );
    }
    block_on(users::set_status(
        &w.cx(),
        &owner,
        &p,
        &tenant("public"),
        &ids[3],
        UserStatus::Suspended,
        None,
    ))
    .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = PageRequest::parse(Some("7"), cursor.as_deref()).unwrap();
        let listed = block_on(users::list(
            &w.cx(),
            &owner,
            &p,
            &tenant("public"),
            &UserFilter::default(),
            &page,
        ))
        .unwrap();
        seen.extend(listed.items.iter().map(|u| u.face.user_id));
        match listed.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "every user once, in id order");
    let suspended = UserFilter {
        status: Some(UserStatus::Suspended),
        ..UserFilter::default()
    };
    let page = PageRequest::parse(None, None).unwrap();
    let listed = block_on(users::list(
        &w.cx(),
        &owner,
        &p,
        &tenant("public"),
        &suspended,
        &page,
    ))
    .unwrap();
    assert_eq!(listed.items.len(), 1);
    let prefix = UserFilter {
        email_prefix: Some("u1".into()),
        ..UserFilter::default()
    };
    let listed = block_on(users::list(
        &w.cx(),
        &owner,
        &p,
        &tenant("public"),
        &prefix,
        &page,
    ))
    .unwrap();
    assert_eq!(listed.items.len(), 10);
}

#[test]
fn operators_without_the_permission_are_refused_and_nothing_changes() {
    let w = World::new();
    let owner = w.owner();
    let p = app("public");
    let id = signup(&w, &p, &tenant("public"), "g@example.com")
        .user
        .face
        .user_id;
    let key = block_on(tessera::service::principal::principal(
        &w.cx(),
        Some(&w.api_key(&owner, &p, &tenant("public"), &["users:read"])),
    ))
    .unwrap();
    let before = w.db.audit_entries().len();
    let refused = block_on(users::set_status(
        &w.cx(),
        &key,
        &p,
        &tenant("public"),
        &id,
        UserStatus::Suspended,
        None,
    ));
    assert!(matches!(refused, Err(Error::Forbidden(_))));
    assert!(block_on(users::get(&w.cx(), &key, &p, &tenant("public"), &id)).is_ok());
    assert_eq!(
        w.db.audit_entries().len(),
        before,
        "a refused change writes no audit entry"
    );
}

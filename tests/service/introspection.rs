//! Introspection, `/auth/me`, sign-out and revocation: every inactive cause, the client check,
//! and no D1 on the introspection path.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::names::{PlanTier, RoleName, UserPermission};
use tessera::domain::user::UserStatus;
use tessera::domain::Error;
use tessera::service::introspection::{self, Introspection};
use tessera::service::{catalogue, users};

struct Fixture {
    w: World,
    key: String,
    token: String,
    refresh: String,
    user: tessera::domain::user::UserId,
    owner: tessera::domain::authz::Principal,
}

fn fixture() -> Fixture {
    let w = World::new();
    let owner = w.owner();
    let key = w.api_key(&owner, &app("public"), &tenant("public"), &["introspect"]);
    let signed = signup(&w, &app("public"), &tenant("public"), "a@example.com");
    Fixture {
        key,
        token: signed.session.access_token.clone(),
        refresh: signed.session.refresh_token.expose().to_owned(),
        user: signed.user.face.user_id,
        owner,
        w,
    }
}

fn active(f: &Fixture, token: &str) -> bool {
    is_active(&f.w, &app("public"), &tenant("public"), &f.key, token)
}

#[test]
fn an_active_token_introspects_with_the_users_state() {
    let f = fixture();
    let cx = f.w.cx();
    let r = |n: &str| RoleName::parse(n).unwrap();
    block_on(catalogue::put_role(
        &cx,
        &f.owner,
        &app("public"),
        &r("editor"),
        vec![UserPermission::parse("docs:write").unwrap()],
    ))
    .unwrap();
    block_on(catalogue::put_plan(
        &cx,
        &f.owner,
        &app("public"),
        &PlanTier::parse("pro").unwrap(),
        vec![r("editor")],
        Some(600),
    ))
    .unwrap();
    block_on(users::change_plan(
        &cx,
        &f.owner,
        &app("public"),
        &tenant("public"),
        &f.user,
        users::PlanChange {
            plan_tier: Some(PlanTier::parse("pro").unwrap()),
            rate_limit_override: None,
        },
    ))
    .unwrap();
    let Introspection::Active(found) =
        introspect(&f.w, &app("public"), &tenant("public"), &f.key, &f.token).unwrap()
    else {
        panic!("inactive");
    };
    assert_eq!(found.token.claims.sub, f.user.to_string());
    assert_eq!(found.flags.plan_tier.as_str(), "pro");
    assert_eq!(found.effective.rate_limit, Some(600));
    assert_eq!(found.effective.roles, [r("editor")]);
    assert_eq!(
        found.effective.permissions,
        [UserPermission::parse("docs:write").unwrap()]
    );
}

#[test]
fn malformed_expired_and_foreign_tokens_are_inactive() {
    let f = fixture();
    assert!(active(&f, &f.token));
    for garbage in ["", "garbage", "a.b.c", &f.refresh] {
        assert!(!active(&f, garbage), "{garbage:?}");
    }
    let mut tampered = f.token.clone();
    tampered.pop();
    tampered.push(if f.token.ends_with('A') { 'B' } else { 'A' });
    assert!(!active(&f, &tampered), "a bad signature");
    f.w.advance_ms(900_000);
    assert!(!active(&f, &f.token), "expired after 900 s");
}

#[test]
fn a_token_of_another_tenant_or_app_is_inactive_here() {
    let f = fixture();
    let acme = f.w.tenant(&f.owner, &app("public"), "acme");
    let shop = f.w.app(&f.owner, "shop");
    let at_acme = signup(&f.w, &app("public"), &acme, "b@example.com");
    let at_shop = signup(&f.w, &shop, &tenant("public"), "c@example.com");
    assert!(!active(&f, &at_acme.session.access_token));
    assert!(!active(&f, &at_shop.session.access_token));
}

#[test]
fn signing_out_makes_the_token_inactive_and_me_refuses_it() {
    let f = fixture();
    let cx = f.w.cx();
    let me = block_on(introspection::me(
        &cx,
        &app("public"),
        &tenant("public"),
        Some(&f.token),
    ))
    .unwrap();
    assert_eq!(me.face.user_id, f.user);
    block_on(introspection::signout(
        &cx,
        &app("public"),
        &tenant("public"),
        Some(&f.token),
    ))
    .unwrap();
    assert!(!active(&f, &f.token));
    let after = block_on(introspection::me(
        &f.w.cx(),
        &app("public"),
        &tenant("public"),
        Some(&f.token),
    ));
    assert_eq!(after.unwrap_err(), Error::InvalidToken);
    let none = block_on(introspection::me(
        &f.w.cx(),
        &app("public"),
        &tenant("public"),
        None,
    ));
    assert_eq!(none.unwrap_err(), Error::InvalidToken);
}

#[test]
fn a_suspended_user_is_inactive_at_once_and_active_again_when_unsuspended() {
    let f = fixture();
    let set = |status| {
        block_on(users::set_status(
            &f.w.cx(),
            &f.owner,
            &app("public"),
            &tenant("public"),
            &f.user,
            status,
            None,
        ))
        .unwrap()
    };
    set(UserStatus::Suspended);
    assert!(!active(&f, &f.token));
    let me = block_on(introspection::me(
        &f.w.cx(),
        &app("public"),
        &tenant("public"),
        Some(&f.token),
    ));
    assert_eq!(me.unwrap_err(), Error::InvalidToken);
    set(UserStatus::Active);
    assert!(active(&f, &f.token));
}

#[test]
fn a_token_of_a_deleted_tenant_is_inactive_at_a_recreated_namesake() {
    let mut f = fixture();
    let acme = f.w.tenant(&f.owner, &app("public"), "acme");
    let key =
        f.w.api_key(&f.owner, &app("public"), &acme, &["introspect"]);
    let signed = signup(&f.w, &app("public"), &acme, "d@example.com");
    block_on(tessera::service::deletion::delete_tenant(
        &f.w.cx(),
        &f.owner,
        &app("public"),
        &acme,
    ))
    .unwrap();
    f.w.advance_ms(1_000);
    f.w.new_isolate();
    let acme = f.w.tenant(&f.owner, &app("public"), "acme");
    let old_key = introspect(
        &f.w,
        &app("public"),
        &acme,
        &key,
        &signed.session.access_token,
    );
    assert_eq!(
        old_key.unwrap_err(),
        Error::InvalidClient,
        "the old tenant's key is gone"
    );
    let new_key =
        f.w.api_key(&f.owner, &app("public"), &acme, &["introspect"]);
    assert!(!is_active(
        &f.w,
        &app("public"),
        &acme,
        &new_key,
        &signed.session.access_token
    ));
}

#[test]
fn only_an_introspect_key_of_this_tenant_may_introspect() {
    let f = fixture();
    let (p, pub_t) = (app("public"), tenant("public"));
    let no_scope = f.w.api_key(&f.owner, &p, &pub_t, &["users:read"]);
    let acme = f.w.tenant(&f.owner, &p, "acme");
    let elsewhere = f.w.api_key(&f.owner, &p, &acme, &["introspect"]);
    for key in [
        no_scope.as_str(),
        elsewhere.as_str(),
        "tsk_unknown",
        "garbage",
        &f.token,
    ] {
        let refused = introspect(&f.w, &p, &pub_t, key, &f.token);
        assert_eq!(refused.unwrap_err(), Error::InvalidClient, "{key}");
    }
}

#[test]
fn introspection_reads_no_d1_even_on_a_cold_isolate() {
    let mut f = fixture();
    f.w.new_isolate();
    f.w.db.faults().fail_when(|_| true);
    assert!(
        active(&f, &f.token),
        "every D1 call fails, introspection does not care"
    );
    assert!(
        f.w.db.faults().injected().is_empty(),
        "{:?}",
        f.w.db.faults().injected()
    );
}

#[test]
fn revoking_a_refresh_or_access_token_ends_its_session() {
    let f = fixture();
    let revoke = |token: &str| {
        block_on(async {
            let cx = f.w.cx();
            let client = introspection::revocation_client(
                &cx,
                &NoSignatures,
                &app("public"),
                &tenant("public"),
                Some(&f.key),
            )
            .await?;
            introspection::revoke_token(&cx, &client, token).await
        })
    };
    revoke("garbage").unwrap();
    revoke(&f.refresh).unwrap();
    assert!(!active(&f, &f.token));
    let other = signup(&f.w, &app("public"), &tenant("public"), "e@example.com");
    revoke(&other.session.access_token).unwrap();
    assert!(!active(&f, &other.session.access_token));
}

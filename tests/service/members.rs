//! Operators' memberships: invitations, acceptance, the lifecycle, scopes, the last admin.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::authz::{Permission, Principal};
use tessera::domain::ids::{AppId, TenantId};
use tessera::domain::member::{MemberStatus, MembershipType, OperatorRole};
use tessera::domain::Error;
use tessera::service::members::{self, Invitation, MemberPatch};
use tessera::service::{operators, principal, tenancy};

fn invite(
    w: &World,
    by: &Principal,
    app_id: &AppId,
    who: &str,
    roles: &[OperatorRole],
    tenant_id: Option<TenantId>,
) -> Result<(tessera::domain::member::Member, String), Error> {
    block_on(members::invite(
        &w.cx(),
        by,
        app_id,
        Invitation {
            email: email(who),
            membership_type: MembershipType::Member,
            roles: roles.to_vec(),
            tenant_id,
        },
    ))
    .map(|(m, t)| (m, t.expose().to_owned()))
}

/// Invites, accepts and signs in `who`; returns its principal as the API sees it.
fn member(
    w: &World,
    owner: &Principal,
    app_id: &AppId,
    who: &str,
    roles: &[OperatorRole],
    tenant_id: Option<TenantId>,
) -> (Principal, String) {
    let (_, token) = invite(w, owner, app_id, who, roles, tenant_id).unwrap();
    block_on(members::accept(&w.cx(), &token, &password(PASSWORD), None)).unwrap();
    as_operator(w, who)
}

fn as_operator(w: &World, who: &str) -> (Principal, String) {
    let token = block_on(operators::signin(
        &w.cx(),
        email(who),
        &password(PASSWORD),
        None,
        None,
    ))
    .unwrap();
    let principal = block_on(principal::principal(
        &w.cx(),
        Some(&token.token.access_token),
    ))
    .unwrap();
    (principal, token.token.access_token)
}

#[test]
fn an_accepted_invitation_is_an_active_member_with_its_roles() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let (invited, token) = invite(
        &w,
        &owner,
        &shop,
        "m@example.com",
        &[OperatorRole::Support],
        None,
    )
    .unwrap();
    assert_eq!(invited.status, MemberStatus::Invited);
    assert!(token.starts_with("tsi_"));
    let accepted = block_on(members::accept(&w.cx(), &token, &password(PASSWORD), None)).unwrap();
    assert_eq!(accepted.member.status, MemberStatus::Active);
    assert!(accepted.new_operator.is_some());
    let again = block_on(members::accept(&w.cx(), &token, &password(PASSWORD), None));
    assert_eq!(
        again.unwrap_err(),
        Error::InvalidToken,
        "an invitation works once"
    );
    let (support, _) = as_operator(&w, "m@example.com");
    assert!(tessera::domain::authz::authorize(
        &support,
        Some(Permission::UsersSuspend),
        &tessera::domain::authz::Target::Tenant(&shop, &tenant("public"))
    )
    .into_result()
    .is_ok());
}

#[test]
fn an_invitation_expires_after_seven_days_and_the_email_can_be_invited_again() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let (_, token) = invite(&w, &owner, &shop, "late@example.com", &[], None).unwrap();
    assert!(matches!(
        invite(&w, &owner, &shop, "late@example.com", &[], None),
        Err(Error::Conflict(_))
    ));
    w.advance_ms(7 * 24 * 3600 * 1000);
    let expired = block_on(members::accept(&w.cx(), &token, &password(PASSWORD), None));
    assert_eq!(expired.unwrap_err(), Error::InvalidToken);
    assert!(invite(&w, &owner, &shop, "late@example.com", &[], None).is_ok());
}

#[test]
fn linking_an_existing_operator_needs_its_password() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let other = w.app(&owner, "other");
    member(
        &w,
        &owner,
        &shop,
        "twice@example.com",
        &[OperatorRole::Auditor],
        None,
    );
    let (_, token) = invite(
        &w,
        &owner,
        &other,
        "twice@example.com",
        &[OperatorRole::Auditor],
        None,
    )
    .unwrap();
    let wrong = block_on(members::accept(
        &w.cx(),
        &token,
        &password("wrong horse battery"),
        None,
    ));
    assert_eq!(wrong.unwrap_err(), Error::InvalidCredentials);
    let right = block_on(members::accept(&w.cx(), &token, &password(PASSWORD), None)).unwrap();
    assert!(right.new_operator.is_none(), "linked, not created");
}

#[test]
fn a_suspended_member_has_no_permission_at_all_and_left_is_final() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let (_, token) = member(
        &w,
        &owner,
        &shop,
        "s@example.com",
        &[OperatorRole::Support],
        None,
    );
    let (m, _) = invite(&w, &owner, &shop, "x@example.com", &[], None).unwrap();
    let id = block_on(members::list(
        &w.cx(),
        &owner,
        &shop,
        &tessera::domain::page::PageRequest::parse(None, None).unwrap(),
    ))
    .unwrap()
    .items
    .into_iter()
    .find(|x| x.email.as_str() == "s@example.com")
    .unwrap()
    .id;
    let patch = |status| {
        block_on(members::update(
            &w.cx(),
            &owner,
            &shop,
            &id,
            MemberPatch {
                status: Some(status),
                roles: None,
            },
        ))
    };
    patch(MemberStatus::Suspended).unwrap();
    let suspended = block_on(principal::principal(&w.cx(), Some(&token))).unwrap();
    let refused = block_on(tenancy::get_app(&w.cx(), &suspended, &shop));
    assert!(matches!(refused, Err(Error::Forbidden(_))));
    patch(MemberStatus::Active).unwrap();
    patch(MemberStatus::Left).unwrap();
    assert!(
        matches!(patch(MemberStatus::Active), Err(Error::Conflict(_))),
        "left is final"
    );
    assert_eq!(m.status, MemberStatus::Invited);
}

#[test]
fn the_last_active_admin_cannot_be_suspended_demoted_or_removed() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let (admin, _) = member(
        &w,
        &owner,
        &shop,
        "only@example.com",
        &[OperatorRole::Admin],
        None,
    );
    let Principal::Operator { .. } = &admin else {
        panic!()
    };
    let id = block_on(members::list(
        &w.cx(),
        &owner,
        &shop,
        &tessera::domain::page::PageRequest::parse(None, None).unwrap(),
    ))
    .unwrap()
    .items[0]
        .id;
    for patch in [
        MemberPatch {
            status: Some(MemberStatus::Suspended),
            roles: None,
        },
        MemberPatch {
            status: Some(MemberStatus::Left),
            roles: None,
        },
        MemberPatch {
            status: None,
            roles: Some(vec![OperatorRole::Support]),
        },
    ] {
        let refused = block_on(members::update(&w.cx(), &admin, &shop, &id, patch));
        assert!(matches!(refused, Err(Error::Conflict(_))));
    }
    let (second, _) = member(
        &w,
        &owner,
        &shop,
        "second@example.com",
        &[OperatorRole::Admin],
        None,
    );
    let demoted = block_on(members::update(
        &w.cx(),
        &second,
        &shop,
        &id,
        MemberPatch {
            status: None,
            roles: Some(vec![OperatorRole::Support]),
        },
    ));
    assert!(demoted.is_ok(), "another admin remains");
}

#[test]
fn a_member_narrowed_to_a_tenant_acts_only_there() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let beta = w.tenant(&owner, &shop, "beta");
    let (support, _) = member(
        &w,
        &owner,
        &shop,
        "t@example.com",
        &[OperatorRole::Admin],
        Some(acme.clone()),
    );
    assert!(block_on(tenancy::get_tenant(&w.cx(), &support, &shop, &acme)).is_ok());
    assert!(matches!(
        block_on(tenancy::get_tenant(&w.cx(), &support, &shop, &beta)),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        block_on(tenancy::list_tenants(
            &w.cx(),
            &support,
            &shop,
            &tessera::domain::page::PageRequest::parse(None, None).unwrap()
        )),
        Err(Error::Forbidden(_))
    ));
}

#[test]
fn only_members_writers_invite_and_strangers_see_nothing() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let (auditor, _) = member(
        &w,
        &owner,
        &shop,
        "a@example.com",
        &[OperatorRole::Auditor],
        None,
    );
    assert!(matches!(
        invite(&w, &auditor, &shop, "b@example.com", &[], None),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        invite(&w, &stranger(), &shop, "b@example.com", &[], None),
        Err(Error::Forbidden(_))
    ));
    let unknown = block_on(members::update(
        &w.cx(),
        &auditor,
        &shop,
        &tessera::domain::member::MemberId::generate(w.now(), [1; 10]),
        MemberPatch::default(),
    ));
    assert!(
        matches!(unknown, Err(Error::Forbidden(_))),
        "not found is said only to writers"
    );
}

#[test]
fn accepting_an_invitation_for_an_existing_operator_is_throttled_like_signin() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    // An invitation of the platform owner's email: its token is a way to test the owner's
    // password, so it must count like a sign-in.
    let (_, token) = invite(&w, &owner, &shop, "owner@example.com", &[], None).unwrap();
    let mut answers = Vec::new();
    for n in 0..8 {
        let guess = password(&format!("guess number {n}"));
        answers.push(block_on(members::accept(&w.cx(), &token, &guess, None)).unwrap_err());
    }
    assert!(
        answers[..5].iter().all(|e| *e == Error::InvalidCredentials),
        "{answers:?}"
    );
    assert!(matches!(answers[5], Error::RateLimited(_)), "{answers:?}");
    let before = tessera::domain::password::derivations();
    let blocked = block_on(members::accept(&w.cx(), &token, &password(PASSWORD), None));
    assert!(matches!(blocked, Err(Error::RateLimited(_))));
    assert_eq!(
        tessera::domain::password::derivations(),
        before,
        "refused before hashing"
    );
    let signin = block_on(operators::signin(
        &w.cx(),
        email("owner@example.com"),
        &password(PASSWORD),
        None,
        None,
    ));
    assert!(
        matches!(signin, Err(Error::RateLimited(_))),
        "the same counter as sign-in"
    );
}

#[test]
fn nobody_grants_a_role_with_a_permission_they_do_not_hold() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let key_secret = w.api_key(&owner, &shop, &acme, &["members:write"]);
    let key = block_on(principal::principal(&w.cx(), Some(&key_secret))).unwrap();
    let escalate = invite(
        &w,
        &key,
        &shop,
        "mallory@example.com",
        &[OperatorRole::Admin],
        Some(acme.clone()),
    );
    assert!(matches!(escalate, Err(Error::Forbidden(_))), "{escalate:?}");
    let plain = invite(
        &w,
        &key,
        &shop,
        "plain@example.com",
        &[],
        Some(acme.clone()),
    );
    assert!(plain.is_ok(), "a membership without roles grants nothing");
    // A security admin may invite support (it holds users:read, users:suspend, tenants:read)
    // but not a billing admin (users:plan, roles:write, webhooks:write).
    let (security, _) = member(
        &w,
        &owner,
        &shop,
        "sec@example.com",
        &[OperatorRole::SecurityAdmin, OperatorRole::Admin],
        None,
    );
    let _ = security;
    let (sec_only, _) = {
        let (_, t) = invite(
            &w,
            &owner,
            &shop,
            "sec2@example.com",
            &[OperatorRole::SecurityAdmin],
            None,
        )
        .unwrap();
        block_on(members::accept(&w.cx(), &t, &password(PASSWORD), None)).unwrap();
        as_operator(&w, "sec2@example.com")
    };
    assert!(
        invite(
            &w,
            &sec_only,
            &shop,
            "s@example.com",
            &[OperatorRole::Support],
            None
        )
        .is_err(),
        "members:write is not a security admin's"
    );
    // Patching roles, or reactivating, follows the same rule.
    let (target, _) = invite(&w, &owner, &shop, "t@example.com", &[], Some(acme.clone())).unwrap();
    let patch = MemberPatch {
        status: None,
        roles: Some(vec![OperatorRole::Admin]),
    };
    let refused = block_on(members::update(&w.cx(), &key, &shop, &target.id, patch));
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
}

#[test]
fn reactivating_a_suspended_admin_needs_the_permissions_it_gives_back() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    member(
        &w,
        &owner,
        &shop,
        "boss@example.com",
        &[OperatorRole::Admin],
        Some(acme.clone()),
    );
    let id = block_on(members::list(
        &w.cx(),
        &owner,
        &shop,
        &tessera::domain::page::PageRequest::parse(None, None).unwrap(),
    ))
    .unwrap()
    .items
    .into_iter()
    .find(|m| m.email.as_str() == "boss@example.com")
    .unwrap()
    .id;
    let suspend = MemberPatch {
        status: Some(MemberStatus::Suspended),
        roles: None,
    };
    block_on(members::update(&w.cx(), &owner, &shop, &id, suspend)).unwrap();
    let key_secret = w.api_key(&owner, &shop, &acme, &["members:write"]);
    let key = block_on(principal::principal(&w.cx(), Some(&key_secret))).unwrap();
    let reactivate = || MemberPatch {
        status: Some(MemberStatus::Active),
        roles: None,
    };
    let refused = block_on(members::update(&w.cx(), &key, &shop, &id, reactivate()));
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    assert!(block_on(members::update(&w.cx(), &owner, &shop, &id, reactivate())).is_ok());
}

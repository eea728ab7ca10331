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
                membership_type: None,
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
            membership_type: None,
        },
        MemberPatch {
            status: Some(MemberStatus::Left),
            roles: None,
            membership_type: None,
        },
        MemberPatch {
            status: None,
            roles: Some(vec![OperatorRole::Support]),
            membership_type: None,
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
            membership_type: None,
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
        membership_type: None,
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
        membership_type: None,
    };
    block_on(members::update(&w.cx(), &owner, &shop, &id, suspend)).unwrap();
    let key_secret = w.api_key(&owner, &shop, &acme, &["members:write"]);
    let key = block_on(principal::principal(&w.cx(), Some(&key_secret))).unwrap();
    let reactivate = || MemberPatch {
        status: Some(MemberStatus::Active),
        roles: None,
        membership_type: None,
    };
    let refused = block_on(members::update(&w.cx(), &key, &shop, &id, reactivate()));
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    assert!(block_on(members::update(&w.cx(), &owner, &shop, &id, reactivate())).is_ok());
}

// ---------------------------------------------------------------- source, type, custom roles

use tessera::domain::member::{MembershipSource, MembershipType as Type};
use tessera::domain::names::OperatorRoleName;
use tessera::domain::page::PageRequest;

fn page() -> PageRequest {
    PageRequest::parse(None, None).unwrap()
}

fn custom(name: &str) -> OperatorRole {
    OperatorRole::Custom(OperatorRoleName::parse(name).unwrap())
}

fn define(
    w: &World,
    by: &Principal,
    app_id: &AppId,
    name: &str,
    permissions: &[Permission],
) -> Result<members::RoleView, Error> {
    block_on(members::put_role(
        &w.cx(),
        by,
        app_id,
        name,
        permissions.to_vec(),
    ))
}

fn membership_of(w: &World, app_id: &AppId, who: &str) -> tessera::domain::member::Member {
    block_on(w.db.list_members(app_id, None, 200))
        .unwrap()
        .into_iter()
        .find(|m| m.email.as_str() == who)
        .expect("a membership")
}

use tessera::store::MemberStore;

#[test]
fn memberships_show_how_they_were_made() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let (invited, _) = invite(&w, &owner, &shop, "i@example.com", &[], None).unwrap();
    assert_eq!(invited.source, MembershipSource::Invite);
    assert_eq!(
        membership_of(&w, &shop, "i@example.com").source,
        MembershipSource::Invite
    );
    // The bootstrap made the platform owner the owner of the app `public`.
    let bootstrap = membership_of(&w, &app("public"), "owner@example.com");
    assert_eq!(bootstrap.source, MembershipSource::Bootstrap);
    assert_eq!(bootstrap.membership_type, Type::Owner);
    assert_eq!(bootstrap.roles, [OperatorRole::Admin]);
    assert_eq!(bootstrap.status, MemberStatus::Active);
}

#[test]
fn a_membership_type_is_relabelled_only_by_someone_holding_what_the_membership_grants() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    member(
        &w,
        &owner,
        &shop,
        "admin@example.com",
        &[OperatorRole::Admin],
        None,
    );
    let (manager, _) = member(
        &w,
        &owner,
        &shop,
        "manager@example.com",
        &[custom_members_writer(&w, &owner, &shop)],
        None,
    );
    let relabel = |by: &Principal, who: &str, to: Type| {
        let id = membership_of(&w, &shop, who).id;
        block_on(members::update(
            &w.cx(),
            by,
            &shop,
            &id,
            MemberPatch {
                membership_type: Some(to),
                ..MemberPatch::default()
            },
        ))
    };
    // An admin grants everything: a members:write-only manager may not relabel it.
    let refused = relabel(&manager, "admin@example.com", Type::Contractor);
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    assert_eq!(
        membership_of(&w, &shop, "admin@example.com").membership_type,
        Type::Member
    );
    // A membership granting nothing it lacks, it may.
    invite(&w, &owner, &shop, "nobody@example.com", &[], None).unwrap();
    let done = relabel(&manager, "nobody@example.com", Type::Contractor).unwrap();
    assert_eq!(done.membership_type, Type::Contractor);
    assert_eq!(
        membership_of(&w, &shop, "nobody@example.com").membership_type,
        Type::Contractor
    );
    // The platform owner may relabel anyone, and the change is audited.
    let owned = relabel(&owner, "admin@example.com", Type::Owner).unwrap();
    assert_eq!(owned.membership_type, Type::Owner);
    let last = w.db.audit_entries().last().cloned().unwrap();
    assert_eq!(last.action.as_str(), "member.update");
    assert_eq!(last.detail["membership_type"]["to"], "owner");
}

/// A custom role binding `members:write` only; returns it.
fn custom_members_writer(w: &World, owner: &Principal, shop: &AppId) -> OperatorRole {
    define(w, owner, shop, "team_manager", &[Permission::MembersWrite]).unwrap();
    custom("team_manager")
}

#[test]
fn a_custom_role_with_only_users_read_lists_users_and_nothing_else() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let public = tenant("public");
    let defined = define(&w, &owner, &shop, "user_reader", &[Permission::UsersRead]).unwrap();
    assert!(!defined.built_in);
    let (reader, _) = member(
        &w,
        &owner,
        &shop,
        "r@example.com",
        &[custom("user_reader")],
        None,
    );
    let listed = block_on(tessera::service::users::list(
        &w.cx(),
        &reader,
        &shop,
        &public,
        &Default::default(),
        &page(),
    ));
    assert!(listed.is_ok(), "{listed:?}");
    for permission in Permission::ALL {
        let decision = tessera::domain::authz::authorize(
            &reader,
            Some(*permission),
            &tessera::domain::authz::Target::Tenant(&shop, &public),
        );
        assert_eq!(
            decision.into_result().is_ok(),
            *permission == Permission::UsersRead,
            "{permission:?}"
        );
    }
    let tenants = block_on(tessera::service::tenancy::list_tenants(
        &w.cx(),
        &reader,
        &shop,
        &page(),
    ));
    assert!(matches!(tenants, Err(Error::Forbidden(_))));
}

#[test]
fn a_custom_roles_permissions_travel_with_the_grants_and_a_redefinition_applies_at_the_next_request(
) {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    define(&w, &owner, &shop, "auditing", &[Permission::AuditRead]).unwrap();
    let (before, token) = member(
        &w,
        &owner,
        &shop,
        "a@example.com",
        &[custom("auditing")],
        None,
    );
    let Principal::Operator { grants, .. } = &before else {
        panic!("an operator")
    };
    assert_eq!(grants[0].custom_roles.len(), 1);
    assert_eq!(
        grants[0].custom_roles[0].permissions,
        [Permission::AuditRead]
    );
    define(
        &w,
        &owner,
        &shop,
        "auditing",
        &[Permission::AuditRead, Permission::MembersRead],
    )
    .unwrap();
    // The same token, read again: one grants lookup brings the new definition.
    w.db.faults().clear_calls();
    let after = block_on(principal::principal(&w.cx(), Some(&token))).unwrap();
    let db_calls: Vec<String> =
        w.db.faults()
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("db "))
            .collect();
    assert_eq!(db_calls, ["db find_operator", "db find_grants"]);
    assert!(tessera::domain::authz::authorize(
        &after,
        Some(Permission::MembersRead),
        &tessera::domain::authz::Target::App(&shop)
    )
    .into_result()
    .is_ok());
}

#[test]
fn nobody_defines_or_grants_a_role_with_a_permission_they_lack() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let writer = custom_members_writer(&w, &owner, &shop);
    let (manager, _) = member(&w, &owner, &shop, "m@example.com", &[writer], None);
    let refused = define(&w, &manager, &shop, "power", &[Permission::UsersWrite]);
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    // A role binding only what the manager holds, it may define...
    define(
        &w,
        &manager,
        &shop,
        "co_manager",
        &[Permission::MembersWrite],
    )
    .unwrap();
    // ...but not grant one that holds more, defined by someone else.
    define(&w, &owner, &shop, "user_writer", &[Permission::UsersWrite]).unwrap();
    let refused = invite(
        &w,
        &manager,
        &shop,
        "x@example.com",
        &[custom("user_writer")],
        None,
    );
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    assert!(invite(
        &w,
        &manager,
        &shop,
        "y@example.com",
        &[custom("co_manager")],
        None
    )
    .is_ok());
    // Nor a role the app does not define.
    let unknown = invite(&w, &owner, &shop, "z@example.com", &[custom("ghost")], None);
    assert_eq!(unknown.unwrap_err(), Error::UnknownRole("ghost".into()));
}

#[test]
fn built_in_roles_cannot_be_redefined_or_deleted() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    for name in [
        "admin",
        "security_admin",
        "billing_admin",
        "support",
        "auditor",
    ] {
        let redefined = define(&w, &owner, &shop, name, &[Permission::UsersRead]);
        assert!(matches!(redefined, Err(Error::Conflict(_))), "{name}");
        let deleted = block_on(members::delete_role(&w.cx(), &owner, &shop, name));
        assert!(matches!(deleted, Err(Error::Conflict(_))), "{name}");
    }
    let roles = block_on(members::list_roles(&w.cx(), &owner, &shop, &page())).unwrap();
    let names: Vec<&str> = roles.items.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "admin",
            "auditor",
            "billing_admin",
            "mcp_admin",
            "security_admin",
            "support"
        ]
    );
    assert!(roles.items.iter().all(|r| r.built_in));
    assert_eq!(roles.items[0].permissions.len(), Permission::ALL.len());
}

#[test]
fn a_role_in_use_cannot_be_deleted_until_its_bindings_are_gone() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    define(&w, &owner, &shop, "reader", &[Permission::UsersRead]).unwrap();
    member(
        &w,
        &owner,
        &shop,
        "r@example.com",
        &[custom("reader")],
        None,
    );
    let in_use = block_on(members::delete_role(&w.cx(), &owner, &shop, "reader"));
    assert!(matches!(in_use, Err(Error::Conflict(_))), "{in_use:?}");
    let id = membership_of(&w, &shop, "r@example.com").id;
    block_on(members::update(
        &w.cx(),
        &owner,
        &shop,
        &id,
        MemberPatch {
            roles: Some(vec![]),
            ..MemberPatch::default()
        },
    ))
    .unwrap();
    block_on(members::delete_role(&w.cx(), &owner, &shop, "reader")).unwrap();
    let gone = block_on(members::delete_role(&w.cx(), &owner, &shop, "reader"));
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
    // A membership that left does not hold a role in use.
    define(&w, &owner, &shop, "temp", &[Permission::UsersRead]).unwrap();
    invite(&w, &owner, &shop, "t@example.com", &[custom("temp")], None).unwrap();
    let id = membership_of(&w, &shop, "t@example.com").id;
    block_on(members::update(
        &w.cx(),
        &owner,
        &shop,
        &id,
        MemberPatch {
            status: Some(MemberStatus::Left),
            ..MemberPatch::default()
        },
    ))
    .unwrap();
    assert!(block_on(members::delete_role(&w.cx(), &owner, &shop, "temp")).is_ok());
}

#[test]
fn an_app_defines_at_most_a_hundred_roles_and_they_are_listed_with_the_built_in_ones_by_name() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    for n in 0..100 {
        define(&w, &owner, &shop, &format!("r{n:03}"), &[]).unwrap();
    }
    let one_more = define(&w, &owner, &shop, "r100", &[]);
    assert!(matches!(one_more, Err(Error::Conflict(_))), "{one_more:?}");
    assert!(
        define(&w, &owner, &shop, "r007", &[Permission::UsersRead]).is_ok(),
        "redefining"
    );
    let mut names = Vec::new();
    let mut cursor = None;
    loop {
        let request = PageRequest::parse(Some("40"), cursor.as_deref()).unwrap();
        let roles = block_on(members::list_roles(&w.cx(), &owner, &shop, &request)).unwrap();
        names.extend(roles.items.iter().map(|r| r.name.clone()));
        match roles.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(names.len(), 106);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn a_role_deleted_while_an_invitation_binds_it_leaves_no_membership_naming_it() {
    // The store checks, in the statement that writes a membership, that its roles are defined.
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    define(&w, &owner, &shop, "reader", &[Permission::UsersRead]).unwrap();
    let mut invitation = invite(&w, &owner, &shop, "a@example.com", &[], None)
        .unwrap()
        .0;
    invitation.id = tessera::domain::member::MemberId::generate(w.now(), [7; 10]);
    invitation.email = email("b@example.com");
    invitation.roles = vec![custom("ghost")];
    let entry = w.db.audit_entries()[0].clone();
    let written = block_on(
        w.db.create_member(
            &invitation,
            &tessera::domain::secret::PlainSecret::generate(
                tessera::domain::secret::SecretKind::InviteToken,
                [3; 32],
            )
            .hash(),
            &tessera::domain::audit::AuditEntry {
                id: tessera::domain::ids::AuditId::generate(w.now(), [9; 10]),
                ..entry
            },
        ),
    )
    .unwrap();
    assert!(!written);
}

#[test]
fn me_shows_each_membership_with_the_permissions_its_roles_bind() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let other = w.app(&owner, "other");
    w.tenant(&owner, &shop, "acme");
    member(
        &w,
        &owner,
        &shop,
        "s@example.com",
        &[OperatorRole::Support],
        Some(tenant("acme")),
    );
    // The same operator in a second app: the principal read now holds both.
    let (support, _) = member(
        &w,
        &owner,
        &other,
        "s@example.com",
        &[OperatorRole::Auditor],
        None,
    );

    let me = block_on(operators::me(&w.cx(), &support)).unwrap();
    assert_eq!(me.operator.email, email("s@example.com"));
    assert!(!me.operator.is_platform_owner);
    let shown: Vec<_> = me
        .memberships
        .iter()
        .map(|g| {
            (
                g.app_id.as_str(),
                g.tenant_id.as_ref().map(|t| t.as_str()),
                g.status,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("shop", Some("acme"), MemberStatus::Active),
            ("other", None, MemberStatus::Active)
        ]
    );
    assert_eq!(
        me.memberships[0].permissions(),
        [
            Permission::TenantsRead,
            Permission::UsersRead,
            Permission::UsersSuspend
        ]
    );
    assert!(!me.memberships[1]
        .permissions()
        .contains(&Permission::UsersSuspend));
}

#[test]
fn me_shows_a_suspended_membership_as_suspended_and_a_departed_one_not_at_all() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let other = w.app(&owner, "other");
    for app_id in [&shop, &other] {
        member(
            &w,
            &owner,
            app_id,
            "m@example.com",
            &[OperatorRole::Support],
            None,
        );
    }
    let listed = |app_id: &AppId| {
        let page = tessera::domain::page::PageRequest::parse(None, None).unwrap();
        block_on(members::list(&w.cx(), &owner, app_id, &page))
            .unwrap()
            .items
            .into_iter()
            .find(|m| m.email == email("m@example.com"))
            .unwrap()
    };
    let set = |app_id: &AppId, status| {
        let id = listed(app_id).id;
        block_on(members::update(
            &w.cx(),
            &owner,
            app_id,
            &id,
            MemberPatch {
                status: Some(status),
                roles: None,
                membership_type: None,
            },
        ))
        .unwrap();
    };
    set(&shop, MemberStatus::Suspended);
    set(&other, MemberStatus::Left);
    let (caller, _) = as_operator(&w, "m@example.com");
    let me = block_on(operators::me(&w.cx(), &caller)).unwrap();
    assert_eq!(me.memberships.len(), 1, "the membership it left is gone");
    assert_eq!(me.memberships[0].app_id, shop);
    assert_eq!(me.memberships[0].status, MemberStatus::Suspended);
}

#[test]
fn me_describes_the_platform_owner_and_refuses_an_api_key() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let me = block_on(operators::me(&w.cx(), &owner)).unwrap();
    assert!(me.operator.is_platform_owner);
    // Its one membership is the bootstrap's ownership of the app `public`.
    let shown: Vec<_> = me
        .memberships
        .iter()
        .map(|g| (g.app_id.as_str(), g.roles.clone()))
        .collect();
    assert_eq!(shown, [("public", vec![OperatorRole::Admin])]);
    let key = w.api_key(&owner, &shop, &tenant("public"), &["users:read"]);
    let key = block_on(principal::principal(&w.cx(), Some(&key))).unwrap();
    assert!(matches!(
        block_on(operators::me(&w.cx(), &key)),
        Err(Error::Forbidden(_))
    ));
}

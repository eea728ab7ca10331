//! Scenarios of operators (bootstrap, sign-in counting on the operator plane) and of their
//! memberships (invitation, acceptance, updates under the last-admin guard, grants).

use super::fixtures::*;
use super::steps::{actions_of, create_app, create_tenant};
use tessera::domain::audit::AuditAction;
use tessera::domain::authz::Grant;
use tessera::domain::ids::AppId;
use tessera::domain::member::{Member, MemberStatus, OperatorRole};
use tessera::domain::secret::{SecretHash, SecretKind};
use tessera::store::Database;

pub async fn only_one_platform_owner_can_ever_be_created<D: Database>(db: &D) {
    let mut first = operator("owner@example.com", 1);
    first.is_platform_owner = true;
    assert!(db
        .create_platform_owner(&first, &bootstrap_membership(&first))
        .await
        .unwrap());
    let mut second = operator("second@example.com", 2);
    second.is_platform_owner = true;
    assert!(!db
        .create_platform_owner(&second, &bootstrap_membership(&second))
        .await
        .unwrap());
    assert_eq!(db.find_operator(&second.id).await.unwrap(), None);
    assert_eq!(
        db.find_operator_by_email(&second.email).await.unwrap(),
        None
    );
    let found = db
        .find_operator(&first.id)
        .await
        .unwrap()
        .expect("the owner");
    assert_eq!(found, first);
    assert_eq!(
        db.find_operator_by_email(&email("OWNER@example.com"))
            .await
            .unwrap(),
        Some(first)
    );
}

pub async fn an_operator_password_is_replaced<D: Database>(db: &D) {
    let mut owner = operator("owner@example.com", 1);
    owner.is_platform_owner = true;
    assert!(db
        .create_platform_owner(&owner, &bootstrap_membership(&owner))
        .await
        .unwrap());
    db.update_operator_password(&owner.id, &password_hash(2))
        .await
        .unwrap();
    let found = db.find_operator(&owner.id).await.unwrap().unwrap();
    assert_eq!(found.password_hash, Some(password_hash(2)));
    assert_eq!(
        db.find_operator_password_params().await.unwrap(),
        vec![password_hash(2).params()]
    );
}

pub async fn clearing_an_operator_email_forgets_its_failures_and_nothing_else<D: Database>(db: &D) {
    let mut owner = operator("owner@example.com", 1);
    owner.is_platform_owner = true;
    assert!(db
        .create_platform_owner(&owner, &bootstrap_membership(&owner))
        .await
        .unwrap());
    let client = Some("client:203.0.113.1");
    let try_at = |ms| attempt("operator:owner@example.com", client, at(ms));
    for _ in 0..5 {
        db.begin_operator_signin(&owner.email, &try_at(0))
            .await
            .unwrap();
    }
    assert!(db
        .begin_operator_signin(&owner.email, &try_at(0))
        .await
        .unwrap()
        .retry_after
        .is_some());
    db.clear_operator_failures(&owner.email).await.unwrap();
    let other_client = attempt(
        "operator:owner@example.com",
        Some("client:198.51.100.2"),
        at(0),
    );
    assert_eq!(
        db.begin_operator_signin(&owner.email, &other_client)
            .await
            .unwrap()
            .retry_after,
        None,
        "the email is free again"
    );
}

pub async fn operator_sign_ins_are_counted_before_hashing_and_settled_on_success<D: Database>(
    db: &D,
) {
    let mut owner = operator("owner@example.com", 1);
    owner.is_platform_owner = true;
    assert!(db
        .create_platform_owner(&owner, &bootstrap_membership(&owner))
        .await
        .unwrap());
    let try_at = |ms| {
        attempt(
            "operator:owner@example.com",
            Some("client:203.0.113.1"),
            at(ms),
        )
    };
    for n in 1..=5 {
        let record = db
            .begin_operator_signin(&owner.email, &try_at(0))
            .await
            .unwrap();
        assert_eq!(record.user.as_ref(), Some(&owner));
        assert_eq!(record.retry_after, None, "attempt {n} is free");
    }
    let blocked = db
        .begin_operator_signin(&owner.email, &try_at(0))
        .await
        .unwrap();
    assert_eq!(
        blocked.retry_after,
        Some(1),
        "the 5th failure blocks for 1 s"
    );
    assert_eq!(
        blocked.user.as_ref(),
        Some(&owner),
        "the lookup still answers"
    );
    let later = try_at(1_000);
    assert_eq!(
        db.begin_operator_signin(&owner.email, &later)
            .await
            .unwrap()
            .retry_after,
        None
    );
    db.finish_operator_signin(&later).await.unwrap();
    for n in 1..=5 {
        let record = db
            .begin_operator_signin(&owner.email, &later)
            .await
            .unwrap();
        assert_eq!(
            record.retry_after, None,
            "after a success, attempt {n} is free again"
        );
    }
    let unknown = email("nobody@example.com");
    let record = db
        .begin_operator_signin(
            &unknown,
            &attempt("operator:nobody@example.com", None, at(0)),
        )
        .await
        .unwrap();
    assert_eq!(
        record,
        tessera::store::SignInRecord {
            user: None,
            retry_after: None
        }
    );
}

/// Invites `address` to `app_id` as membership number `n`, expiring at `at(expires)`.
async fn invite<D: Database>(
    db: &D,
    app_id: &AppId,
    address: &str,
    n: u32,
    expires: i64,
) -> (Member, SecretHash) {
    let member = invitation(app_id, address, n, at(expires));
    let hash = secret(SecretKind::InviteToken, n as u8);
    let e = entry(n, app_id, AuditAction::MemberInvite, None);
    assert!(
        db.create_member(&member, &hash, &e).await.unwrap(),
        "invite {n}"
    );
    (member, hash)
}

/// Invites and accepts `address` as a new operator: an active app-wide member with `roles`.
async fn active_member<D: Database>(
    db: &D,
    app_id: &AppId,
    address: &str,
    n: u32,
    roles: Vec<OperatorRole>,
) -> Member {
    let mut member = invitation(app_id, address, n, at(1_000_000));
    member.roles = roles;
    let hash = secret(SecretKind::InviteToken, n as u8);
    let e = entry(n, app_id, AuditAction::MemberInvite, None);
    assert!(db.create_member(&member, &hash, &e).await.unwrap());
    let new = operator(address, n);
    let e = entry(n + 1, app_id, AuditAction::MemberAccept, None);
    assert!(db
        .accept_invite(&hash, &new.id, Some(&new), at(10), &e)
        .await
        .unwrap());
    db.find_member(app_id, &member.id).await.unwrap().unwrap()
}

pub async fn an_invitation_holds_its_email_in_the_app_until_it_is_left<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let (member, hash) = invite(db, &shop, "ann@example.com", 10, 1_000_000).await;
    let found = db
        .find_invite(&hash)
        .await
        .unwrap()
        .expect("the invitation");
    assert_eq!(found, member);
    assert_eq!(
        db.find_member(&shop, &member.id).await.unwrap(),
        Some(member.clone())
    );
    assert_eq!(
        db.find_member(&app("public"), &member.id).await.unwrap(),
        None
    );

    let twin = invitation(&shop, "ANN@example.com", 11, at(1_000_000));
    let e = entry(11, &shop, AuditAction::MemberInvite, None);
    assert!(!db
        .create_member(&twin, &secret(SecretKind::InviteToken, 11), &e)
        .await
        .unwrap());
    assert_eq!(db.find_member(&shop, &twin.id).await.unwrap(), None);
    assert_eq!(
        db.find_invite(&secret(SecretKind::InviteToken, 11))
            .await
            .unwrap(),
        None
    );
    // Elsewhere the email is free.
    let public_twin = invitation(&app("public"), "ann@example.com", 12, at(1_000_000));
    let e = entry(12, &app("public"), AuditAction::MemberInvite, None);
    assert!(db
        .create_member(&public_twin, &secret(SecretKind::InviteToken, 12), &e)
        .await
        .unwrap());

    // Withdrawn (left), the email can be invited again.
    let mut withdrawn = member.clone();
    withdrawn.status = MemberStatus::Left;
    withdrawn.updated_at = at(20);
    let e = entry(20, &shop, AuditAction::MemberUpdate, None);
    assert!(db
        .update_member(&withdrawn, MemberStatus::Invited, false, &e)
        .await
        .unwrap());
    assert_eq!(
        db.find_invite(&hash).await.unwrap(),
        None,
        "leaving forgets the token"
    );
    let again = invitation(&shop, "ann@example.com", 13, at(1_000_000));
    let e = entry(21, &shop, AuditAction::MemberInvite, None);
    assert!(db
        .create_member(&again, &secret(SecretKind::InviteToken, 13), &e)
        .await
        .unwrap());
    assert_eq!(
        actions_of(db, &shop).await,
        [
            AuditAction::AppCreate,
            AuditAction::MemberInvite,
            AuditAction::MemberUpdate,
            AuditAction::MemberInvite
        ]
    );
}

pub async fn an_expired_invitation_is_released_by_a_new_invitation_of_the_same_email<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let (old, old_hash) = invite(db, &shop, "ann@example.com", 10, 500).await;
    // Still valid at 499: refused.
    let mut early = invitation(&shop, "ann@example.com", 11, at(10_000));
    early.created_at = at(499);
    early.updated_at = at(499);
    let e = entry(11, &shop, AuditAction::MemberInvite, None);
    assert!(!db
        .create_member(&early, &secret(SecretKind::InviteToken, 11), &e)
        .await
        .unwrap());
    assert_eq!(
        db.find_member(&shop, &old.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        MemberStatus::Invited
    );
    // Expired at 500: released and replaced.
    let mut fresh = invitation(&shop, "ann@example.com", 12, at(10_000));
    fresh.created_at = at(500);
    fresh.updated_at = at(500);
    let hash = secret(SecretKind::InviteToken, 12);
    let e = entry(12, &shop, AuditAction::MemberInvite, None);
    assert!(db.create_member(&fresh, &hash, &e).await.unwrap());
    let released = db.find_member(&shop, &old.id).await.unwrap().unwrap();
    assert_eq!(released.status, MemberStatus::Left);
    assert_eq!(released.updated_at, at(500));
    assert_eq!(db.find_invite(&old_hash).await.unwrap(), None);
    assert_eq!(
        db.find_invite(&hash).await.unwrap().map(|m| m.id),
        Some(fresh.id)
    );
    let invites = actions_of(db, &shop)
        .await
        .into_iter()
        .filter(|a| *a == AuditAction::MemberInvite)
        .count();
    assert_eq!(invites, 2, "the refused invitation left no entry");
}

pub async fn an_invitation_is_accepted_only_once_and_only_before_it_expires<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let (member, hash) = invite(db, &shop, "ann@example.com", 10, 1_000).await;
    let ann = operator("ann@example.com", 10);
    let e = entry(20, &shop, AuditAction::MemberAccept, None);
    assert!(db
        .accept_invite(&hash, &ann.id, Some(&ann), at(999), &e)
        .await
        .unwrap());
    let created = db
        .find_operator(&ann.id)
        .await
        .unwrap()
        .expect("the new operator");
    assert_eq!(created.email, ann.email);
    assert!(!created.is_platform_owner);
    assert_eq!(created.created_at, at(999));
    let accepted = db.find_member(&shop, &member.id).await.unwrap().unwrap();
    assert_eq!(accepted.status, MemberStatus::Active);
    assert_eq!(accepted.operator_id, Some(ann.id));
    assert_eq!(accepted.invite_expires_at, None);
    assert_eq!(accepted.updated_at, at(999));
    assert_eq!(db.find_invite(&hash).await.unwrap(), None);

    let other = operator("other@example.com", 11);
    let e = entry(21, &shop, AuditAction::MemberAccept, None);
    assert!(!db
        .accept_invite(&hash, &other.id, Some(&other), at(999), &e)
        .await
        .unwrap());
    assert_eq!(db.find_operator(&other.id).await.unwrap(), None);

    // An expired invitation creates nobody.
    let (late, late_hash) = invite(db, &shop, "bob@example.com", 12, 1_000).await;
    let bob = operator("bob@example.com", 12);
    let e = entry(22, &shop, AuditAction::MemberAccept, None);
    assert!(!db
        .accept_invite(&late_hash, &bob.id, Some(&bob), at(1_000), &e)
        .await
        .unwrap());
    assert_eq!(db.find_operator(&bob.id).await.unwrap(), None);
    assert_eq!(
        db.find_member(&shop, &late.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        MemberStatus::Invited
    );
    let accepts = actions_of(db, &shop)
        .await
        .into_iter()
        .filter(|a| *a == AuditAction::MemberAccept)
        .count();
    assert_eq!(accepts, 1);
}

pub async fn an_existing_operator_accepts_an_invitation_without_a_new_account<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let mut owner = operator("owner@example.com", 1);
    owner.is_platform_owner = true;
    assert!(db
        .create_platform_owner(&owner, &bootstrap_membership(&owner))
        .await
        .unwrap());
    let (member, hash) = invite(db, &shop, "owner@example.com", 10, 1_000).await;
    let e = entry(20, &shop, AuditAction::MemberAccept, None);
    assert!(db
        .accept_invite(&hash, &owner.id, None, at(5), &e)
        .await
        .unwrap());
    let accepted = db.find_member(&shop, &member.id).await.unwrap().unwrap();
    assert_eq!(accepted.operator_id, Some(owner.id));
    assert_eq!(db.find_operator(&owner.id).await.unwrap(), Some(owner));
}

pub async fn a_membership_changes_only_from_its_expected_status<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let member = active_member(
        db,
        &shop,
        "ann@example.com",
        10,
        vec![OperatorRole::Support],
    )
    .await;
    let mut suspended = member.clone();
    suspended.status = MemberStatus::Suspended;
    suspended.roles = vec![OperatorRole::Auditor, OperatorRole::Support];
    suspended.updated_at = at(50);
    let e = entry(20, &shop, AuditAction::MemberUpdate, None);
    assert!(!db
        .update_member(&suspended, MemberStatus::Invited, false, &e)
        .await
        .unwrap());
    assert_eq!(
        db.find_member(&shop, &member.id).await.unwrap(),
        Some(member.clone())
    );
    let e = entry(21, &shop, AuditAction::MemberUpdate, None);
    assert!(db
        .update_member(&suspended, MemberStatus::Active, false, &e)
        .await
        .unwrap());
    assert_eq!(
        db.find_member(&shop, &member.id).await.unwrap(),
        Some(suspended.clone())
    );
    let log = super::steps::audit_of(db, &shop).await;
    let updates: Vec<_> = log
        .iter()
        .filter(|r| r.action == AuditAction::MemberUpdate)
        .map(|r| r.id)
        .collect();
    assert_eq!(
        updates,
        [e.id],
        "only the update that happened is in the log"
    );
}

pub async fn two_admins_demoting_each_other_leave_exactly_one_admin<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let ann = active_member(db, &shop, "ann@example.com", 10, vec![OperatorRole::Admin]).await;
    let bob = active_member(db, &shop, "bob@example.com", 20, vec![OperatorRole::Admin]).await;
    let demote = |m: &Member| {
        let mut d = m.clone();
        d.roles = vec![OperatorRole::Support];
        d.updated_at = at(100);
        d
    };
    let e1 = entry(30, &shop, AuditAction::MemberUpdate, None);
    let e2 = entry(31, &shop, AuditAction::MemberUpdate, None);
    let first = db
        .update_member(&demote(&bob), MemberStatus::Active, true, &e1)
        .await
        .unwrap();
    let second = db
        .update_member(&demote(&ann), MemberStatus::Active, true, &e2)
        .await
        .unwrap();
    assert!(
        first ^ second,
        "exactly one demotion succeeds ({first}, {second})"
    );
    let mut admins = 0;
    for id in [ann.id, bob.id] {
        let member = db.find_member(&shop, &id).await.unwrap().unwrap();
        admins += usize::from(member.is_active_app_admin());
    }
    assert_eq!(admins, 1);
    let updates = actions_of(db, &shop)
        .await
        .into_iter()
        .filter(|a| *a == AuditAction::MemberUpdate)
        .count();
    assert_eq!(updates, 1);
}

pub async fn the_last_admin_guard_counts_only_active_app_wide_admins<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let ann = active_member(db, &shop, "ann@example.com", 10, vec![OperatorRole::Admin]).await;
    // A tenant admin and a suspended admin do not keep the app administered.
    let mut narrowed = invitation(&shop, "tom@example.com", 20, at(1_000_000));
    narrowed.tenant_id = Some(acme);
    let hash = secret(SecretKind::InviteToken, 20);
    let e = entry(20, &shop, AuditAction::MemberInvite, None);
    assert!(db.create_member(&narrowed, &hash, &e).await.unwrap());
    let tom = operator("tom@example.com", 20);
    let e = entry(21, &shop, AuditAction::MemberAccept, None);
    assert!(db
        .accept_invite(&hash, &tom.id, Some(&tom), at(10), &e)
        .await
        .unwrap());
    let sue = active_member(db, &shop, "sue@example.com", 30, vec![OperatorRole::Admin]).await;
    let mut suspended = sue.clone();
    suspended.status = MemberStatus::Suspended;
    let e = entry(40, &shop, AuditAction::MemberUpdate, None);
    assert!(
        db.update_member(&suspended, MemberStatus::Active, true, &e)
            .await
            .unwrap(),
        "ann is another admin"
    );

    let mut leaving = ann.clone();
    leaving.status = MemberStatus::Left;
    let e = entry(41, &shop, AuditAction::MemberUpdate, None);
    assert!(
        !db.update_member(&leaving, MemberStatus::Active, true, &e)
            .await
            .unwrap(),
        "ann is the last active app-wide admin"
    );
    assert!(db
        .find_member(&shop, &ann.id)
        .await
        .unwrap()
        .unwrap()
        .is_active_app_admin());
    let e = entry(42, &shop, AuditAction::MemberUpdate, None);
    assert!(
        db.update_member(&leaving, MemberStatus::Active, false, &e)
            .await
            .unwrap(),
        "without the guard the write happens"
    );
}

pub async fn grants_are_the_memberships_that_are_not_left<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let other = create_app(db, "other", 2).await;
    let third = create_app(db, "third", 3).await;
    let mut owner = operator("ann@example.com", 1);
    owner.is_platform_owner = true;
    assert!(db
        .create_platform_owner(&owner, &bootstrap_membership(&owner))
        .await
        .unwrap());
    let mut members = Vec::new();
    for (n, app_id) in [(10, &shop), (20, &other), (30, &third)] {
        let (m, hash) = invite(db, app_id, "ann@example.com", n, 1_000).await;
        let e = entry(n + 1, app_id, AuditAction::MemberAccept, None);
        assert!(db
            .accept_invite(&hash, &owner.id, None, at(5), &e)
            .await
            .unwrap());
        members.push(db.find_member(app_id, &m.id).await.unwrap().unwrap());
    }
    let mut suspended = members[1].clone();
    suspended.status = MemberStatus::Suspended;
    let e = entry(40, &other, AuditAction::MemberUpdate, None);
    assert!(db
        .update_member(&suspended, MemberStatus::Active, false, &e)
        .await
        .unwrap());
    let mut left = members[2].clone();
    left.status = MemberStatus::Left;
    let e = entry(41, &third, AuditAction::MemberUpdate, None);
    assert!(db
        .update_member(&left, MemberStatus::Active, false, &e)
        .await
        .unwrap());

    let mut grants = db.find_grants(&owner.id).await.unwrap();
    grants.sort_by(|a, b| a.app_id.cmp(&b.app_id));
    let grant = |app_id: &AppId, status| Grant {
        app_id: app_id.clone(),
        tenant_id: None,
        status,
        roles: vec![OperatorRole::Admin],
        custom_roles: Vec::new(),
        app_pending: false,
    };
    // The bootstrap made the owner the owner of the app `public` too.
    let expected = vec![
        grant(&other, MemberStatus::Suspended),
        grant(&app("public"), MemberStatus::Active),
        grant(&shop, MemberStatus::Active),
    ];
    assert_eq!(grants, expected);
    assert!(db
        .find_grants(&operator("x@example.com", 99).id)
        .await
        .unwrap()
        .is_empty());
}

pub async fn members_are_listed_by_id_in_pages<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let mut ids = Vec::new();
    for n in [15, 11, 14, 12, 13] {
        let (m, _) = invite(db, &shop, &format!("m{n}@example.com"), n, 1_000).await;
        ids.push(m.id.to_string());
    }
    invite(db, &app("public"), "elsewhere@example.com", 20, 1_000).await;
    ids.sort();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = db.list_members(&shop, after.as_deref(), 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.to_string());
        seen.extend(page.iter().map(|m| m.id.to_string()));
    }
    assert_eq!(seen, ids);
}

// ---------------------------------------------------------------- operators completed

use tessera::domain::authz::Permission;
use tessera::domain::member::{CustomRole, MembershipSource, MembershipType, MAX_CUSTOM_ROLES};
use tessera::domain::names::OperatorRoleName;
use tessera::store::RoleDeletion;

fn role(name: &str, permissions: &[Permission]) -> CustomRole {
    CustomRole {
        name: OperatorRoleName::parse(name).unwrap(),
        permissions: permissions.to_vec(),
    }
}

pub async fn the_bootstrap_makes_the_platform_owner_the_owner_of_public<D: Database>(db: &D) {
    let mut owner = operator("root@example.com", 1);
    owner.is_platform_owner = true;
    let membership = bootstrap_membership(&owner);
    assert!(db.create_platform_owner(&owner, &membership).await.unwrap());
    let members = db.list_members(&app("public"), None, 10).await.unwrap();
    assert_eq!(members, vec![membership]);
    assert_eq!(members[0].source, MembershipSource::Bootstrap);
    // A refused bootstrap writes no membership either.
    let mut late = operator("late@example.com", 2);
    late.is_platform_owner = true;
    assert!(!db
        .create_platform_owner(&late, &bootstrap_membership(&late))
        .await
        .unwrap());
    assert_eq!(
        db.list_members(&app("public"), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn operator_roles_are_defined_replaced_listed_and_bounded_in_number<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let e = |n| entry(n, &shop, AuditAction::OperatorRolePut, None);
    assert!(db
        .put_operator_role(
            &shop,
            &role("zeta", &[Permission::UsersRead]),
            at(1),
            &e(10)
        )
        .await
        .unwrap());
    assert!(db
        .put_operator_role(&shop, &role("alpha", &[]), at(1), &e(11))
        .await
        .unwrap());
    let replaced = role("zeta", &[Permission::TenantsRead, Permission::UsersRead]);
    assert!(db
        .put_operator_role(&shop, &replaced, at(2), &e(12))
        .await
        .unwrap());
    assert_eq!(
        db.find_operator_roles(&shop).await.unwrap(),
        vec![role("alpha", &[]), replaced.clone()],
        "by name"
    );
    assert!(db
        .find_operator_roles(&app("public"))
        .await
        .unwrap()
        .is_empty());
    for n in 2..MAX_CUSTOM_ROLES {
        let name = format!("r{n:03}");
        assert!(db
            .put_operator_role(&shop, &role(&name, &[]), at(3), &e(100 + n as u32))
            .await
            .unwrap());
    }
    assert!(!db
        .put_operator_role(&shop, &role("one-too-many", &[]), at(4), &e(300))
        .await
        .unwrap());
    assert!(
        db.put_operator_role(
            &shop,
            &role("alpha", &[Permission::AuditRead]),
            at(4),
            &e(301)
        )
        .await
        .unwrap(),
        "redefining is not one more"
    );
    let puts = actions_of(db, &shop)
        .await
        .into_iter()
        .filter(|a| *a == AuditAction::OperatorRolePut)
        .count();
    assert_eq!(
        puts,
        MAX_CUSTOM_ROLES + 2,
        "a refused definition writes no entry"
    );
}

pub async fn a_bound_role_cannot_be_deleted_and_a_membership_binds_only_defined_roles<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let reader = role("reader", &[Permission::UsersRead]);
    let put = entry(2, &shop, AuditAction::OperatorRolePut, None);
    assert!(db
        .put_operator_role(&shop, &reader, at(1), &put)
        .await
        .unwrap());
    let mut member = invitation(&shop, "r@example.com", 10, at(1_000));
    member.roles = vec![OperatorRole::Custom(reader.name.clone())];
    let hash = secret(SecretKind::InviteToken, 10);
    assert!(db
        .create_member(
            &member,
            &hash,
            &entry(11, &shop, AuditAction::MemberInvite, None)
        )
        .await
        .unwrap());
    let del = |n| entry(n, &shop, AuditAction::OperatorRoleDelete, None);
    assert_eq!(
        db.delete_operator_role(&shop, &reader.name, &del(12))
            .await
            .unwrap(),
        RoleDeletion::InUse
    );
    // A membership naming a role the app lacks is not written.
    let mut ghostly = invitation(&shop, "g@example.com", 13, at(1_000));
    ghostly.roles = vec![OperatorRole::Custom(
        OperatorRoleName::parse("ghost").unwrap(),
    )];
    assert!(!db
        .create_member(
            &ghostly,
            &secret(SecretKind::InviteToken, 13),
            &entry(13, &shop, AuditAction::MemberInvite, None)
        )
        .await
        .unwrap());
    let mut relabelled = member.clone();
    relabelled.roles = ghostly.roles.clone();
    assert!(!db
        .update_member(
            &relabelled,
            MemberStatus::Invited,
            false,
            &entry(14, &shop, AuditAction::MemberUpdate, None)
        )
        .await
        .unwrap());
    // Unbound (the membership left), the role goes.
    let mut left = member.clone();
    left.status = MemberStatus::Left;
    assert!(db
        .update_member(
            &left,
            MemberStatus::Invited,
            false,
            &entry(15, &shop, AuditAction::MemberUpdate, None)
        )
        .await
        .unwrap());
    assert_eq!(
        db.delete_operator_role(&shop, &reader.name, &del(16))
            .await
            .unwrap(),
        RoleDeletion::Deleted
    );
    assert_eq!(
        db.delete_operator_role(&shop, &reader.name, &del(17))
            .await
            .unwrap(),
        RoleDeletion::NotFound
    );
    let deletes = actions_of(db, &shop)
        .await
        .into_iter()
        .filter(|a| *a == AuditAction::OperatorRoleDelete)
        .count();
    assert_eq!(deletes, 1);
}

pub async fn a_membership_type_is_written_with_its_status_and_roles<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let (member, _) = invite(db, &shop, "m@example.com", 10, 1_000).await;
    let mut changed = member.clone();
    changed.membership_type = MembershipType::Contractor;
    changed.roles = vec![OperatorRole::Support];
    changed.updated_at = at(5);
    assert!(db
        .update_member(
            &changed,
            MemberStatus::Invited,
            false,
            &entry(20, &shop, AuditAction::MemberUpdate, None)
        )
        .await
        .unwrap());
    let stored = db.find_member(&shop, &member.id).await.unwrap().unwrap();
    assert_eq!(stored.membership_type, MembershipType::Contractor);
    assert_eq!(stored.roles, [OperatorRole::Support]);
    assert_eq!(stored.source, MembershipSource::Invite);
}

pub async fn grants_carry_their_custom_roles_and_whether_their_app_waits_for_its_owner<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let reader = role("reader", &[Permission::UsersRead]);
    let unused = role("unused", &[Permission::AuditRead]);
    for (n, r) in [(2, &reader), (3, &unused)] {
        assert!(db
            .put_operator_role(
                &shop,
                r,
                at(1),
                &entry(n, &shop, AuditAction::OperatorRolePut, None)
            )
            .await
            .unwrap());
    }
    let ann = operator("ann@example.com", 4);
    let mut m = invitation(&shop, "ann@example.com", 5, at(1_000));
    m.roles = vec![
        OperatorRole::Auditor,
        OperatorRole::Custom(reader.name.clone()),
    ];
    let hash = secret(SecretKind::InviteToken, 5);
    assert!(db
        .create_member(&m, &hash, &entry(6, &shop, AuditAction::MemberInvite, None))
        .await
        .unwrap());
    assert!(db
        .accept_invite(
            &hash,
            &ann.id,
            Some(&ann),
            at(2),
            &entry(7, &shop, AuditAction::MemberAccept, None)
        )
        .await
        .unwrap());
    // An app of its own, made by sign-up: pending.
    let (mine, mine_public) = new_app("mine");
    let pending = tessera::domain::tenancy::App {
        pending_verification: true,
        ..mine
    };
    let mut owner = bootstrap_membership(&ann);
    owner.id = tessera::domain::member::MemberId::generate(at(8), random(8));
    owner.app_id = pending.id.clone();
    owner.source = MembershipSource::Signup;
    assert!(db
        .sign_up_operator(
            None,
            &pending,
            &mine_public,
            &owner,
            &entry(8, &pending.id, AuditAction::AppSignup, None)
        )
        .await
        .unwrap());
    let mut grants = db.find_grants(&ann.id).await.unwrap();
    grants.sort_by(|a, b| a.app_id.cmp(&b.app_id));
    assert_eq!(grants.len(), 2);
    assert_eq!(grants[0].app_id, app("mine"));
    assert!(grants[0].app_pending);
    assert!(grants[0].custom_roles.is_empty());
    assert_eq!(grants[1].app_id, shop);
    assert!(!grants[1].app_pending);
    assert_eq!(grants[1].custom_roles, vec![reader]);
}

pub async fn operator_sign_up_writes_the_app_its_tenant_the_operator_and_its_membership_once<
    D: Database,
>(
    db: &D,
) {
    let (mine, public) = new_app("mine");
    let pending = tessera::domain::tenancy::App {
        pending_verification: true,
        ..mine
    };
    let dev = operator("dev@example.com", 1);
    let mut owner = bootstrap_membership(&dev);
    owner.app_id = pending.id.clone();
    owner.source = MembershipSource::Signup;
    let e = entry(2, &pending.id, AuditAction::AppSignup, None);
    assert!(db
        .sign_up_operator(Some(&dev), &pending, &public, &owner, &e)
        .await
        .unwrap());
    assert_eq!(
        db.find_app(&pending.id).await.unwrap(),
        Some(pending.clone())
    );
    assert_eq!(
        db.find_tenant(&pending.id, &public.id).await.unwrap(),
        Some(public.clone())
    );
    assert_eq!(db.find_operator(&dev.id).await.unwrap(), Some(dev.clone()));
    assert_eq!(
        db.list_members(&pending.id, None, 10).await.unwrap(),
        vec![owner.clone()]
    );
    assert_eq!(actions_of(db, &pending.id).await, [AuditAction::AppSignup]);
    // The same id again: nothing at all is written, the second operator included.
    let late = operator("late@example.com", 3);
    let mut late_owner = bootstrap_membership(&late);
    late_owner.app_id = pending.id.clone();
    let e2 = entry(4, &pending.id, AuditAction::AppSignup, None);
    assert!(!db
        .sign_up_operator(Some(&late), &pending, &public, &late_owner, &e2)
        .await
        .unwrap());
    assert_eq!(db.find_operator(&late.id).await.unwrap(), None);
    assert_eq!(
        db.list_members(&pending.id, None, 10).await.unwrap().len(),
        1
    );
    assert_eq!(actions_of(db, &pending.id).await.len(), 1);
}

pub async fn operator_sign_ups_are_counted_per_client<D: Database>(db: &D) {
    for n in 0..100 {
        assert_eq!(
            db.count_operator_signup("client:203.0.113.9", at(n))
                .await
                .unwrap(),
            None,
            "{n}"
        );
    }
    assert!(db
        .count_operator_signup("client:203.0.113.9", at(100))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        db.count_operator_signup("client:198.51.100.1", at(100))
            .await
            .unwrap(),
        None
    );
}

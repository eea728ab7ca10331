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
    assert!(db.create_platform_owner(&first).await.unwrap());
    let mut second = operator("second@example.com", 2);
    second.is_platform_owner = true;
    assert!(!db.create_platform_owner(&second).await.unwrap());
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
    assert!(db.create_platform_owner(&owner).await.unwrap());
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
    assert!(db.create_platform_owner(&owner).await.unwrap());
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
    assert!(db.create_platform_owner(&owner).await.unwrap());
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
    assert!(db.create_platform_owner(&owner).await.unwrap());
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
    assert!(db.create_platform_owner(&owner).await.unwrap());
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
    let expected = vec![
        Grant {
            app_id: other.clone(),
            tenant_id: None,
            status: MemberStatus::Suspended,
            roles: vec![OperatorRole::Admin],
        },
        Grant {
            app_id: shop.clone(),
            tenant_id: None,
            status: MemberStatus::Active,
            roles: vec![OperatorRole::Admin],
        },
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

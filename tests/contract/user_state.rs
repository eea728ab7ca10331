//! Scenarios of end-user state (roles, plans, faces and their versions, association, import,
//! session revocation, metadata, the billing webhook) and of the audit log.

use super::fixtures::*;
use super::steps::{actions_of, audit_of, create_app, create_tenant, delete_through_ports};
use tessera::domain::audit::AuditAction;
use tessera::domain::deletion::Target;
use tessera::domain::ids::{AppId, TenantId};
use tessera::domain::names::{PlanTier, RoleName, UserPermission};
use tessera::domain::policy::Plan;
use tessera::domain::user::{TenantUser, User, UserStatus};
use tessera::store::{Database, EventOutcome, UserFilter};

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

fn tier(name: &str) -> PlanTier {
    PlanTier::parse(name).unwrap()
}

fn permission(name: &str) -> UserPermission {
    UserPermission::parse(name).unwrap()
}

/// Signs up user number `n` in a tenant.
async fn sign_up<D: Database>(
    db: &D,
    app_id: &AppId,
    tenant_id: &TenantId,
    address: &str,
    n: u32,
) -> (User, TenantUser) {
    let (u, face) = user(app_id, tenant_id, address, n);
    assert!(db
        .create_user(&u, &face, &session(&face, n), &token(n as u8))
        .await
        .unwrap());
    (u, face)
}

pub async fn roles_and_plans_are_written_replaced_and_read_as_the_policy<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let editor = vec![permission("docs:read"), permission("docs:write")];
    let e = entry(2, &shop, AuditAction::RolePut, None);
    db.put_role(
        &shop,
        &role("editor"),
        &[permission("docs:read")],
        at(1),
        &e,
    )
    .await
    .unwrap();
    let e = entry(3, &shop, AuditAction::RolePut, None);
    db.put_role(&shop, &role("editor"), &editor, at(2), &e)
        .await
        .unwrap();
    let e = entry(4, &shop, AuditAction::RolePut, None);
    db.put_role(&shop, &role("viewer"), &[], at(3), &e)
        .await
        .unwrap();
    let pro = Plan {
        roles: vec![role("editor")],
        rate_limit: Some(600),
    };
    let e = entry(5, &shop, AuditAction::PlanPut, None);
    db.put_plan(&shop, &tier("pro"), &pro, at(4), &e)
        .await
        .unwrap();
    let e = entry(6, &shop, AuditAction::PlanPut, None);
    let team = Plan {
        roles: vec![],
        rate_limit: None,
    };
    db.put_plan(&shop, &tier("team"), &team, at(5), &e)
        .await
        .unwrap();

    let policy = db.find_policy(&shop).await.unwrap();
    assert_eq!(policy.roles.len(), 2);
    assert_eq!(policy.roles[&role("editor")], editor);
    assert!(policy.roles[&role("viewer")].is_empty());
    assert_eq!(policy.plans.len(), 2);
    assert_eq!(policy.plans[&tier("pro")], pro);
    assert_eq!(policy.plans[&tier("team")], team);
    assert_eq!(
        db.find_policy(&app("public")).await.unwrap(),
        Default::default()
    );
    assert_eq!(
        actions_of(db, &shop).await,
        [
            AuditAction::AppCreate,
            AuditAction::RolePut,
            AuditAction::RolePut,
            AuditAction::RolePut,
            AuditAction::PlanPut,
            AuditAction::PlanPut
        ]
    );
}

/// Every face a listing returns, page by page, following the cursor of each page.
async fn all_pages<D: Database>(
    db: &D,
    app_id: &AppId,
    tenant_id: &TenantId,
    filter: UserFilter,
    size: usize,
) -> Vec<TenantUser> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page: Vec<TenantUser> = db
            .list_tenant_users(app_id, tenant_id, &filter, after.as_deref(), size)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, face)| face)
            .collect();
        assert!(page.len() <= size);
        let Some(last) = page.last() else { break };
        after = Some(match &filter.email_prefix {
            Some(_) => last.email.to_string(),
            None => last.user_id.to_string(),
        });
        seen.extend(page);
    }
    seen
}

pub async fn tenant_users_are_listed_by_user_id_in_pages_with_filters<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let bravo = create_tenant(db, &shop, "bravo", 3).await;
    let mut faces = Vec::new();
    for n in 10..30 {
        let (_, mut face) = sign_up(db, &shop, &acme, &format!("u{n}@example.com"), n).await;
        if n % 3 == 0 || n % 4 == 0 {
            face.status = if n % 3 == 0 {
                UserStatus::Suspended
            } else {
                UserStatus::Active
            };
            face.plan_tier = if n % 4 == 0 {
                tier("pro")
            } else {
                tier("free")
            };
            let e = entry(100 + n, &shop, AuditAction::UserPlan, Some(&acme));
            assert!(db.update_face(&face, 0, &e).await.unwrap());
            face.version = 1;
        }
        faces.push(face);
    }
    sign_up(db, &shop, &bravo, "u10@example.com", 40).await;
    faces.sort_by_key(|f| f.user_id.to_string());

    let pages = |filter: UserFilter, size: usize| all_pages(db, &shop, &acme, filter, size);
    assert_eq!(pages(UserFilter::default(), 7).await, faces);
    let suspended = UserFilter {
        status: Some(UserStatus::Suspended),
        ..UserFilter::default()
    };
    let expected: Vec<_> = faces
        .iter()
        .filter(|f| f.status == UserStatus::Suspended)
        .cloned()
        .collect();
    assert!(expected.len() > 3);
    assert_eq!(pages(suspended, 3).await, expected);
    let pro_active = UserFilter {
        status: Some(UserStatus::Active),
        plan_tier: Some(tier("pro")),
        email_prefix: None,
    };
    let expected: Vec<_> = faces
        .iter()
        .filter(|f| f.status == UserStatus::Active && f.plan_tier == tier("pro"))
        .cloned()
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(pages(pro_active, 2).await, expected);
    let none = UserFilter {
        plan_tier: Some(tier("team")),
        ..UserFilter::default()
    };
    assert!(pages(none, 5).await.is_empty());
}

pub async fn an_email_prefix_lists_the_emails_within_the_prefix_in_email_order<D: Database>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let addresses = [
        "annette@example.com",
        "ann@example.com",
        "bob@example.com",
        "an@example.com",
        "anna@example.com",
        "anny@example.com",
        "ann.z@example.com",
    ];
    // Ids in the reverse order of the emails, so that the two orders differ.
    let mut faces = Vec::new();
    for (n, address) in addresses.iter().enumerate() {
        faces.push(sign_up(db, &shop, &acme, address, 50 - n as u32).await.1);
    }
    let mut suspended = faces[4].clone();
    suspended.status = UserStatus::Suspended;
    let e = entry(60, &shop, AuditAction::UserSuspend, Some(&acme));
    assert!(db.update_face(&suspended, 0, &e).await.unwrap());
    let filter = UserFilter {
        email_prefix: Some("ann".into()),
        ..UserFilter::default()
    };
    let first = db
        .list_tenant_users(&shop, &acme, &filter, None, 3)
        .await
        .unwrap();
    let emails: Vec<&str> = first.iter().map(|(_, f)| f.email.as_str()).collect();
    assert_eq!(
        emails,
        ["ann.z@example.com", "ann@example.com", "anna@example.com"]
    );
    let rest = db
        .list_tenant_users(&shop, &acme, &filter, Some("anna@example.com"), 3)
        .await
        .unwrap();
    let emails: Vec<&str> = rest.iter().map(|(_, f)| f.email.as_str()).collect();
    assert_eq!(emails, ["annette@example.com", "anny@example.com"]);
    let active = UserFilter {
        status: Some(UserStatus::Active),
        ..filter
    };
    let listed = db
        .list_tenant_users(&shop, &acme, &active, None, 10)
        .await
        .unwrap();
    let emails: Vec<&str> = listed.iter().map(|(_, f)| f.email.as_str()).collect();
    assert_eq!(
        emails,
        [
            "ann.z@example.com",
            "ann@example.com",
            "annette@example.com",
            "anny@example.com"
        ]
    );
}

pub async fn a_face_changes_only_from_its_expected_version<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (u, face) = sign_up(db, &a, &t, "ann@example.com", 1).await;
    let mut changed = face.clone();
    changed.status = UserStatus::Suspended;
    changed.plan_tier = tier("pro");
    changed.rate_limit_override = Some(42);
    changed.roles = vec![role("editor"), role("viewer")];
    let e = entry(2, &a, AuditAction::UserSuspend, Some(&t));
    assert!(db.update_face(&changed, 0, &e).await.unwrap());
    let (_, stored) = db.find_tenant_user(&a, &t, &u.id).await.unwrap().unwrap();
    assert_eq!(
        stored,
        TenantUser {
            version: 1,
            ..changed.clone()
        }
    );
    let e = entry(3, &a, AuditAction::UserUnsuspend, Some(&t));
    assert!(
        !db.update_face(&face, 0, &e).await.unwrap(),
        "version 0 is gone"
    );
    let (_, unchanged) = db.find_tenant_user(&a, &t, &u.id).await.unwrap().unwrap();
    assert_eq!(unchanged, stored);
    let e = entry(4, &a, AuditAction::UserUnsuspend, Some(&t));
    assert!(db.update_face(&face, 1, &e).await.unwrap());
    let (_, back) = db.find_tenant_user(&a, &t, &u.id).await.unwrap().unwrap();
    assert_eq!(
        back,
        TenantUser {
            version: 2,
            ..face.clone()
        }
    );
    let mut elsewhere = face.clone();
    elsewhere.tenant_id = tenant("nowhere");
    let e = entry(5, &a, AuditAction::UserSuspend, Some(&t));
    assert!(!db.update_face(&elsewhere, 0, &e).await.unwrap());
    let ids: Vec<_> = audit_of(db, &a).await.into_iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        [
            entry(4, &a, AuditAction::UserUnsuspend, None).id,
            entry(2, &a, AuditAction::UserSuspend, None).id
        ]
    );
}

pub async fn a_user_is_associated_with_another_tenant_once<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let acme = create_tenant(db, &a, "acme", 1).await;
    let (u, face) = sign_up(db, &a, &t, "ann@example.com", 2).await;
    let there = TenantUser::new(&u, &acme, at(10));
    let e = entry(3, &a, AuditAction::UserAssociate, Some(&acme));
    assert!(db.associate(&there, &e).await.unwrap());
    assert_eq!(
        db.find_tenant_user(&a, &acme, &u.id).await.unwrap(),
        Some((u.clone(), there.clone()))
    );
    let e = entry(4, &a, AuditAction::UserAssociate, Some(&acme));
    assert!(!db.associate(&there, &e).await.unwrap(), "already there");
    // Another user with that email in acme is refused too.
    let (other, _) = sign_up(db, &a, &t, "bob@example.com", 5).await;
    let mut clash = TenantUser::new(&other, &acme, at(10));
    clash.email = face.email.clone();
    let e = entry(6, &a, AuditAction::UserAssociate, Some(&acme));
    assert!(!db.associate(&clash, &e).await.unwrap());
    assert_eq!(
        db.find_tenant_user(&a, &acme, &other.id).await.unwrap(),
        None
    );
    let associations = actions_of(db, &a)
        .await
        .into_iter()
        .filter(|x| *x == AuditAction::UserAssociate)
        .count();
    assert_eq!(associations, 1);
}

pub async fn an_imported_user_has_no_session_and_its_email_is_then_taken<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (mut u, face) = user(&a, &t, "ann@example.com", 1);
    u.password_hash = None;
    let e = entry(2, &a, AuditAction::UserCreate, Some(&t));
    assert!(db.create_user_only(&u, &face, &e).await.unwrap());
    assert_eq!(
        db.find_tenant_user(&a, &t, &u.id).await.unwrap(),
        Some((u.clone(), face.clone()))
    );
    let (twin, twin_face) = user(&a, &t, "ann@example.com", 3);
    let e = entry(4, &a, AuditAction::UserCreate, Some(&t));
    assert!(!db.create_user_only(&twin, &twin_face, &e).await.unwrap());
    assert!(!db
        .create_user(&twin, &twin_face, &session(&twin_face, 3), &token(3))
        .await
        .unwrap());
    assert_eq!(db.find_user(&a, &twin.id).await.unwrap(), None);
    assert_eq!(actions_of(db, &a).await, [AuditAction::UserCreate]);
}

pub async fn revoking_a_users_sessions_revokes_the_live_ones_of_that_tenant<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let acme = create_tenant(db, &a, "acme", 1).await;
    let (u, face) = sign_up(db, &a, &t, "ann@example.com", 2).await;
    let first = session(&face, 2).id;
    let signin = attempt("account:ann@example.com", None, at(0));
    let mut live = vec![first];
    for n in 3..=5 {
        let s = session(&face, n);
        db.create_session(&s, &token(n as u8), &signin)
            .await
            .unwrap();
        live.push(s.id);
    }
    assert!(db.revoke_session(&live[1], at(5)).await.unwrap());
    let already = live.remove(1);
    let mut there = face.clone();
    there.tenant_id = acme.clone();
    let acme_session = session(&there, 6);
    db.create_session(&acme_session, &token(6), &signin)
        .await
        .unwrap();
    let (bob, bob_face) = sign_up(db, &a, &t, "bob@example.com", 7).await;

    let e = entry(10, &a, AuditAction::UserSessionsRevoke, Some(&t));
    let mut revoked = db
        .revoke_user_sessions(&a, &t, &u.id, at(20), &e)
        .await
        .unwrap();
    revoked.sort_by_key(|id| id.to_string());
    live.sort_by_key(|id| id.to_string());
    assert_eq!(revoked, live);
    for id in &live {
        let s = db.find_session(id).await.unwrap().unwrap();
        assert_eq!(s.revoked_at, Some(at(20)));
    }
    let s = db.find_session(&already).await.unwrap().unwrap();
    assert_eq!(s.revoked_at, Some(at(5)), "revoked before, left as it was");
    let s = db.find_session(&acme_session.id).await.unwrap().unwrap();
    assert_eq!(s.revoked_at, None, "another tenant");
    let s = db
        .find_session(&session(&bob_face, 7).id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.user_id, s.revoked_at), (bob.id, None), "another user");
    // The entry is written even when nothing was live.
    let e = entry(11, &a, AuditAction::UserSessionsRevoke, Some(&t));
    assert!(db
        .revoke_user_sessions(&a, &t, &u.id, at(30), &e)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        actions_of(db, &a).await[1..],
        [
            AuditAction::UserSessionsRevoke,
            AuditAction::UserSessionsRevoke
        ]
    );
}

pub async fn metadata_round_trips_and_defaults_to_an_empty_object<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (u, _) = sign_up(db, &a, &t, "ann@example.com", 1).await;
    assert_eq!(
        db.find_metadata(&a, &u.id).await.unwrap(),
        serde_json::json!({})
    );
    let metadata = serde_json::json!({
        "plan": { "seats": 3, "ratio": 0.5, "tags": ["a", "ü", null] },
        "flag": true,
        "name": "Ann \"A\" O'Neil"
    });
    let e = entry(2, &a, AuditAction::UserMetadata, Some(&t));
    db.put_metadata(&a, &u.id, &metadata, at(1), &e)
        .await
        .unwrap();
    assert_eq!(db.find_metadata(&a, &u.id).await.unwrap(), metadata);
    let replaced = serde_json::json!({ "only": 1 });
    let e = entry(3, &a, AuditAction::UserMetadata, Some(&t));
    db.put_metadata(&a, &u.id, &replaced, at(2), &e)
        .await
        .unwrap();
    assert_eq!(db.find_metadata(&a, &u.id).await.unwrap(), replaced);
    assert_eq!(actions_of(db, &a).await.len(), 2);
}

pub async fn the_webhook_secret_round_trips_and_is_replaced<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    assert_eq!(db.find_webhook_secret(&shop).await.unwrap(), None);
    let e = entry(2, &shop, AuditAction::WebhookSecretRotate, None);
    db.put_webhook_secret(&shop, "sealed-one", at(1), &e)
        .await
        .unwrap();
    assert_eq!(
        db.find_webhook_secret(&shop).await.unwrap().as_deref(),
        Some("sealed-one")
    );
    let e = entry(3, &shop, AuditAction::WebhookSecretRotate, None);
    db.put_webhook_secret(&shop, "sealed-two", at(2), &e)
        .await
        .unwrap();
    assert_eq!(
        db.find_webhook_secret(&shop).await.unwrap().as_deref(),
        Some("sealed-two")
    );
    assert_eq!(db.find_webhook_secret(&app("public")).await.unwrap(), None);
    assert_eq!(actions_of(db, &shop).await.len(), 3);
}

pub async fn a_plan_event_is_applied_once<D: Database>(db: &D) {
    let (a, t) = (app("public"), tenant("public"));
    let (u, face) = sign_up(db, &a, &t, "ann@example.com", 1).await;
    assert!(!db.has_event(&a, "evt_1").await.unwrap());
    let mut pro = face.clone();
    pro.plan_tier = tier("pro");
    let e = entry(2, &a, AuditAction::UserPlan, Some(&t));
    assert_eq!(
        db.apply_plan_event(&a, "evt_1", &pro, at(1), &e)
            .await
            .unwrap(),
        EventOutcome::Applied
    );
    assert!(db.has_event(&a, "evt_1").await.unwrap());
    let (_, stored) = db.find_tenant_user(&a, &t, &u.id).await.unwrap().unwrap();
    assert_eq!((stored.plan_tier.clone(), stored.version), (tier("pro"), 1));
    let mut team = face.clone();
    team.plan_tier = tier("team");
    let e = entry(3, &a, AuditAction::UserPlan, Some(&t));
    assert_eq!(
        db.apply_plan_event(&a, "evt_1", &team, at(2), &e)
            .await
            .unwrap(),
        EventOutcome::Duplicate
    );
    let (_, replayed) = db.find_tenant_user(&a, &t, &u.id).await.unwrap().unwrap();
    assert_eq!(replayed, stored, "a replay changes nothing");
    assert!(
        !db.has_event(&app("shop"), "evt_1").await.unwrap(),
        "events are per app"
    );
    // An event for a face that does not exist is recorded, but changes and logs nothing.
    let mut ghost = team.clone();
    ghost.tenant_id = tenant("nowhere");
    let e = entry(4, &a, AuditAction::UserPlan, Some(&t));
    assert_eq!(
        db.apply_plan_event(&a, "evt_2", &ghost, at(3), &e)
            .await
            .unwrap(),
        EventOutcome::Applied
    );
    assert!(db.has_event(&a, "evt_2").await.unwrap());
    assert_eq!(actions_of(db, &a).await, [AuditAction::UserPlan]);
}

pub async fn the_audit_log_lists_newest_first_per_app_and_tenant_with_a_cursor<D: Database>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let bravo = create_tenant(db, &shop, "bravo", 3).await;
    let (a, t) = (app("public"), tenant("public"));
    let (u, _) = sign_up(db, &a, &t, "ann@example.com", 4).await;
    // Entries of shop (some per tenant) and one of public, written out of id order.
    for (n, place) in [
        (9, Some(&acme)),
        (5, None),
        (8, Some(&bravo)),
        (6, Some(&acme)),
        (7, None),
    ] {
        let e = entry(n, &shop, AuditAction::RolePut, place);
        db.put_role(&shop, &role(&format!("r{n}")), &[], at(0), &e)
            .await
            .unwrap();
    }
    let e = entry(10, &a, AuditAction::UserMetadata, Some(&t));
    db.put_metadata(&a, &u.id, &serde_json::json!({}), at(0), &e)
        .await
        .unwrap();

    let ids = |ns: &[u32]| -> Vec<String> {
        ns.iter()
            .map(|n| entry(*n, &shop, AuditAction::RolePut, None).id.to_string())
            .collect()
    };
    let all: Vec<String> = db
        .list_audit(&shop, None, None, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(all, ids(&[9, 8, 7, 6, 5, 3, 2, 1]));
    let first = db.list_audit(&shop, None, None, 3).await.unwrap();
    let cursor = first.last().unwrap().id.to_string();
    let second = db.list_audit(&shop, None, Some(&cursor), 3).await.unwrap();
    let paged: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(paged, ids(&[9, 8, 7, 6, 5, 3]));
    let of_acme: Vec<String> = db
        .list_audit(&shop, Some((&acme, at(0))), None, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(of_acme, ids(&[9, 6, 2]));
    let of_acme_since_six: Vec<String> = db
        .list_audit(&shop, Some((&acme, at(6))), None, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(
        of_acme_since_six,
        ids(&[9, 6]),
        "a later incarnation sees only its own"
    );
    let before_nine = ids(&[9]).remove(0);
    let acme_tail = db
        .list_audit(&shop, Some((&acme, at(0))), Some(&before_nine), 1)
        .await
        .unwrap();
    assert_eq!(acme_tail.len(), 1);
    assert_eq!(acme_tail[0].id.to_string(), ids(&[6])[0]);

    let record = &second[1];
    let written = entry(5, &shop, AuditAction::RolePut, None);
    assert_eq!(record.at, written.at);
    assert_eq!(record.actor, "operator:op-1");
    assert_eq!(record.action, AuditAction::RolePut);
    assert_eq!(record.target, written.target);
    assert_eq!(record.tenant_id, None);
    assert_eq!(record.detail, written.detail);
    let public_log = db.list_audit(&a, None, None, 100).await.unwrap();
    assert_eq!(public_log.len(), 1);
    assert_eq!(public_log[0].tenant_id.as_ref(), Some(&t));
}

pub async fn refused_changes_leave_no_audit_entry_and_done_changes_leave_one<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let (u, face) = sign_up(db, &shop, &acme, "ann@example.com", 3).await;
    let before = audit_of(db, &shop).await.len();
    let e = |n| entry(n, &shop, AuditAction::TenantUpdate, Some(&acme));
    // Refused: each leaves nothing.
    assert!(!db
        .create_tenant(&new_tenant(&shop, "acme"), &e(10))
        .await
        .unwrap());
    assert!(!db
        .update_tenant(&new_tenant(&shop, "ghost"), &e(11))
        .await
        .unwrap());
    assert!(delete_through_ports(
        db,
        &Target::Tenant(shop.clone(), tenant("ghost")),
        vec![],
        12,
        10
    )
    .await
    .is_none());
    assert!(!db.update_face(&face, 7, &e(13)).await.unwrap());
    assert!(!db.associate(&face, &e(14)).await.unwrap());
    let (key, _) = api_key(&shop, &acme, 15);
    assert_eq!(
        db.delete_api_key(&shop, &acme, &key.id, Some(&e(15)))
            .await
            .unwrap(),
        None
    );
    assert!(!db
        .update_app_settings(&app("ghost"), &Default::default(), &e(16))
        .await
        .unwrap());
    assert_eq!(audit_of(db, &shop).await.len(), before);
    // Done: each leaves its entry.
    assert!(db
        .update_tenant(&new_tenant(&shop, "acme"), &e(20))
        .await
        .unwrap());
    assert!(db.update_face(&face, 0, &e(21)).await.unwrap());
    let e22 = entry(22, &shop, AuditAction::UserMetadata, Some(&acme));
    db.put_metadata(&shop, &u.id, &serde_json::json!({"a": 1}), at(1), &e22)
        .await
        .unwrap();
    let ids: Vec<String> = audit_of(db, &shop)
        .await
        .iter()
        .take(3)
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(
        ids,
        [
            e22.id.to_string(),
            e(21).id.to_string(),
            e(20).id.to_string()
        ]
    );
}

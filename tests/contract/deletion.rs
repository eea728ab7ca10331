//! Scenarios of deletions (`DeletionStore`): the atomic first step of each kind, the bounded
//! purges (at most their limit, only what their target covers), the record of a deletion, and
//! the namesake rule.

use super::fixtures::*;
use super::steps::{audit_of, create_app, create_tenant, delete_through_ports, populate};
use tessera::domain::audit::AuditAction;
use tessera::domain::authz::Permission;
use tessera::domain::challenge::{Plane, Purpose};
use tessera::domain::deletion::{Deletion, Phase, State, Target};
use tessera::domain::delivery::Delivery;
use tessera::domain::edge::{EdgeKey, MirroredDoc};
use tessera::domain::ids::{AppId, DeletionId, TenantId};
use tessera::domain::keys::KeyOwner;
use tessera::domain::member::CustomRole;
use tessera::domain::names::{OperatorRoleName, PlanTier, RoleName};
use tessera::domain::policy::Plan;
use tessera::domain::tenancy::MAX_ACCESS_TOKEN_TTL_SECONDS;
use tessera::domain::user::UserId;
use tessera::store::{Database, SendCount};

fn begun(target: &Target, tenants: Vec<TenantId>, n: u32) -> Deletion {
    Deletion::begin(
        DeletionId::generate(at(i64::from(n)), random(n)),
        target,
        tenants,
        at(i64::from(n)),
    )
}

pub async fn a_deleted_tenant_is_gone_at_once_and_no_namesake_is_made_until_its_row_goes<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = populate(db, &shop, "acme", 10).await;
    let target = Target::Tenant(shop.clone(), acme.tenant.clone());
    let deletion = begun(&target, vec![], 20);
    let e = entry(20, &shop, AuditAction::TenantDelete, Some(&acme.tenant));
    assert!(db.begin_deletion(&deletion, &e).await.unwrap());
    assert_eq!(db.find_tenant(&shop, &acme.tenant).await.unwrap(), None);
    let listed = db.list_tenants(&shop, None, 10).await.unwrap();
    assert!(listed.iter().all(|t| t.id != acme.tenant), "{listed:?}");
    let namesake = new_tenant(&shop, "acme");
    let e2 = entry(21, &shop, AuditAction::TenantCreate, Some(&acme.tenant));
    assert!(!db.create_tenant(&namesake, &e2).await.unwrap());
    assert!(!db.update_tenant(&namesake, &e2).await.unwrap());
    assert_eq!(
        db.find_running_deletion(&target).await.unwrap(),
        Some(deletion.clone())
    );
    assert_eq!(
        db.find_deletion(&shop, &deletion.id).await.unwrap(),
        Some(deletion.clone())
    );
    assert_eq!(
        db.find_deletion(&app("public"), &deletion.id)
            .await
            .unwrap(),
        None
    );
    let again = begun(&target, vec![], 22);
    let e3 = entry(22, &shop, AuditAction::TenantDelete, Some(&acme.tenant));
    assert!(!db.begin_deletion(&again, &e3).await.unwrap(), "once");
    let deletes = audit_of(db, &shop)
        .await
        .into_iter()
        .filter(|r| r.action == AuditAction::TenantDelete)
        .count();
    assert_eq!(deletes, 1);
    // The public tenant cannot be deleted.
    let public = begun(
        &Target::Tenant(shop.clone(), TenantId::public()),
        vec![],
        23,
    );
    let e4 = entry(23, &shop, AuditAction::TenantDelete, None);
    assert!(!db.begin_deletion(&public, &e4).await.unwrap());
    // Once its row is gone, the id is free again.
    for purge in 0..6 {
        let _ = purge;
        db.purge_api_keys(&target, 100).await.unwrap();
        db.purge_sessions(&target, 100).await.unwrap();
        db.purge_thirdparty(&target, 100).await.unwrap();
        let faces = db.find_faces(&target, 100).await.unwrap();
        db.purge_users(&target, &faces, 100).await.unwrap();
        db.purge_email(&target, 100).await.unwrap();
        db.purge_signin_failures(&target, 100).await.unwrap();
    }
    assert!(db.delete_target_row(&target).await.unwrap());
    assert!(db.create_tenant(&namesake, &e2).await.unwrap());
}

pub async fn each_purge_deletes_at_most_its_limit_and_only_what_its_target_covers<D: Database>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = populate(db, &shop, "acme", 10).await;
    let bravo = populate(db, &shop, "bravo", 20).await;
    // Two more users with sessions in acme.
    for n in [30, 31] {
        let (u, face) = user(&shop, &acme.tenant, &format!("more{n}@acme.example"), n);
        assert!(db
            .create_user(&u, &face, &session(&face, n), &token(n as u8))
            .await
            .unwrap());
    }
    let target = Target::Tenant(shop.clone(), acme.tenant.clone());
    assert!(db
        .begin_deletion(
            &begun(&target, vec![], 40),
            &entry(40, &shop, AuditAction::TenantDelete, Some(&acme.tenant))
        )
        .await
        .unwrap());
    // Three tokens then three sessions, one of each per call.
    let mut rows = Vec::new();
    loop {
        let n = db.purge_sessions(&target, 1).await.unwrap();
        assert!(n <= 2, "one token and one session at most");
        if n == 0 {
            break;
        }
        rows.push(n);
    }
    assert_eq!(rows.iter().sum::<usize>(), 6);
    let faces = db.find_faces(&target, 2).await.unwrap();
    assert_eq!(faces.len(), 2);
    assert!(faces.iter().all(|(t, _)| *t == acme.tenant));
    let mut all = faces.clone();
    let more = db.find_faces(&target, 10).await.unwrap();
    all.extend_from_slice(&more[2..]);
    assert_eq!(all.len(), 3);
    // Each face, and its user (none has another tenant).
    assert_eq!(db.purge_users(&target, &faces, 2).await.unwrap(), 4);
    let rest = db.find_faces(&target, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(db.purge_users(&target, &rest, 10).await.unwrap(), 2);
    assert_eq!(
        db.purge_users(&target, &[], 10).await.unwrap(),
        0,
        "a tenant has no orphans"
    );
    assert_eq!(
        db.purge_api_keys(&target, 10).await.unwrap(),
        vec![acme.key_hash.clone()]
    );
    assert_eq!(db.purge_signin_failures(&target, 10).await.unwrap(), 1);
    // Bravo and the app's other state are untouched.
    assert!(db.find_session(&bravo.session).await.unwrap().is_some());
    assert!(db
        .find_tenant_user(&shop, &bravo.tenant, &bravo.user)
        .await
        .unwrap()
        .is_some());
    assert!(db
        .find_api_key_by_hash(&bravo.key_hash)
        .await
        .unwrap()
        .is_some());
    let blocked = attempt(&format!("account:{}", bravo.address), None, at(0));
    assert!(db
        .begin_signin(&shop, &bravo.tenant, &email(&bravo.address), &blocked)
        .await
        .unwrap()
        .retry_after
        .is_some());
    // A tenant target purges nothing that is app-wide.
    assert_eq!(db.purge_members(&target, 10).await.unwrap(), 0);
    assert_eq!(db.purge_catalogue(&target, 10).await.unwrap(), 0);
    assert_eq!(db.purge_audit(&target, "x", 10).await.unwrap(), 0);
    assert_eq!(
        db.purge_tenants(&target, 10).await.unwrap(),
        Vec::<TenantId>::new()
    );
}

/// An app with something in every table a deletion of it touches.
async fn furnish<D: Database>(db: &D, id: &str, n: u32) -> AppId {
    let shop = create_app(db, id, n).await;
    let p = populate(db, &shop, &format!("{id}-t"), n + 1).await;
    let e = |k: u32| entry(n + k, &shop, AuditAction::RolePut, None);
    let editor = RoleName::parse("editor").unwrap();
    db.put_role(&shop, &editor, &[], at(1), &e(10))
        .await
        .unwrap();
    let plan = Plan {
        roles: vec![editor],
        rate_limit: Some(5),
    };
    db.put_plan(
        &shop,
        &PlanTier::parse("pro").unwrap(),
        &plan,
        at(1),
        &e(11),
    )
    .await
    .unwrap();
    let reader = CustomRole {
        name: OperatorRoleName::parse("reader").unwrap(),
        permissions: vec![Permission::UsersRead],
    };
    assert!(db
        .put_operator_role(&shop, &reader, at(1), &e(12))
        .await
        .unwrap());
    db.put_metadata(&shop, &p.user, &serde_json::json!({"a": 1}), at(1), &e(13))
        .await
        .unwrap();
    db.put_webhook_secret(&shop, "sealed", at(1), &e(14))
        .await
        .unwrap();
    let mut face = user(&shop, &p.tenant, &p.address, n + 1).1;
    face.plan_tier = PlanTier::parse("pro").unwrap();
    db.apply_plan_event(&shop, "evt_1", &face, at(2), &e(15))
        .await
        .unwrap();
    db.put_email_delivery(&shop, &Delivery::Outbox, at(1), &e(16))
        .await
        .unwrap();
    db.create_outbox_message(
        &message(&shop, Some(&p.tenant), &p.address, n + 17, 1),
        at(0),
    )
    .await
    .unwrap();
    db.create_dead_letter(
        &dead_letter(&shop, Some(&p.tenant), &p.address, n + 18, 1),
        at(0),
    )
    .await
    .unwrap();
    db.create_signing_key(
        &signing_key(&KeyOwner::App(shop.clone()), &format!("{id}-k"), 5),
        None,
    )
    .await
    .unwrap();
    let plane = Plane::Tenant(shop.clone(), p.tenant.clone());
    db.create_challenge(&challenge(
        &plane,
        Purpose::PasswordReset,
        &p.address,
        (n + 19) as u8,
        0,
        false,
    ))
    .await
    .unwrap();
    let send = SendCount {
        address: format!("send:{}", p.address),
        client: None,
        now: at(1),
    };
    db.count_send(&plane, &send).await.unwrap();
    shop
}

pub async fn an_app_deletion_removes_every_row_of_the_app_and_nothing_of_another<D: Database>(
    db: &D,
) {
    let shop = furnish(db, "shop", 100).await;
    let other = furnish(db, "other", 200).await;
    let mut ann = operator("ann@example.com", 1);
    ann.is_platform_owner = true;
    assert!(db
        .create_platform_owner(&ann, &bootstrap_membership(&ann))
        .await
        .unwrap());
    let before = audit_of(db, &other).await.len();
    let (deletion, purged) = delete_through_ports(db, &Target::App(shop.clone()), vec![], 300, 2)
        .await
        .expect("shop is deleted");
    assert_eq!(deletion.state, State::Done);
    assert!(purged.rows > 20, "{purged:?}");
    assert_eq!(purged.tenants.len(), 2, "public and the furnished one");
    assert_eq!(db.find_app(&shop).await.unwrap(), None);
    assert!(db
        .list_apps(None, 10)
        .await
        .unwrap()
        .iter()
        .all(|a| a.id != shop));
    assert!(db.list_members(&shop, None, 10).await.unwrap().is_empty());
    assert!(audit_of(db, &shop).await.is_empty());
    assert!(db.find_operator_roles(&shop).await.unwrap().is_empty());
    assert_eq!(db.find_policy(&shop).await.unwrap(), Default::default());
    assert_eq!(db.find_webhook_secret(&shop).await.unwrap(), None);
    assert!(!db.has_event(&shop, "evt_1").await.unwrap());
    assert_eq!(db.find_email_delivery(&shop).await.unwrap(), Delivery::None);
    assert!(db
        .list_outbox(&shop, None, at(0), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(db
        .list_dead_letters(&shop, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(db
        .find_signing_keys(&KeyOwner::App(shop.clone()))
        .await
        .unwrap()
        .is_empty());
    // The deletion is audited in the log of `public`; the other app kept everything.
    let public_log = audit_of(db, &app("public")).await;
    assert_eq!(public_log[0].action, AuditAction::AppDelete);
    assert_eq!(audit_of(db, &other).await.len(), before);
    assert!(db.find_app(&other).await.unwrap().is_some());
    assert_eq!(db.find_operator_roles(&other).await.unwrap().len(), 1);
    assert!(db.has_event(&other, "evt_1").await.unwrap());
    assert_eq!(
        db.find_signing_keys(&KeyOwner::App(other.clone()))
            .await
            .unwrap()
            .len(),
        1
    );
    // The id is free again, and the new app starts empty.
    let again = create_app(db, "shop", 400).await;
    assert!(db.find_operator_roles(&again).await.unwrap().is_empty());
    assert_eq!(db.list_tenants(&again, None, 10).await.unwrap().len(), 1);
}

/// How many outbox messages each address has in each tenant of `shop`.
async fn outbox_traces<D: Database>(db: &D) -> Vec<(String, &'static str, usize)> {
    let mut out = Vec::new();
    for t in [tenant("acme"), tenant("bravo")] {
        for who in ["ada@example.com", "bob@example.com"] {
            let outbox = db
                .list_outbox(&app("shop"), Some(&email(who)), at(0), None, 10)
                .await
                .unwrap();
            let here = outbox
                .iter()
                .filter(|m| m.tenant_id.as_ref() == Some(&t))
                .count();
            out.push((t.to_string(), who, here));
        }
    }
    out
}

pub async fn a_users_first_step_takes_its_faces_and_email_traces_in_scope_and_the_user_with_its_last_face<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let bravo = create_tenant(db, &shop, "bravo", 3).await;
    let (u, face) = user(&shop, &acme, "ada@example.com", 4);
    assert!(db
        .create_user(&u, &face, &session(&face, 4), &token(4))
        .await
        .unwrap());
    let mut there = face.clone();
    there.tenant_id = bravo.clone();
    assert!(db
        .associate(
            &there,
            &entry(5, &shop, AuditAction::UserAssociate, Some(&bravo))
        )
        .await
        .unwrap());
    db.put_metadata(
        &shop,
        &u.id,
        &serde_json::json!({"a": 1}),
        at(1),
        &entry(6, &shop, AuditAction::UserMetadata, None),
    )
    .await
    .unwrap();
    let (other, other_face) = user(&shop, &acme, "bob@example.com", 7);
    assert!(db
        .create_user_only(
            &other,
            &other_face,
            &entry(8, &shop, AuditAction::UserCreate, Some(&acme))
        )
        .await
        .unwrap());
    for (t, n) in [(&acme, 10u32), (&bravo, 20)] {
        let plane = Plane::Tenant(shop.clone(), t.clone());
        for (who, k) in [("ada@example.com", 0), ("bob@example.com", 5)] {
            db.create_challenge(&challenge(
                &plane,
                Purpose::PasswordReset,
                who,
                (n + k) as u8,
                0,
                false,
            ))
            .await
            .unwrap();
            db.create_outbox_message(&message(&shop, Some(t), who, n + k + 1, 0), at(0))
                .await
                .unwrap();
            db.create_dead_letter(&dead_letter(&shop, Some(t), who, n + k + 2, 0), at(0))
                .await
                .unwrap();
            let send = SendCount {
                address: format!("send:{who}"),
                client: None,
                now: at(1),
            };
            db.count_send(&plane, &send).await.unwrap();
            for _ in 0..6 {
                db.begin_signin(
                    &shop,
                    t,
                    &email(who),
                    &attempt(&format!("account:{who}"), None, at(1)),
                )
                .await
                .unwrap();
            }
        }
    }
    let from_acme = Target::User {
        app: shop.clone(),
        tenant: Some(acme.clone()),
        user: u.id,
    };
    // acme's document says what D1 holds before the deletion (written and closed).
    let acme_doc = EdgeKey {
        app: shop.clone(),
        tenant: acme.clone(),
        user: u.id,
    };
    let leased = db.lease_user_edge(&acme_doc, at(0), at(2)).await.unwrap();
    assert!(db
        .release_edge(&acme_doc.doc(), leased.version, true)
        .await
        .unwrap());
    let e = entry(30, &shop, AuditAction::UserDelete, Some(&acme));
    assert!(db
        .begin_deletion(&begun(&from_acme, vec![acme.clone()], 30), &e)
        .await
        .unwrap());
    assert_eq!(
        db.find_tenant_user(&shop, &acme, &u.id).await.unwrap(),
        None
    );
    assert!(db
        .find_tenant_user(&shop, &bravo, &u.id)
        .await
        .unwrap()
        .is_some());
    assert!(
        db.find_user(&shop, &u.id).await.unwrap().is_some(),
        "bravo still holds it"
    );
    // Its document in acme is pending from this step: it must say "no face".
    let pending = db.find_stale_edges(at(0), 100).await.unwrap();
    assert!(pending.contains(&acme_doc.doc()), "{pending:?}");
    assert_eq!(
        outbox_traces(db).await,
        [
            ("acme".to_owned(), "ada@example.com", 0),
            ("acme".to_owned(), "bob@example.com", 1),
            ("bravo".to_owned(), "ada@example.com", 1),
            ("bravo".to_owned(), "bob@example.com", 1),
        ]
    );
    let plane = Plane::Tenant(shop.clone(), acme.clone());
    let full = SendCount {
        address: "send:ada@example.com".into(),
        client: None,
        now: at(1),
    };
    for _ in 0..5 {
        assert_eq!(
            db.count_send(&plane, &full).await.unwrap(),
            None,
            "ada's window in acme is new"
        );
    }
    let fresh = attempt("account:ada@example.com", None, at(1));
    let record = db
        .begin_signin(&shop, &acme, &email("ada@example.com"), &fresh)
        .await
        .unwrap();
    assert_eq!(
        (record.user, record.retry_after),
        (None, None),
        "ada's counter in acme is gone"
    );
    let bob = attempt("account:bob@example.com", None, at(1));
    let record = db
        .begin_signin(&shop, &acme, &email("bob@example.com"), &bob)
        .await
        .unwrap();
    assert!(record.retry_after.is_some(), "bob's is not");
    // From its last tenant: the user and its metadata go with the face.
    let from_bravo = Target::User {
        app: shop.clone(),
        tenant: Some(bravo.clone()),
        user: u.id,
    };
    let e = entry(31, &shop, AuditAction::UserDelete, Some(&bravo));
    assert!(db
        .begin_deletion(&begun(&from_bravo, vec![bravo.clone()], 31), &e)
        .await
        .unwrap());
    assert_eq!(db.find_user(&shop, &u.id).await.unwrap(), None);
    assert_eq!(
        db.find_metadata(&shop, &u.id).await.unwrap(),
        serde_json::json!({})
    );
    assert!(
        db.find_user(&shop, &other.id).await.unwrap().is_some(),
        "bob stays"
    );
    // The sessions are the phases' to delete.
    assert!(db
        .find_session(&session(&face, 4).id)
        .await
        .unwrap()
        .is_some());
}

pub async fn an_erasure_begins_only_when_its_tenants_are_every_face_of_the_user<D: Database>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let bravo = create_tenant(db, &shop, "bravo", 3).await;
    let (u, face) = user(&shop, &acme, "ada@example.com", 4);
    assert!(db
        .create_user_only(
            &u,
            &face,
            &entry(4, &shop, AuditAction::UserCreate, Some(&acme))
        )
        .await
        .unwrap());
    let mut there = face.clone();
    there.tenant_id = bravo.clone();
    assert!(db
        .associate(
            &there,
            &entry(5, &shop, AuditAction::UserAssociate, Some(&bravo))
        )
        .await
        .unwrap());
    let erasure = Target::User {
        app: shop.clone(),
        tenant: None,
        user: u.id,
    };
    let before = audit_of(db, &shop).await.len();
    for partial in [
        vec![acme.clone()],
        vec![],
        vec![acme.clone(), tenant("ghost")],
    ] {
        let d = begun(&erasure, partial.clone(), 10);
        let e = entry(10, &shop, AuditAction::UserErase, None);
        assert!(!db.begin_deletion(&d, &e).await.unwrap(), "{partial:?}");
    }
    assert_eq!(
        audit_of(db, &shop).await.len(),
        before,
        "nothing was written"
    );
    assert!(db.find_user(&shop, &u.id).await.unwrap().is_some());
    let d = begun(&erasure, vec![acme.clone(), bravo.clone()], 11);
    let e = entry(11, &shop, AuditAction::UserErase, None);
    assert!(db.begin_deletion(&d, &e).await.unwrap());
    assert_eq!(db.find_user(&shop, &u.id).await.unwrap(), None);
    // A user without any face is erased with an empty list.
    let (lone, lone_face) = user(&shop, &acme, "lone@example.com", 12);
    assert!(db
        .create_user_only(
            &lone,
            &lone_face,
            &entry(12, &shop, AuditAction::UserCreate, Some(&acme))
        )
        .await
        .unwrap());
    let from_acme = Target::User {
        app: shop.clone(),
        tenant: Some(acme.clone()),
        user: lone.id,
    };
    // (Leaving its only tenant takes it whole; an orphan is made by a tenant deletion that
    // was interrupted, which an empty erasure then covers.)
    let d = begun(&from_acme, vec![acme.clone()], 13);
    assert!(db
        .begin_deletion(&d, &entry(13, &shop, AuditAction::UserDelete, Some(&acme)))
        .await
        .unwrap());
    let ghost = Target::User {
        app: shop.clone(),
        tenant: None,
        user: UserId::generate(at(99), random(99)),
    };
    assert!(!db
        .begin_deletion(
            &begun(&ghost, vec![], 14),
            &entry(14, &shop, AuditAction::UserErase, None)
        )
        .await
        .unwrap());
}

pub async fn the_edge_documents_of_a_target_are_found_by_name_in_pages_and_forgotten<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let shop_2 = create_app(db, "shop-2", 2).await;
    let (ada, bob) = (
        user(&shop, &TenantId::public(), "ada@example.com", 3).0.id,
        user(&shop, &TenantId::public(), "bob@example.com", 4).0.id,
    );
    let flags = |app: &AppId, tenant_id: &str, user| {
        MirroredDoc::User(EdgeKey {
            app: app.clone(),
            tenant: tenant(tenant_id),
            user,
        })
        .name()
    };
    let mut every = vec![
        flags(&shop, "acme", ada),
        flags(&shop, "acme", bob),
        flags(&shop, "acme-2", ada),
        flags(&shop, "bravo", ada),
        flags(&shop_2, "acme", ada),
        MirroredDoc::Policy(shop.clone()).name(),
        MirroredDoc::Policy(shop_2.clone()).name(),
        MirroredDoc::Keys(KeyOwner::App(shop.clone())).name(),
        MirroredDoc::Keys(KeyOwner::Operators).name(),
    ];
    for doc in &every {
        db.mark_edge_changed(doc, at(5)).await.unwrap();
    }
    let found =
        |target: Target, limit| async move { db.find_edge_docs(&target, limit).await.unwrap() };
    let erasure = Target::User {
        app: shop.clone(),
        tenant: None,
        user: ada,
    };
    let mut of_ada = found(erasure.clone(), 2).await;
    assert_eq!(of_ada.len(), 2, "at most the limit");
    assert_eq!(db.forget_edge_docs(&of_ada).await.unwrap(), 2);
    of_ada.extend(found(erasure.clone(), 10).await);
    assert_eq!(
        of_ada,
        [
            flags(&shop, "acme-2", ada),
            flags(&shop, "acme", ada),
            flags(&shop, "bravo", ada),
        ],
        "every tenant's, in name order (`-` before `:`), and nothing of bob or of another app"
    );
    assert_eq!(
        found(
            Target::User {
                app: shop.clone(),
                tenant: Some(tenant("acme")),
                user: bob,
            },
            10
        )
        .await,
        [flags(&shop, "acme", bob)]
    );
    // A tenant's only while its deletion has marked it.
    let acme = create_tenant(db, &shop, "acme", 6).await;
    let of_acme = Target::Tenant(shop.clone(), acme.clone());
    assert!(found(of_acme.clone(), 10).await.is_empty());
    assert!(db
        .begin_deletion(
            &begun(&of_acme, vec![], 7),
            &entry(7, &shop, AuditAction::TenantDelete, Some(&acme))
        )
        .await
        .unwrap());
    assert_eq!(
        found(of_acme, 10).await,
        [flags(&shop, "acme", bob)],
        "not acme-2's, nor ada's forgotten one"
    );
    assert_eq!(
        found(Target::App(shop.clone()), 10).await,
        [
            flags(&shop, "acme", bob),
            flags(&shop, "bravo", ada),
            MirroredDoc::Policy(shop.clone()).name(),
            MirroredDoc::Keys(KeyOwner::App(shop.clone())).name(),
        ]
    );
    // Forgetting what is gone already counts nothing.
    assert_eq!(db.forget_edge_docs(&of_ada[..2]).await.unwrap(), 0);
    assert_eq!(db.forget_edge_docs(&[]).await.unwrap(), 0);
    every.retain(|doc| !of_ada.contains(doc));
    let stale: Vec<String> = db
        .find_stale_edges(at(0), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|doc| every.contains(doc))
        .collect();
    assert_eq!(stale.len(), every.len(), "the others stay");
}

pub async fn an_erasure_makes_the_audit_entries_naming_the_user_name_the_deletion_in_batches<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let other = create_app(db, "other", 2).await;
    let u = UserId::generate(at(3), random(3));
    for n in 10..15u32 {
        let mut e = entry(n, &shop, AuditAction::UserSuspend, None);
        e.target = u.to_string();
        db.put_webhook_secret(&shop, "s", at(1), &e).await.unwrap();
    }
    let mut elsewhere = entry(20, &other, AuditAction::UserSuspend, None);
    elsewhere.target = u.to_string();
    db.put_webhook_secret(&other, "s", at(1), &elsewhere)
        .await
        .unwrap();
    let erasure = Target::User {
        app: shop.clone(),
        tenant: None,
        user: u,
    };
    assert_eq!(db.purge_audit(&erasure, "erased:d1", 3).await.unwrap(), 3);
    assert_eq!(db.purge_audit(&erasure, "erased:d1", 3).await.unwrap(), 2);
    assert_eq!(db.purge_audit(&erasure, "erased:d1", 3).await.unwrap(), 0);
    let named: Vec<String> = audit_of(db, &shop)
        .await
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(named.iter().filter(|t| *t == "erased:d1").count(), 5);
    assert!(!named.contains(&u.to_string()));
    let kept: Vec<String> = audit_of(db, &other)
        .await
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert!(
        kept.contains(&u.to_string()),
        "another app's log is not this erasure's"
    );
    // One tenant's deletion is not an erasure: the log keeps naming the user.
    let from_one = Target::User {
        app: shop.clone(),
        tenant: Some(TenantId::public()),
        user: u,
    };
    assert_eq!(db.purge_audit(&from_one, "x", 10).await.unwrap(), 0);
}

pub async fn a_deletion_records_its_progress_forgets_its_user_when_done_and_is_pruned_later<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let (u, face) = user(&shop, &acme, "ada@example.com", 3);
    assert!(db
        .create_user_only(
            &u,
            &face,
            &entry(3, &shop, AuditAction::UserCreate, Some(&acme))
        )
        .await
        .unwrap());
    let (v, v_face) = user(&shop, &acme, "bob@example.com", 4);
    assert!(db
        .create_user_only(
            &v,
            &v_face,
            &entry(4, &shop, AuditAction::UserCreate, Some(&acme))
        )
        .await
        .unwrap());
    let first_target = Target::User {
        app: shop.clone(),
        tenant: None,
        user: u.id,
    };
    let second_target = Target::User {
        app: shop.clone(),
        tenant: None,
        user: v.id,
    };
    let mut first = begun(&first_target, vec![acme.clone()], 10);
    let second = begun(&second_target, vec![acme.clone()], 11);
    assert!(db
        .begin_deletion(&first, &entry(10, &shop, AuditAction::UserErase, None))
        .await
        .unwrap());
    assert!(db
        .begin_deletion(&second, &entry(11, &shop, AuditAction::UserErase, None))
        .await
        .unwrap());
    assert_eq!(
        db.list_due_deletions(at(12), 10).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        db.list_due_deletions(at(12), 1).await.unwrap(),
        vec![first.clone()]
    );
    first.record_step(7, false, Some("cursor".into()), at(12));
    db.update_deletion(&first).await.unwrap();
    assert_eq!(
        db.find_deletion(&shop, &first.id).await.unwrap(),
        Some(first.clone())
    );
    while first.state == State::Running {
        first.record_step(1, true, None, at(13));
    }
    db.update_deletion(&first).await.unwrap();
    let stored = db.find_deletion(&shop, &first.id).await.unwrap().unwrap();
    assert_eq!(stored.state, State::Done);
    assert_eq!((stored.user_id, stored.tenants.len()), (None, 0));
    assert_eq!(stored.finished_at, Some(at(13)));
    assert_eq!(db.find_running_deletion(&first_target).await.unwrap(), None);
    assert_eq!(
        db.list_due_deletions(at(12), 10).await.unwrap(),
        vec![second.clone()]
    );
    // One that only waits (a user's in its `Flags` phase, within a day of its start) is not
    // due: any number of them never holds the others back. It is once the wait is over.
    let mut waiting = second.clone();
    while waiting.current_phase() != Some(Phase::Flags) {
        waiting.record_step(0, true, None, at(12));
    }
    db.update_deletion(&waiting).await.unwrap();
    assert_eq!(db.list_due_deletions(at(12), 10).await.unwrap(), vec![]);
    let over = waiting
        .created_at
        .plus_seconds(MAX_ACCESS_TOKEN_TTL_SECONDS);
    assert_eq!(
        db.list_due_deletions(over, 10).await.unwrap(),
        vec![waiting.clone()]
    );
    db.update_deletion(&second).await.unwrap();
    // Pruned once finished before the given time, running ones never.
    assert_eq!(db.prune_deletions(at(13), 10).await.unwrap(), 0);
    assert_eq!(db.prune_deletions(at(14), 10).await.unwrap(), 1);
    assert_eq!(db.find_deletion(&shop, &first.id).await.unwrap(), None);
    assert!(db.find_deletion(&shop, &second.id).await.unwrap().is_some());
}

pub async fn a_tenant_deletion_left_from_before_its_app_was_made_again_finds_nothing_of_the_namesake<
    D: Database,
>(
    db: &D,
) {
    let shop = create_app(db, "shop", 1).await;
    let acme = populate(db, &shop, "acme", 10).await;
    let stale = Target::Tenant(shop.clone(), acme.tenant.clone());
    assert!(db
        .begin_deletion(
            &begun(&stale, vec![], 20),
            &entry(20, &shop, AuditAction::TenantDelete, Some(&acme.tenant))
        )
        .await
        .unwrap());
    // The whole app goes before the tenant's own deletion went on; then both are made again.
    delete_through_ports(db, &Target::App(shop.clone()), vec![], 30, 100)
        .await
        .expect("the app is deleted");
    let shop = create_app(db, "shop", 40).await;
    let again = populate(db, &shop, "acme", 50).await;
    assert_eq!(again.tenant, acme.tenant);
    // The old deletion, continued, finds nothing of the namesake.
    assert!(db.purge_api_keys(&stale, 100).await.unwrap().is_empty());
    assert!(db.find_edge_docs(&stale, 100).await.unwrap().is_empty());
    assert_eq!(db.purge_sessions(&stale, 100).await.unwrap(), 0);
    assert_eq!(db.purge_thirdparty(&stale, 100).await.unwrap(), 0);
    assert!(db.find_faces(&stale, 100).await.unwrap().is_empty());
    assert_eq!(db.purge_email(&stale, 100).await.unwrap(), 0);
    assert_eq!(db.purge_signin_failures(&stale, 100).await.unwrap(), 0);
    db.delete_target_row(&stale).await.unwrap();
    assert!(db.find_session(&again.session).await.unwrap().is_some());
    assert!(db
        .find_tenant_user(&shop, &again.tenant, &again.user)
        .await
        .unwrap()
        .is_some());
    assert!(db
        .find_api_key_by_hash(&again.key_hash)
        .await
        .unwrap()
        .is_some());
    assert!(db
        .find_tenant(&shop, &again.tenant)
        .await
        .unwrap()
        .is_some());
}

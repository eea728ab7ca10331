//! Scenarios of apps, tenants, API keys and signing keys — and of deleting a tenant, which
//! reaches into every aggregate of the tenant.

use super::fixtures::*;
use super::steps::{
    actions_of, audit_of, create_app, create_tenant, delete_through_ports, populate,
};
use tessera::domain::audit::AuditAction;
use tessera::domain::deletion::{State as DeletionState, Target};
use tessera::domain::keys::KeyOwner;
use tessera::domain::member::{MemberStatus, OperatorRole};
use tessera::domain::secret::SecretKind;
use tessera::domain::tenancy::{AppSettings, LoginMethod};
use tessera::domain::time::Timestamp;
use tessera::domain::user::UserStatus;
use tessera::store::Database;

pub async fn a_fresh_store_has_the_public_app_and_its_public_tenant<D: Database>(db: &D) {
    let public = app("public");
    let found = db.find_app(&public).await.unwrap().expect("the public app");
    assert_eq!(found.settings, AppSettings::default());
    assert_eq!(found.created_at, Timestamp::EPOCH);
    let t = db
        .find_tenant(&public, &tenant("public"))
        .await
        .unwrap()
        .expect("the public tenant");
    assert_eq!(t.login_methods, vec![LoginMethod::EmailPassword]);
    assert_eq!(
        (t.created_at, t.updated_at),
        (Timestamp::EPOCH, Timestamp::EPOCH)
    );
    let apps = db.list_apps(None, 10).await.unwrap();
    assert_eq!(apps, vec![found]);
    assert_eq!(db.list_tenants(&public, None, 10).await.unwrap(), vec![t]);
    assert!(audit_of(db, &public).await.is_empty());
}

pub async fn an_app_is_created_once_with_its_public_tenant<D: Database>(db: &D) {
    let (shop, public) = new_app("shop");
    let first = entry(1, &shop.id, AuditAction::AppCreate, None);
    assert!(db.create_app(&shop, &public, &first).await.unwrap());
    assert_eq!(db.find_app(&shop.id).await.unwrap(), Some(shop.clone()));
    assert_eq!(
        db.list_tenants(&shop.id, None, 10).await.unwrap(),
        vec![public.clone()]
    );
    let mut again = shop.clone();
    again.settings.access_token_ttl_seconds = 120;
    let second = entry(2, &shop.id, AuditAction::AppCreate, None);
    assert!(!db.create_app(&again, &public, &second).await.unwrap());
    assert_eq!(
        db.find_app(&shop.id).await.unwrap(),
        Some(shop.clone()),
        "the refused creation changed nothing"
    );
    let log = audit_of(db, &shop.id).await;
    assert_eq!(
        log.len(),
        1,
        "only the creation that happened is in the log"
    );
    assert_eq!(log[0].id, first.id);
    assert_eq!(log[0].actor, "operator:op-1");
    assert_eq!(log[0].detail, first.detail);
}

pub async fn app_settings_are_replaced_only_for_an_existing_app<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let settings = AppSettings {
        access_token_ttl_seconds: 300,
        ..AppSettings::default()
    };
    let e = entry(2, &shop, AuditAction::AppUpdate, None);
    assert!(db.update_app_settings(&shop, &settings, &e).await.unwrap());
    assert_eq!(
        db.find_app(&shop).await.unwrap().unwrap().settings,
        settings
    );
    let ghost = app("ghost");
    let e = entry(3, &ghost, AuditAction::AppUpdate, None);
    assert!(!db.update_app_settings(&ghost, &settings, &e).await.unwrap());
    assert_eq!(db.find_app(&ghost).await.unwrap(), None);
    assert!(audit_of(db, &ghost).await.is_empty());
    assert_eq!(
        actions_of(db, &shop).await,
        [AuditAction::AppCreate, AuditAction::AppUpdate]
    );
}

pub async fn apps_are_listed_by_id_in_pages<D: Database>(db: &D) {
    for (n, id) in ["delta", "alpha", "charlie", "bravo", "echo"]
        .iter()
        .enumerate()
    {
        create_app(db, id, n as u32).await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = db.list_apps(after.as_deref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.id.to_string());
        seen.extend(page.iter().map(|a| a.id.to_string()));
    }
    assert_eq!(
        seen,
        ["alpha", "bravo", "charlie", "delta", "echo", "public"]
    );
    let tail = db.list_apps(Some("charlie"), 10).await.unwrap();
    assert_eq!(tail.first().map(|a| a.id.as_str()), Some("delta"));
}

pub async fn tenants_are_created_once_updated_and_listed_by_id<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    for (n, id) in ["kilo", "acme", "juliet", "bravo"].iter().enumerate() {
        create_tenant(db, &shop, id, 10 + n as u32).await;
    }
    let refused = new_tenant(&shop, "acme");
    let e = entry(20, &shop, AuditAction::TenantCreate, Some(&refused.id));
    assert!(!db.create_tenant(&refused, &e).await.unwrap());
    let page = db.list_tenants(&shop, None, 3).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["acme", "bravo", "juliet"]);
    let rest = db.list_tenants(&shop, Some("juliet"), 3).await.unwrap();
    let ids: Vec<&str> = rest.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["kilo", "public"]);
    assert!(
        db.list_tenants(&app("public"), None, 10)
            .await
            .unwrap()
            .len()
            == 1
    );

    let mut changed = new_tenant(&shop, "acme");
    changed.login_methods = vec![];
    changed.updated_at = at(5_000);
    let e = entry(21, &shop, AuditAction::TenantUpdate, Some(&changed.id));
    assert!(db.update_tenant(&changed, &e).await.unwrap());
    let found = db.find_tenant(&shop, &changed.id).await.unwrap().unwrap();
    assert_eq!(found.login_methods, vec![]);
    assert_eq!((found.created_at, found.updated_at), (at(0), at(5_000)));
    let missing = new_tenant(&shop, "zulu");
    let e = entry(22, &shop, AuditAction::TenantUpdate, Some(&missing.id));
    assert!(!db.update_tenant(&missing, &e).await.unwrap());
    assert_eq!(db.find_tenant(&shop, &missing.id).await.unwrap(), None);
    let mut actions = actions_of(db, &shop).await;
    actions.dedup();
    assert_eq!(
        actions,
        [
            AuditAction::AppCreate,
            AuditAction::TenantCreate,
            AuditAction::TenantUpdate
        ]
    );
    assert_eq!(
        audit_of(db, &shop).await.len(),
        6,
        "1 app, 4 tenants, 1 update"
    );
}

pub async fn api_keys_are_found_by_hash_listed_by_id_and_deleted_once<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let bravo = create_tenant(db, &shop, "bravo", 3).await;
    let mut keys = Vec::new();
    for n in [14, 11, 13, 12] {
        let (key, hash) = api_key(&shop, &acme, n);
        let e = entry(n, &shop, AuditAction::ApiKeyCreate, Some(&acme));
        db.create_api_key(&key, &hash, &e).await.unwrap();
        keys.push((key, hash));
    }
    let (other, other_hash) = api_key(&shop, &bravo, 20);
    let e = entry(20, &shop, AuditAction::ApiKeyCreate, Some(&bravo));
    db.create_api_key(&other, &other_hash, &e).await.unwrap();
    keys.sort_by_key(|(k, _)| k.id.to_string());

    let first = db.list_api_keys(&shop, &acme, None, 3).await.unwrap();
    let cursor = first.last().unwrap().id.to_string();
    let second = db
        .list_api_keys(&shop, &acme, Some(&cursor), 3)
        .await
        .unwrap();
    let listed: Vec<_> = first.into_iter().chain(second).collect();
    let expected: Vec<_> = keys.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(listed, expected);

    let (key, hash) = keys[0].clone();
    assert_eq!(
        db.find_api_key_by_hash(&hash).await.unwrap(),
        Some(key.clone())
    );
    let unknown = secret(SecretKind::ApiKey, 99);
    assert_eq!(db.find_api_key_by_hash(&unknown).await.unwrap(), None);
    assert_eq!(
        db.find_api_key_hash(&shop, &acme, &key.id).await.unwrap(),
        Some(hash.clone())
    );
    assert_eq!(
        db.find_api_key_hash(&shop, &bravo, &key.id).await.unwrap(),
        None
    );

    let e = entry(30, &shop, AuditAction::ApiKeyDelete, Some(&bravo));
    assert_eq!(
        db.delete_api_key(&shop, &bravo, &key.id, Some(&e))
            .await
            .unwrap(),
        None,
        "a key is deleted only through its own tenant"
    );
    assert!(db.find_api_key_by_hash(&hash).await.unwrap().is_some());
    let e = entry(31, &shop, AuditAction::ApiKeyDelete, Some(&acme));
    assert_eq!(
        db.delete_api_key(&shop, &acme, &key.id, Some(&e))
            .await
            .unwrap(),
        Some(hash.clone())
    );
    assert_eq!(db.find_api_key_by_hash(&hash).await.unwrap(), None);
    let e = entry(32, &shop, AuditAction::ApiKeyDelete, Some(&acme));
    assert_eq!(
        db.delete_api_key(&shop, &acme, &key.id, Some(&e))
            .await
            .unwrap(),
        None
    );
    let (key2, hash2) = keys[1].clone();
    assert_eq!(
        db.delete_api_key(&shop, &acme, &key2.id, None)
            .await
            .unwrap(),
        Some(hash2)
    );
    let deletes: Vec<_> = audit_of(db, &shop)
        .await
        .into_iter()
        .filter(|r| r.action == AuditAction::ApiKeyDelete)
        .map(|r| r.id)
        .collect();
    assert_eq!(
        deletes,
        [entry(31, &shop, AuditAction::ApiKeyDelete, None).id]
    );
    assert_eq!(
        db.list_api_keys(&shop, &bravo, None, 10).await.unwrap(),
        vec![other]
    );
}

pub async fn signing_keys_are_returned_newest_first_per_owner<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let owner = KeyOwner::App(shop.clone());
    for (kid, activates) in [("b", 2_000), ("c", 3_000), ("a", 1_000)] {
        db.create_signing_key(&signing_key(&owner, kid, activates), None)
            .await
            .unwrap();
    }
    let e = entry(2, &shop, AuditAction::SigningKeyRotate, None);
    let newest = signing_key(&owner, "d", 4_000);
    db.create_signing_key(&newest, Some(&e)).await.unwrap();
    db.create_signing_key(&signing_key(&KeyOwner::Operators, "ops", 9_000), None)
        .await
        .unwrap();
    let keys = db.find_signing_keys(&owner).await.unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["d", "c", "b", "a"]);
    assert_eq!(keys[0], newest);
    let ops = db.find_signing_keys(&KeyOwner::Operators).await.unwrap();
    assert_eq!(ops, vec![signing_key(&KeyOwner::Operators, "ops", 9_000)]);
    assert!(db
        .find_signing_keys(&KeyOwner::App(app("public")))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        actions_of(db, &shop).await,
        [AuditAction::AppCreate, AuditAction::SigningKeyRotate]
    );
}

pub async fn deleting_a_tenant_removes_everything_of_it_and_nothing_of_others<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let acme = populate(db, &shop, "acme", 10).await;
    let bravo = populate(db, &shop, "bravo", 20).await;
    let wide = invitation(&shop, "wide@example.com", 30, at(1_000_000));
    let e = entry(30, &shop, AuditAction::MemberInvite, None);
    assert!(db
        .create_member(&wide, &secret(SecretKind::InviteToken, 30), &e)
        .await
        .unwrap());

    let target = Target::Tenant(shop.clone(), acme.tenant.clone());
    let (deletion, purged) = delete_through_ports(db, &target, vec![], 40, 1)
        .await
        .expect("acme is deleted");
    assert_eq!(purged.key_hashes, vec![acme.key_hash.clone()]);
    assert_eq!(purged.faces, vec![(acme.tenant.clone(), acme.user)]);
    assert_eq!(deletion.state, DeletionState::Done);
    assert_eq!(
        db.find_running_deletion(&target).await.unwrap(),
        None,
        "no deletion of acme runs any more"
    );

    // Everything of acme is gone...
    assert_eq!(db.find_tenant(&shop, &acme.tenant).await.unwrap(), None);
    assert_eq!(
        db.find_tenant_user(&shop, &acme.tenant, &acme.user)
            .await
            .unwrap(),
        None
    );
    assert_eq!(db.find_session(&acme.session).await.unwrap(), None);
    assert_eq!(db.find_by_refresh_token(&acme.token).await.unwrap(), None);
    assert_eq!(db.find_api_key_by_hash(&acme.key_hash).await.unwrap(), None);
    assert_eq!(
        db.find_api_key_hash(&shop, &acme.tenant, &acme.key)
            .await
            .unwrap(),
        None
    );
    let member = db
        .find_member(&shop, &acme.narrowed_member)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(member.status, MemberStatus::Left);
    assert_eq!(member.updated_at, at(40));
    assert_eq!(db.find_invite(&acme.narrowed_invite).await.unwrap(), None);
    // ...and so is its user, which had no other tenant.
    assert_eq!(db.find_user(&shop, &acme.user).await.unwrap(), None);

    // Nothing of bravo or of the app-wide membership moved.
    assert!(db
        .find_tenant(&shop, &bravo.tenant)
        .await
        .unwrap()
        .is_some());
    let (_, face) = db
        .find_tenant_user(&shop, &bravo.tenant, &bravo.user)
        .await
        .unwrap()
        .expect("bravo's user");
    assert_eq!(face.status, UserStatus::Active);
    assert!(db.find_session(&bravo.session).await.unwrap().is_some());
    assert!(db
        .find_by_refresh_token(&bravo.token)
        .await
        .unwrap()
        .is_some());
    assert!(db
        .find_api_key_by_hash(&bravo.key_hash)
        .await
        .unwrap()
        .is_some());
    let still_invited = db
        .find_invite(&bravo.narrowed_invite)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still_invited.status, MemberStatus::Invited);
    let wide_now = db.find_member(&shop, &wide.id).await.unwrap().unwrap();
    assert_eq!(wide_now.status, MemberStatus::Invited);
    let bravo_email = email(&bravo.address);
    let blocked = attempt(&format!("account:{}", bravo.address), None, at(0));
    assert!(
        db.begin_signin(&shop, &bravo.tenant, &bravo_email, &blocked)
            .await
            .unwrap()
            .retry_after
            .is_some(),
        "bravo's sign-in counters are untouched"
    );

    let deletes: Vec<_> = audit_of(db, &shop)
        .await
        .into_iter()
        .filter(|r| r.action == AuditAction::TenantDelete)
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].tenant_id.as_ref(), Some(&acme.tenant));
    assert!(
        delete_through_ports(db, &target, vec![], 41, 1)
            .await
            .is_none(),
        "a deleted tenant cannot be deleted again"
    );
    assert_eq!(
        audit_of(db, &shop)
            .await
            .iter()
            .filter(|r| r.action == AuditAction::TenantDelete)
            .count(),
        1,
        "deleting a missing tenant writes no entry"
    );
}

pub async fn a_tenant_recreated_under_the_same_id_starts_empty<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let old = populate(db, &shop, "acme", 10).await;
    let target = Target::Tenant(shop.clone(), old.tenant.clone());
    assert!(delete_through_ports(db, &target, vec![], 40, 500)
        .await
        .is_some());
    let acme = create_tenant(db, &shop, "acme", 41).await;

    assert!(db
        .list_tenant_users(&shop, &acme, &Default::default(), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(db
        .list_api_keys(&shop, &acme, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(db.find_by_refresh_token(&old.token).await.unwrap(), None);
    assert_eq!(
        db.find_tenant_user(&shop, &acme, &old.user).await.unwrap(),
        None
    );
    let address = email(&old.address);
    let fresh = attempt(&format!("account:{}", old.address), None, at(0));
    let record = db
        .begin_signin(&shop, &acme, &address, &fresh)
        .await
        .unwrap();
    assert_eq!(record.user, None);
    assert_eq!(
        record.retry_after, None,
        "the old sign-in counters are gone"
    );
    let grants_member = db
        .find_member(&shop, &old.narrowed_member)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grants_member.status, MemberStatus::Left);
    assert!(grants_member.roles.contains(&OperatorRole::Admin));

    // The email can sign up again in the new tenant.
    let (u, face) = user(&shop, &acme, &old.address, 50);
    assert!(db
        .create_user(&u, &face, &session(&face, 50), &token(50))
        .await
        .unwrap());
}

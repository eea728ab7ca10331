//! Scenarios of the edge view (`EdgeStore`): what is written can be read back, per key.

use super::fixtures::*;
use tessera::domain::keys::KeyOwner;
use tessera::domain::names::{PlanTier, RoleName, UserPermission};
use tessera::domain::policy::{AppPolicy, Plan, UserFlags};
use tessera::domain::session::SessionId;
use tessera::domain::tenancy::{AppSettings, LoginMethod};
use tessera::domain::time::Timestamp;
use tessera::domain::user::UserStatus;
use tessera::store::{EdgeStore, PublishedKey};

pub async fn user_flags_round_trip_per_tenant<E: EdgeStore>(edge: &E) {
    let (a, t) = (app("shop"), tenant("acme"));
    let (_, face) = user(&a, &t, "ann@example.com", 1);
    assert_eq!(edge.find_flags(&a, &t, &face.user_id).await.unwrap(), None);
    let flags = UserFlags {
        status: UserStatus::Suspended,
        plan_tier: PlanTier::parse("pro").unwrap(),
        version: 7,
        assigned_roles: vec![RoleName::parse("editor").unwrap()],
        rate_limit_override: Some(10),
        rate_limit: Some(10),
        roles: vec![RoleName::parse("editor").unwrap()],
        permissions: Vec::new(),
    };
    edge.put_flags(&a, &t, &face.user_id, &flags).await.unwrap();
    assert_eq!(
        edge.find_flags(&a, &t, &face.user_id).await.unwrap(),
        Some(flags.clone())
    );
    assert_eq!(
        edge.find_flags(&a, &tenant("public"), &face.user_id)
            .await
            .unwrap(),
        None
    );
    let next = UserFlags {
        version: 8,
        ..UserFlags::from_token()
    };
    edge.put_flags(&a, &t, &face.user_id, &next).await.unwrap();
    assert_eq!(
        edge.find_flags(&a, &t, &face.user_id).await.unwrap(),
        Some(next)
    );
}

pub async fn the_policy_mirror_round_trips<E: EdgeStore>(edge: &E) {
    let a = app("shop");
    assert_eq!(edge.find_policy(&a).await.unwrap(), None);
    let mut policy = AppPolicy::default();
    policy.roles.insert(
        RoleName::parse("editor").unwrap(),
        vec![UserPermission::parse("docs:write").unwrap()],
    );
    policy.plans.insert(
        PlanTier::parse("pro").unwrap(),
        Plan {
            roles: vec![RoleName::parse("editor").unwrap()],
            rate_limit: Some(600),
        },
    );
    edge.put_policy(&a, &policy).await.unwrap();
    assert_eq!(edge.find_policy(&a).await.unwrap(), Some(policy));
    assert_eq!(edge.find_policy(&app("public")).await.unwrap(), None);
}

pub async fn a_revocation_is_seen_for_its_session_only<E: EdgeStore>(edge: &E) {
    let revoked = SessionId::generate(at(0), [1; 10]);
    let other = SessionId::generate(at(0), [2; 10]);
    assert!(!edge.is_session_revoked(&revoked).await.unwrap());
    edge.put_session_revoked(&revoked, 900).await.unwrap();
    assert!(edge.is_session_revoked(&revoked).await.unwrap());
    assert!(!edge.is_session_revoked(&other).await.unwrap());
}

pub async fn an_api_key_is_published_and_withdrawn<E: EdgeStore>(edge: &E) {
    let (key, hash) = api_key(&app("shop"), &tenant("acme"), 1);
    assert_eq!(edge.find_api_key(&hash).await.unwrap(), None);
    edge.put_api_key(&hash, &key).await.unwrap();
    assert_eq!(edge.find_api_key(&hash).await.unwrap(), Some(key));
    edge.delete_api_key(&hash).await.unwrap();
    assert_eq!(edge.find_api_key(&hash).await.unwrap(), None);
    edge.delete_api_key(&hash).await.unwrap();
}

pub async fn public_keys_are_replaced_per_owner<E: EdgeStore>(edge: &E) {
    let owner = KeyOwner::App(app("shop"));
    assert_eq!(edge.find_public_keys(&owner).await.unwrap(), None);
    let key = |kid: &str, ms: i64| PublishedKey {
        kid: kid.to_owned(),
        public_key: format!("x-{kid}"),
        activates_at: at(ms),
        created_at: at(ms - 10),
    };
    edge.put_public_keys(&owner, &[key("b", 2), key("a", 1)])
        .await
        .unwrap();
    assert_eq!(
        edge.find_public_keys(&owner).await.unwrap(),
        Some(vec![key("b", 2), key("a", 1)])
    );
    edge.put_public_keys(&owner, &[key("c", 3)]).await.unwrap();
    assert_eq!(
        edge.find_public_keys(&owner).await.unwrap(),
        Some(vec![key("c", 3)])
    );
    assert_eq!(
        edge.find_public_keys(&KeyOwner::Operators).await.unwrap(),
        None
    );
    edge.put_public_keys(&KeyOwner::Operators, &[])
        .await
        .unwrap();
    assert_eq!(
        edge.find_public_keys(&KeyOwner::Operators).await.unwrap(),
        Some(vec![])
    );
}

pub async fn app_and_tenant_mirrors_round_trip_and_are_withdrawn<E: EdgeStore>(edge: &E) {
    let (mut shop, _) = new_app("shop");
    shop.settings = AppSettings {
        refresh_grace_seconds: 5,
        ..AppSettings::default()
    };
    assert_eq!(edge.find_app(&shop.id).await.unwrap(), None);
    edge.put_app(&shop).await.unwrap();
    assert_eq!(edge.find_app(&shop.id).await.unwrap(), Some(shop.clone()));
    let mut acme = new_tenant(&shop.id, "acme");
    acme.login_methods = vec![];
    acme.updated_at = Timestamp::from_unix_ms(T0 + 5);
    edge.put_tenant(&acme).await.unwrap();
    assert_eq!(
        edge.find_tenant(&shop.id, &acme.id).await.unwrap(),
        Some(acme.clone())
    );
    acme.login_methods = vec![LoginMethod::EmailPassword];
    edge.put_tenant(&acme).await.unwrap();
    assert_eq!(
        edge.find_tenant(&shop.id, &acme.id).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(
        edge.find_tenant(&shop.id, &tenant("public")).await.unwrap(),
        None
    );
    edge.delete_tenant(&shop.id, &acme.id).await.unwrap();
    assert_eq!(edge.find_tenant(&shop.id, &acme.id).await.unwrap(), None);
    edge.delete_app(&shop.id).await.unwrap();
    assert_eq!(edge.find_app(&shop.id).await.unwrap(), None);
}

pub async fn flags_policy_and_public_keys_are_withdrawn<E: EdgeStore>(edge: &E) {
    let (a, acme, bravo) = (app("shop"), tenant("acme"), tenant("bravo"));
    let (_, face) = user(&a, &acme, "ann@example.com", 1);
    let flags = UserFlags::from_token();
    edge.put_flags(&a, &acme, &face.user_id, &flags)
        .await
        .unwrap();
    edge.put_flags(&a, &bravo, &face.user_id, &flags)
        .await
        .unwrap();
    edge.delete_flags(&a, &acme, &face.user_id).await.unwrap();
    assert_eq!(
        edge.find_flags(&a, &acme, &face.user_id).await.unwrap(),
        None
    );
    assert!(edge
        .find_flags(&a, &bravo, &face.user_id)
        .await
        .unwrap()
        .is_some());
    // Withdrawing what is not there is no error.
    edge.delete_flags(&a, &acme, &face.user_id).await.unwrap();
    edge.put_policy(&a, &AppPolicy::default()).await.unwrap();
    edge.delete_policy(&a).await.unwrap();
    assert_eq!(edge.find_policy(&a).await.unwrap(), None);
    let owner = KeyOwner::App(a.clone());
    let key = PublishedKey {
        kid: "k".into(),
        public_key: "x".into(),
        activates_at: Timestamp::from_unix_ms(T0),
        created_at: Timestamp::from_unix_ms(T0),
    };
    edge.put_public_keys(&owner, std::slice::from_ref(&key))
        .await
        .unwrap();
    edge.put_public_keys(&KeyOwner::Operators, &[key])
        .await
        .unwrap();
    edge.delete_public_keys(&owner).await.unwrap();
    assert_eq!(edge.find_public_keys(&owner).await.unwrap(), None);
    assert!(edge
        .find_public_keys(&KeyOwner::Operators)
        .await
        .unwrap()
        .is_some());
}

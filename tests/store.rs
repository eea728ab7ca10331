//! The store contract, exercised on the memory adapter (the D1 adapter runs the same contract
//! through the end-to-end specs).

use futures_executor::block_on;
use tessera::domain::audit::{Actor, AuditEntry};
use tessera::domain::authz::Scope;
use tessera::domain::email::Email;
use tessera::domain::ids::{ApiKeyId, AppId, OperatorId, TenantId};
use tessera::domain::operator::Operator;
use tessera::domain::password::PasswordPolicy;
use tessera::domain::secret::{PlainSecret, SecretKind};
use tessera::domain::tenancy::{ApiKey, App, Tenant};
use tessera::domain::Error;
use tessera::store::memory::MemoryStore;
use tessera::store::{ApiKeyStore, OperatorStore, TenancyStore};

fn entry(action: &'static str) -> AuditEntry {
    AuditEntry {
        id: format!("entry-{action}"),
        app_id: app("public"),
        at_ms: 0,
        actor: Actor::Operator("op".into()),
        action,
        target: "t".into(),
        tenant_id: None,
        detail: serde_json::json!({}),
    }
}

fn app(id: &str) -> AppId {
    AppId::parse(id).unwrap()
}
fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn owner(email: &str, n: u8) -> Operator {
    Operator {
        id: OperatorId::generate(1, [n; 10]),
        email: Email::parse(email).unwrap(),
        password_hash: Some(PasswordPolicy::insecure_for_tests(1).dummy_hash()),
        is_platform_owner: true,
        created_at_ms: 1,
    }
}

#[test]
fn a_fresh_store_has_the_public_app_and_tenant() {
    let store = MemoryStore::seeded();
    block_on(async {
        assert!(store.find_app(&app("public")).await.unwrap().is_some());
        assert!(store
            .find_tenant(&app("public"), &tenant("public"))
            .await
            .unwrap()
            .is_some());
    });
}

#[test]
fn creating_an_app_twice_reports_that_it_exists() {
    let store = MemoryStore::seeded();
    block_on(async {
        let shop = App {
            id: app("shop"),
            settings: Default::default(),
            created_at_ms: 5,
        };
        let public = Tenant::public_of(&shop.id, 5);
        assert!(store
            .create_app(&shop, &public, &entry("app.create"))
            .await
            .unwrap());
        assert!(!store
            .create_app(&shop, &public, &entry("app.create"))
            .await
            .unwrap());
        let actions: Vec<&str> = store.audit_entries().iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            ["app.create"],
            "the refused second creation left no entry"
        );
        let tenants = store.list_tenants(&shop.id, None, 10).await.unwrap();
        assert_eq!(tenants.len(), 1);
        assert!(tenants[0].id.is_public());
    });
}

#[test]
fn only_one_platform_owner_can_ever_be_created() {
    let store = MemoryStore::seeded();
    block_on(async {
        assert!(store
            .create_platform_owner(&owner("a@example.com", 1))
            .await
            .unwrap());
        assert!(!store
            .create_platform_owner(&owner("b@example.com", 2))
            .await
            .unwrap());
        assert!(store
            .find_operator_by_email("b@example.com")
            .await
            .unwrap()
            .is_none());
    });
}

#[test]
fn pages_continue_after_the_cursor_key() {
    let store = MemoryStore::seeded();
    block_on(async {
        for id in ["c", "a", "b"] {
            let a = App {
                id: app(id),
                settings: Default::default(),
                created_at_ms: 0,
            };
            store
                .create_app(&a, &Tenant::public_of(&a.id, 0), &entry("app.create"))
                .await
                .unwrap();
        }
        let first: Vec<String> = store
            .list_apps(None, 2)
            .await
            .unwrap()
            .iter()
            .map(|a| a.id.to_string())
            .collect();
        assert_eq!(first, ["a", "b"]);
        let rest: Vec<String> = store
            .list_apps(Some("b"), 10)
            .await
            .unwrap()
            .iter()
            .map(|a| a.id.to_string())
            .collect();
        assert_eq!(rest, ["c", "public"]);
    });
}

#[test]
fn deleting_a_tenant_deletes_its_api_keys() {
    let store = MemoryStore::seeded();
    block_on(async {
        let (a, t) = (app("public"), tenant("acme"));
        let mut acme = Tenant::public_of(&a, 0);
        acme.id = t.clone();
        assert!(store
            .create_tenant(&acme, &entry("tenant.create"))
            .await
            .unwrap());
        let secret = PlainSecret::generate(SecretKind::ApiKey, [3; 32]);
        let key = ApiKey {
            id: ApiKeyId::generate(0, [1; 10]),
            app_id: a.clone(),
            tenant_id: t.clone(),
            name: "k".into(),
            scopes: vec![Scope::Introspect],
            created_at_ms: 0,
        };
        store
            .create_api_key(&key, &secret.hash(), &entry("api_key.create"))
            .await
            .unwrap();
        assert_eq!(
            store.find_api_key_by_hash(&secret.hash()).await.unwrap(),
            Some(key)
        );
        assert_eq!(
            store
                .delete_tenant(&a, &t, &entry("tenant.delete"))
                .await
                .unwrap(),
            Some(vec![secret.hash()])
        );
        assert_eq!(
            store.find_api_key_by_hash(&secret.hash()).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .delete_tenant(&a, &t, &entry("tenant.delete"))
                .await
                .unwrap(),
            None
        );
    });
}

#[test]
fn a_store_that_is_down_fails_with_unavailable() {
    let store = MemoryStore::seeded();
    store.set_down(true);
    let result = block_on(store.find_app(&app("public")));
    assert!(matches!(result, Err(Error::Unavailable(_))));
}

#[test]
fn operator_sign_in_attempts_are_counted_before_hashing_and_blocked_past_the_free_ones() {
    use tessera::store::Attempt;
    let store = MemoryStore::seeded();
    let email = Email::parse("a@example.com").unwrap();
    let attempt = Attempt {
        account: "operator:a@example.com".into(),
        client: Some("client:203.0.113.1".into()),
        now_ms: 1_000_000,
    };
    block_on(async {
        for n in 1..=5 {
            let record = store.begin_operator_signin(&email, &attempt).await.unwrap();
            assert_eq!(record.retry_after, None, "attempt {n} is free");
        }
        let blocked = store.begin_operator_signin(&email, &attempt).await.unwrap();
        assert_eq!(
            blocked.retry_after,
            Some(1),
            "the 5th failure blocks for 1 s"
        );
        let later = Attempt {
            now_ms: 1_001_000,
            ..attempt.clone()
        };
        assert_eq!(
            store
                .begin_operator_signin(&email, &later)
                .await
                .unwrap()
                .retry_after,
            None
        );
        store.finish_operator_signin(&later).await.unwrap();
        // A success clears the account: the next attempt is free again.
        assert_eq!(
            store
                .begin_operator_signin(&email, &later)
                .await
                .unwrap()
                .retry_after,
            None
        );
    });
}

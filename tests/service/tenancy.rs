//! Apps and tenants: creation, settings, deletion, and signing-key rotation with overlap.

use crate::world::*;
use futures_executor::block_on;
use serde_json::json;
use tessera::domain::keys::KeyOwner;
use tessera::domain::page::PageRequest;
use tessera::domain::Error;
use tessera::service::{keyring, tenancy};

#[test]
fn only_the_platform_owner_creates_apps_and_an_app_is_created_once() {
    let w = World::new();
    let owner = w.owner();
    w.app(&owner, "shop");
    let again = block_on(tenancy::create_app(&w.cx(), &owner, app("shop")));
    assert!(matches!(again, Err(Error::Conflict(_))));
    let refused = block_on(tenancy::create_app(&w.cx(), &stranger(), app("mine")));
    assert!(matches!(refused, Err(Error::Forbidden(_))));
    let public = block_on(tenancy::get_tenant(
        &w.cx(),
        &owner,
        &app("shop"),
        &tenant("public"),
    ))
    .unwrap();
    assert_eq!(
        public.id,
        tenant("public"),
        "an app comes with its public tenant"
    );
}

#[test]
fn the_public_tenant_cannot_be_deleted_and_unknown_ones_are_not_found() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let public = block_on(tessera::service::deletion::delete_tenant(
        &w.cx(),
        &owner,
        &shop,
        &tenant("public"),
    ));
    assert!(matches!(public, Err(Error::Conflict(_))));
    let missing = block_on(tessera::service::deletion::delete_tenant(
        &w.cx(),
        &owner,
        &shop,
        &tenant("ghost"),
    ));
    assert_eq!(missing.unwrap_err(), Error::TenantNotFound);
    let no_app = block_on(tenancy::get_tenant(
        &w.cx(),
        &owner,
        &app("ghost"),
        &tenant("public"),
    ));
    assert_eq!(no_app.unwrap_err(), Error::AppNotFound);
}

#[test]
fn deleting_a_tenant_ends_its_users_sessions_and_keys() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let key = w.api_key(&owner, &shop, &acme, &["introspect"]);
    let signed = signup(&w, &shop, &acme, "a@example.com");
    block_on(tessera::service::deletion::delete_tenant(
        &w.cx(),
        &owner,
        &shop,
        &acme,
    ))
    .unwrap();
    assert_eq!(
        signin(&w, &shop, &acme, "a@example.com", PASSWORD, None).unwrap_err(),
        Error::TenantNotFound
    );
    assert!(
        !w.kv.keys().iter().any(|k| k.starts_with("key:")),
        "{:?}",
        w.kv.keys()
    );
    w.advance_ms(1_000);
    w.tenant(&owner, &shop, "acme");
    assert_eq!(
        introspect(&w, &shop, &acme, &key, &signed.session.access_token).unwrap_err(),
        Error::InvalidClient
    );
    assert!(
        signin(&w, &shop, &acme, "a@example.com", PASSWORD, None).is_err(),
        "the user is gone with its tenant"
    );
}

#[test]
fn app_settings_change_within_their_bounds() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let set = |changes: serde_json::Value| {
        let serde_json::Value::Object(changes) = changes else {
            unreachable!()
        };
        block_on(tenancy::patch_app(&w.cx(), &owner, &shop, changes))
    };
    let app = set(json!({"access_token_ttl_seconds": 60})).unwrap();
    assert_eq!(app.settings.access_token_ttl_seconds, 60);
    assert!(matches!(
        set(json!({"access_token_ttl_seconds": 59})),
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        set(json!({"colour": "blue"})),
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        set(json!({"password_iterations": 99_999})),
        Err(Error::Validation(_))
    ));
    let signed = signup(&w, &shop, &tenant("public"), "a@example.com");
    assert_eq!(signed.session.expires_in, 60);
}

#[test]
fn a_rotated_key_is_published_before_it_signs_and_the_old_one_verifies_until_its_tokens_expire() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let key = w.api_key(&owner, &shop, &tenant("public"), &["introspect"]);
    let before = signup(&w, &shop, &tenant("public"), "a@example.com");
    let owner_key = KeyOwner::App(shop.clone());
    let published = || block_on(keyring::published_keys(&w.cx(), &owner_key, 900_000)).unwrap();
    assert_eq!(published().len(), 1);
    let rotated = block_on(tenancy::rotate_signing_key(&w.cx(), &owner, &shop)).unwrap();
    assert_eq!(published().len(), 2, "published at once");
    let header = |token: &str| token.split('.').next().unwrap().to_owned();
    let still_old = signin(
        &w,
        &shop,
        &tenant("public"),
        "a@example.com",
        PASSWORD,
        None,
    )
    .unwrap();
    assert_eq!(
        header(&still_old.session.access_token),
        header(&before.session.access_token),
        "not signing yet"
    );
    w.advance_ms(299_000);
    let still_old_later = signin(
        &w,
        &shop,
        &tenant("public"),
        "a@example.com",
        PASSWORD,
        None,
    )
    .unwrap();
    assert_eq!(
        header(&still_old_later.session.access_token),
        header(&before.session.access_token),
        "not after the JWKS max-age alone"
    );
    w.advance_ms(421_000);
    let new = signin(
        &w,
        &shop,
        &tenant("public"),
        "a@example.com",
        PASSWORD,
        None,
    )
    .unwrap();
    assert_ne!(
        header(&new.session.access_token),
        header(&before.session.access_token)
    );
    assert!(new.session.access_token.len() > 10 && !rotated.kid.is_empty());
    assert!(
        is_active(
            &w,
            &shop,
            &tenant("public"),
            &key,
            &still_old.session.access_token
        ),
        "the old key still verifies"
    );
    w.advance_ms(900_000);
    assert_eq!(published().len(), 1, "retired once its last token expired");
}

#[test]
fn the_apps_listed_are_the_ones_the_caller_may_see() {
    let w = World::new();
    let owner = w.owner();
    for id in ["a1", "a2", "a3"] {
        w.app(&owner, id);
    }
    let page = PageRequest::parse(Some("2"), None).unwrap();
    let first = block_on(tenancy::list_apps(&w.cx(), &owner, &page)).unwrap();
    assert_eq!(first.items.len(), 2);
    let page = PageRequest::parse(Some("2"), first.next_cursor.as_deref()).unwrap();
    let second = block_on(tenancy::list_apps(&w.cx(), &owner, &page)).unwrap();
    assert_eq!(second.items.len(), 2, "a3 and public");
    assert!(second.next_cursor.is_none());
    let none = block_on(tenancy::list_apps(
        &w.cx(),
        &stranger(),
        &PageRequest::parse(None, None).unwrap(),
    ))
    .unwrap();
    assert!(none.items.is_empty());
}

#[test]
fn the_audit_log_of_a_recreated_tenant_starts_empty() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    w.advance_ms(1);
    w.api_key(&owner, &shop, &acme, &["introspect"]);
    w.advance_ms(1);
    block_on(tessera::service::deletion::delete_tenant(
        &w.cx(),
        &owner,
        &shop,
        &acme,
    ))
    .unwrap();
    let page = PageRequest::parse(None, None).unwrap();
    let actions = |w: &World| -> Vec<&'static str> {
        block_on(tessera::service::audit::list(
            &w.cx(),
            &owner,
            &shop,
            Some(&acme),
            &page,
        ))
        .unwrap()
        .items
        .iter()
        .map(|e| e.action.as_str())
        .collect()
    };
    assert_eq!(
        actions(&w),
        ["tenant.delete", "api_key.create", "tenant.create"],
        "a deleted tenant's history stays readable"
    );
    w.advance_ms(1);
    w.tenant(&owner, &shop, "acme");
    assert_eq!(actions(&w), ["tenant.create"]);
}

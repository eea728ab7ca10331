//! Tenant API keys: scope confinement, deletion at once, their own tenant only.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::authz::Scope;
use tessera::domain::tenancy::ApiKeyName;
use tessera::domain::Error;
use tessera::service::{api_keys, principal, tenancy};

fn scopes(names: &[&str]) -> Vec<Scope> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    Scope::parse_list(&names).unwrap()
}

#[test]
fn a_key_cannot_carry_more_than_its_creator_holds() {
    let w = World::new();
    let owner = w.owner();
    let (p, t) = (app("public"), tenant("public"));
    let secret = w.api_key(&owner, &p, &t, &["apikeys:write", "users:read"]);
    let key = block_on(principal::principal(&w.cx(), Some(&secret))).unwrap();
    let more = block_on(api_keys::create(
        &w.cx(),
        &key,
        &p,
        &t,
        ApiKeyName::parse("more").unwrap(),
        scopes(&["tenants:write"]),
    ));
    assert!(matches!(more, Err(Error::Forbidden(_))));
    let same = block_on(api_keys::create(
        &w.cx(),
        &key,
        &p,
        &t,
        ApiKeyName::parse("same").unwrap(),
        scopes(&["users:read", "introspect"]),
    ));
    assert!(same.is_ok());
}

#[test]
fn a_deleted_key_stops_working_at_once() {
    let w = World::new();
    let owner = w.owner();
    let (p, t) = (app("public"), tenant("public"));
    let (key, secret) = block_on(api_keys::create(
        &w.cx(),
        &owner,
        &p,
        &t,
        ApiKeyName::parse("doomed").unwrap(),
        scopes(&["tenants:read", "introspect"]),
    ))
    .unwrap();
    let secret = secret.expose().to_owned();
    let signed = signup(&w, &p, &t, "a@example.com");
    assert!(
        is_active(&w, &p, &t, &secret, &signed.session.access_token),
        "warms the isolate's copy"
    );
    block_on(api_keys::delete(&w.cx(), &owner, &p, &t, &key.id)).unwrap();
    assert_eq!(
        block_on(principal::principal(&w.cx(), Some(&secret))).unwrap_err(),
        Error::Unauthorized
    );
    assert_eq!(
        introspect(&w, &p, &t, &secret, &signed.session.access_token).unwrap_err(),
        Error::InvalidClient
    );
    let again = block_on(api_keys::delete(&w.cx(), &owner, &p, &t, &key.id));
    assert!(matches!(again, Err(Error::NotFound(_))));
}

#[test]
fn a_key_acts_only_in_its_own_app_and_tenant() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let secret = w.api_key(&owner, &shop, &acme, &["tenants:read"]);
    let key = block_on(principal::principal(&w.cx(), Some(&secret))).unwrap();
    assert!(block_on(tenancy::get_tenant(&w.cx(), &key, &shop, &acme)).is_ok());
    for (a, t) in [
        (shop.clone(), tenant("public")),
        (app("public"), tenant("public")),
    ] {
        assert!(matches!(
            block_on(tenancy::get_tenant(&w.cx(), &key, &a, &t)),
            Err(Error::Forbidden(_))
        ));
    }
    let page = tessera::domain::page::PageRequest::parse(None, None).unwrap();
    let listed = block_on(tenancy::list_apps(&w.cx(), &key, &page)).unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, shop);
}

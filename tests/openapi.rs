//! The OpenAPI document served at `/openapi.json` describes exactly the routes the worker
//! serves: a route added to the table without documentation (or documented but not served)
//! fails here.

use serde_json::Value;
use std::collections::BTreeSet;
use tessera::http::routes::ROUTES;
use tessera::http::OPENAPI_JSON;

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("openapi.json is valid JSON")
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for method in item.as_object().expect("a path item is an object").keys() {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

#[test]
fn every_served_route_is_documented_and_nothing_else_is() {
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(_, method, path)| (method.to_string(), path.to_string()))
        .collect();
    let documented = documented_operations(&document());
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "openapi.json documents routes that are not served: {unserved:?}"
    );
}

#[test]
fn the_document_is_openapi_3_1_and_every_operation_has_an_id_and_responses() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
        }
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let text = OPENAPI_JSON;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut pieces = text.split("\"$ref\": \"#/components/schemas/");
    pieces.next(); // the text before the first reference
    for piece in pieces {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
}

#[test]
fn every_error_code_of_the_domain_is_listed() {
    let doc = document();
    let listed: Vec<&str> = doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    use tessera::domain::Error;
    for error in [
        Error::validation("x"),
        Error::PayloadTooLarge(1),
        Error::InvalidCredentials,
        Error::InvalidToken,
        Error::TokenReused,
        Error::InvalidClient,
        Error::UserSuspended,
        Error::LoginMethodDisabled,
        Error::RateLimited(1),
        Error::UnknownRole(String::new()),
        Error::UnknownPlan(String::new()),
        Error::InvalidSignature,
        Error::UserNotFound,
        Error::Unauthorized,
        Error::Forbidden(String::new()),
        Error::AppNotFound,
        Error::TenantNotFound,
        Error::MemberNotFound,
        Error::NotFound(String::new()),
        Error::RouteNotFound,
        Error::MethodNotAllowed(vec![]),
        Error::Conflict(String::new()),
        Error::AlreadyBootstrapped,
        Error::EmailTaken,
        Error::Unavailable(String::new()),
        Error::Internal(String::new()),
    ] {
        assert!(
            listed.contains(&error.code()),
            "{} is not in openapi.json",
            error.code()
        );
    }
}

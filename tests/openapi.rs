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
        Error::ClientNotFound,
        Error::NotFound(String::new()),
        Error::RouteNotFound,
        Error::MethodNotAllowed(vec![]),
        Error::Conflict(String::new()),
        Error::AlreadyBootstrapped,
        Error::EmailTaken,
        Error::InvalidCode,
        Error::WrongCode,
        Error::EmailDeliveryNotConfigured,
        Error::ProviderError(String::new()),
        Error::EmailNotVerified,
        Error::AppNotVerified,
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

/// The property names a schema allows, one set per alternative (`oneOf`), with `allOf` parts
/// merged and `$ref`s followed.
fn alternatives(doc: &Value, schema: &Value) -> Vec<(BTreeSet<String>, BTreeSet<String>)> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return alternatives(doc, &doc["components"]["schemas"][name]);
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        return variants.iter().flat_map(|v| alternatives(doc, v)).collect();
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = (BTreeSet::new(), BTreeSet::new());
        for part in parts {
            for (properties, required) in alternatives(doc, part) {
                merged.0.extend(properties);
                merged.1.extend(required);
            }
        }
        return vec![merged];
    }
    let properties = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let required = schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    vec![(properties, required)]
}

/// Checks that a response body of type `T` has exactly the fields its schema documents: every
/// field it sends is a documented property, and every required property is sent.
fn check<T: tessera::http::dto::Documented>() {
    let doc = document();
    let schema = &doc["components"]["schemas"][T::SCHEMA];
    assert!(
        !schema.is_null(),
        "openapi.json has no schema {}",
        T::SCHEMA
    );
    let body = serde_json::to_value(T::example()).unwrap();
    let sent: BTreeSet<String> = body.as_object().unwrap().keys().cloned().collect();
    let fits = alternatives(&doc, schema)
        .iter()
        .any(|(properties, required)| sent.is_subset(properties) && required.is_subset(&sent));
    assert!(
        fits,
        "the body of {} sends {sent:?}, which its schema does not describe: {schema}",
        T::SCHEMA
    );
}

#[test]
fn every_response_body_has_the_fields_its_schema_documents() {
    use tessera::http::dto::*;
    check::<UserBody>();
    check::<ManagedUserBody>();
    check::<SessionBody>();
    check::<UserAndSession>();
    check::<OperatorBody>();
    check::<OperatorTokenBody>();
    check::<MembershipBody>();
    check::<MeBody>();
    check::<AppBody>();
    check::<tessera::domain::tenancy::AppSettings>();
    check::<TenantBody>();
    check::<TenantEnvelope>();
    check::<ApiKeyBody>();
    check::<ApiKeyWithSecret>();
    check::<MemberBody>();
    check::<AuditBody>();
    check::<RoleBody>();
    check::<Jwks>();
    check::<Discovery>();
    check::<OAuthSettingsEnvelope>();
    check::<ClientBody>();
    check::<ClientEnvelope>();
    check::<ClientCreated>();
    check::<TokenBody>();
    check::<OAuthErrorBody>();
    check::<RegisteredClient>();
    check::<GrantBody>();
    check::<ActiveIntrospection>();
    check::<ClientIntrospection>();
    check::<Problem>();
    check::<DeliveryEnvelope>();
    check::<OutboxMessageBody>();
    check::<DeadLetterBody>();
    check::<PasswordlessStarted>();
    check::<PasswordlessSignedIn>();
    check::<OwnSessionBody>();
    check::<ProviderBody>();
    check::<ProviderEnvelope>();
    check::<ThirdPartyStarted>();
    check::<SignedUpBody>();
    check::<OperatorRoleBody>();
    check::<DeletionBody>();
    check::<DeletionProgress>();
}

/// The problem statuses that follow from an operation's shape, whatever it does: a path
/// segment or query value can fail its pattern (`400`), a named app or tenant can be missing
/// (`404`), a body can be malformed (`400`) or too large (`413`), a credential can be missing
/// (`401`) or not allowed (`403` on `/admin`), and every operation but the static ones (health,
/// the document, the console's files) reads a storage binding that can be down (`503`). The schemathesis run of the adversarial
/// suite found operations that answered these without documenting them; this keeps a new
/// operation from repeating it.
#[test]
fn every_operation_documents_the_problems_its_shape_implies() {
    let doc = document();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            let mut needed: BTreeSet<&str> = BTreeSet::new();
            let parameters = op["parameters"].as_array().cloned().unwrap_or_default();
            // The console's files come from the assets binding: no storage, and the file name
            // is not parsed (a file the build did not make is 404).
            let console = matches!(id, "consoleRedirect" | "console" | "consoleAsset");
            if parameters.iter().any(|p| p["in"] == "path") {
                needed.insert("404");
                if !console {
                    needed.insert("400");
                }
            }
            if parameters.iter().any(|p| p["in"] == "query") {
                needed.insert("400");
            }
            if !op["requestBody"].is_null() {
                needed.extend(["400", "413"]);
            }
            let schemes: Vec<&str> = op["security"]
                .as_array()
                .map(|alternatives| {
                    alternatives
                        .iter()
                        .filter_map(|a| a.as_object())
                        .flat_map(|a| a.keys().map(String::as_str))
                        .collect()
                })
                .unwrap_or_default();
            if !schemes.is_empty() {
                needed.insert("401");
            }
            if schemes.contains(&"operatorToken") {
                needed.insert("403");
            }
            if !matches!(id, "health" | "openapi") && !console {
                needed.insert("503");
            }
            let documented = op["responses"].as_object().unwrap();
            for status in needed {
                if !documented.contains_key(status) {
                    missing.push(format!("{method} {path}: {status}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "openapi.json omits problems these operations can answer: {missing:#?}"
    );
}

/// A JSON value read with every object's keys checked for repeats: `serde_json::Value` (and
/// most clients) silently keep the last of two equal keys, so a merge that leaves two
/// `"429"` responses in one operation would document only one of them.
struct NoRepeatedKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for NoRepeatedKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Walk;
        impl<'de> serde::de::Visitor<'de> for Walk {
            type Value = NoRepeatedKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let (mut keys, mut repeated) = (BTreeSet::new(), Vec::new());
                while let Some(key) = map.next_key::<String>()? {
                    let NoRepeatedKeys(inner) = map.next_value()?;
                    repeated.extend(inner.into_iter().map(|path| format!("{key}/{path}")));
                    if !keys.insert(key.clone()) {
                        repeated.push(key);
                    }
                }
                Ok(NoRepeatedKeys(repeated))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut repeated = Vec::new();
                while let Some(NoRepeatedKeys(inner)) = seq.next_element()? {
                    repeated.extend(inner);
                }
                Ok(NoRepeatedKeys(repeated))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys(Vec::new()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys(Vec::new()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys(Vec::new()))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys(Vec::new()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys(Vec::new()))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys(Vec::new()))
            }
        }
        deserializer.deserialize_any(Walk)
    }
}

#[test]
fn no_object_of_the_document_repeats_a_key() {
    let NoRepeatedKeys(repeated) =
        serde_json::from_str(OPENAPI_JSON).expect("openapi.json is valid JSON");
    assert!(
        repeated.is_empty(),
        "openapi.json repeats these keys (only the last one counts): {repeated:#?}"
    );
}

//! The contract of `OAuthStore`: a tenant's settings, its clients (created once, listed by id,
//! updated without touching their secret, deleted with their codes and consents), the grants
//! they hold (sessions revoked with their users' documents bumped), codes redeemed once,
//! consents, the prune, rotation per holder, and what deletions take with them.

use super::edge_sync::{key_of, version_of};
use super::fixtures::*;
use super::steps::*;
use tessera::domain::audit::{Actor, AuditAction, AuditEntry};
use tessera::domain::client_assertion::ClientKeys;
use tessera::domain::deletion::{Deletion, Target};
use tessera::domain::ids::{AppId, DeletionId, TenantId};
use tessera::domain::links::WebUrl;
use tessera::domain::oauth::{
    AuthMethod, AuthorizationCode, Client, ClientId, ClientStatus, ClientType, Consent, GrantType,
    OAuthSettings, Registration, SessionGrant,
};
use tessera::domain::secret::SecretKind;
use tessera::domain::session::Session;
use tessera::domain::time::Timestamp;
use tessera::domain::user::{TenantUser, UserId, UserStatus};
use tessera::store::{AssertionUse, Database};

/// Client number `n` of a tenant, created at `at(n)`: confidential with secret number `n`.
pub fn client(app_id: &AppId, tenant_id: &TenantId, n: u8) -> Client {
    Client {
        app_id: app_id.clone(),
        tenant_id: tenant_id.clone(),
        id: ClientId::generate([n; 16]),
        name: format!("Client {n}"),
        client_type: ClientType::Confidential,
        auth_method: AuthMethod::SecretBasic,
        redirect_uris: vec![
            WebUrl::parse_redirect_uri("https://app.example/cb").unwrap(),
            WebUrl::parse_redirect_uri("http://127.0.0.1/cb").unwrap(),
        ],
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ],
        scopes: vec!["mcp:tools".to_owned(), "mcp:read".to_owned()],
        status: ClientStatus::Active,
        secret_hash: Some(secret(SecretKind::ClientSecret, n)),
        jwks: None,
        tokens_revoked_before: None,
        self_registered: false,
        created_at: at(i64::from(n)),
        updated_at: at(i64::from(n)),
        version: 0,
    }
}

/// Creates `client` with audit entry number `n`.
async fn create<D: Database>(db: &D, client: &Client, n: u32) {
    let e = entry(
        n,
        &client.app_id,
        AuditAction::ClientCreate,
        Some(&client.tenant_id),
    );
    assert!(
        db.create_client(client, &e).await.unwrap(),
        "{:?}",
        client.id
    );
}

/// Code number `n` of `face` for `client`, issued at `at(0)`, expiring at `at(expires)`.
pub fn code(face: &TenantUser, client: &Client, n: u8, expires: i64) -> AuthorizationCode {
    AuthorizationCode {
        hash: secret(SecretKind::AuthorizationCode, n),
        app_id: face.app_id.clone(),
        tenant_id: face.tenant_id.clone(),
        client_id: client.id.clone(),
        user_id: face.user_id,
        redirect_uri: "https://app.example/cb".to_owned(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        scope: "mcp:tools".to_owned(),
        resource: Some("https://mcp.example/".to_owned()),
        created_at: at(0),
        expires_at: at(expires),
        used: None,
    }
}

pub fn consent(face: &TenantUser, client: &Client, scopes: &[&str], fingerprint: &str) -> Consent {
    Consent {
        app_id: face.app_id.clone(),
        tenant_id: face.tenant_id.clone(),
        user_id: face.user_id,
        client_id: client.id.clone(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        fingerprint: fingerprint.to_owned(),
        created_at: at(5),
    }
}

/// Session number `n` of `face`, held by `client` (`None`: the tenant's own app).
pub fn held(face: &TenantUser, n: u32, client: Option<&Client>) -> Session {
    let mut s = session(face, n);
    s.grant = client.map(|c| SessionGrant {
        client_id: c.id.clone(),
        scope: "mcp:tools".to_owned(),
        resource: None,
    });
    s
}

/// Writes session number `n` of `face` held by `client`, with refresh token number `n`.
async fn start<D: Database>(db: &D, face: &TenantUser, n: u32, client: Option<&Client>) -> Session {
    let s = held(face, n, client);
    let account = format!("account:{}", face.email);
    db.create_session(&s, &token(n as u8), &attempt(&account, None, at(0)))
        .await
        .unwrap();
    s
}

async fn revoked_at<D: Database>(db: &D, s: &Session) -> Option<Timestamp> {
    db.find_session(&s.id).await.unwrap().unwrap().revoked_at
}

/// `shop` (audit 1) with its tenant `acme` (2).
async fn acme<D: Database>(db: &D) -> (AppId, TenantId) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    (shop, acme)
}

/// The versions of the faces' edge documents.
async fn versions<D: Database>(db: &D, faces: &[&TenantUser]) -> Vec<i64> {
    let mut versions = Vec::new();
    for face in faces {
        versions.push(version_of(db, &key_of(face)).await);
    }
    versions
}

fn sorted(mut users: Vec<UserId>) -> Vec<UserId> {
    users.sort();
    users
}

pub async fn oauth_settings_round_trip_and_an_unknown_tenant_has_none<D: Database>(db: &D) {
    let (shop, acme) = acme(db).await;
    assert_eq!(
        db.find_oauth_settings(&shop, &acme).await.unwrap(),
        Some(OAuthSettings::default()),
        "the defaults until set"
    );
    let settings = OAuthSettings {
        registration: Registration::Approval,
        client_id_metadata_documents: true,
        scopes: [
            ("mcp:tools".to_owned(), "Use your tools".to_owned()),
            ("files:read".to_owned(), "Read « your » files".to_owned()),
        ]
        .into_iter()
        .collect(),
        access_token_ttl_seconds: 600,
    };
    let e = entry(3, &shop, AuditAction::OAuthSettingsPut, Some(&acme));
    assert!(db
        .put_oauth_settings(&shop, &acme, &settings, &e)
        .await
        .unwrap());
    assert_eq!(
        db.find_oauth_settings(&shop, &acme).await.unwrap(),
        Some(settings.clone())
    );
    assert_eq!(
        db.find_oauth_settings(&shop, &TenantId::public())
            .await
            .unwrap(),
        Some(OAuthSettings::default()),
        "per tenant"
    );
    let nowhere = tenant("nowhere");
    assert_eq!(db.find_oauth_settings(&shop, &nowhere).await.unwrap(), None);
    assert_eq!(
        db.find_oauth_settings(&app("nope"), &acme).await.unwrap(),
        None
    );
    let e = entry(4, &shop, AuditAction::OAuthSettingsPut, Some(&nowhere));
    assert!(!db
        .put_oauth_settings(&shop, &nowhere, &settings, &e)
        .await
        .unwrap());
    assert_eq!(
        actions_of(db, &shop).await,
        [
            AuditAction::AppCreate,
            AuditAction::TenantCreate,
            AuditAction::OAuthSettingsPut,
        ],
        "nothing written for the unknown tenant"
    );
    let e = entry(5, &shop, AuditAction::OAuthSettingsPut, Some(&acme));
    assert!(db
        .put_oauth_settings(&shop, &acme, &OAuthSettings::default(), &e)
        .await
        .unwrap());
    assert_eq!(
        db.find_oauth_settings(&shop, &acme).await.unwrap(),
        Some(OAuthSettings::default()),
        "replaced"
    );
}

pub async fn clients_are_created_once_found_in_their_tenant_and_listed_by_id_in_pages<
    D: Database,
>(
    db: &D,
) {
    let (shop, acme) = acme(db).await;
    let bravo = create_tenant(db, &shop, "bravo", 3).await;
    let mut public = client(&shop, &acme, 7);
    public.client_type = ClientType::Public;
    public.auth_method = AuthMethod::None;
    public.secret_hash = None;
    public.grant_types = vec![GrantType::AuthorizationCode];
    public.scopes = Vec::new();
    let mut revoked = client(&shop, &acme, 8);
    revoked.tokens_revoked_before = Some(at(4));
    let made = [client(&shop, &acme, 9), public, revoked];
    for (n, c) in made.iter().enumerate() {
        create(db, c, 10 + n as u32).await;
    }
    create(db, &client(&shop, &bravo, 6), 20).await;
    for c in &made {
        assert_eq!(
            db.find_client(&shop, &acme, &c.id).await.unwrap().as_ref(),
            Some(c),
            "a round trip"
        );
        assert_eq!(db.find_client(&shop, &bravo, &c.id).await.unwrap(), None);
    }
    let e = entry(21, &shop, AuditAction::ClientCreate, Some(&acme));
    assert!(
        db.create_client(&made[0], &e).await.is_err(),
        "an id is unique in its tenant"
    );
    let nowhere = client(&shop, &tenant("nowhere"), 5);
    let e = entry(22, &shop, AuditAction::ClientCreate, None);
    assert!(!db.create_client(&nowhere, &e).await.unwrap());
    let mut ids: Vec<String> = made.iter().map(|c| c.id.to_string()).collect();
    ids.sort();
    let listed = db.list_clients(&shop, &acme, None, 10).await.unwrap();
    let listed_ids: Vec<String> = listed.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(listed_ids, ids, "in id order, only this tenant's");
    let first = db.list_clients(&shop, &acme, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = db
        .list_clients(&shop, &acme, Some(first[1].id.as_str()), 2)
        .await
        .unwrap();
    let rest_ids: Vec<String> = rest.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(rest_ids, ids[2..]);
    let none_after = db
        .list_clients(&shop, &acme, Some(&ids[2]), 2)
        .await
        .unwrap();
    assert!(none_after.is_empty());
    assert_eq!(
        db.list_clients(&shop, &bravo, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let creates = actions_of(db, &shop)
        .await
        .into_iter()
        .filter(|a| *a == AuditAction::ClientCreate)
        .count();
    assert_eq!(creates, 4, "refused creations leave no entry");
}

pub async fn an_update_keeps_the_secret_hash_type_method_creation_and_revocation_time<
    D: Database,
>(
    db: &D,
) {
    let (shop, acme) = acme(db).await;
    let stored = client(&shop, &acme, 1);
    create(db, &stored, 3).await;
    let revoked = db
        .revoke_client_tokens(&shop, &acme, &stored.id, at(40))
        .await
        .unwrap()
        .expect("the client");
    assert_eq!(revoked.tokens_revoked_before, Some(at(40)));
    assert_eq!(
        Client {
            tokens_revoked_before: None,
            self_registered: false,
            ..revoked
        },
        stored
    );
    let changed = Client {
        name: "Renamed".to_owned(),
        redirect_uris: vec![WebUrl::parse_redirect_uri("https://other.example/cb").unwrap()],
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["mcp:read".to_owned()],
        status: ClientStatus::Pending,
        updated_at: at(50),
        // What an update never writes.
        client_type: ClientType::Public,
        auth_method: AuthMethod::None,
        secret_hash: None,
        tokens_revoked_before: None,
        self_registered: false,
        created_at: at(49),
        ..stored.clone()
    };
    let e = entry(4, &shop, AuditAction::ClientUpdate, Some(&acme));
    assert_eq!(
        db.update_client(&changed, false, at(50), &e).await.unwrap(),
        Some(Vec::new())
    );
    let found = db
        .find_client(&shop, &acme, &stored.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found,
        Client {
            client_type: stored.client_type,
            auth_method: stored.auth_method,
            secret_hash: stored.secret_hash.clone(),
            tokens_revoked_before: Some(at(40)),
            created_at: stored.created_at,
            version: 1,
            ..changed.clone()
        }
    );
    let unknown = client(&shop, &acme, 2);
    let e = entry(5, &shop, AuditAction::ClientUpdate, Some(&acme));
    assert_eq!(
        db.update_client(&unknown, true, at(51), &e).await.unwrap(),
        None
    );
    assert_eq!(
        db.revoke_client_tokens(&shop, &acme, &unknown.id, at(52))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.revoke_client_tokens(&shop, &tenant("public"), &stored.id, at(52))
            .await
            .unwrap(),
        None,
        "a client of another tenant"
    );
    assert_eq!(
        actions_of(db, &shop).await,
        [
            AuditAction::AppCreate,
            AuditAction::TenantCreate,
            AuditAction::ClientCreate,
            AuditAction::ClientUpdate,
        ]
    );
}

pub async fn two_interleaved_updates_of_a_client_lose_neither<D: Database>(db: &D) {
    let (shop, acme) = acme(db).await;
    let stored = client(&shop, &acme, 1);
    create(db, &stored, 3).await;
    // Two changes made from the same read: one renames, the other narrows the scopes.
    let read = db
        .find_client(&shop, &acme, &stored.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.version, 0);
    let renamed = Client {
        name: "Renamed".to_owned(),
        updated_at: at(10),
        ..read.clone()
    };
    let narrowed = Client {
        scopes: vec!["mcp:read".to_owned()],
        updated_at: at(11),
        ..read.clone()
    };
    let e = entry(4, &shop, AuditAction::ClientUpdate, Some(&acme));
    assert_eq!(
        db.update_client(&renamed, false, at(10), &e).await.unwrap(),
        Some(Vec::new())
    );
    // The second, made from the version the first replaced, writes nothing (nor its audit).
    let e = entry(5, &shop, AuditAction::ClientUpdate, Some(&acme));
    assert_eq!(
        db.update_client(&narrowed, false, at(11), &e)
            .await
            .unwrap(),
        None
    );
    let now = db
        .find_client(&shop, &acme, &stored.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((now.name.as_str(), now.version), ("Renamed", 1));
    assert_eq!(now.scopes, stored.scopes, "the stale change wrote nothing");
    // Made again from a fresh read, as the service does, it keeps the first change.
    let again = Client {
        scopes: vec!["mcp:read".to_owned()],
        updated_at: at(12),
        ..now
    };
    let e = entry(6, &shop, AuditAction::ClientUpdate, Some(&acme));
    assert_eq!(
        db.update_client(&again, false, at(12), &e).await.unwrap(),
        Some(Vec::new())
    );
    let last = db
        .find_client(&shop, &acme, &stored.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.name, "Renamed", "the first change is not lost");
    assert_eq!(last.scopes, ["mcp:read"], "nor the second");
    assert_eq!(last.version, 2);
    assert_eq!(
        actions_of(db, &shop).await,
        [
            AuditAction::AppCreate,
            AuditAction::TenantCreate,
            AuditAction::ClientCreate,
            AuditAction::ClientUpdate,
            AuditAction::ClientUpdate,
        ],
        "one entry per change written"
    );
}

pub async fn a_secret_rotation_replaces_the_hash_only_over_the_version_it_read<D: Database>(
    db: &D,
) {
    let (shop, acme) = acme(db).await;
    let stored = client(&shop, &acme, 1);
    create(db, &stored, 3).await;
    let public = Client {
        client_type: ClientType::Public,
        auth_method: AuthMethod::None,
        secret_hash: None,
        ..client(&shop, &acme, 2)
    };
    create(db, &public, 4).await;
    let rotated = Client {
        secret_hash: Some(secret(SecretKind::ClientSecret, 9)),
        updated_at: at(20),
        ..stored.clone()
    };
    let e = entry(5, &shop, AuditAction::ClientSecretRotate, Some(&acme));
    assert!(db.rotate_client_secret(&rotated, &e).await.unwrap());
    let found = db
        .find_client(&shop, &acme, &stored.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found,
        Client {
            version: 1,
            ..rotated.clone()
        },
        "the new hash, nothing else but the time and version"
    );
    // A rotation (or an update) made from the version before writes nothing.
    let stale = Client {
        secret_hash: Some(secret(SecretKind::ClientSecret, 10)),
        ..rotated.clone()
    };
    let e = entry(6, &shop, AuditAction::ClientSecretRotate, Some(&acme));
    assert!(!db.rotate_client_secret(&stale, &e).await.unwrap());
    let e = entry(7, &shop, AuditAction::ClientUpdate, Some(&acme));
    assert_eq!(
        db.update_client(&stored, false, at(21), &e).await.unwrap(),
        None,
        "an update read before the rotation"
    );
    assert_eq!(
        db.find_client(&shop, &acme, &stored.id)
            .await
            .unwrap()
            .unwrap()
            .secret_hash,
        rotated.secret_hash
    );
    // A public client has no secret to replace; an unknown one is not there.
    let e = entry(8, &shop, AuditAction::ClientSecretRotate, Some(&acme));
    let given = Client {
        secret_hash: Some(secret(SecretKind::ClientSecret, 11)),
        ..public.clone()
    };
    assert!(!db.rotate_client_secret(&given, &e).await.unwrap());
    assert_eq!(
        db.find_client(&shop, &acme, &public.id)
            .await
            .unwrap()
            .unwrap()
            .secret_hash,
        None
    );
    let e = entry(9, &shop, AuditAction::ClientSecretRotate, Some(&acme));
    assert!(!db
        .rotate_client_secret(&client(&shop, &acme, 3), &e)
        .await
        .unwrap());
    assert_eq!(
        actions_of(db, &shop).await,
        [
            AuditAction::AppCreate,
            AuditAction::TenantCreate,
            AuditAction::ClientCreate,
            AuditAction::ClientCreate,
            AuditAction::ClientSecretRotate,
        ]
    );
}

pub async fn ending_a_clients_grants_revokes_its_live_sessions_codes_and_tokens_and_bumps_its_users_documents<
    D: Database,
>(
    db: &D,
) {
    let (shop, acme) = acme(db).await;
    let (a, b) = (client(&shop, &acme, 1), client(&shop, &acme, 2));
    create(db, &a, 3).await;
    create(db, &b, 4).await;
    let (_, ann) = sign_up(db, &shop, &acme, "ann@example.com", 10).await;
    let (_, bob) = sign_up(db, &shop, &acme, "bob@example.com", 20).await;
    let (_, cy) = sign_up(db, &shop, &acme, "cy@example.com", 30).await;
    let ann_a = [
        start(db, &ann, 11, Some(&a)).await,
        start(db, &ann, 12, Some(&a)).await,
    ];
    let bob_a = start(db, &bob, 21, Some(&a)).await;
    let ann_b = start(db, &ann, 13, Some(&b)).await;
    let cy_b = start(db, &cy, 31, Some(&b)).await;
    let bob_gone = start(db, &bob, 22, Some(&a)).await;
    db.revoke_session(&bob_gone.id, at(60)).await.unwrap();
    let used = code(&ann, &a, 1, 600_000);
    let unused = code(&bob, &a, 2, 600_000);
    let other = code(&ann, &b, 3, 600_000);
    for c in [&used, &unused, &other] {
        db.create_code(c).await.unwrap();
    }
    assert!(db
        .redeem_code(&used.hash, &held(&ann, 14, Some(&a)), &token(14), at(1))
        .await
        .unwrap());
    let before = versions(db, &[&ann, &bob, &cy]).await;
    let disabled = Client {
        status: ClientStatus::Disabled,
        updated_at: at(100),
        ..a.clone()
    };
    let e = entry(5, &shop, AuditAction::ClientUpdate, Some(&acme));
    let users = db
        .update_client(&disabled, true, at(100), &e)
        .await
        .unwrap()
        .expect("the client");
    assert_eq!(
        sorted(users),
        sorted(vec![ann.user_id, bob.user_id]),
        "each user once"
    );
    for s in ann_a.iter().chain([&bob_a]) {
        assert_eq!(revoked_at(db, s).await, Some(at(100)));
    }
    assert_eq!(
        revoked_at(db, &bob_gone).await,
        Some(at(60)),
        "revoked before"
    );
    for s in [&ann_b, &cy_b] {
        assert_eq!(revoked_at(db, s).await, None, "another client's");
    }
    let own = session(&ann, 10);
    assert_eq!(revoked_at(db, &own).await, None, "the tenant's own session");
    assert_eq!(
        versions(db, &[&ann, &bob, &cy]).await,
        [before[0] + 1, before[1] + 1, before[2]]
    );
    let found = db.find_client(&shop, &acme, &a.id).await.unwrap().unwrap();
    assert_eq!(found.status, ClientStatus::Disabled);
    assert_eq!(found.tokens_revoked_before, Some(at(100)));
    assert_eq!(found.secret_hash, a.secret_hash);
    assert_eq!(
        db.find_code(&unused.hash).await.unwrap(),
        None,
        "not exchanged"
    );
    assert!(
        db.find_code(&used.hash)
            .await
            .unwrap()
            .unwrap()
            .used
            .is_some(),
        "an exchanged code stays, for its replay"
    );
    assert!(db.find_code(&other.hash).await.unwrap().is_some());
    // Nothing left to end: no user, no bump.
    let e = entry(6, &shop, AuditAction::ClientUpdate, Some(&acme));
    let again = Client {
        version: found.version,
        ..disabled.clone()
    };
    assert_eq!(
        db.update_client(&again, true, at(110), &e).await.unwrap(),
        Some(Vec::new())
    );
    assert_eq!(
        versions(db, &[&ann, &bob, &cy]).await,
        [before[0] + 1, before[1] + 1, before[2]]
    );
}

pub async fn deleting_a_client_takes_its_codes_and_consents_and_revokes_its_live_sessions<
    D: Database,
>(
    db: &D,
) {
    let (shop, acme) = acme(db).await;
    let (a, b) = (client(&shop, &acme, 1), client(&shop, &acme, 2));
    create(db, &a, 3).await;
    create(db, &b, 4).await;
    let (_, ann) = sign_up(db, &shop, &acme, "ann@example.com", 10).await;
    let (_, bob) = sign_up(db, &shop, &acme, "bob@example.com", 20).await;
    let ann_a = start(db, &ann, 11, Some(&a)).await;
    let ann_a2 = start(db, &ann, 12, Some(&a)).await;
    let ann_b = start(db, &ann, 13, Some(&b)).await;
    let (code_a, code_b) = (code(&bob, &a, 1, 600_000), code(&bob, &b, 2, 600_000));
    db.create_code(&code_a).await.unwrap();
    db.create_code(&code_b).await.unwrap();
    for c in [&a, &b] {
        db.put_consent(
            &consent(&ann, c, &["mcp:tools"], "fp"),
            &consent_audit(&consent(&ann, c, &["mcp:tools"], "fp")),
        )
        .await
        .unwrap();
        db.put_consent(
            &consent(&bob, c, &["mcp:tools"], "fp"),
            &consent_audit(&consent(&bob, c, &["mcp:tools"], "fp")),
        )
        .await
        .unwrap();
    }
    let ann_before = version_of(db, &key_of(&ann)).await;
    let bob_before = version_of(db, &key_of(&bob)).await;
    let e = entry(5, &shop, AuditAction::ClientDelete, Some(&acme));
    let users = db
        .delete_client(&shop, &acme, &a.id, at(100), &e)
        .await
        .unwrap()
        .expect("the client");
    assert_eq!(users, [ann.user_id], "once, though it held two sessions");
    assert_eq!(db.find_client(&shop, &acme, &a.id).await.unwrap(), None);
    assert_eq!(revoked_at(db, &ann_a).await, Some(at(100)));
    assert_eq!(revoked_at(db, &ann_a2).await, Some(at(100)));
    assert_eq!(revoked_at(db, &ann_b).await, None);
    assert_eq!(version_of(db, &key_of(&ann)).await, ann_before + 1);
    assert_eq!(
        version_of(db, &key_of(&bob)).await,
        bob_before,
        "bob held no session of it"
    );
    assert_eq!(db.find_code(&code_a.hash).await.unwrap(), None);
    assert!(db.find_code(&code_b.hash).await.unwrap().is_some());
    for face in [&ann, &bob] {
        assert_eq!(
            db.find_consent(&shop, &acme, &face.user_id, &a.id)
                .await
                .unwrap(),
            None
        );
        assert!(db
            .find_consent(&shop, &acme, &face.user_id, &b.id)
            .await
            .unwrap()
            .is_some());
    }
    assert!(db.find_client(&shop, &acme, &b.id).await.unwrap().is_some());
    let e = entry(6, &shop, AuditAction::ClientDelete, Some(&acme));
    assert_eq!(
        db.delete_client(&shop, &acme, &a.id, at(101), &e)
            .await
            .unwrap(),
        None
    );
    let e = entry(7, &shop, AuditAction::ClientDelete, Some(&acme));
    assert_eq!(
        db.delete_client(&shop, &TenantId::public(), &b.id, at(102), &e)
            .await
            .unwrap(),
        None,
        "a client of another tenant"
    );
    assert!(db.find_client(&shop, &acme, &b.id).await.unwrap().is_some());
    let deletes = actions_of(db, &shop)
        .await
        .into_iter()
        .filter(|a| *a == AuditAction::ClientDelete)
        .count();
    assert_eq!(deletes, 1, "only the deletion that happened is audited");
}

pub async fn a_code_needs_its_users_face_and_is_redeemed_once<D: Database>(db: &D) {
    let (shop, acme) = acme(db).await;
    let a = client(&shop, &acme, 1);
    create(db, &a, 3).await;
    let (_, ann) = sign_up(db, &shop, &acme, "ann@example.com", 10).await;
    let (_, stranger) = user(&shop, &acme, "stranger@example.com", 20);
    assert!(
        db.create_code(&code(&stranger, &a, 9, 600_000))
            .await
            .is_err(),
        "no face, no code"
    );
    assert_eq!(
        db.find_code(&secret(SecretKind::AuthorizationCode, 9))
            .await
            .unwrap(),
        None
    );
    let issued = code(&ann, &a, 1, 600_000);
    db.create_code(&issued).await.unwrap();
    assert!(db.create_code(&issued).await.is_err(), "a hash is unique");
    assert_eq!(
        db.find_code(&issued.hash).await.unwrap(),
        Some(issued.clone())
    );
    let first = held(&ann, 11, Some(&a));
    assert!(db
        .redeem_code(&issued.hash, &first, &token(11), at(100))
        .await
        .unwrap());
    assert_eq!(
        db.find_code(&issued.hash).await.unwrap(),
        Some(AuthorizationCode {
            used: Some((at(100), first.id)),
            ..issued.clone()
        })
    );
    assert_eq!(
        db.find_session(&first.id).await.unwrap(),
        Some(first.clone()),
        "the grant's session, with its client"
    );
    let presented = db.find_by_refresh_token(&token(11)).await.unwrap().unwrap();
    assert_eq!(presented.session.id, first.id);
    assert_eq!(presented.generation, 0);
    let second = held(&ann, 12, Some(&a));
    assert!(!db
        .redeem_code(&issued.hash, &second, &token(12), at(101))
        .await
        .unwrap());
    assert_eq!(db.find_session(&second.id).await.unwrap(), None);
    assert!(db
        .find_by_refresh_token(&token(12))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        db.find_code(&issued.hash).await.unwrap().unwrap().used,
        Some((at(100), first.id)),
        "the first exchange stands"
    );
    let third = held(&ann, 13, Some(&a));
    assert!(!db
        .redeem_code(
            &secret(SecretKind::AuthorizationCode, 8),
            &third,
            &token(13),
            at(101)
        )
        .await
        .unwrap());
    assert_eq!(db.find_session(&third.id).await.unwrap(), None);
}

pub async fn an_expired_code_or_one_of_a_suspended_user_is_not_redeemed<D: Database>(db: &D) {
    let (shop, acme) = acme(db).await;
    let a = client(&shop, &acme, 1);
    create(db, &a, 3).await;
    let (_, ann) = sign_up(db, &shop, &acme, "ann@example.com", 10).await;
    let expiring = code(&ann, &a, 1, 100);
    let later = code(&ann, &a, 2, 600_000);
    db.create_code(&expiring).await.unwrap();
    db.create_code(&later).await.unwrap();
    let s = held(&ann, 11, Some(&a));
    assert!(!db
        .redeem_code(&expiring.hash, &s, &token(11), at(100))
        .await
        .unwrap());
    assert_eq!(db.find_session(&s.id).await.unwrap(), None);
    assert_eq!(
        db.find_code(&expiring.hash).await.unwrap().unwrap().used,
        None
    );
    let mut suspended = ann.clone();
    suspended.status = UserStatus::Suspended;
    let e = entry(4, &shop, AuditAction::UserSuspend, Some(&acme));
    assert!(db.update_face(&suspended, 0, &e).await.unwrap());
    assert!(!db
        .redeem_code(&later.hash, &s, &token(11), at(99))
        .await
        .unwrap());
    assert_eq!(db.find_session(&s.id).await.unwrap(), None);
    assert_eq!(db.find_code(&later.hash).await.unwrap().unwrap().used, None);
    let e = entry(5, &shop, AuditAction::UserUnsuspend, Some(&acme));
    assert!(db.update_face(&ann, 1, &e).await.unwrap());
    assert!(
        db.redeem_code(&later.hash, &s, &token(11), at(99))
            .await
            .unwrap(),
        "active again, within its time"
    );
}

pub async fn a_consent_is_put_replaced_and_found_only_for_a_face<D: Database>(db: &D) {
    let (shop, acme) = acme(db).await;
    let (a, b) = (client(&shop, &acme, 1), client(&shop, &acme, 2));
    create(db, &a, 3).await;
    create(db, &b, 4).await;
    let (_, ann) = sign_up(db, &shop, &acme, "ann@example.com", 10).await;
    let find = |client: &Client, user: UserId| {
        let id = client.id.clone();
        let (shop, acme) = (shop.clone(), acme.clone());
        async move { db.find_consent(&shop, &acme, &user, &id).await.unwrap() }
    };
    assert_eq!(find(&a, ann.user_id).await, None);
    let given = consent(&ann, &a, &["mcp:tools", "mcp:read"], "fp-1");
    db.put_consent(&given, &consent_audit(&given))
        .await
        .unwrap();
    assert_eq!(find(&a, ann.user_id).await, Some(given.clone()));
    assert_eq!(find(&b, ann.user_id).await, None, "per client");
    let mut replaced = consent(&ann, &a, &["mcp:read"], "fp-2");
    replaced.created_at = at(9);
    db.put_consent(&replaced, &consent_audit(&replaced))
        .await
        .unwrap();
    assert_eq!(find(&a, ann.user_id).await, Some(replaced));
    let empty = consent(&ann, &b, &[], "fp-3");
    db.put_consent(&empty, &consent_audit(&empty))
        .await
        .unwrap();
    assert_eq!(find(&b, ann.user_id).await, Some(empty), "no scope at all");
    let (_, stranger) = user(&shop, &acme, "stranger@example.com", 20);
    db.put_consent(
        &consent(&stranger, &a, &["mcp:tools"], "fp"),
        &consent_audit(&consent(&stranger, &a, &["mcp:tools"], "fp")),
    )
    .await
    .unwrap();
    assert_eq!(
        find(&a, stranger.user_id).await,
        None,
        "nothing without a face"
    );
    assert_eq!(
        db.find_consent(&shop, &TenantId::public(), &ann.user_id, &a.id)
            .await
            .unwrap(),
        None,
        "per tenant"
    );
}

pub async fn codes_expired_before_a_time_are_pruned_in_bounded_batches<D: Database>(db: &D) {
    let (shop, acme) = acme(db).await;
    let a = client(&shop, &acme, 1);
    create(db, &a, 3).await;
    let (_, ann) = sign_up(db, &shop, &acme, "ann@example.com", 10).await;
    let codes = [
        code(&ann, &a, 1, 10),
        code(&ann, &a, 2, 20),
        code(&ann, &a, 3, 30),
        code(&ann, &a, 4, 600_000),
    ];
    for c in &codes {
        db.create_code(c).await.unwrap();
    }
    assert_eq!(db.prune_codes(at(30), 1).await.unwrap(), 1);
    assert_eq!(db.prune_codes(at(30), 5).await.unwrap(), 1);
    assert_eq!(db.prune_codes(at(30), 5).await.unwrap(), 0);
    for c in &codes[..2] {
        assert_eq!(db.find_code(&c.hash).await.unwrap(), None);
    }
    for c in &codes[2..] {
        assert!(
            db.find_code(&c.hash).await.unwrap().is_some(),
            "expiring at or after the time"
        );
    }
}

pub async fn a_presented_token_rotates_only_for_the_holder_of_its_session<D: Database>(db: &D) {
    let (shop, acme) = acme(db).await;
    let (a, b) = (client(&shop, &acme, 1), client(&shop, &acme, 2));
    create(db, &a, 3).await;
    create(db, &b, 4).await;
    let (_, ann) = sign_up(db, &shop, &acme, "ann@example.com", 10).await;
    let own = session(&ann, 10);
    let of_a = start(db, &ann, 11, Some(&a)).await;
    let rotate = |presented: u8, successor: u8, holder: Option<&Client>| {
        let holder = holder.map(|c| c.id.clone());
        let (shop, acme) = (shop.clone(), acme.clone());
        async move {
            db.rotate_presented(
                &shop,
                &acme,
                &token(presented),
                &token(successor),
                holder.as_ref(),
                at(1_000),
            )
            .await
            .unwrap()
        }
    };
    for (presented, holder) in [(10, Some(&a)), (11, None), (11, Some(&b))] {
        let (rotated, found) = rotate(presented, 100 + presented, holder).await;
        assert!(!rotated, "{presented} by {holder:?}");
        let found = found.expect("the presented token's session");
        assert_eq!(found.generation, 0);
        assert_eq!(found.session.generation, 0, "not moved");
        assert!(db
            .find_by_refresh_token(&token(100 + presented))
            .await
            .unwrap()
            .is_none());
    }
    let (rotated, found) = rotate(11, 111, Some(&a)).await;
    assert!(rotated);
    let found = found.unwrap();
    assert_eq!(found.session.id, of_a.id);
    assert_eq!(found.session.generation, 1);
    assert_eq!(found.session.grant, of_a.grant, "still held by its client");
    let successor = db
        .find_by_refresh_token(&token(111))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((successor.session.id, successor.generation), (of_a.id, 1));
    let (rotated, found) = rotate(10, 110, None).await;
    assert!(rotated);
    assert_eq!(found.unwrap().session.id, own.id);
}

/// `shop` with tenants `acme` and `bravo`: ann has a face in both, bob in acme; a client in
/// each tenant; a code and a consent of each face for its tenant's client; settings in both.
struct Furnished {
    shop: AppId,
    acme: TenantId,
    bravo: TenantId,
    ann_acme: TenantUser,
    ann_bravo: TenantUser,
    bob: TenantUser,
    a: Client,
    b: Client,
}

async fn furnish<D: Database>(db: &D) -> Furnished {
    let (shop, acme) = acme(db).await;
    let bravo = create_tenant(db, &shop, "bravo", 3).await;
    let (a, b) = (client(&shop, &acme, 1), client(&shop, &bravo, 2));
    create(db, &a, 4).await;
    create(db, &b, 5).await;
    for (n, t) in [(6, &acme), (7, &bravo)] {
        let e = entry(n, &shop, AuditAction::OAuthSettingsPut, Some(t));
        let settings = OAuthSettings {
            access_token_ttl_seconds: 300,
            ..OAuthSettings::default()
        };
        assert!(db
            .put_oauth_settings(&shop, t, &settings, &e)
            .await
            .unwrap());
    }
    let (_, ann_acme) = sign_up(db, &shop, &acme, "ann@example.com", 10).await;
    let mut ann_bravo = ann_acme.clone();
    ann_bravo.tenant_id = bravo.clone();
    let e = entry(8, &shop, AuditAction::UserAssociate, Some(&bravo));
    assert!(db.associate(&ann_bravo, &e).await.unwrap());
    let (_, bob) = sign_up(db, &shop, &acme, "bob@example.com", 20).await;
    for (n, face, c) in [(1, &ann_acme, &a), (2, &ann_bravo, &b), (3, &bob, &a)] {
        db.create_code(&code(face, c, n, 600_000)).await.unwrap();
        db.put_consent(
            &consent(face, c, &["mcp:tools"], "fp"),
            &consent_audit(&consent(face, c, &["mcp:tools"], "fp")),
        )
        .await
        .unwrap();
    }
    start(db, &ann_acme, 11, Some(&a)).await;
    Furnished {
        shop,
        acme,
        bravo,
        ann_acme,
        ann_bravo,
        bob,
        a,
        b,
    }
}

/// Whether the code number `n` and the consent of `face` to `client` are still there.
async fn traces<D: Database>(db: &D, face: &TenantUser, client: &Client, n: u8) -> (bool, bool) {
    let code = db
        .find_code(&secret(SecretKind::AuthorizationCode, n))
        .await
        .unwrap()
        .is_some();
    let consent = db
        .find_consent(&face.app_id, &face.tenant_id, &face.user_id, &client.id)
        .await
        .unwrap()
        .is_some();
    (code, consent)
}

fn deletion(target: &Target, tenants: Vec<TenantId>, n: u32) -> Deletion {
    Deletion::begin(
        DeletionId::generate(at(i64::from(n)), random(n)),
        target,
        tenants,
        at(i64::from(n)),
    )
}

pub async fn a_users_deletion_from_a_tenant_takes_its_codes_and_consents_there_only<D: Database>(
    db: &D,
) {
    let f = furnish(db).await;
    let target = Target::User {
        app: f.shop.clone(),
        tenant: Some(f.acme.clone()),
        user: f.ann_acme.user_id,
    };
    let mut e = entry(30, &f.shop, AuditAction::UserDelete, Some(&f.acme));
    e.target = f.ann_acme.user_id.to_string();
    assert!(db
        .begin_deletion(&deletion(&target, vec![f.acme.clone()], 30), &e)
        .await
        .unwrap());
    assert_eq!(
        traces(db, &f.ann_acme, &f.a, 1).await,
        (false, false),
        "the first step takes them with the face"
    );
    assert_eq!(traces(db, &f.ann_bravo, &f.b, 2).await, (true, true));
    assert_eq!(traces(db, &f.bob, &f.a, 3).await, (true, true));
    assert!(db
        .find_client(&f.shop, &f.acme, &f.a.id)
        .await
        .unwrap()
        .is_some());
}

pub async fn a_tenant_deletion_takes_its_settings_clients_codes_consents_and_grants<D: Database>(
    db: &D,
) {
    let f = furnish(db).await;
    let target = Target::Tenant(f.shop.clone(), f.acme.clone());
    let (_, purged) = delete_through_ports(db, &target, vec![], 40, 2)
        .await
        .expect("acme is deleted");
    assert!(purged.rows > 0);
    assert_eq!(
        purged.client_hashes,
        [f.a.secret_hash.clone().unwrap()],
        "acme's client secrets are found (for the edge) before the rows go, bravo's not"
    );
    assert_eq!(
        db.find_oauth_settings(&f.shop, &f.acme).await.unwrap(),
        None
    );
    assert_eq!(
        db.find_client(&f.shop, &f.acme, &f.a.id).await.unwrap(),
        None
    );
    assert_eq!(traces(db, &f.ann_acme, &f.a, 1).await, (false, false));
    assert_eq!(traces(db, &f.bob, &f.a, 3).await, (false, false));
    assert!(db
        .find_by_refresh_token(&token(11))
        .await
        .unwrap()
        .is_none());
    // bravo keeps everything.
    assert!(db
        .find_client(&f.shop, &f.bravo, &f.b.id)
        .await
        .unwrap()
        .is_some());
    assert_eq!(traces(db, &f.ann_bravo, &f.b, 2).await, (true, true));
    assert_eq!(
        db.find_oauth_settings(&f.shop, &f.bravo)
            .await
            .unwrap()
            .map(|s| s.access_token_ttl_seconds),
        Some(300)
    );
    // A namesake starts without any of it.
    let acme = create_tenant(db, &f.shop, "acme", 50).await;
    assert_eq!(
        db.find_oauth_settings(&f.shop, &acme).await.unwrap(),
        Some(OAuthSettings::default())
    );
    assert!(db
        .list_clients(&f.shop, &acme, None, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn an_app_deletion_takes_every_oauth_row_of_the_app_and_nothing_of_another<
    D: Database,
>(
    db: &D,
) {
    let f = furnish(db).await;
    let other = create_app(db, "other", 60).await;
    let kept = client(&other, &TenantId::public(), 3);
    create(db, &kept, 61).await;
    let (_, cy) = sign_up(db, &other, &TenantId::public(), "cy@example.com", 62).await;
    db.create_code(&code(&cy, &kept, 9, 600_000)).await.unwrap();
    db.put_consent(
        &consent(&cy, &kept, &[], "fp"),
        &consent_audit(&consent(&cy, &kept, &[], "fp")),
    )
    .await
    .unwrap();
    let (_, purged) = delete_through_ports(db, &Target::App(f.shop.clone()), vec![], 70, 2)
        .await
        .expect("shop is deleted");
    let mut hashes = purged.client_hashes.clone();
    hashes.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    let mut expected = vec![
        f.a.secret_hash.clone().unwrap(),
        f.b.secret_hash.clone().unwrap(),
    ];
    expected.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    assert_eq!(
        hashes, expected,
        "every client secret of the app, none of another"
    );
    for t in [&f.acme, &f.bravo] {
        assert_eq!(db.find_oauth_settings(&f.shop, t).await.unwrap(), None);
        assert!(db
            .list_clients(&f.shop, t, None, 10)
            .await
            .unwrap()
            .is_empty());
    }
    assert_eq!(traces(db, &f.ann_acme, &f.a, 1).await, (false, false));
    assert_eq!(traces(db, &f.ann_bravo, &f.b, 2).await, (false, false));
    assert_eq!(traces(db, &f.bob, &f.a, 3).await, (false, false));
    assert!(db
        .find_client(&other, &TenantId::public(), &kept.id)
        .await
        .unwrap()
        .is_some());
    assert_eq!(traces(db, &cy, &kept, 9).await, (true, true));
}

/// The audit entry of a consent (a fresh id each time: entries are unique).
pub fn consent_audit(consent: &Consent) -> AuditEntry {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(90_000);
    let mut e = entry(
        NEXT.fetch_add(1, Ordering::Relaxed),
        &consent.app_id,
        AuditAction::GrantConsent,
        Some(&consent.tenant_id),
    );
    e.actor = Actor::EndUser;
    e
}

/// A `private_key_jwt` client (number `n`) with one Ed25519 public key.
fn jwt_client(app_id: &AppId, tenant_id: &TenantId, n: u8, x: &str) -> Client {
    let keys = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": x}]});
    Client {
        auth_method: AuthMethod::PrivateKeyJwt,
        secret_hash: None,
        jwks: Some(ClientKeys::parse(&keys).unwrap()),
        ..client(app_id, tenant_id, n)
    }
}

pub async fn a_private_key_jwt_clients_keys_round_trip_and_its_assertions_are_used_once_until_pruned<
    D: Database,
>(
    db: &D,
) {
    let (shop, acme) = acme(db).await;
    const X1: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const X2: &str = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo";
    let a = jwt_client(&shop, &acme, 1, X1);
    create(db, &a, 3).await;
    let c = client(&shop, &acme, 2);
    create(db, &c, 4).await;
    assert_eq!(
        db.find_client(&shop, &acme, &a.id).await.unwrap(),
        Some(a.clone())
    );
    // The keys rotate with an update; a secret client's update cannot give it keys.
    let rotated = Client {
        jwks: jwt_client(&shop, &acme, 1, X2).jwks,
        ..a.clone()
    };
    let e = entry(5, &shop, AuditAction::ClientUpdate, Some(&acme));
    db.update_client(&rotated, false, at(5), &e)
        .await
        .unwrap()
        .expect("a");
    let read = db
        .find_client(&shop, &acme, &a.id)
        .await
        .unwrap()
        .expect("a");
    assert_eq!(read.jwks, rotated.jwks);
    let keyed = Client {
        jwks: a.jwks.clone(),
        ..c.clone()
    };
    let e = entry(6, &shop, AuditAction::ClientUpdate, Some(&acme));
    db.update_client(&keyed, false, at(6), &e)
        .await
        .unwrap()
        .expect("c");
    assert_eq!(
        db.find_client(&shop, &acme, &c.id)
            .await
            .unwrap()
            .unwrap()
            .jwks,
        None
    );

    let used_at = |client: &Client, hash: &'static str, until: i64, now: i64, max_live: usize| {
        let id = client.id.clone();
        let (shop, acme) = (shop.clone(), acme.clone());
        async move {
            let used = AssertionUse {
                jti_hash: hash.to_owned(),
                remember_until: at(until),
                now: at(now),
                max_live,
            };
            db.use_assertion((&shop, &acme, &id), &used).await.unwrap()
        }
    };
    let used =
        |client: &Client, hash: &'static str, until: i64| used_at(client, hash, until, 0, 100);
    assert!(used(&a, "h1", 100).await, "first use");
    assert!(!used(&a, "h1", 100).await, "a replay");
    assert!(used(&c, "h1", 100).await, "another client's jti is its own");
    assert!(used(&a, "h2", 200).await);
    let stranger = client(&shop, &acme, 9);
    assert!(
        !used(&stranger, "h1", 100).await,
        "no client, nothing written"
    );
    // Pruned once expired, in bounded batches; then the jti could be used again.
    assert_eq!(db.prune_codes(at(150), 1).await.unwrap(), 1);
    assert_eq!(db.prune_codes(at(150), 10).await.unwrap(), 1);
    assert_eq!(db.prune_codes(at(150), 10).await.unwrap(), 0);
    assert!(!used(&a, "h2", 200).await, "not expired: kept");
    assert!(used(&a, "h1", 300).await, "expired and pruned");
    // They go with their client.
    let e = entry(7, &shop, AuditAction::ClientDelete, Some(&acme));
    db.delete_client(&shop, &acme, &a.id, at(7), &e)
        .await
        .unwrap()
        .expect("a");
    create(db, &a, 8).await;
    assert!(used(&a, "h2", 200).await, "the namesake starts afresh");
    // At most `max_live` unexpired ones per client; expired ones go with the next uses.
    let b = jwt_client(&shop, &acme, 3, X1);
    create(db, &b, 9).await;
    assert!(used_at(&b, "b1", 500, 400, 2).await);
    assert!(used_at(&b, "b2", 500, 400, 2).await);
    assert!(!used_at(&b, "b3", 500, 400, 2).await, "two live already");
    assert!(used_at(&a, "b3", 500, 400, 2).await, "per client");
    assert!(used_at(&b, "b3", 700, 600, 2).await, "once they expired");
    assert!(
        used_at(&b, "b1", 700, 600, 2).await,
        "the expired b1 was forgotten by a use"
    );
}

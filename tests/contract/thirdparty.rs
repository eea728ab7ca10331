//! The contract of `ThirdPartyStore`: providers (replaced in place, audited, deleted with their
//! identities), flows taken once, identities per tenant and issuer, sign-ups that never write
//! over a taken email, links made only while the user still has the email, and the
//! pre-takeover clean-up.

use super::fixtures::*;
use super::steps::*;
use tessera::domain::audit::AuditAction;
use tessera::domain::deletion::{Deletion, Target};
use tessera::domain::edge::{EdgeKey, MirroredDoc};
use tessera::domain::ids::{AppId, DeletionId, ProviderId, TenantId};
use tessera::domain::links::WebUrl;
use tessera::domain::secret::SecretKind;
use tessera::domain::thirdparty::{Endpoints, Flow, Identity, Provider, ProviderKind, TokenAuth};
use tessera::domain::throttle::CLIENT;
use tessera::domain::user::{TenantUser, User};
use tessera::store::{Database, Settlement};

fn url(raw: &str) -> WebUrl {
    WebUrl::parse_provider_url(raw, "url").unwrap()
}

pub fn pid(id: &str) -> ProviderId {
    ProviderId::parse(id).unwrap()
}

pub fn provider(app_id: &AppId, tenant_id: &TenantId, id: &str, issuer: &str, n: i64) -> Provider {
    Provider {
        app_id: app_id.clone(),
        tenant_id: tenant_id.clone(),
        id: pid(id),
        kind: ProviderKind::Oidc,
        issuer: url(issuer),
        client_id: "client".into(),
        sealed_secret: "v1.nonce.sealed".into(),
        scopes: vec!["openid".into(), "email".into()],
        endpoints: Endpoints {
            authorization_endpoint: url(&format!("{issuer}/auth")),
            token_endpoint: url(&format!("{issuer}/token")),
            jwks_uri: Some(url(&format!("{issuer}/jwks"))),
            userinfo_endpoint: None,
            token_auth: TokenAuth::Basic,
        },
        created_at: at(n),
        updated_at: at(n),
    }
}

pub fn identity(face: &TenantUser, provider: &str, subject: &str, issuer: &str) -> Identity {
    Identity {
        app_id: face.app_id.clone(),
        tenant_id: face.tenant_id.clone(),
        provider_id: pid(provider),
        subject: subject.into(),
        issuer: issuer.into(),
        user_id: face.user_id,
        email: Some(face.email.clone()),
        created_at: at(50),
    }
}

/// `shop` (audit 1), `acme` (2) with the provider `idp` of `https://idp.test` (3).
async fn acme_with_idp<D: Database>(db: &D) -> (AppId, TenantId) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let e = entry(3, &shop, AuditAction::ProviderPut, Some(&acme));
    let p = provider(&shop, &acme, "idp", "https://idp.test", 3);
    assert_eq!(db.put_provider(&p, &e).await.unwrap(), Some(true));
    (shop, acme)
}

const ISSUER: &str = "https://idp.test";

pub async fn a_provider_is_created_replaced_in_place_listed_and_deleted_with_audit<D: Database>(
    db: &D,
) {
    let (shop, acme) = acme_with_idp(db).await;
    let mut changed = provider(&shop, &acme, "idp", ISSUER, 10);
    changed.client_id = "other-client".into();
    let e = entry(4, &shop, AuditAction::ProviderPut, Some(&acme));
    assert_eq!(db.put_provider(&changed, &e).await.unwrap(), Some(false));
    let stored = db
        .find_provider(&shop, &acme, &pid("idp"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client_id, "other-client");
    assert_eq!(stored.created_at, at(3), "creation time kept");
    assert_eq!(stored.updated_at, at(10));
    assert_eq!(stored.endpoints, changed.endpoints);
    let e = entry(5, &shop, AuditAction::ProviderPut, Some(&acme));
    let second = provider(&shop, &acme, "b-idp", ISSUER, 5);
    db.put_provider(&second, &e).await.unwrap();
    let listed = db.list_providers(&shop, &acme, None, 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["b-idp", "idp"]);
    let page = db
        .list_providers(&shop, &acme, Some("b-idp"), 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    let e = entry(6, &shop, AuditAction::ProviderDelete, Some(&acme));
    assert!(db
        .delete_provider(&shop, &acme, &pid("idp"), &e)
        .await
        .unwrap());
    let e = entry(7, &shop, AuditAction::ProviderDelete, Some(&acme));
    assert!(!db
        .delete_provider(&shop, &acme, &pid("idp"), &e)
        .await
        .unwrap());
    assert!(db
        .find_provider(&shop, &acme, &pid("idp"))
        .await
        .unwrap()
        .is_none());
    let nowhere = provider(&shop, &tenant("nowhere"), "idp", ISSUER, 8);
    let e = entry(8, &shop, AuditAction::ProviderPut, None);
    assert_eq!(db.put_provider(&nowhere, &e).await.unwrap(), None);
    assert_eq!(
        actions_of(db, &shop).await,
        [
            AuditAction::AppCreate,
            AuditAction::TenantCreate,
            AuditAction::ProviderPut,
            AuditAction::ProviderPut,
            AuditAction::ProviderPut,
            AuditAction::ProviderDelete,
        ]
    );
}

pub async fn a_flow_is_taken_once_and_pruned_once_expired<D: Database>(db: &D) {
    let (shop, acme) = acme_with_idp(db).await;
    let flow = |n: u8, expires: i64| Flow {
        state_hash: secret(SecretKind::FlowState, n),
        app_id: shop.clone(),
        tenant_id: acme.clone(),
        provider_id: pid("idp"),
        redirect_uri: WebUrl::parse_redirect_uri("https://app.example/cb").unwrap(),
        created_at: at(0),
        expires_at: at(expires),
    };
    db.create_flow(&flow(1, 600_000)).await.unwrap();
    db.create_flow(&flow(2, 100)).await.unwrap();
    assert!(
        db.create_flow(&flow(1, 600_000)).await.is_err(),
        "a state is unique"
    );
    let taken = db
        .take_flow(&secret(SecretKind::FlowState, 1))
        .await
        .unwrap();
    assert_eq!(taken, Some(flow(1, 600_000)));
    assert_eq!(
        db.take_flow(&secret(SecretKind::FlowState, 1))
            .await
            .unwrap(),
        None
    );
    db.create_flow(&flow(3, 600_000)).await.unwrap();
    assert_eq!(db.prune_flows(at(100), 10).await.unwrap(), 1);
    assert_eq!(
        db.take_flow(&secret(SecretKind::FlowState, 2))
            .await
            .unwrap(),
        None
    );
    assert!(db
        .take_flow(&secret(SecretKind::FlowState, 3))
        .await
        .unwrap()
        .is_some());
}

pub async fn a_flow_step_counts_the_client_and_finds_the_provider<D: Database>(db: &D) {
    let (shop, acme) = acme_with_idp(db).await;
    let client = Some(("client:203.0.113.9", &CLIENT));
    for _ in 0..CLIENT.free_failures {
        let counted = db
            .begin_flow_step(&shop, &acme, &pid("idp"), client, at(10))
            .await
            .unwrap();
        assert_eq!(counted.retry_after, None);
        assert_eq!(counted.found.unwrap().id.as_str(), "idp");
    }
    // The next one is counted and blocks the client for the back-off; the one after is refused.
    db.begin_flow_step(&shop, &acme, &pid("idp"), client, at(10))
        .await
        .unwrap();
    let refused = db
        .begin_flow_step(&shop, &acme, &pid("idp"), client, at(10))
        .await
        .unwrap();
    assert!(refused.retry_after.is_some());
    let uncounted = db
        .begin_flow_step(&shop, &acme, &pid("nope"), None, at(10))
        .await
        .unwrap();
    assert_eq!((uncounted.found, uncounted.retry_after), (None, None));
}

/// A new user of `acme` (not yet written) with its face and identity at `idp`.
fn newcomer(shop: &AppId, acme: &TenantId, address: &str, n: u32) -> (User, TenantUser, Identity) {
    let (mut u, face) = user(shop, acme, address, n);
    u.password_hash = None;
    u.email_verified = true;
    let i = identity(&face, "idp", &format!("sub-{n}"), ISSUER);
    (u, face, i)
}

pub async fn a_sign_up_writes_the_user_its_identity_and_session_only_over_a_free_email<
    D: Database,
>(
    db: &D,
) {
    let (shop, acme) = acme_with_idp(db).await;
    let (u, face, i) = newcomer(&shop, &acme, "ada@example.com", 4);
    let s = session(&face, 4);
    let settle = Settlement::default();
    assert!(db
        .thirdparty_sign_up(&u, &face, &i, (&s, &token(4)), &settle)
        .await
        .unwrap());
    let found = db
        .find_identity(&shop, &acme, &pid("idp"), ISSUER, "sub-4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.identity, i);
    assert_eq!(found.user.id, u.id);
    assert!(found.user.email_verified);
    assert_eq!(found.face.providers, [pid("idp")]);
    assert!(db.find_session(&s.id).await.unwrap().is_some());
    // Another subject with the same email writes nothing.
    let (u2, face2, i2) = newcomer(&shop, &acme, "ada@example.com", 5);
    let s2 = session(&face2, 5);
    assert!(!db
        .thirdparty_sign_up(&u2, &face2, &i2, (&s2, &token(5)), &settle)
        .await
        .unwrap());
    assert!(db
        .find_identity(&shop, &acme, &pid("idp"), ISSUER, "sub-5")
        .await
        .unwrap()
        .is_none());
    assert!(db.find_session(&s2.id).await.unwrap().is_none());
    // The same subject is unknown in another tenant and under another issuer.
    assert!(db
        .find_identity(&shop, &tenant("public"), &pid("idp"), ISSUER, "sub-4")
        .await
        .unwrap()
        .is_none());
    assert!(db
        .find_identity(&shop, &acme, &pid("idp"), "https://other.test", "sub-4")
        .await
        .unwrap()
        .is_none());
}

pub async fn a_takeover_link_removes_the_password_and_revokes_the_other_sessions<D: Database>(
    db: &D,
) {
    let (shop, acme) = acme_with_idp(db).await;
    let (u, face) = user(&shop, &acme, "victim@example.com", 4);
    let squatter = session(&face, 4);
    assert!(db
        .create_user(&u, &face, &squatter, &token(4))
        .await
        .unwrap());
    let i = identity(&face, "idp", "victim-sub", ISSUER);
    let fresh = session(&face, 5);
    let settle = Settlement::default();
    // A link decided on another email is not made.
    let wrong = email("someone@example.com");
    assert_eq!(
        db.link_identity(&i, &wrong, true, (&fresh, &token(5)), &settle)
            .await
            .unwrap(),
        None
    );
    assert!(db.find_session(&fresh.id).await.unwrap().is_none());
    let revoked = db
        .link_identity(&i, &face.email, true, (&fresh, &token(5)), &settle)
        .await
        .unwrap();
    assert_eq!(revoked, Some(vec![squatter.id]));
    let doc = MirroredDoc::User(EdgeKey {
        app: shop.clone(),
        tenant: acme.clone(),
        user: u.id,
    })
    .name();
    assert!(
        db.find_stale_edges(at(0), 100)
            .await
            .unwrap()
            .contains(&doc),
        "the user's document is bumped with the revocation"
    );
    let found = db
        .find_identity(&shop, &acme, &pid("idp"), ISSUER, "victim-sub")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user.password_hash, None);
    assert!(found.user.email_verified);
    assert_eq!(found.face.providers, [pid("idp")]);
    assert!(db
        .find_session(&squatter.id)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    assert!(db
        .find_session(&fresh.id)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_none());
    // The same subject links once.
    let again = session(&face, 6);
    assert_eq!(
        db.link_identity(&i, &face.email, false, (&again, &token(6)), &settle)
            .await
            .unwrap(),
        None
    );
}

pub async fn a_plain_link_keeps_the_password_and_sessions<D: Database>(db: &D) {
    let (shop, acme) = acme_with_idp(db).await;
    let (u, face) = user(&shop, &acme, "bob@example.com", 4);
    let first = session(&face, 4);
    assert!(db.create_user(&u, &face, &first, &token(4)).await.unwrap());
    let i = identity(&face, "idp", "bob-sub", ISSUER);
    let fresh = session(&face, 5);
    let linked = db
        .link_identity(
            &i,
            &face.email,
            false,
            (&fresh, &token(5)),
            &Settlement::default(),
        )
        .await
        .unwrap();
    assert_eq!(linked, Some(vec![]));
    let found = db
        .find_identity(&shop, &acme, &pid("idp"), ISSUER, "bob-sub")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user.password_hash, u.password_hash);
    assert!(db
        .find_session(&first.id)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_none());
}

pub async fn identities_go_with_their_provider_issuer_face_and_tenant<D: Database>(db: &D) {
    let (shop, acme) = acme_with_idp(db).await;
    let settle = Settlement::default();
    let mut faces = Vec::new();
    for (n, address) in [
        (4, "a@example.com"),
        (5, "b@example.com"),
        (6, "c@example.com"),
    ] {
        let (u, face, i) = newcomer(&shop, &acme, address, n);
        let s = session(&face, n);
        assert!(db
            .thirdparty_sign_up(&u, &face, &i, (&s, &token(n as u8)), &settle)
            .await
            .unwrap());
        faces.push(face);
    }
    let (a, t) = (&shop, &acme);
    let found = |sub: &'static str, issuer: &'static str| async move {
        db.find_identity(a, t, &pid("idp"), issuer, sub)
            .await
            .unwrap()
            .is_some()
    };
    // Leaving the tenant (a deletion of the user from it) takes the user's identity with it.
    let leaving = Deletion::begin(
        DeletionId::generate(at(0), random(40)),
        &Target::User {
            app: shop.clone(),
            tenant: Some(acme.clone()),
            user: faces[0].user_id,
        },
        vec![acme.clone()],
        at(0),
    );
    let e = entry(40, &shop, AuditAction::UserLeave, Some(&acme));
    assert!(db.begin_deletion(&leaving, &e).await.unwrap());
    assert!(!found("sub-4", ISSUER).await);
    assert!(found("sub-5", ISSUER).await);
    // The provider moved to another issuer: its identities are unrelated to the new one's.
    let moved = provider(&shop, &acme, "idp", "https://new-idp.test", 7);
    let e = entry(7, &shop, AuditAction::ProviderPut, Some(&acme));
    assert_eq!(db.put_provider(&moved, &e).await.unwrap(), Some(false));
    assert!(!found("sub-5", ISSUER).await);
    let (_, face) = db
        .find_tenant_user(&shop, &acme, &faces[1].user_id)
        .await
        .unwrap()
        .unwrap();
    assert!(face.providers.is_empty());
    // Deleting the tenant leaves nothing of its providers, flows or identities.
    let i = identity(&faces[2], "idp", "new-sub", "https://new-idp.test");
    let s = session(&faces[2], 9);
    db.link_identity(&i, &faces[2].email, false, (&s, &token(9)), &settle)
        .await
        .unwrap()
        .unwrap();
    assert!(found("new-sub", "https://new-idp.test").await);
    // A flow under way, taken by nothing.
    db.create_flow(&Flow {
        state_hash: secret(SecretKind::FlowState, 8),
        app_id: shop.clone(),
        tenant_id: acme.clone(),
        provider_id: pid("idp"),
        redirect_uri: WebUrl::parse_redirect_uri("https://app.example/cb").unwrap(),
        created_at: at(0),
        expires_at: at(600_000),
    })
    .await
    .unwrap();
    // Deleting the tenant, one row per purge, leaves nothing of its providers, flows or
    // identities.
    delete_through_ports(
        db,
        &Target::Tenant(shop.clone(), acme.clone()),
        vec![],
        8,
        1,
    )
    .await
    .expect("the tenant is deleted");
    assert!(db
        .list_providers(&shop, &acme, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(!found("new-sub", "https://new-idp.test").await);
    assert_eq!(
        db.take_flow(&secret(SecretKind::FlowState, 8))
            .await
            .unwrap(),
        None
    );
}

pub async fn a_users_deletion_takes_its_identities_with_its_faces<D: Database>(db: &D) {
    let (shop, acme) = acme_with_idp(db).await;
    let settle = Settlement::default();
    let mut faces = Vec::new();
    for (n, address) in [(4, "a@example.com"), (5, "b@example.com")] {
        let (u, face, i) = newcomer(&shop, &acme, address, n);
        let s = session(&face, n);
        assert!(db
            .thirdparty_sign_up(&u, &face, &i, (&s, &token(n as u8)), &settle)
            .await
            .unwrap());
        faces.push(face);
    }
    let found = |sub: &'static str| {
        let (a, t) = (&shop, &acme);
        async move {
            db.find_identity(a, t, &pid("idp"), ISSUER, sub)
                .await
                .unwrap()
                .is_some()
        }
    };
    let from_acme = Target::User {
        app: shop.clone(),
        tenant: Some(acme.clone()),
        user: faces[0].user_id,
    };
    delete_through_ports(db, &from_acme, vec![acme.clone()], 6, 10)
        .await
        .expect("the user is deleted from acme");
    assert!(!found("sub-4").await, "its identity went with its face");
    assert!(found("sub-5").await, "another user's stays");
    let erased = Target::User {
        app: shop.clone(),
        tenant: None,
        user: faces[1].user_id,
    };
    delete_through_ports(db, &erased, vec![acme.clone()], 7, 10)
        .await
        .expect("the user is erased");
    assert!(!found("sub-5").await);
    // The provider itself is the tenant's, not the users'.
    assert_eq!(
        db.list_providers(&shop, &acme, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

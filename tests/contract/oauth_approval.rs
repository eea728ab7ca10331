//! The one write of an approval at the authorization pages: the code it gives and the consent
//! it remembers (`OAuthStore::create_code_with_consent`), both or neither.

use super::fixtures::*;
use super::oauth::consent_audit;
use super::steps::*;
use tessera::domain::oauth::{AuthorizationCode, ClientId, Consent};
use tessera::domain::secret::SecretKind;
use tessera::domain::user::TenantUser;
use tessera::store::Database;

fn code(face: &TenantUser, client: &ClientId, n: u8) -> AuthorizationCode {
    AuthorizationCode {
        hash: secret(SecretKind::AuthorizationCode, n),
        app_id: face.app_id.clone(),
        tenant_id: face.tenant_id.clone(),
        client_id: client.clone(),
        user_id: face.user_id,
        redirect_uri: "https://app.example/cb".to_owned(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        scope: "mcp:tools".to_owned(),
        resource: None,
        created_at: at(10),
        expires_at: at(600_010),
        used: None,
    }
}

fn consent(face: &TenantUser, client: &ClientId, scopes: &[&str]) -> Consent {
    Consent {
        app_id: face.app_id.clone(),
        tenant_id: face.tenant_id.clone(),
        user_id: face.user_id,
        client_id: client.clone(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        fingerprint: "fp".to_owned(),
        created_at: at(10),
    }
}

pub async fn an_approval_writes_its_code_and_its_consent_together_or_neither<D: Database>(db: &D) {
    let shop = create_app(db, "shop", 1).await;
    let acme = create_tenant(db, &shop, "acme", 2).await;
    let (_, ann) = sign_up(db, &shop, &acme, "ann@acme.example", 3).await;
    let client = ClientId::generate([7; 16]);
    let find = || db.find_consent(&shop, &acme, &ann.user_id, &client);

    let given = consent(&ann, &client, &["mcp:tools"]);
    db.create_code_with_consent(&code(&ann, &client, 1), &given, &consent_audit(&given))
        .await
        .unwrap();
    assert!(db
        .find_code(&secret(SecretKind::AuthorizationCode, 1))
        .await
        .unwrap()
        .is_some());
    assert_eq!(find().await.unwrap().unwrap().scopes, ["mcp:tools"]);

    // A code that cannot be written (its hash is taken) takes the consent's change with it.
    let wider = consent(&ann, &client, &["mcp:tools", "mcp:read"]);
    assert!(db
        .create_code_with_consent(&code(&ann, &client, 1), &wider, &consent_audit(&wider))
        .await
        .is_err());
    assert_eq!(find().await.unwrap().unwrap().scopes, ["mcp:tools"]);

    // A user without a face in the tenant gets neither.
    let (_, stranger) = user(&shop, &acme, "bob@acme.example", 4);
    assert!(db
        .create_code_with_consent(
            &code(&stranger, &client, 2),
            &consent(&stranger, &client, &["mcp:tools"]),
            &consent_audit(&consent(&stranger, &client, &["mcp:tools"]))
        )
        .await
        .is_err());
    assert!(db
        .find_code(&secret(SecretKind::AuthorizationCode, 2))
        .await
        .unwrap()
        .is_none());
    assert!(db
        .find_consent(&shop, &acme, &stranger.user_id, &client)
        .await
        .unwrap()
        .is_none());
}

//! The OAuth 2.1 authorization server of each tenant (`API.md`, "OAuth 2.1 authorization
//! server per tenant"): its settings and clients (`/admin`), the authorization pages
//! (sign-in, consent) and the token endpoint, where clients authenticate with nothing (public,
//! PKCE), a secret (Basic or form) or a signed assertion (`private_key_jwt`, whose keys they
//! register and whose `jti`s the store remembers once: `domain::client_assertion`).
//!
//! A client is changed (PATCH, secret rotation) by read-modify-write over its version: the
//! store writes only over the version the change was made from, and a change that lost the
//! race is made again from a fresh read (`CLIENT_WRITE_ATTEMPTS`, then `409 conflict`). An
//! active confidential client is known to `/oauth/introspect` by its `clientkey:` copy in KV,
//! published before D1 learns of a secret and withdrawn before D1 forgets one (disable,
//! delete, rotation), so a KV failure leaves a secret refused rather than wrongly let in.
//!
//! A grant is a session that carries its client (`Session::grant`): the code exchange starts
//! one, refresh rotates it with the very machinery of the tenant's own sessions (reuse revokes
//! the family), revocation and the user's edge document treat it alike — so suspension,
//! plans, roles and revocation reach OAuth tokens exactly as they reach session tokens, with
//! the same one KV read at introspection. OAuth access tokens are RFC 9068 JWTs signed with the
//! app's keys; they live at most as long as the app's own access tokens (which is what key
//! retention and the wait of a user deletion are sized by).
//!
//! The sign-in page offers the tenant's login methods: password, a code by email, and its
//! identity providers (a flow that returns to `{issuer}/oauth/callback` and completes only in
//! the browser whose `tessera_oauth_flow` cookie holds its state).
//!
//! The pages keep two cookies in the browser, both scoped to the tenant's `/oauth/` path: a
//! random CSRF cookie whose MAC every form carries, and a signed sign-in cookie for
//! `BROWSER_SESSION_TTL_SECONDS` naming the user and the tenant session the sign-in started (a
//! sign-in at the pages is the tenant's own sign-in, with its throttling and its session, whose
//! tokens are never handed out). Every use checks D1: the session still live — signing out
//! everywhere, a new password or a reset ends it — and the user active in the tenant.

use super::cache::{self, OnKvFailure};
use super::principal::{actor, audit_entry, Change};
use super::sessions::{self, issuer};
use super::tenancy::existing_tenant;
use super::{edge, keyring, Ctx, Stores};
use super::{passwordless, signin, thirdparty};
use crate::domain::audit::{Actor, AuditAction};
use crate::domain::authz::{self, Permission, Principal, Target};
use crate::domain::challenge::Code;
use crate::domain::client_assertion::{ClientAssertion, ClientKeys, ASSERTION_TYPE};
use crate::domain::email::Email;
use crate::domain::ids::{AppId, ChallengeId, ProviderId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::links::WebUrl;
use crate::domain::oauth::{
    check_request, client_of_document, credential_of, parse_scope, AuthMethod, AuthorizationCode,
    AuthorizationRequest, Client, ClientId, ClientKey, ClientSpec, ClientStatus, ClientTokens,
    CodeProblem, Consent, GrantType, OAuthSettings, PageKey, Registration, RequestProblem,
    SessionGrant, ValidRequest, CODE_TTL_MS, DOCUMENT_CACHE_SECONDS, DOCUMENT_MAX_BYTES,
    DOCUMENT_TIMEOUT_SECONDS,
};
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::password::Password;
use crate::domain::secret::secrets_match;
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::session::{Session, SessionId};
use crate::domain::tenancy::{App, LoginMethod, Tenant};
use crate::domain::time::Timestamp;
use crate::domain::token::{self, AccessClaims, CLIENT_TOKEN_TYPE, OAUTH_TOKEN_TYPE};
use crate::domain::user::{UserId, UserStatus};
use crate::domain::Error;
use crate::store::{
    AssertionUse, EdgeStore, Federation, OAuthStore, OutboundLimits, OutboundMethod,
    OutboundRequest, ProviderHttp, SessionStore, SignatureVerifier, ThirdPartyStore, UserStore,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::json;
use std::rc::Rc;

// ---------------------------------------------------------------------------------------
// Management: settings and clients.
// ---------------------------------------------------------------------------------------

fn allowed(
    caller: &Principal,
    permission: Permission,
    app_id: &AppId,
    tenant_id: &TenantId,
) -> Result<(), Error> {
    authz::authorize(caller, Some(permission), &Target::Tenant(app_id, tenant_id)).into_result()
}

/// The tenant's OAuth settings (defaults when never set); `404` for an unknown tenant.
async fn settings_of<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
) -> Result<OAuthSettings, Error> {
    match cx.db.find_oauth_settings(app_id, tenant_id).await? {
        Some(settings) => Ok(settings),
        None => existing_tenant(cx, app_id, tenant_id)
            .await
            .and(Err(Error::TenantNotFound)),
    }
}

/// `GET /admin/apps/{app}/tenants/{tenant}/oauth` — `clients:read`.
pub async fn get_settings<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
) -> Result<OAuthSettings, Error> {
    allowed(caller, Permission::ClientsRead, app_id, tenant_id)?;
    settings_of(cx, app_id, tenant_id).await
}

/// `PUT /admin/apps/{app}/tenants/{tenant}/oauth` — `clients:write`. Replaces the settings.
/// Clients keep scopes the tenant no longer defines, but no authorization grants them.
pub async fn put_settings<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    settings: OAuthSettings,
) -> Result<OAuthSettings, Error> {
    allowed(caller, Permission::ClientsWrite, app_id, tenant_id)?;
    let settings = settings.validate()?;

    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::OAuthSettingsPut,
            target: tenant_id.to_string(),
            tenant_id: Some(tenant_id),
            detail: json!({
                "registration": settings.registration.as_str(),
                "client_id_metadata_documents": settings.client_id_metadata_documents,
                "scopes": settings.scopes.keys().collect::<Vec<_>>(),
                "access_token_ttl_seconds": settings.access_token_ttl_seconds,
            }),
        },
    )?;
    if !cx
        .db
        .put_oauth_settings(app_id, tenant_id, &settings, &audit)
        .await?
    {
        existing_tenant(cx, app_id, tenant_id).await?;
        return Err(Error::TenantNotFound);
    }
    Ok(settings)
}

fn no_client() -> Error {
    Error::ClientNotFound
}

fn client_detail(client: &Client) -> serde_json::Value {
    json!({
        "name": client.name,
        "type": client.client_type.as_str(),
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": client.scopes,
        "status": client.status.as_str(),
        "token_endpoint_auth_method": client.auth_method.as_str(),
        "jwks": client.jwks.as_ref().map(ClientKeys::to_json),
    })
}

/// `POST /admin/apps/{app}/tenants/{tenant}/clients` — `clients:write`. A confidential
/// client's secret is returned here only (the store keeps its hash).
pub async fn create_client<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    spec: ClientSpec,
) -> Result<(Client, Option<PlainSecret>), Error> {
    allowed(caller, Permission::ClientsWrite, app_id, tenant_id)?;
    let settings = settings_of(cx, app_id, tenant_id).await?;
    let shape = spec.check_new(&settings)?;
    let (client, secret) = new_client(cx, (app_id, tenant_id), shape, ClientStatus::Active, false)?;
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::ClientCreate,
            target: client.id.to_string(),
            tenant_id: Some(tenant_id),
            detail: client_detail(&client),
        },
    )?;
    store_client(cx, &client, &audit).await?;
    Ok((client, secret))
}

/// A new client of the tenant of the checked `shape`, with a fresh id — and a fresh secret
/// (returned once, stored as its hash) when it is confidential.
fn new_client<S: Stores>(
    cx: &Ctx<'_, S>,
    (app_id, tenant_id): (&AppId, &TenantId),
    shape: crate::domain::oauth::ClientShape,
    status: ClientStatus,
    self_registered: bool,
) -> Result<(Client, Option<PlainSecret>), Error> {
    let has_secret = matches!(
        shape.auth_method,
        AuthMethod::SecretBasic | AuthMethod::SecretPost
    );
    let secret = has_secret
        .then(|| {
            cx.random()
                .map(|r| PlainSecret::generate(SecretKind::ClientSecret, r))
        })
        .transpose()?;
    let client = Client {
        app_id: app_id.clone(),
        tenant_id: tenant_id.clone(),
        id: ClientId::generate(cx.random()?),
        name: shape.name,
        client_type: shape.client_type,
        auth_method: shape.auth_method,
        redirect_uris: shape.redirect_uris,
        grant_types: shape.grant_types,
        scopes: shape.scopes,
        status,
        secret_hash: secret.as_ref().map(PlainSecret::hash),
        jwks: shape.jwks,
        tokens_revoked_before: None,
        self_registered,
        created_at: cx.now,
        updated_at: cx.now,
        version: 0,
    };
    Ok((client, secret))
}

/// Runs `write` (a D1 change that answers whether it was made) with `client`'s secret
/// published for `/oauth/introspect` first when the client is active (as API keys are): a
/// failed publication changes nothing, and a copy `write` did not take (an error, or `false`)
/// is withdrawn again — one no answer revealed lets nobody in meanwhile.
async fn published_while<S, F, Fut>(
    cx: &Ctx<'_, S>,
    client: &Client,
    write: F,
) -> Result<bool, Error>
where
    S: Stores,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<bool, Error>>,
{
    let published = ClientKey::of(client);
    if let Some((hash, key)) = &published {
        cx.edge.put_client_key(hash, key).await?;
    }
    let written = write().await;
    if !matches!(written, Ok(true)) {
        if let Some((hash, _)) = &published {
            if let Err(e) = cx.edge.delete_client_key(hash).await {
                cx.warn(&format!(
                    "KV withdrawal of an unstored client secret failed: {e:?}"
                ));
            }
        }
    }
    written
}

/// Writes a new client (`published_while`).
async fn store_client<S: Stores>(
    cx: &Ctx<'_, S>,
    client: &Client,
    audit: &crate::domain::audit::AuditEntry,
) -> Result<(), Error> {
    let stored = published_while(cx, client, || cx.db.create_client(client, audit)).await?;
    if stored {
        Ok(())
    } else {
        Err(Error::TenantNotFound)
    }
}

/// `GET /admin/apps/{app}/tenants/{tenant}/clients/{client}` — `clients:read`.
pub async fn get_client<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    id: &str,
) -> Result<Client, Error> {
    allowed(caller, Permission::ClientsRead, app_id, tenant_id)?;
    existing_tenant(cx, app_id, tenant_id).await?;
    let id = ClientId::parse(id).ok_or_else(no_client)?;
    cx.db
        .find_client(app_id, tenant_id, &id)
        .await?
        .ok_or_else(no_client)
}

/// `GET /admin/apps/{app}/tenants/{tenant}/clients` — `clients:read`.
pub async fn list_clients<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    page: &PageRequest,
) -> Result<Page<Client>, Error> {
    allowed(caller, Permission::ClientsRead, app_id, tenant_id)?;
    existing_tenant(cx, app_id, tenant_id).await?;
    let clients = cx
        .db
        .list_clients(app_id, tenant_id, page.after.as_deref(), page.limit + 1)
        .await?;
    Ok(finish_page(clients, page.limit, |c| c.id.to_string()))
}

/// Tells introspection that the client's `client_credentials` tokens are cut (`cut`:
/// `ClientTokens::cut_at` or `withdrawn`), before D1 changes: a failure here changes nothing.
async fn cut_client_tokens<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    id: &ClientId,
    cut: ClientTokens,
) -> Result<(), Error> {
    cx.edge
        .put_client_tokens(app_id, tenant_id, id, &cut, cx.now)
        .await
}

/// A write after a change that has happened: its failure is logged, never answered (the
/// change stands; what the write repeats was done before the change).
fn after_change<S: Stores>(cx: &Ctx<'_, S>, outcome: Result<(), Error>) {
    if let Err(e) = outcome {
        cx.warn(&format!(
            "KV write after an OAuth client change failed: {e:?}"
        ));
    }
}

/// Rewrites the edge documents of users whose grants a change revoked (at most a few now;
/// the cron's sweep converges the rest, their rows pending in `edge_sync`).
async fn publish_users<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    users: &[UserId],
) {
    const NOW_AT_MOST: usize = 20;
    for user in users.iter().take(NOW_AT_MOST) {
        edge::publish_after_change(cx, &edge::user_doc(app_id, tenant_id, user)).await;
    }
}

/// How many times a change of a client is made again, from a fresh read, when a concurrent
/// change was written first (`OAuthStore::update_client` and `rotate_client_secret` write only
/// over the version they were made from); then `409 conflict`.
const CLIENT_WRITE_ATTEMPTS: usize = 3;

fn client_changed_meanwhile() -> Error {
    Error::Conflict("the client kept changing meanwhile; try again".to_owned())
}

/// `PATCH /admin/apps/{app}/tenants/{tenant}/clients/{client}` — `clients:write`: name,
/// redirect URIs, grant types, scopes, status. Disabling a client revokes every grant it
/// holds — its sessions, its codes not yet exchanged and its `client_credentials` tokens, for
/// good: enabling it again brings none back; a pending client (registered under `approval`)
/// becomes usable when set `active`. A read-modify-write: the change is written only over the
/// version it was made from, and made again from a fresh read when another change came first
/// (at most `CLIENT_WRITE_ATTEMPTS` times, then `409 conflict`), so neither is lost.
pub async fn update_client<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    id: &str,
    spec: ClientSpec,
    status: Option<ClientStatus>,
) -> Result<Client, Error> {
    allowed(caller, Permission::ClientsWrite, app_id, tenant_id)?;
    let settings = settings_of(cx, app_id, tenant_id).await?;
    let id = ClientId::parse(id).ok_or_else(no_client)?;
    for _ in 0..CLIENT_WRITE_ATTEMPTS {
        let stored = cx
            .db
            .find_client(app_id, tenant_id, &id)
            .await?
            .ok_or_else(no_client)?;
        let change = (spec.clone(), status);
        if let Some(client) = change_client(cx, caller, &settings, stored, change).await? {
            return Ok(client);
        }
    }
    Err(client_changed_meanwhile())
}

/// One attempt of `update_client` from `stored`: the client as written, or `None` when it
/// changed (or went) since it was read and nothing was written.
async fn change_client<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    settings: &OAuthSettings,
    stored: Client,
    (spec, status): (ClientSpec, Option<ClientStatus>),
) -> Result<Option<Client>, Error> {
    let (app_id, tenant_id, id) = (&stored.app_id, &stored.tenant_id, &stored.id);
    if status == Some(ClientStatus::Pending) && stored.status != ClientStatus::Pending {
        return Err(Error::validation(
            "a client cannot go back to pending; set it disabled",
        ));
    }
    let shape = spec.check_change(stored.shape(), settings)?;
    let status = status.unwrap_or(stored.status);
    let end_grants = status != ClientStatus::Active && stored.status == ClientStatus::Active;
    // Its client_credentials tokens end with it, and when it loses that grant or a scope, or
    // a key is retired (a key taken out may be a compromised one: what it got goes with it).
    let narrowed = stored.allows(GrantType::ClientCredentials)
        && (!shape.grant_types.contains(&GrantType::ClientCredentials)
            || stored.scopes.iter().any(|s| !shape.scopes.contains(s))
            || stored
                .jwks
                .as_ref()
                .is_some_and(|keys| keys.retired_by(shape.jwks.as_ref())));
    let cut_tokens = end_grants || narrowed;
    let cut = ClientTokens::cut_at(cx.now);
    let client = Client {
        name: shape.name,
        redirect_uris: shape.redirect_uris,
        grant_types: shape.grant_types,
        scopes: shape.scopes,
        jwks: shape.jwks,
        status,
        // What the store writes with the end of its grants: enabled again, the client's
        // earlier tokens stay revoked.
        tokens_revoked_before: if cut_tokens {
            Some(Timestamp::from_unix_ms(cut.not_before_ms))
        } else {
            stored.tokens_revoked_before
        },
        updated_at: cx.now,
        ..stored.clone()
    };
    // (Made again after a lost race, these KV writes only repeat or add revocations: the
    // attempt that is written asks for them too, or they cut what was cut already.)
    if end_grants {
        if let Some(hash) = &stored.secret_hash {
            // No longer a client `/oauth/introspect` knows, before D1 changes.
            cx.edge.delete_client_key(hash).await?;
        }
    }
    if cut_tokens {
        cut_client_tokens(cx, app_id, tenant_id, id, cut).await?;
    }
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::ClientUpdate,
            target: id.to_string(),
            tenant_id: Some(tenant_id),
            detail: client_detail(&client),
        },
    )?;
    let Some(users) = cx
        .db
        .update_client(&client, end_grants, cx.now, &audit)
        .await?
    else {
        return Ok(None);
    };
    if stored.status != ClientStatus::Active {
        // Active again (or approved): known to `/oauth/introspect` once D1 says so. A failure
        // leaves it unknown there (refused, never wrongly let in) until it is set active again.
        if let Some((hash, key)) = ClientKey::of(&client) {
            after_change(cx, cx.edge.put_client_key(&hash, &key).await);
        }
    }
    publish_users(cx, app_id, tenant_id, &users).await;
    Ok(Some(Client {
        version: stored.version + 1,
        ..client
    }))
}

/// `POST /admin/apps/{app}/tenants/{tenant}/clients/{client}/secret` — `clients:write`. A
/// confidential client gets a new secret, returned here only (the store keeps its hash); the
/// old one stops working at once, at the token endpoint (which reads D1) and at
/// `/oauth/introspect` and `/oauth/revoke` (which read its `clientkey:` copy in KV). A public
/// client, or one authenticated by `private_key_jwt`, has no secret: `409 conflict`. The
/// client's `client_credentials` tokens issued until then are cut (what a leaked secret got
/// goes with it), before D1 changes; its users' grants stay (their refresh needs the new
/// secret). Written over the version it was made from, like `update_client`.
pub async fn rotate_client_secret<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    id: &str,
) -> Result<(Client, PlainSecret), Error> {
    allowed(caller, Permission::ClientsWrite, app_id, tenant_id)?;
    existing_tenant(cx, app_id, tenant_id).await?;
    let id = ClientId::parse(id).ok_or_else(no_client)?;
    for attempt in 0..CLIENT_WRITE_ATTEMPTS {
        let stored = cx
            .db
            .find_client(app_id, tenant_id, &id)
            .await?
            .ok_or_else(no_client)?;
        // A public client has no secret, nor one that authenticates with `private_key_jwt`.
        let Some(old) = stored.secret_hash.clone() else {
            return Err(Error::Conflict(
                "only a client with a secret has one to rotate".to_owned(),
            ));
        };
        // Once (KV takes one write a second per key; a cut only moves forward anyway).
        if attempt == 0 && stored.allows(GrantType::ClientCredentials) {
            cut_client_tokens(cx, app_id, tenant_id, &id, ClientTokens::cut_at(cx.now)).await?;
        }
        let secret = PlainSecret::generate(SecretKind::ClientSecret, cx.random()?);
        let client = Client {
            secret_hash: Some(secret.hash()),
            updated_at: cx.now,
            ..stored.clone()
        };
        let audit = audit_entry(
            cx,
            actor(caller),
            Change {
                app_id,
                action: AuditAction::ClientSecretRotate,
                target: id.to_string(),
                tenant_id: Some(tenant_id),
                detail: json!({}),
            },
        )?;
        // The order keeps KV failing closed and the old secret dead from the `200` on:
        // 1. the new secret is published (when the client is active): a failure changes
        //    nothing, and a copy no answer ever revealed lets nobody in;
        // 2. the old one is withdrawn, before D1 changes: a failure leaves D1 as it was;
        // 3. D1 takes the new hash, over the version read. Should it fail (or lose a race),
        //    the new copy is withdrawn again and the old one is NOT put back — a concurrent
        //    disable may have withdrawn it too: the old secret is then refused at
        //    introspection (fail closed) while the token endpoint still takes it, until a
        //    rotation succeeds;
        // 4. after D1, the old copy is withdrawn once more (best effort): a re-enable made
        //    from a read before step 3 publishes the secret it read after its own D1 write,
        //    which may fall between steps 2 and 3.
        let written = published_while(cx, &client, || async {
            cx.edge.delete_client_key(&old).await?;
            cx.db.rotate_client_secret(&client, &audit).await
        })
        .await;
        if written? {
            after_change(cx, cx.edge.delete_client_key(&old).await);
            let client = Client {
                version: stored.version + 1,
                ..client
            };
            return Ok((client, secret));
        }
    }
    Err(client_changed_meanwhile())
}

/// `DELETE /admin/apps/{app}/tenants/{tenant}/clients/{client}` — `clients:write`. The
/// client goes with its codes and consents; every grant it holds is revoked.
pub async fn delete_client<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    id: &str,
) -> Result<(), Error> {
    allowed(caller, Permission::ClientsWrite, app_id, tenant_id)?;
    existing_tenant(cx, app_id, tenant_id).await?;
    let id = ClientId::parse(id).ok_or_else(no_client)?;
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::ClientDelete,
            target: id.to_string(),
            tenant_id: Some(tenant_id),
            detail: json!({}),
        },
    )?;
    if let Some(hash) = cx
        .db
        .find_client(app_id, tenant_id, &id)
        .await?
        .and_then(|c| c.secret_hash)
    {
        cx.edge.delete_client_key(&hash).await?;
    }
    cut_client_tokens(cx, app_id, tenant_id, &id, ClientTokens::withdrawn(cx.now)).await?;
    let users = cx
        .db
        .delete_client(app_id, tenant_id, &id, cx.now, &audit)
        .await?
        .ok_or_else(no_client)?;
    publish_users(cx, app_id, tenant_id, &users).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Discovery.
// ---------------------------------------------------------------------------------------

/// What the metadata document of a tenant's issuer says beyond its URLs.
pub struct Metadata {
    pub issuer: String,
    pub settings: OAuthSettings,
}

/// The issuer and settings of a tenant, for its metadata document (RFC 8414).
pub async fn metadata<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
) -> Result<Metadata, Error> {
    let tenant = cache::tenant(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let settings = settings_of(cx, app_id, tenant_id).await?;
    Ok(Metadata {
        issuer: issuer(cx, &tenant),
        settings,
    })
}

// ---------------------------------------------------------------------------------------
// The authorization pages.
// ---------------------------------------------------------------------------------------

/// What a page shows about the authorization under way. Its `Debug` shows no CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct PageContext {
    pub issuer: String,
    pub tenant_id: TenantId,
    pub client_name: String,
    /// The host (and port) the browser will be sent back to.
    pub redirect_host: String,
    /// The origin of that redirect (where a form's redirect may lead).
    pub redirect_origin: String,
    /// The resource (RFC 8707) the tokens will be for, if the client named one.
    pub resource: Option<String>,
    /// Each scope asked for, with the tenant's description of it.
    pub scopes: Vec<(String, String)>,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    /// The authorization request (the original query), carried through the forms.
    pub request: String,
    /// The sign-in methods the page offers: the tenant's password and passwordless sign-in,
    /// and its identity providers (by id) with the origins their sign-in goes to.
    pub password: bool,
    pub passwordless: bool,
    pub providers: Vec<String>,
    pub provider_origins: Vec<String>,
}

impl std::fmt::Debug for PageContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageContext")
            .field("issuer", &self.issuer)
            .field("client_name", &self.client_name)
            .field("redirect_host", &self.redirect_host)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// What the browser gets next. Its `Debug` shows no sign-in cookie or code.
#[derive(Clone, PartialEq, Eq)]
pub enum PageOutcome {
    /// The sign-in page (`status` 200, or 401/403/429 after a failed attempt, with `error`).
    SignIn {
        context: PageContext,
        status: u16,
        error: Option<String>,
    },
    /// The page that asks for the code a passwordless sign-in mailed to `email` (`status` 200,
    /// or 401/429 after a wrong code, with `error`).
    Code {
        context: PageContext,
        attempt_id: String,
        email: String,
        status: u16,
        error: Option<String>,
    },
    /// The consent page for the signed-in user.
    Consent { context: PageContext, email: String },
    /// `302` to the client: a code, or an RFC 6749 error.
    ToClient(String),
    /// `303` back to the authorization request, now with the sign-in cookie `session` (and
    /// the cookie of a finished third-party sign-in cleared).
    SignedIn { location: String, session: String },
    /// `303` to an identity provider's authorization endpoint, with the cookie that carries
    /// the third-party sign-in under way (`flow`: provider, state, authorization request).
    ToProvider { location: String, flow: String },
    /// An HTML error page with `status`; never a redirect.
    Refused { status: u16, message: String },
}

/// The browser's state, from its cookies.
pub struct Browser<'a> {
    /// The CSRF cookie (the HTTP layer makes one when the browser has none).
    pub csrf_cookie: &'a str,
    /// The sign-in cookie, if any.
    pub session: Option<&'a str>,
}

impl std::fmt::Debug for PageOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageOutcome::SignIn {
                context,
                status,
                error,
            } => f
                .debug_struct("SignIn")
                .field("context", context)
                .field("status", status)
                .field("error", error)
                .finish(),
            PageOutcome::Code {
                context, status, ..
            } => f
                .debug_struct("Code")
                .field("context", context)
                .field("status", status)
                .finish_non_exhaustive(),
            PageOutcome::Consent { context, .. } => f
                .debug_struct("Consent")
                .field("context", context)
                .finish_non_exhaustive(),
            PageOutcome::ToClient(location) => {
                let at = location.split('?').next().unwrap_or("");
                write!(f, "ToClient({at}?<redacted>)")
            }
            PageOutcome::SignedIn { .. } => f.write_str("SignedIn(<redacted>)"),
            PageOutcome::ToProvider { location, .. } => {
                let at = location.split('?').next().unwrap_or("");
                write!(f, "ToProvider({at}?<redacted>)")
            }
            PageOutcome::Refused { status, message } => f
                .debug_struct("Refused")
                .field("status", status)
                .field("message", message)
                .finish(),
        }
    }
}

/// A form posted by one of the pages. Holds a password: its `Debug` shows only the step.
#[derive(Default)]
pub struct PageForm {
    pub step: Option<String>,
    pub csrf: Option<String>,
    pub request: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub decision: Option<String>,
    /// A passwordless attempt under way, and the code its message carried.
    pub attempt_id: Option<String>,
    pub code: Option<String>,
    /// The identity provider of a third-party sign-in.
    pub provider: Option<String>,
}

fn refused(message: &str) -> PageOutcome {
    PageOutcome::Refused {
        status: 400,
        message: message.to_owned(),
    }
}

/// The client's redirect with an RFC 6749 error, `state` and `iss` (RFC 9207).
fn error_redirect(problem: RequestProblem, issuer: &str) -> PageOutcome {
    match problem {
        RequestProblem::NoRedirect(message) => refused(&message),
        RequestProblem::Redirect {
            redirect_uri,
            error,
            description,
            state,
        } => {
            let mut pairs = vec![
                ("error", error),
                ("error_description", description.as_str()),
            ];
            if let Some(state) = state.as_deref() {
                pairs.push(("state", state));
            }
            pairs.push(("iss", issuer));
            PageOutcome::ToClient(redirect_uri.with_query(&pairs))
        }
    }
}

/// An authorization request checked against the tenant: its client, redirect, PKCE, scopes
/// (of the client and still defined by the tenant) and resource.
struct Checked {
    app: std::rc::Rc<App>,
    tenant: std::rc::Rc<Tenant>,
    settings: OAuthSettings,
    issuer: String,
    request: ValidRequest,
    raw: String,
    /// The tenant's identity providers the sign-in page offers (where it allows third-party
    /// sign-in): each id and the origin of its authorization endpoint.
    providers: Vec<(ProviderId, String)>,
}

/// Most unexpired assertions a `private_key_jwt` client may have remembered at once (about 15
/// a second over an assertion's longest life): what bounds the rows one client — say, one that
/// registered itself — can make D1 hold.
const MAX_LIVE_ASSERTIONS: usize = 10_000;

/// Most providers the sign-in page lists.
const MAX_PAGE_PROVIDERS: usize = 20;
/// Longest authorization request a third-party sign-in at the pages carries to the provider
/// and back (in a cookie).
const MAX_CARRIED_REQUEST_BYTES: usize = 2048;
/// Longest flow cookie read: the provider id (at most 63), its state and the carried request
/// in base64url (4/3 of it), well inside the 4 KB a browser keeps of a cookie.
pub const FLOW_COOKIE_MAX_CHARS: usize = 64 + 64 + MAX_CARRIED_REQUEST_BYTES.div_ceil(3) * 4;
/// How long the browser keeps a third-party sign-in of the pages under way (the flow's own
/// lifetime bounds it too).
pub const FLOW_COOKIE_TTL_SECONDS: i64 = 600;

async fn check<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl ProviderHttp,
    app_id: &AppId,
    tenant_id: &TenantId,
    raw: &str,
) -> Result<Result<Checked, PageOutcome>, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let settings = settings_of(cx, app_id, tenant_id).await?;
    let issuer = issuer(cx, &tenant);
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let request =
        AuthorizationRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let client = match request.client_id.as_deref().and_then(ClientId::parse) {
        Some(id) => resolve_client(cx, net, app_id, tenant_id, &settings, &id).await?,
        None => None,
    };
    let mut valid = match check_request(&request, client) {
        Ok(valid) => valid,
        Err(problem) => return Ok(Err(error_redirect(problem, &issuer))),
    };
    if let Some(undefined) = valid
        .scopes
        .iter()
        .find(|s| !settings.scopes.contains_key(*s))
    {
        let description = format!("scope {undefined} is not offered here");
        let problem = if valid.client.self_registered {
            // As `check_request` does: nobody vetted this client's redirect URIs.
            RequestProblem::NoRedirect(format!("This request cannot be used: {description}."))
        } else {
            RequestProblem::Redirect {
                redirect_uri: valid.redirect_uri.clone(),
                error: "invalid_scope",
                description,
                state: valid.state.take(),
            }
        };
        return Ok(Err(error_redirect(problem, &issuer)));
    }
    let providers = if tenant.allows(LoginMethod::ThirdParty) {
        cx.db
            .list_providers(app_id, tenant_id, None, MAX_PAGE_PROVIDERS)
            .await?
            .into_iter()
            .map(|p| (p.id, p.endpoints.authorization_endpoint.origin()))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Ok(Checked {
        app,
        tenant,
        settings,
        issuer,
        request: valid,
        raw: raw.to_owned(),
        providers,
    }))
}

/// The client `id` names at this tenant: a registered one (D1), or — when the tenant accepts
/// them — the public client a Client ID Metadata Document describes (`client_document`).
/// `None` for anything else, a document that cannot be read or is refused included.
async fn resolve_client<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl ProviderHttp,
    app_id: &AppId,
    tenant_id: &TenantId,
    settings: &OAuthSettings,
    id: &ClientId,
) -> Result<Option<Client>, Error> {
    if !id.is_document() {
        return cx.db.find_client(app_id, tenant_id, id).await;
    }
    if !settings.client_id_metadata_documents {
        return Ok(None);
    }
    let Some(body) = client_document(cx, net, (app_id, tenant_id), id).await? else {
        return Ok(None);
    };
    match client_of_document(id, body.as_bytes(), app_id, tenant_id, settings, cx.now) {
        Ok(client) => Ok(Some(client)),
        Err(why) => {
            cx.warn(&format!("client metadata document refused: {why}"));
            Ok(None)
        }
    }
}

/// A Client ID Metadata Document: from this isolate when fetched lately (an hour; a failed
/// fetch a minute), else fetched — `https` only, at a host checked when the id was parsed (no
/// port, no private or loopback address; Cloudflare's `fetch` reaches no private network), no
/// redirect followed, answered within 5 s and at most 5 KB. Fetches are counted per host and
/// tenant before they are made (sign-up's policy), so no client id makes the worker call a
/// host again and again; nothing is written to KV.
async fn client_document<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl ProviderHttp,
    (app_id, tenant_id): (&AppId, &TenantId),
    id: &ClientId,
) -> Result<Option<Rc<str>>, Error> {
    let cached = cx
        .caches
        .documents
        .borrow()
        .get(id.as_str())
        .filter(|(_, until)| *until > cx.now)
        .map(|(doc, _)| doc.clone());
    if let Some(cached) = cached {
        return Ok(cached);
    }
    let Some(url) = id.document_url() else {
        return Ok(None);
    };
    let subject = format!("document:{}", url.authority());
    if cx
        .db
        .count_signup(app_id, tenant_id, &subject, cx.now)
        .await?
        .is_some()
    {
        cx.warn("client metadata document fetches of this host are throttled");
        return Ok(None);
    }
    let request = OutboundRequest {
        method: OutboundMethod::Get,
        url,
        headers: vec![("Accept", "application/json".to_owned())],
        form: None,
        limits: OutboundLimits {
            timeout_seconds: DOCUMENT_TIMEOUT_SECONDS,
            max_body_bytes: DOCUMENT_MAX_BYTES,
        },
    };
    let fetched: Option<Rc<str>> = match net.send(&request).await {
        Ok(answer) if answer.status == 200 && answer.body.len() <= DOCUMENT_MAX_BYTES => {
            String::from_utf8(answer.body).ok().map(Rc::from)
        }
        Ok(answer) => {
            cx.warn(&format!(
                "client metadata document answered {}",
                answer.status
            ));
            None
        }
        Err(why) => {
            cx.warn(&format!("client metadata document fetch failed: {why}"));
            None
        }
    };
    let keep_ms = if fetched.is_some() {
        DOCUMENT_CACHE_SECONDS.saturating_mul(1000)
    } else {
        60_000
    };
    let until = cx.now.plus_ms(i64::try_from(keep_ms).unwrap_or(i64::MAX));
    super::cache::insert(
        &cx.caches.documents,
        id.as_str().to_owned(),
        (fetched.clone(), until),
    );
    Ok(fetched)
}

fn page_key<S: Stores>(cx: &Ctx<'_, S>) -> Result<PageKey, Error> {
    PageKey::from_secret(&cx.config.key_encryption_secret)
}

fn context<S: Stores>(
    cx: &Ctx<'_, S>,
    checked: &Checked,
    browser: &Browser<'_>,
) -> Result<PageContext, Error> {
    let request = &checked.request;
    Ok(PageContext {
        issuer: checked.issuer.clone(),
        tenant_id: checked.tenant.id.clone(),
        client_name: request.client.name.clone(),
        redirect_host: request.redirect_uri.authority().to_owned(),
        redirect_origin: request.redirect_uri.origin(),
        resource: request.resource.clone(),
        scopes: request
            .scopes
            .iter()
            .map(|s| {
                let description = checked.settings.scopes.get(s).cloned().unwrap_or_default();
                (s.clone(), description)
            })
            .collect(),
        csrf: page_key(cx)?.csrf(&checked.app.id, &checked.tenant.id, browser.csrf_cookie)?,
        request: checked.raw.clone(),
        password: checked.tenant.allows(LoginMethod::EmailPassword),
        passwordless: checked.tenant.allows(LoginMethod::Passwordless),
        providers: checked
            .providers
            .iter()
            .map(|(id, _)| id.to_string())
            .collect(),
        provider_origins: {
            let mut origins: Vec<String> =
                checked.providers.iter().map(|(_, o)| o.clone()).collect();
            origins.sort();
            origins.dedup();
            origins
        },
    })
}

/// The user a sign-in cookie names, when it is valid here and the user is active in the
/// tenant in the face the cookie was made for: the user's id and email.
async fn signed_in<S: Stores>(
    cx: &Ctx<'_, S>,
    checked: &Checked,
    browser: &Browser<'_>,
) -> Result<Option<(UserId, String)>, Error> {
    let Some(cookie) = browser.session else {
        return Ok(None);
    };
    let (app, tenant) = (&checked.app.id, &checked.tenant.id);
    let Some(claimed) = PageKey::claimed_user(cookie) else {
        return Ok(None);
    };
    let Some((user, face)) = cx.db.find_tenant_user(app, tenant, &claimed).await? else {
        return Ok(None);
    };
    let phc = user.password_hash.as_ref().map(|h| h.to_phc_string());
    let Some((user_id, session_id)) = page_key(cx)?
        .verify_browser_session(app, tenant, cookie, &credential_of(phc.as_deref()), cx.now)
        .filter(|(id, _)| *id == user.id)
    else {
        return Ok(None);
    };
    // The sign-in's session must still be live: signing out everywhere, a new password, a
    // reset or a revocation ends the cookie with it.
    let live = cx.db.find_session(&session_id).await?.is_some_and(|s| {
        s.app_id == *app
            && s.tenant_id == *tenant
            && s.user_id == user_id
            && s.revoked_at.is_none()
            && !s.is_expired(cx.now)
    });
    if !live {
        return Ok(None);
    }
    let current = face.status == UserStatus::Active;
    Ok(current.then(|| (user_id, face.email.as_str().to_owned())))
}

/// Issues a code for `user` and the client's redirect carrying it, `state` and `iss` — and
/// remembers the `consent` that approved it in the same write (a failure leaves neither).
async fn issue_code<S: Stores>(
    cx: &Ctx<'_, S>,
    checked: &Checked,
    user: UserId,
    consent: Option<(Consent, crate::domain::audit::AuditEntry)>,
) -> Result<PageOutcome, Error> {
    let request = &checked.request;
    let code = PlainSecret::generate(SecretKind::AuthorizationCode, cx.random()?);
    let code_row = AuthorizationCode {
        hash: code.hash(),
        app_id: checked.app.id.clone(),
        tenant_id: checked.tenant.id.clone(),
        client_id: request.client.id.clone(),
        user_id: user,
        redirect_uri: request.redirect_uri.as_str().to_owned(),
        code_challenge: request.code_challenge.clone(),
        scope: request.scope(),
        resource: request.resource.clone(),
        created_at: cx.now,
        expires_at: cx.now.plus_ms(CODE_TTL_MS),
        used: None,
    };
    match consent {
        None => cx.db.create_code(&code_row).await?,
        Some((consent, audit)) => {
            cx.db
                .create_code_with_consent(&code_row, &consent, &audit)
                .await?
        }
    }
    let mut pairs = vec![("code", code.expose())];
    if let Some(state) = request.state.as_deref() {
        pairs.push(("state", state));
    }
    pairs.push(("iss", checked.issuer.as_str()));
    Ok(PageOutcome::ToClient(
        request.redirect_uri.with_query(&pairs),
    ))
}

/// `GET {issuer}/oauth/authorize`: the sign-in page, or the consent page for a signed-in
/// user — or straight back to the client with a code when the user consented to these scopes
/// of this client (as it is now) before.
pub async fn authorize<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl ProviderHttp,
    app_id: &AppId,
    tenant_id: &TenantId,
    query: &str,
    browser: &Browser<'_>,
) -> Result<PageOutcome, Error> {
    let checked = match check(cx, net, app_id, tenant_id, query).await? {
        Ok(checked) => checked,
        Err(outcome) => return Ok(outcome),
    };
    let Some((user, email)) = signed_in(cx, &checked, browser).await? else {
        return Ok(PageOutcome::SignIn {
            context: context(cx, &checked, browser)?,
            status: 200,
            error: None,
        });
    };
    let remembered = cx
        .db
        .find_consent(
            &checked.app.id,
            &checked.tenant.id,
            &user,
            &checked.request.client.id,
        )
        .await?;
    if remembered.is_some_and(|c| c.covers(&checked.request)) {
        return issue_code(cx, &checked, user, None).await;
    }
    Ok(PageOutcome::Consent {
        context: context(cx, &checked, browser)?,
        email,
    })
}

/// `POST {issuer}/oauth/authorize`: a form of the pages — `step=signin` (email, password) or
/// `step=consent` (`decision` approve or deny). A form without the browser's CSRF token is
/// `403` and does nothing.
pub async fn submit<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl ProviderHttp,
    app_id: &AppId,
    tenant_id: &TenantId,
    form: PageForm,
    browser: &Browser<'_>,
    client_address: Option<String>,
) -> Result<PageOutcome, Error> {
    let csrf_ok = form.csrf.as_deref().is_some_and(|presented| {
        page_key(cx)
            .is_ok_and(|k| k.csrf_matches(app_id, tenant_id, browser.csrf_cookie, presented))
    });
    if !csrf_ok {
        return Ok(PageOutcome::Refused {
            status: 403,
            message: "This form expired or did not come from this page. Go back to the application and start again.".to_owned(),
        });
    }
    let raw = form.request.as_deref().unwrap_or("");
    let checked = match check(cx, net, app_id, tenant_id, raw).await? {
        Ok(checked) => checked,
        Err(outcome) => return Ok(outcome),
    };
    match form.step.as_deref() {
        Some("signin") => sign_in(cx, &checked, &form, browser, client_address).await,
        Some("passwordless") => send_code(cx, &checked, &form, browser, client_address).await,
        Some("code") => enter_code(cx, &checked, &form, browser, client_address).await,
        Some("thirdparty") => to_provider(cx, &checked, &form, browser, client_address).await,
        Some("consent") => consent(cx, &checked, &form, browser).await,
        _ => Ok(refused("This form is not one of these pages.")),
    }
}

async fn sign_in<S: Stores>(
    cx: &Ctx<'_, S>,
    checked: &Checked,
    form: &PageForm,
    browser: &Browser<'_>,
    client_address: Option<String>,
) -> Result<PageOutcome, Error> {
    let again = |status: u16, error: &str| sign_in_again(cx, checked, browser, status, error);
    let (Some(email), Some(password)) = (form.email.as_deref(), form.password.as_deref()) else {
        return again(400, "Enter your email and password.");
    };
    let (Ok(email), Ok(password)) = (Email::parse(email), Password::parse(password)) else {
        return again(401, "The email or password is not right.");
    };
    let signed = signin::signin(
        cx,
        &checked.app.id,
        &checked.tenant.id,
        email,
        &password,
        client_address,
        None,
    )
    .await;
    let signed = match signed {
        Ok(signed) => signed,
        Err(Error::InvalidCredentials) => return again(401, "The email or password is not right."),
        Err(Error::UserSuspended) => return again(403, "This account is suspended here."),
        Err(Error::RateLimited(_)) => {
            return again(429, "Too many attempts. Wait a while and try again.")
        }
        Err(Error::LoginMethodDisabled) => {
            return again(403, "Signing in with a password is not enabled here.")
        }
        Err(other) => return Err(other),
    };
    signed_in_page(cx, checked, &signed).await
}

/// Passwordless sign-in, first step: a code (and a link) mailed to the address, as
/// `/auth/passwordless/start` sends it — the same answer for every address; then the page that
/// asks for the code.
async fn send_code<S: Stores>(
    cx: &Ctx<'_, S>,
    checked: &Checked,
    form: &PageForm,
    browser: &Browser<'_>,
    client_address: Option<String>,
) -> Result<PageOutcome, Error> {
    let again = |status: u16, error: &str| sign_in_again(cx, checked, browser, status, error);
    let Some(Ok(email)) = form.email.as_deref().map(Email::parse) else {
        return again(400, "Enter your email address.");
    };
    let started = passwordless::start(
        cx,
        &checked.app.id,
        &checked.tenant.id,
        email.clone(),
        client_address,
    )
    .await;
    match started {
        Ok(started) => Ok(PageOutcome::Code {
            context: context(cx, checked, browser)?,
            attempt_id: started.attempt_id.to_string(),
            email: email.as_str().to_owned(),
            status: 200,
            error: None,
        }),
        Err(Error::LoginMethodDisabled) => {
            again(403, "Signing in with an emailed code is not enabled here.")
        }
        Err(Error::EmailDeliveryNotConfigured) => again(
            503,
            "Codes cannot be sent by email here yet. Use another way to sign in.",
        ),
        Err(Error::RateLimited(_)) => {
            again(429, "Too many codes asked for. Wait a while and try again.")
        }
        Err(other) => Err(other),
    }
}

/// Passwordless sign-in, second step: the code of the attempt (counted like
/// `/auth/passwordless/consume`: the fifth wrong code ends the attempt). Right, the address's
/// user is signed in — or signed up, with its state in the tenant, when the tenant has no user
/// of that address — and the browser goes back to the authorization request.
async fn enter_code<S: Stores>(
    cx: &Ctx<'_, S>,
    checked: &Checked,
    form: &PageForm,
    browser: &Browser<'_>,
    client_address: Option<String>,
) -> Result<PageOutcome, Error> {
    let (Some(attempt), Some(email)) = (form.attempt_id.as_deref(), form.email.as_deref()) else {
        return Ok(refused(
            "This form is missing its sign-in attempt. Start again.",
        ));
    };
    let Ok(attempt_id) = ChallengeId::parse(attempt) else {
        return Ok(refused(
            "This form is missing its sign-in attempt. Start again.",
        ));
    };
    let again = |status: u16, error: &str| -> Result<PageOutcome, Error> {
        Ok(PageOutcome::Code {
            context: context(cx, checked, browser)?,
            attempt_id: attempt_id.to_string(),
            email: email.to_owned(),
            status,
            error: Some(error.to_owned()),
        })
    };
    let Some(code) = form
        .code
        .as_deref()
        .map(str::trim)
        .and_then(Code::from_client)
    else {
        return again(400, "Enter the 6 digits of the code.");
    };
    let consumed = passwordless::consume(
        cx,
        &checked.app.id,
        &checked.tenant.id,
        passwordless::Proof::Code { attempt_id, code },
        client_address,
    )
    .await;
    let consumed = match consumed {
        Ok(consumed) => consumed,
        Err(Error::WrongCode | Error::InvalidCode) => {
            return again(
                401,
                "That code is not right, or it expired. Check it, or start again.",
            )
        }
        Err(Error::RateLimited(_)) => {
            return again(429, "Too many attempts. Wait a while and try again.")
        }
        Err(Error::UserSuspended) => return again(403, "This account is suspended here."),
        Err(Error::LoginMethodDisabled) => {
            return again(403, "Signing in with an emailed code is not enabled here.")
        }
        Err(other) => return Err(other),
    };
    signed_in_page(cx, checked, &consumed.signed_in).await
}

/// The issuer's callback of third-party sign-ins at the pages.
fn pages_callback(checked: &Checked) -> Result<WebUrl, Error> {
    WebUrl::parse_redirect_uri(&format!("{}/oauth/callback", checked.issuer))
}

/// Third-party sign-in, first step: a flow of the tenant's provider that returns to the
/// issuer's `/oauth/callback` (counted like `/auth/thirdparty/{provider}/start`), and the
/// browser sent to the provider holding a cookie with the provider, the flow's state and the
/// authorization request — the callback takes only a state this browser holds, so no one can
/// sign another browser in with their own account at the provider (login CSRF).
async fn to_provider<S: Stores>(
    cx: &Ctx<'_, S>,
    checked: &Checked,
    form: &PageForm,
    browser: &Browser<'_>,
    client_address: Option<String>,
) -> Result<PageOutcome, Error> {
    let again = |status: u16, error: &str| sign_in_again(cx, checked, browser, status, error);
    // Any provider of the tenant (the page lists the first `MAX_PAGE_PROVIDERS`); an unknown
    // one is the start's `404`, answered below.
    let provider = form
        .provider
        .as_deref()
        .and_then(|p| ProviderId::parse(p).ok());
    let Some(provider) = provider else {
        return again(400, "Choose one of the ways to sign in on this page.");
    };
    if checked.raw.len() > MAX_CARRIED_REQUEST_BYTES {
        return again(
            400,
            "This request is too long to sign in with another service.",
        );
    }
    let started = thirdparty::start_at_pages(
        cx,
        (&checked.app, &checked.tenant),
        &provider,
        pages_callback(checked)?,
        client_address.as_deref(),
    )
    .await;
    let started = match started {
        Ok(started) => started,
        Err(Error::LoginMethodDisabled) => {
            return again(403, "Signing in with another service is not enabled here.")
        }
        Err(Error::RateLimited(_)) => {
            return again(429, "Too many attempts. Wait a while and try again.")
        }
        Err(Error::NotFound(_)) => {
            return again(400, "Choose one of the ways to sign in on this page.")
        }
        Err(other) => return Err(other),
    };
    Ok(PageOutcome::ToProvider {
        location: started.authorization_url,
        flow: format!(
            "{provider}.{}.{}",
            started.state.expose(),
            B64URL.encode(checked.raw.as_bytes())
        ),
    })
}

/// What a provider's answer at `{issuer}/oauth/callback` brings back.
#[derive(Default)]
pub struct ProviderAnswer {
    pub code: Option<String>,
    pub state: Option<String>,
    /// The provider's own error (the person refused, or the provider failed).
    pub error: Option<String>,
}

impl std::fmt::Debug for ProviderAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderAnswer")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// `GET {issuer}/oauth/callback`: a third-party sign-in of the pages comes back. The state must
/// be the one this browser's flow cookie holds (else an HTML `400`, nothing consumed); the
/// authorization request the cookie carries is checked again; then the flow completes as
/// `/auth/thirdparty/{provider}/callback` would — sign-in, sign-up (the user's state in the
/// tenant created), or link — and the browser goes back to the authorization request signed in.
pub async fn provider_callback<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl Federation,
    (app_id, tenant_id): (&AppId, &TenantId),
    answer: ProviderAnswer,
    browser: &Browser<'_>,
    flow_cookie: Option<&str>,
    client_address: Option<String>,
) -> Result<PageOutcome, Error> {
    let stray = || {
        Ok(PageOutcome::Refused {
            status: 400,
            message: "This sign-in did not start in this browser, or it is over. Go back to the application and start again.".to_owned(),
        })
    };
    let Some((provider, state, raw)) = flow_cookie.and_then(|c| {
        let mut parts = c.splitn(3, '.');
        let (provider, state, request) = (parts.next()?, parts.next()?, parts.next()?);
        let raw = String::from_utf8(B64URL.decode(request).ok()?).ok()?;
        Some((ProviderId::parse(provider).ok()?, state.to_owned(), raw))
    }) else {
        return stray();
    };
    let presented = answer.state.as_deref().unwrap_or("");
    if presented.is_empty() || !secrets_match(presented, &state) {
        return stray();
    }
    let checked = match check(cx, net, app_id, tenant_id, &raw).await? {
        Ok(checked) => checked,
        Err(outcome) => return Ok(outcome),
    };
    let again = |status: u16, error: &str| sign_in_again(cx, &checked, browser, status, error);
    let Some(code) = answer.code.as_deref().filter(|_| answer.error.is_none()) else {
        return again(
            400,
            "The other service did not sign you in. Try again, or another way.",
        );
    };
    let done = thirdparty::callback(
        cx,
        net,
        (app_id, tenant_id, &provider),
        code,
        &state,
        client_address,
        Some(&pages_callback(&checked)?),
    )
    .await;
    let consumed = match done {
        Ok(consumed) => consumed,
        Err(Error::InvalidCode) => return stray(),
        Err(Error::ProviderError(why)) => {
            cx.warn(&format!("third-party sign-in at the pages failed: {why}"));
            return again(
                502,
                "The other service could not sign you in. Try again later, or another way.",
            );
        }
        Err(Error::EmailTaken) => {
            return again(
                409,
                "An account with this email exists here. Sign in with it first.",
            )
        }
        Err(Error::EmailNotVerified) => {
            return again(403, "The other service did not confirm your email address.")
        }
        Err(Error::UserSuspended) => return again(403, "This account is suspended here."),
        Err(Error::LoginMethodDisabled) => {
            return again(403, "Signing in with another service is not enabled here.")
        }
        Err(Error::RateLimited(_)) => {
            return again(429, "Too many attempts. Wait a while and try again.")
        }
        // A malformed code, or a provider removed while its flow was under way: the page.
        Err(Error::Validation(_) | Error::NotFound(_)) => {
            return again(
                400,
                "The other service's answer cannot be used. Start again.",
            )
        }
        Err(other) => return Err(other),
    };
    signed_in_page(cx, &checked, &consumed.signed_in).await
}

/// The sign-in page again, with `status` and `error` (a failed attempt of any method).
fn sign_in_again<S: Stores>(
    cx: &Ctx<'_, S>,
    checked: &Checked,
    browser: &Browser<'_>,
    status: u16,
    error: &str,
) -> Result<PageOutcome, Error> {
    Ok(PageOutcome::SignIn {
        context: context(cx, checked, browser)?,
        status,
        error: Some(error.to_owned()),
    })
}

/// The sign-in cookie naming the tenant session a sign-in at the pages started, and the way
/// back to the authorization request.
async fn signed_in_page<S: Stores>(
    cx: &Ctx<'_, S>,
    checked: &Checked,
    signed: &signin::SignedIn,
) -> Result<PageOutcome, Error> {
    let (user, session) = (&signed.user.face.user_id, &signed.session.session_id);
    // The password as now stored (the sign-in may have re-hashed it): what the cookie is
    // bound to besides the session. The sign-in is written by now, so a failed read does not
    // fail it: the cookie is then bound to no password, which a user who has one fails at its
    // first use (the browser signs in again) — never a way in.
    let phc = match cx
        .db
        .find_tenant_user(&checked.app.id, &checked.tenant.id, user)
        .await
    {
        Ok(found) => found.and_then(|(u, _)| u.password_hash.map(|h| h.to_phc_string())),
        Err(e) => {
            cx.warn(&format!(
                "sign-in cookie bound to no password (its read failed): {e:?}"
            ));
            None
        }
    };
    let session = page_key(cx)?.browser_session(
        &checked.app.id,
        &checked.tenant.id,
        (user, session),
        &credential_of(phc.as_deref()),
        cx.now,
    )?;
    Ok(PageOutcome::SignedIn {
        location: format!("{}/oauth/authorize?{}", checked.issuer, checked.raw),
        session,
    })
}

async fn consent<S: Stores>(
    cx: &Ctx<'_, S>,
    checked: &Checked,
    form: &PageForm,
    browser: &Browser<'_>,
) -> Result<PageOutcome, Error> {
    let Some((user, _)) = signed_in(cx, checked, browser).await? else {
        return Ok(PageOutcome::SignIn {
            context: context(cx, checked, browser)?,
            status: 401,
            error: Some("Sign in again to continue.".to_owned()),
        });
    };
    let request = &checked.request;
    match form.decision.as_deref() {
        Some("approve") => {
            let audit = audit_entry(
                cx,
                Actor::EndUser,
                Change {
                    app_id: &checked.app.id,
                    action: AuditAction::GrantConsent,
                    target: user.to_string(),
                    tenant_id: Some(&checked.tenant.id),
                    detail: json!({
                        "client_id": request.client.id.as_str(),
                        "scopes": request.scopes,
                    }),
                },
            )?;
            let consent = Consent {
                app_id: checked.app.id.clone(),
                tenant_id: checked.tenant.id.clone(),
                user_id: user,
                client_id: request.client.id.clone(),
                scopes: request.scopes.clone(),
                fingerprint: request
                    .client
                    .consent_fingerprint(request.resource.as_deref()),
                created_at: cx.now,
            };
            issue_code(cx, checked, user, Some((consent, audit))).await
        }
        Some("deny") => {
            let problem = RequestProblem::Redirect {
                redirect_uri: request.redirect_uri.clone(),
                error: "access_denied",
                description: "the user denied the request".to_owned(),
                state: request.state.clone(),
            };
            Ok(error_redirect(problem, &checked.issuer))
        }
        _ => Ok(refused("Choose Allow or Deny.")),
    }
}

// ---------------------------------------------------------------------------------------
// The token endpoint.
// ---------------------------------------------------------------------------------------

/// An RFC 6749 §5.2 error of the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub code: &'static str,
    pub description: String,
    /// `401` with `WWW-Authenticate: Basic` (the client tried HTTP Basic), else `400`/`401`.
    pub status: u16,
    pub basic_challenge: bool,
}

fn token_error(code: &'static str, description: &str) -> TokenError {
    TokenError {
        code,
        description: description.to_owned(),
        status: 400,
        basic_challenge: false,
    }
}

/// What went wrong at the token endpoint: an OAuth error, or a failure of the service itself
/// (an unknown tenant, a store that is down).
#[derive(Debug)]
pub enum TokenFailure {
    OAuth(TokenError),
    Service(Error),
}

impl From<Error> for TokenFailure {
    fn from(e: Error) -> Self {
        TokenFailure::Service(e)
    }
}

impl From<TokenError> for TokenFailure {
    fn from(e: TokenError) -> Self {
        TokenFailure::OAuth(e)
    }
}

impl std::fmt::Debug for PageForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageForm")
            .field("step", &self.step)
            .field("decision", &self.decision)
            .finish_non_exhaustive()
    }
}

/// A token request, as parsed from the form and the `Authorization` header. Holds secrets:
/// its `Debug` shows only the grant type and the client id.
#[derive(Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    /// RFC 8707 (`client_credentials`): the audience of the token.
    pub resource: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// RFC 7523 client authentication (`private_key_jwt`): the assertion's type and the JWT.
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    /// HTTP Basic credentials (already form-decoded, RFC 6749 §2.3.1).
    pub basic: Option<(String, String)>,
    /// The header was there but did not parse.
    pub bad_basic: bool,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A successful token response (RFC 6749 §5.1). Its `Debug` shows no token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<PlainSecret>,
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn invalid_client(basic: bool) -> TokenFailure {
    TokenFailure::OAuth(TokenError {
        code: "invalid_client",
        description: "client authentication failed".to_owned(),
        status: 401,
        basic_challenge: basic,
    })
}

/// Authenticates the client of a token request: HTTP Basic, form secret or a signed assertion
/// for confidential clients (the method they registered), the bare `client_id` for public
/// ones. An unknown, inactive or foreign client, a wrong secret or assertion, or a method the
/// client did not register is `invalid_client`.
async fn authenticate_client<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl Federation,
    tenant: &Tenant,
    settings: &OAuthSettings,
    request: &TokenRequest,
) -> Result<Client, TokenFailure> {
    let (app_id, tenant_id) = (&tenant.app_id, &tenant.id);
    let basic = request.basic.is_some() || request.bad_basic;
    if request.bad_basic {
        return Err(invalid_client(true));
    }
    if request.client_assertion.is_some() || request.client_assertion_type.is_some() {
        if basic || request.client_secret.is_some() {
            return Err(
                token_error("invalid_request", "use one client authentication method").into(),
            );
        }
        return assertion_client(cx, net, tenant, request).await;
    }
    let (id, secret, method) = match (&request.basic, &request.client_secret) {
        (Some(_), Some(_)) => {
            return Err(
                token_error("invalid_request", "use one client authentication method").into(),
            )
        }
        (Some((id, secret)), None) => {
            if request.client_id.as_deref().is_some_and(|form| form != id) {
                return Err(invalid_client(true));
            }
            (id.as_str(), Some(secret.as_str()), AuthMethod::SecretBasic)
        }
        (None, Some(secret)) => (
            request.client_id.as_deref().unwrap_or(""),
            Some(secret.as_str()),
            AuthMethod::SecretPost,
        ),
        (None, None) => (
            request.client_id.as_deref().unwrap_or(""),
            None,
            AuthMethod::None,
        ),
    };
    let Some(id) = ClientId::parse(id) else {
        return Err(invalid_client(basic));
    };
    let client = resolve_client(cx, net, app_id, tenant_id, settings, &id)
        .await?
        .filter(Client::is_active)
        .filter(|c| c.auth_method == method);
    let Some(client) = client else {
        return Err(invalid_client(basic));
    };
    if let Some(secret) = secret {
        let presented = PlainSecret::from_client(SecretKind::ClientSecret, secret);
        if !presented.is_some_and(|p| client.secret_matches(&p.hash())) {
            return Err(invalid_client(basic));
        }
    }
    Ok(client)
}

/// A `private_key_jwt` client (RFC 7523 §3) at the token endpoint: `client_by_assertion`,
/// anything refused being `invalid_client`.
async fn assertion_client<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl Federation,
    tenant: &Tenant,
    request: &TokenRequest,
) -> Result<Client, TokenFailure> {
    let found = client_by_assertion(
        cx,
        net,
        tenant,
        request.client_assertion_type.as_deref(),
        request.client_assertion.as_deref(),
        request.client_id.as_deref(),
    )
    .await?;
    found.ok_or_else(|| invalid_client(false))
}

/// The `private_key_jwt` client of the tenant an assertion authenticates (RFC 7523 §3), at
/// the token endpoint, `/oauth/introspect` or `/oauth/revoke`: the assertion names the client
/// (`iss`, and `client_id` when given must agree), is signed by one of the keys it registered,
/// has the claims `ClientAssertion::check` asks for, and its `jti` was never used by that
/// client — remembered only after the signature and claims passed, so nobody without the key
/// writes anything. `None` for anything refused, with the reason only in the log.
pub(super) async fn client_by_assertion<S: Stores>(
    cx: &Ctx<'_, S>,
    verifier: &impl SignatureVerifier,
    tenant: &Tenant,
    assertion_type: Option<&str>,
    assertion: Option<&str>,
    client_id: Option<&str>,
) -> Result<Option<Client>, Error> {
    let refuse = |why: &str| {
        cx.warn(&format!("client assertion refused: {why}"));
        Ok(None)
    };
    if assertion_type != Some(ASSERTION_TYPE) {
        return refuse("client_assertion_type");
    }
    let Some(assertion) = assertion.and_then(ClientAssertion::parse) else {
        return refuse("not a signed JWT of an accepted algorithm naming its issuer");
    };
    if client_id.is_some_and(|id| id != assertion.issuer) {
        return refuse("client_id is not the assertion's issuer");
    }
    // A metadata document's client is never a private_key_jwt one: no fetch for an unproven id.
    let Some(id) = ClientId::parse(&assertion.issuer).filter(|id| !id.is_document()) else {
        return refuse("unknown client");
    };
    let client = cx
        .db
        .find_client(&tenant.app_id, &tenant.id, &id)
        .await?
        .filter(Client::is_active)
        .filter(|c| c.auth_method == AuthMethod::PrivateKeyJwt);
    let Some(client) = client else {
        return refuse("unknown, inactive or not a private_key_jwt client");
    };
    let jws = &assertion.jws;
    let Some(key) = client
        .jwks
        .as_ref()
        .and_then(|keys| keys.select(jws.header.kid.as_deref(), jws.alg))
    else {
        return refuse("no registered key fits");
    };
    let verified = verifier
        .verify(jws.alg, &key, jws.signing_input.as_bytes(), &jws.signature)
        .await?;
    if !verified {
        return refuse("signature");
    }
    let accepted = match assertion.check(client.id.as_str(), &issuer(cx, tenant), cx.now) {
        Ok(accepted) => accepted,
        Err(why) => return refuse(why),
    };
    let used = AssertionUse {
        jti_hash: accepted.jti_hash,
        remember_until: accepted.remember_until,
        now: cx.now,
        max_live: MAX_LIVE_ASSERTIONS,
    };
    if !cx
        .db
        .use_assertion((&tenant.app_id, &tenant.id, &client.id), &used)
        .await?
    {
        return refuse("jti used before, or too many of the client's assertions live");
    }
    Ok(Some(client))
}

/// `POST {issuer}/oauth/token`: `authorization_code` (with PKCE), `refresh_token` and
/// `client_credentials`. `Err(TokenFailure::OAuth)` is the RFC 6749 error JSON.
pub async fn token<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl Federation,
    app_id: &AppId,
    tenant_id: &TenantId,
    request: TokenRequest,
) -> Result<TokenResponse, TokenFailure> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let grant = match request.grant_type.as_deref() {
        None => return Err(token_error("invalid_request", "grant_type is required").into()),
        Some(raw) => GrantType::parse(raw).ok_or_else(|| {
            token_error("unsupported_grant_type", "this grant type is not supported")
        })?,
    };
    let settings = settings_of(cx, app_id, tenant_id).await?;
    let client = authenticate_client(cx, net, &tenant, &settings, &request).await?;
    if !client.allows(grant) {
        return Err(token_error(
            "unauthorized_client",
            "this client may not use this grant type",
        )
        .into());
    }
    let place = Place {
        app: &app,
        tenant: &tenant,
        settings: &settings,
    };
    match grant {
        GrantType::AuthorizationCode => exchange_code(cx, &place, &client, &request).await,
        GrantType::RefreshToken => refresh(cx, &place, &client, &request).await,
        GrantType::ClientCredentials => client_credentials(cx, &place, &client, &request).await,
    }
}

struct Place<'a> {
    app: &'a App,
    tenant: &'a Tenant,
    settings: &'a OAuthSettings,
}

impl Place<'_> {
    /// An OAuth access token's lifetime: the tenant's setting, never longer than the app's
    /// own access tokens (what key retention and a user deletion's wait are sized by).
    fn access_ttl(&self) -> i64 {
        self.settings
            .access_token_ttl_seconds
            .min(self.app.settings.access_token_ttl_seconds)
    }
}

/// Signs an RFC 9068 access token for a grant's session.
async fn sign<S: Stores>(
    cx: &Ctx<'_, S>,
    place: &Place<'_>,
    session: &Session,
    grant: &SessionGrant,
    scope: &str,
) -> Result<(String, i64), Error> {
    let key = keyring::signing_key(
        cx,
        &KeyOwner::App(place.app.id.clone()),
        sessions::access_ttl_ms(place.app),
    )
    .await?;
    let issuer = issuer(cx, place.tenant);
    let claims = AccessClaims {
        sub: session.user_id.to_string(),
        app: place.app.id.to_string(),
        tid: place.tenant.id.to_string(),
        sid: session.id.to_string(),
        typ: OAUTH_TOKEN_TYPE.to_owned(),
        client_id: Some(grant.client_id.to_string()),
        scope: Some(scope.to_owned()),
        aud: Some(grant.resource.clone().unwrap_or_else(|| issuer.clone())),
        jti: Some(B64URL.encode(cx.random::<16>()?)),
        iss: issuer,
    };
    let ttl = place.access_ttl();
    Ok((token::sign_at_jwt(&key, claims, cx.now, ttl)?, ttl))
}

async fn exchange_code<S: Stores>(
    cx: &Ctx<'_, S>,
    place: &Place<'_>,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, TokenFailure> {
    let invalid = || {
        TokenFailure::OAuth(token_error(
            "invalid_grant",
            "the code is invalid, expired or used",
        ))
    };
    let code = request
        .code
        .as_deref()
        .and_then(|raw| PlainSecret::from_client(SecretKind::AuthorizationCode, raw))
        .ok_or_else(invalid)?;
    let stored = cx
        .db
        .find_code(&code.hash())
        .await?
        .filter(|c| c.app_id == place.app.id && c.tenant_id == place.tenant.id)
        .ok_or_else(invalid)?;
    match stored.check_exchange(
        &client.id,
        request.redirect_uri.as_deref(),
        request.code_verifier.as_deref(),
        cx.now,
    ) {
        Ok(()) => {}
        Err(CodeProblem::Replayed) => {
            if let Some((_, session)) = stored.used {
                sessions::revoke(cx, &session).await?;
            }
            return Err(invalid());
        }
        Err(CodeProblem::Invalid) => return Err(invalid()),
    }
    let grant = SessionGrant {
        client_id: client.id.clone(),
        scope: stored.scope.clone(),
        resource: stored.resource.clone(),
    };
    let app = place.app;
    let session = Session {
        id: SessionId::generate(cx.now, cx.random()?),
        app_id: app.id.clone(),
        tenant_id: place.tenant.id.clone(),
        user_id: stored.user_id,
        generation: 0,
        rotated_at: cx.now,
        created_at: cx.now,
        last_used_at: cx.now,
        expires_at: cx
            .now
            .plus_seconds(app.settings.session_absolute_ttl_seconds),
        idle_timeout_ms: app.settings.session_idle_ttl_seconds.saturating_mul(1000),
        revoked_at: None,
        grant: Some(grant.clone()),
    };
    let refresh = PlainSecret::generate(SecretKind::RefreshToken, cx.random()?);
    // Signed before anything is written: a failure to sign leaves no grant nobody holds.
    let scope = still_granted(&stored.scope, client, place.settings);
    let (access_token, expires_in) = sign(cx, place, &session, &grant, &scope).await?;
    if !cx
        .db
        .redeem_code(&code.hash(), &session, &refresh.hash(), cx.now)
        .await?
    {
        // Another exchange won the race (that one stands; this is the replay), or the user
        // was suspended or left since the consent.
        if let Some(Some((_, first))) = cx.db.find_code(&code.hash()).await?.map(|c| c.used) {
            sessions::revoke(cx, &first).await?;
        }
        return Err(invalid());
    }
    Ok(TokenResponse {
        access_token,
        expires_in,
        refresh_token: client.allows(GrantType::RefreshToken).then_some(refresh),
        scope,
    })
}

async fn refresh<S: Stores>(
    cx: &Ctx<'_, S>,
    place: &Place<'_>,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, TokenFailure> {
    let presented = request
        .refresh_token
        .as_deref()
        .ok_or_else(|| token_error("invalid_request", "refresh_token is required"))?;
    if let Some(asked) = request.scope.as_deref() {
        // Checked before the token rotates: a refused request must use nothing up, or the
        // client, left with a token already rotated away, would be taken for a thief.
        if let Some(granted) = granted_scope(cx, place, client, presented).await? {
            narrower_scope(asked, &still_granted(&granted, client, place.settings))?;
        }
    }
    let (session, successor) =
        match sessions::rotate(cx, place.app, place.tenant, presented, Some(&client.id)).await {
            Ok(rotated) => rotated,
            Err(Error::InvalidToken | Error::TokenReused | Error::UserSuspended) => {
                return Err(token_error(
                    "invalid_grant",
                    "the refresh token is invalid, expired, revoked or was used before",
                )
                .into())
            }
            Err(other) => return Err(other.into()),
        };
    let grant = session
        .grant
        .clone()
        .ok_or_else(|| Error::Internal("a client's session without its grant".to_owned()))?;
    let still = still_granted(&grant.scope, client, place.settings);
    let scope = match request.scope.as_deref() {
        None => still,
        Some(asked) => narrower_scope(asked, &still)?,
    };
    let (access_token, expires_in) = sign(cx, place, &session, &grant, &scope).await?;
    Ok(TokenResponse {
        access_token,
        expires_in,
        refresh_token: Some(successor),
        scope,
    })
}

/// The scope of the grant whose current refresh token of `client` in this tenant is
/// `presented`, the grant still live; else `None`, and the rotation decides (an older token
/// is the theft it detects).
async fn granted_scope<S: Stores>(
    cx: &Ctx<'_, S>,
    place: &Place<'_>,
    client: &Client,
    presented: &str,
) -> Result<Option<String>, Error> {
    let Some(token) = PlainSecret::from_client(SecretKind::RefreshToken, presented) else {
        return Ok(None);
    };
    Ok(cx
        .db
        .find_by_refresh_token(&token.hash())
        .await?
        .filter(|found| found.generation == found.session.generation)
        .map(|found| found.session)
        .filter(|s| s.app_id == place.app.id && s.tenant_id == place.tenant.id)
        .filter(|s| s.revoked_at.is_none() && !s.is_expired(cx.now))
        .and_then(|s| s.grant)
        .filter(|g| g.client_id == client.id)
        .map(|g| g.scope))
}

/// What of a grant's `scope` its client may still have: the scopes the client still holds and
/// the tenant still offers (a scope taken away reaches existing grants at their next token).
fn still_granted(scope: &str, client: &Client, settings: &OAuthSettings) -> String {
    parse_scope(scope)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| client.scopes.contains(s) && settings.scopes.contains_key(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A narrower scope may be asked for an access token of a grant (RFC 6749 §6), never a wider
/// one: the scope asked for, or `invalid_scope`.
fn narrower_scope(asked: &str, granted: &str) -> Result<String, TokenError> {
    let granted: Vec<String> = parse_scope(granted).unwrap_or_default();
    match parse_scope(asked) {
        Some(asked) if asked.iter().all(|s| granted.contains(s)) => Ok(asked.join(" ")),
        _ => Err(token_error(
            "invalid_scope",
            "the scope asked for is wider than the grant",
        )),
    }
}

/// `client_credentials`: a token whose subject is the (confidential) client itself, with the
/// scopes asked for (the client's, still offered by the tenant, when none are) and the
/// `resource` as audience. Issuance writes nothing to KV: what ends these tokens is the
/// client's cut (`ClientTokens`), written by the changes that revoke them.
async fn client_credentials<S: Stores>(
    cx: &Ctx<'_, S>,
    place: &Place<'_>,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, TokenFailure> {
    let offered = |s: &String| client.scopes.contains(s) && place.settings.scopes.contains_key(s);
    let scopes: Vec<String> = match request.scope.as_deref() {
        None => client
            .scopes
            .iter()
            .filter(|s| offered(s))
            .cloned()
            .collect(),
        Some(raw) => match parse_scope(raw) {
            Some(asked) if asked.iter().all(offered) => asked,
            _ => {
                return Err(token_error(
                    "invalid_scope",
                    "a scope asked for is not allowed for this client",
                )
                .into())
            }
        },
    };
    let issuer = issuer(cx, place.tenant);
    let audience = match request.resource.as_deref() {
        None => issuer.clone(),
        Some(raw) => crate::domain::oauth::check_resource(raw).ok_or_else(|| {
            token_error(
                "invalid_target",
                "resource must be an absolute https (or loopback http) URI without fragment",
            )
        })?,
    };
    let ttl = place.access_ttl();
    let (app, tenant) = (&place.app.id, &place.tenant.id);
    // Read again: a client disabled or deleted since it authenticated gets nothing (its cut,
    // written before that change, kills a token issued by a request that read it just before).
    let current = cx
        .db
        .find_client(app, tenant, &client.id)
        .await?
        .filter(Client::is_active)
        .ok_or_else(|| invalid_client(false))?;
    let key = keyring::signing_key(
        cx,
        &KeyOwner::App(app.clone()),
        sessions::access_ttl_ms(place.app),
    )
    .await?;
    let scope = scopes.join(" ");
    let claims = AccessClaims {
        sub: current.id.to_string(),
        app: app.to_string(),
        tid: tenant.to_string(),
        sid: String::new(),
        typ: CLIENT_TOKEN_TYPE.to_owned(),
        client_id: Some(current.id.to_string()),
        scope: Some(scope.clone()),
        aud: Some(audience),
        jti: Some(B64URL.encode(cx.random::<16>()?)),
        iss: issuer,
    };
    Ok(TokenResponse {
        access_token: token::sign_at_jwt(&key, claims, cx.now, ttl)?,
        expires_in: ttl,
        refresh_token: None,
        scope,
    })
}

/// `POST …/oauth/revoke` of a `client_credentials` token: every token of its client issued
/// until now is revoked (they carry no session to revoke one by one). KV is told first, so that
/// a failure leaves D1 as it was (`Unavailable`: the caller answers `503` and may retry); then
/// D1; then KV once more, for a token issued meanwhile from what D1 said before, whose issue
/// may have written the document since (best effort: the revocation already stands in both).
pub async fn revoke_client_tokens<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    client: &ClientId,
) -> Result<(), Error> {
    // The cut first (a failure changes nothing), then D1's record of it.
    let cut = ClientTokens::cut_at(cx.now);
    cut_client_tokens(cx, app_id, tenant_id, client, cut).await?;
    cx.db
        .revoke_client_tokens(
            app_id,
            tenant_id,
            client,
            Timestamp::from_unix_ms(cut.not_before_ms),
        )
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// An end user's grants.
// ---------------------------------------------------------------------------------------

/// A client the user consented to in the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantView {
    pub client_id: ClientId,
    /// `None` when the client is gone since.
    pub client_name: Option<String>,
    pub scopes: Vec<String>,
    pub consented_at: crate::domain::time::Timestamp,
}

/// `GET …/auth/grants` — bearer access token (the tenant's own). The clients the user
/// consented to here.
pub async fn grants<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
) -> Result<Vec<GrantView>, Error> {
    let me = super::account::caller(cx, app_id, tenant_id, bearer).await?;
    let consents = cx
        .db
        .list_consents(&me.app.id, &me.tenant.id, &me.user.id)
        .await?;
    let mut views = Vec::with_capacity(consents.len());
    for consent in consents {
        let client = cx
            .db
            .find_client(&me.app.id, &me.tenant.id, &consent.client_id)
            .await?;
        // A metadata document's client has no row: it is named by its host.
        let document_host = consent
            .client_id
            .document_url()
            .map(|u| u.authority().to_owned());
        views.push(GrantView {
            client_name: client.map(|c| c.name).or(document_host),
            client_id: consent.client_id,
            scopes: consent.scopes,
            consented_at: consent.created_at,
        });
    }
    Ok(views)
}

/// `DELETE …/auth/grants/{client_id}` — bearer access token. Forgets the consent and revokes
/// every token the client holds for the user here. Idempotent: with nothing left to revoke
/// (or a client id that names no client) it answers the same and writes nothing.
pub async fn revoke_grant<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
    client: &str,
) -> Result<(), Error> {
    let me = super::account::caller(cx, app_id, tenant_id, bearer).await?;
    let client = ClientId::parse(client).ok_or_else(no_client)?;
    let audit = audit_entry(
        cx,
        Actor::EndUser,
        Change {
            app_id: &me.app.id,
            action: AuditAction::GrantRevoke,
            target: me.user.id.to_string(),
            tenant_id: Some(&me.tenant.id),
            detail: json!({ "client_id": client.as_str() }),
        },
    )?;
    let revoked = cx
        .db
        .revoke_grant(
            &me.app.id,
            &me.tenant.id,
            &me.user.id,
            &client,
            cx.now,
            &audit,
        )
        .await?;
    if !revoked {
        // Nothing granted (or revoked before): the same answer, so revoking is idempotent.
        return Ok(());
    }
    edge::publish_after_change(cx, &edge::user_doc(&me.app.id, &me.tenant.id, &me.user.id)).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Dynamic client registration (RFC 7591).
// ---------------------------------------------------------------------------------------

/// The client metadata of a registration request (the fields this server reads; others are
/// ignored, as RFC 7591 §2 allows).
#[derive(Debug, Default, Clone)]
pub struct RegistrationRequest {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub scope: Option<String>,
    /// A `private_key_jwt` client's public keys (RFC 7591 `jwks`).
    pub jwks: Option<serde_json::Value>,
    /// Set when the request named a `jwks_uri`: refused (keys are registered by value).
    pub jwks_uri: bool,
}

/// A registration refused: the HTTP status and the RFC 7591 §3.2.2 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationError {
    pub status: u16,
    pub code: &'static str,
    pub description: String,
    /// Seconds to wait (a throttled caller).
    pub retry_after: Option<i64>,
}

/// What went wrong at the registration endpoint.
#[derive(Debug)]
pub enum RegisterFailure {
    Refused(RegistrationError),
    Service(Error),
}

impl From<Error> for RegisterFailure {
    fn from(e: Error) -> Self {
        RegisterFailure::Service(e)
    }
}

fn refuse_registration(status: u16, code: &'static str, description: &str) -> RegisterFailure {
    RegisterFailure::Refused(RegistrationError {
        status,
        code,
        description: description.to_owned(),
        retry_after: None,
    })
}

/// `POST {issuer}/oauth/register`: a client registers itself, when the tenant allows it
/// (`open`: usable at once; `approval`: `pending` until a member sets it active). Throttled
/// per client address before anything is written. Public clients (`none`) get no secret;
/// others get one, shown in this answer only. Scopes default to every scope the tenant offers.
pub async fn register<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    request: RegistrationRequest,
    client_address: Option<&str>,
) -> Result<(Client, Option<PlainSecret>), RegisterFailure> {
    cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let settings = settings_of(cx, app_id, tenant_id).await?;
    let status = match settings.registration {
        Registration::Off => {
            return Err(refuse_registration(
                403,
                "access_denied",
                "this tenant does not accept dynamic client registration",
            ))
        }
        Registration::Open => ClientStatus::Active,
        Registration::Approval => ClientStatus::Pending,
    };
    if let Some(address) = client_address {
        let subject = format!("register:{address}");
        if let Some(seconds) = cx
            .db
            .count_signup(app_id, tenant_id, &subject, cx.now)
            .await?
        {
            return Err(RegisterFailure::Refused(RegistrationError {
                status: 429,
                code: "temporarily_unavailable",
                description: "too many registrations from this address; retry later".to_owned(),
                retry_after: Some(seconds),
            }));
        }
    }
    let invalid =
        |description: &str| refuse_registration(400, "invalid_client_metadata", description);
    // A client nobody vetted must not get tokens no user consented to.
    if request
        .grant_types
        .as_ref()
        .is_some_and(|grants| grants.iter().any(|g| g == "client_credentials"))
    {
        return Err(invalid(
            "client_credentials is not offered to dynamically registered clients",
        ));
    }
    if request
        .response_types
        .as_ref()
        .is_some_and(|types| types.iter().any(|t| t != "code"))
    {
        return Err(invalid("response_types may only hold \"code\""));
    }
    if request.jwks_uri {
        return Err(invalid(
            "jwks_uri is not accepted; register the public keys by value (jwks)",
        ));
    }
    let method = request
        .token_endpoint_auth_method
        .clone()
        .unwrap_or_else(|| "client_secret_basic".to_owned());
    let client_type = if method == "none" {
        "public"
    } else {
        "confidential"
    };
    let scopes = match request.scope.as_deref() {
        None => settings.scopes.keys().cloned().collect(),
        Some(raw) => {
            parse_scope(raw).ok_or_else(|| invalid("scope is not a list of scope tokens"))?
        }
    };
    let redirect_uris = request.redirect_uris.clone().unwrap_or_default();
    for uri in &redirect_uris {
        if crate::domain::links::WebUrl::parse_redirect_uri(uri).is_err() {
            return Err(refuse_registration(
                400,
                "invalid_redirect_uri",
                "each redirect URI must be https (or http on a loopback host), without fragment",
            ));
        }
    }
    let name = request
        .client_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| {
            redirect_uris
                .first()
                .and_then(|u| crate::domain::links::WebUrl::parse_redirect_uri(u).ok())
                .map(|u| u.authority().to_owned())
                .unwrap_or_else(|| "Unnamed client".to_owned())
        });
    let spec = ClientSpec {
        name: Some(
            name.chars()
                .take(crate::domain::oauth::MAX_CLIENT_NAME_CHARS)
                .collect(),
        ),
        client_type: Some(client_type.to_owned()),
        redirect_uris: Some(redirect_uris),
        grant_types: Some(
            request
                .grant_types
                .clone()
                .unwrap_or_else(|| vec!["authorization_code".to_owned()]),
        ),
        scopes: Some(scopes),
        auth_method: Some(method),
        jwks: request.jwks.clone(),
    };
    let shape = spec
        .check_new(&settings)
        .map_err(|e| invalid(&e.to_string()))?;
    let (client, secret) = new_client(cx, (app_id, tenant_id), shape, status, true)?;
    let audit = audit_entry(
        cx,
        Actor::Registration,
        Change {
            app_id,
            action: AuditAction::ClientRegister,
            target: client.id.to_string(),
            tenant_id: Some(tenant_id),
            detail: client_detail(&client),
        },
    )?;
    store_client(cx, &client, &audit).await?;
    Ok((client, secret))
}

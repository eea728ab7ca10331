//! The KV adapter of the edge view (`EdgeStore`): the key scheme and the JSON documents,
//! written once and generic over a `KvBackend` — Cloudflare KV on wasm32 (`worker`), a map in
//! memory for native tests (`store::memory::MemoryKv`). Must not depend on `service` or `http`.
//!
//! Keys: `flags:<app>:<tenant>:<user>` is a user's edge document in a tenant (`EdgeDoc`: its
//! state, the recent revocations of its sessions, the tenant incarnation and D1 version it
//! mirrors — everything introspection reads, in one value); `key:<sha-256>` publishes a tenant
//! API key; `pub:<owner>` holds the public
//! signing keys of an owner (`pub:operators`, `pub:app:<id>`); `client:<app>:<tenant>:<id>`
//! cuts an OAuth client's `client_credentials` tokens (those issued before it are revoked);
//! `clientkey:<sha-256>`
//! publishes an active confidential OAuth client (for `/oauth/introspect`; no TTL: withdrawn
//! when the client is disabled, deleted or its secret rotated, and by the deletion of its
//! tenant or app before its row goes); `deployment:secret-fingerprint` is the fingerprint of
//! the full Worker's deployment secret, written by its cron (`service::keyring::record_secret`),
//! which an edge Worker's must match (`service::keyring::confirm_secret`);
//! `app:<id>` and
//! `tenant:<app>:<id>` mirror apps and tenants (they expire after a day, so a mirror that
//! missed a write heals from D1); `policy:<app>` holds the app's roles and plans. A KV call
//! that fails is
//! `Error::Unavailable`; callers on the introspection path turn it into `{"active": false}`.
#![expect(
    async_fn_in_trait,
    reason = "the worker is single-threaded: futures need no Send bound"
)]

#[cfg(target_arch = "wasm32")]
pub mod worker;

use super::{EdgeStore, PublishedKey};
use crate::domain::authz::Scope;
use crate::domain::edge::{EdgeDoc, EdgeKey};
use crate::domain::ids::{ApiKeyId, AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::links::WebUrl;
use crate::domain::names::{PlanTier, RoleName, UserPermission};
use crate::domain::oauth::{ClientId, ClientKey, ClientTokens};
use crate::domain::policy::{AppPolicy, Effective, UserFlags};
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::{ApiKey, ApiKeyName, App, AppSettings, LoginMethod, Tenant};
use crate::domain::time::Timestamp;
use crate::domain::user::{UserId, UserStatus};
use crate::domain::Error;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A key-value namespace: text values, optional expiry. Every failure is `Unavailable`.
pub trait KvBackend {
    /// The value of `key`, if any.
    async fn get_text(&self, key: &str) -> Result<Option<String>, Error>;
    /// Writes `value` under `key`, expiring after `ttl_seconds` when given (at least 60).
    async fn put_text(
        &self,
        key: &str,
        value: String,
        ttl_seconds: Option<u64>,
    ) -> Result<(), Error>;
    /// Removes `key` (no error when it is absent).
    async fn delete(&self, key: &str) -> Result<(), Error>;
}

/// The edge view over one KV namespace.
pub struct KvEdge<B> {
    kv: B,
}

/// KV refuses expirations shorter than a minute.
pub const MIN_TTL_SECONDS: u64 = 60;

/// Where the fingerprint of the deployment secret is recorded (no TTL).
const SECRET_FINGERPRINT_KEY: &str = "deployment:secret-fingerprint";

/// How long a mirror of an app or tenant lives before it is read from D1 again.
const MIRROR_TTL_SECONDS: u64 = 24 * 3600;

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("KV {what}: {e}"))
}

/// A document that does not parse is treated as KV failing (`Unavailable`): the D1 paths then
/// read D1 (and rewrite the copy), introspection fails closed.
fn corrupt(what: &str) -> Error {
    Error::Unavailable(format!("KV {what} document does not parse"))
}

/// The edge document as read on the hot path: the effective snapshot written for human readers
/// is skipped, not parsed. `status` absent (or `null`) means the user has no face in the
/// tenant; `tenant_created_at` absent marks a document written before incarnations.
#[derive(Deserialize)]
struct EdgeDocIn {
    #[serde(default)]
    tenant_created_at: Option<i64>,
    version: i64,
    #[serde(default)]
    status: Option<UserStatus>,
    #[serde(default = "PlanTier::free")]
    plan_tier: PlanTier,
    #[serde(default)]
    assigned_roles: Vec<RoleName>,
    #[serde(default)]
    rate_limit_override: Option<i64>,
    #[serde(default)]
    revoked_sessions: Vec<String>,
    #[serde(default)]
    revoked_before: Option<i64>,
}

/// The edge document as written: the inputs, the revocations, and the effective view when
/// written (`rate_limit`, `roles`, `permissions`; introspection recomputes them with the
/// app's current policy).
#[derive(Serialize)]
struct EdgeDocOut<'a> {
    tenant_created_at: Option<i64>,
    version: i64,
    status: Option<UserStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan_tier: Option<&'a PlanTier>,
    assigned_roles: &'a [RoleName],
    rate_limit_override: Option<i64>,
    rate_limit: Option<i64>,
    roles: &'a [RoleName],
    permissions: &'a [UserPermission],
    revoked_sessions: &'a [String],
    revoked_before: Option<i64>,
}

/// `client:<app>:<tenant>:<client>`: the cut of an OAuth client's `client_credentials` tokens
/// (`ClientTokens`).
fn client_key(app: &AppId, tenant: &TenantId, client: &ClientId) -> String {
    format!("client:{app}:{tenant}:{client}")
}

#[derive(Serialize, Deserialize)]
struct ClientKeyDoc {
    app_id: String,
    tenant_id: String,
    client_id: String,
    created_at: i64,
}

#[derive(Serialize, Deserialize)]
struct ClientTokensDoc {
    not_before: i64,
    until: i64,
}

#[derive(Serialize, Deserialize)]
struct ApiKeyDoc {
    id: String,
    app_id: String,
    tenant_id: String,
    name: String,
    scopes: Vec<String>,
    created_at: i64,
}

#[derive(Serialize, Deserialize)]
struct PublishedKeyDoc {
    kid: String,
    x: String,
    activates_at: i64,
    created_at: i64,
}

#[derive(Serialize, Deserialize)]
struct AppDoc {
    settings: AppSettings,
    created_at: i64,
    /// Absent in mirrors written before apps could wait for their owner's email (none did).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pending_verification: bool,
}

#[derive(Serialize, Deserialize)]
struct TenantDoc {
    login_methods: Vec<String>,
    /// Absent in mirrors written before tenants had link bases (none had one then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_base_url: Option<String>,
    /// Absent in mirrors written before tenants had redirect URIs (none had one then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    redirect_uris: Vec<String>,
    created_at: i64,
    updated_at: i64,
}

impl<B: KvBackend> KvEdge<B> {
    /// The edge view over `kv`.
    pub fn new(kv: B) -> Self {
        KvEdge { kv }
    }

    /// The backend (tests inspect it).
    pub fn backend(&self) -> &B {
        &self.kv
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<T>, Error> {
        match self.kv.get_text(key).await? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|_| corrupt(what)),
        }
    }

    async fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl_seconds: Option<u64>,
    ) -> Result<(), Error> {
        let text = serde_json::to_string(value).map_err(|e| unavailable("encode", e))?;
        self.kv.put_text(key, text, ttl_seconds).await
    }
}

impl<B: KvBackend> EdgeStore for KvEdge<B> {
    async fn find_user_edge(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<EdgeDoc>, Error> {
        let doc: Option<EdgeDocIn> = self
            .get_json(&format!("flags:{app}:{tenant}:{user}"), "edge")
            .await?;
        Ok(doc.map(|d| EdgeDoc {
            tenant_created_at: d.tenant_created_at.map(Timestamp::from_unix_ms),
            version: d.version,
            state: d.status.map(|status| UserFlags {
                status,
                plan_tier: d.plan_tier,
                version: d.version,
                assigned_roles: d.assigned_roles,
                rate_limit_override: d.rate_limit_override,
                rate_limit: None,
                roles: Vec::new(),
                permissions: Vec::new(),
            }),
            revoked_sessions: d.revoked_sessions,
            revoked_before: d.revoked_before,
        }))
    }

    async fn put_user_edge(
        &self,
        key: &EdgeKey,
        doc: &EdgeDoc,
        effective: Option<&Effective>,
    ) -> Result<(), Error> {
        let state = doc.state.as_ref();
        let out = EdgeDocOut {
            tenant_created_at: doc.tenant_created_at.map(Timestamp::unix_ms),
            version: doc.version,
            status: state.map(|s| s.status),
            plan_tier: state.map(|s| &s.plan_tier),
            assigned_roles: state.map_or(&[], |s| &s.assigned_roles),
            rate_limit_override: state.and_then(|s| s.rate_limit_override),
            rate_limit: effective.and_then(|e| e.rate_limit),
            roles: effective.map_or(&[], |e| &e.roles),
            permissions: effective.map_or(&[], |e| &e.permissions),
            revoked_sessions: &doc.revoked_sessions,
            revoked_before: doc.revoked_before,
        };
        self.put_json(&key.doc(), &out, None).await
    }

    async fn delete_user_edge(&self, key: &EdgeKey) -> Result<(), Error> {
        self.kv.delete(&key.doc()).await
    }

    async fn delete_policy(&self, app: &AppId) -> Result<(), Error> {
        self.kv.delete(&format!("policy:{app}")).await
    }

    async fn delete_public_keys(&self, owner: &KeyOwner) -> Result<(), Error> {
        self.kv.delete(&format!("pub:{}", owner.as_stored())).await
    }

    async fn find_policy(&self, app: &AppId) -> Result<Option<AppPolicy>, Error> {
        self.get_json(&format!("policy:{app}"), "policy").await
    }

    async fn put_policy(&self, app: &AppId, policy: &AppPolicy) -> Result<(), Error> {
        self.put_json(&format!("policy:{app}"), policy, None).await
    }

    async fn find_secret_fingerprint(&self) -> Result<Option<String>, Error> {
        self.kv.get_text(SECRET_FINGERPRINT_KEY).await
    }

    async fn put_secret_fingerprint(&self, fingerprint: &str) -> Result<(), Error> {
        self.kv
            .put_text(SECRET_FINGERPRINT_KEY, fingerprint.to_owned(), None)
            .await
    }

    async fn find_api_key(&self, hash: &SecretHash) -> Result<Option<ApiKey>, Error> {
        let doc: Option<ApiKeyDoc> = self
            .get_json(&format!("key:{}", hash.as_str()), "API key")
            .await?;
        let Some(doc) = doc else { return Ok(None) };
        let bad = |_| corrupt("API key");
        Ok(Some(ApiKey {
            id: ApiKeyId::parse(&doc.id).map_err(bad)?,
            app_id: AppId::parse(&doc.app_id).map_err(bad)?,
            tenant_id: TenantId::parse(&doc.tenant_id).map_err(bad)?,
            name: ApiKeyName::parse(&doc.name).map_err(bad)?,
            scopes: Scope::parse_list(&doc.scopes).map_err(bad)?,
            created_at: Timestamp::from_unix_ms(doc.created_at),
        }))
    }

    async fn put_api_key(&self, hash: &SecretHash, key: &ApiKey) -> Result<(), Error> {
        let doc = ApiKeyDoc {
            id: key.id.to_string(),
            app_id: key.app_id.to_string(),
            tenant_id: key.tenant_id.to_string(),
            name: key.name.as_str().to_owned(),
            scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: key.created_at.unix_ms(),
        };
        self.put_json(&format!("key:{}", hash.as_str()), &doc, None)
            .await
    }

    async fn delete_api_key(&self, hash: &SecretHash) -> Result<(), Error> {
        self.kv.delete(&format!("key:{}", hash.as_str())).await
    }

    async fn find_client_tokens(
        &self,
        app: &AppId,
        tenant: &TenantId,
        client: &ClientId,
    ) -> Result<Option<ClientTokens>, Error> {
        let doc: Option<ClientTokensDoc> = self
            .get_json(&client_key(app, tenant, client), "client")
            .await?;
        Ok(doc.map(|d| ClientTokens {
            not_before_ms: d.not_before,
            until_ms: d.until,
        }))
    }

    async fn put_client_tokens(
        &self,
        app: &AppId,
        tenant: &TenantId,
        client: &ClientId,
        tokens: &ClientTokens,
        now: Timestamp,
    ) -> Result<(), Error> {
        let seconds = (tokens.until_ms - now.unix_ms()).max(0) / 1000 + 1;
        let ttl = u64::try_from(seconds).unwrap_or(0).max(MIN_TTL_SECONDS);
        let doc = ClientTokensDoc {
            not_before: tokens.not_before_ms,
            until: tokens.until_ms,
        };
        self.put_json(&client_key(app, tenant, client), &doc, Some(ttl))
            .await
    }

    async fn find_client_key(&self, hash: &SecretHash) -> Result<Option<ClientKey>, Error> {
        let doc: Option<ClientKeyDoc> = self
            .get_json(&format!("clientkey:{}", hash.as_str()), "client key")
            .await?;
        let Some(doc) = doc else { return Ok(None) };
        let bad = |_| corrupt("client key");
        Ok(Some(ClientKey {
            app_id: AppId::parse(&doc.app_id).map_err(bad)?,
            tenant_id: TenantId::parse(&doc.tenant_id).map_err(bad)?,
            client_id: ClientId::parse(&doc.client_id).ok_or_else(|| corrupt("client key"))?,
            created_at: Timestamp::from_unix_ms(doc.created_at),
        }))
    }

    async fn put_client_key(&self, hash: &SecretHash, key: &ClientKey) -> Result<(), Error> {
        let doc = ClientKeyDoc {
            app_id: key.app_id.to_string(),
            tenant_id: key.tenant_id.to_string(),
            client_id: key.client_id.to_string(),
            created_at: key.created_at.unix_ms(),
        };
        self.put_json(&format!("clientkey:{}", hash.as_str()), &doc, None)
            .await
    }

    async fn delete_client_key(&self, hash: &SecretHash) -> Result<(), Error> {
        self.kv
            .delete(&format!("clientkey:{}", hash.as_str()))
            .await
    }

    async fn delete_client_tokens(
        &self,
        app: &AppId,
        tenant: &TenantId,
        client: &ClientId,
    ) -> Result<(), Error> {
        self.kv.delete(&client_key(app, tenant, client)).await
    }

    async fn find_public_keys(&self, owner: &KeyOwner) -> Result<Option<Vec<PublishedKey>>, Error> {
        let docs: Option<Vec<PublishedKeyDoc>> = self
            .get_json(&format!("pub:{}", owner.as_stored()), "public keys")
            .await?;
        Ok(docs.map(|docs| {
            docs.into_iter()
                .map(|d| PublishedKey {
                    kid: d.kid,
                    public_key: d.x,
                    activates_at: Timestamp::from_unix_ms(d.activates_at),
                    created_at: Timestamp::from_unix_ms(d.created_at),
                })
                .collect()
        }))
    }

    async fn put_public_keys(&self, owner: &KeyOwner, keys: &[PublishedKey]) -> Result<(), Error> {
        let docs: Vec<PublishedKeyDoc> = keys
            .iter()
            .map(|k| PublishedKeyDoc {
                kid: k.kid.clone(),
                x: k.public_key.clone(),
                activates_at: k.activates_at.unix_ms(),
                created_at: k.created_at.unix_ms(),
            })
            .collect();
        self.put_json(&format!("pub:{}", owner.as_stored()), &docs, None)
            .await
    }

    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error> {
        let doc: Option<AppDoc> = self.get_json(&format!("app:{id}"), "app").await?;
        Ok(doc.map(|d| App {
            id: id.clone(),
            settings: d.settings,
            created_at: Timestamp::from_unix_ms(d.created_at),
            pending_verification: d.pending_verification,
        }))
    }

    async fn put_app(&self, app: &App) -> Result<(), Error> {
        let doc = AppDoc {
            settings: app.settings.clone(),
            created_at: app.created_at.unix_ms(),
            pending_verification: app.pending_verification,
        };
        self.put_json(&format!("app:{}", app.id), &doc, Some(MIRROR_TTL_SECONDS))
            .await
    }

    async fn delete_app(&self, id: &AppId) -> Result<(), Error> {
        self.kv.delete(&format!("app:{id}")).await
    }

    async fn find_tenant(&self, app: &AppId, id: &TenantId) -> Result<Option<Tenant>, Error> {
        let doc: Option<TenantDoc> = self
            .get_json(&format!("tenant:{app}:{id}"), "tenant")
            .await?;
        let Some(doc) = doc else { return Ok(None) };
        Ok(Some(Tenant {
            app_id: app.clone(),
            id: id.clone(),
            login_methods: LoginMethod::parse_list(&doc.login_methods)
                .map_err(|_| corrupt("tenant"))?,
            link_base_url: doc
                .link_base_url
                .as_deref()
                .map(|url| WebUrl::from_stored(url).ok_or_else(|| corrupt("tenant")))
                .transpose()?,
            redirect_uris: doc
                .redirect_uris
                .iter()
                .map(|url| WebUrl::from_stored(url).ok_or_else(|| corrupt("tenant")))
                .collect::<Result<_, _>>()?,
            created_at: Timestamp::from_unix_ms(doc.created_at),
            updated_at: Timestamp::from_unix_ms(doc.updated_at),
        }))
    }

    async fn put_tenant(&self, tenant: &Tenant) -> Result<(), Error> {
        let doc = TenantDoc {
            login_methods: tenant
                .login_methods
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
            link_base_url: tenant.link_base_url.as_ref().map(|u| u.to_string()),
            redirect_uris: tenant.redirect_uris.iter().map(|u| u.to_string()).collect(),
            created_at: tenant.created_at.unix_ms(),
            updated_at: tenant.updated_at.unix_ms(),
        };
        let key = format!("tenant:{}:{}", tenant.app_id, tenant.id);
        self.put_json(&key, &doc, Some(MIRROR_TTL_SECONDS)).await
    }

    async fn delete_tenant(&self, app: &AppId, id: &TenantId) -> Result<(), Error> {
        self.kv.delete(&format!("tenant:{app}:{id}")).await
    }
}

//! The KV adapter (wasm32 only): the edge view that introspection reads without D1.
//!
//! Keys: `rev:<session id>` marks a revoked session (expires when no access token of it can be
//! alive any more); `key:<sha-256>` publishes a tenant API key (JSON); `pub:<owner>` holds the
//! public signing keys of an owner (`pub:operators`, `pub:app:<id>`); `app:<id>` and
//! `tenant:<app>:<id>` mirror apps and tenants; `flags:<app>:<tenant>:<user>` is a user's
//! `UserFlags` in a tenant and `policy:<app>` the app's roles and plans for the isolate caches (they expire after a
//! day, so a mirror that missed a write heals from D1). A KV call that fails is
//! `Error::Unavailable`; callers on the introspection path turn it into `{"active": false}`.

use super::{EdgeStore, PublishedKey};
use crate::domain::authz::Scope;
use crate::domain::ids::{ApiKeyId, AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::policy::{AppPolicy, UserFlags};
use crate::domain::secret::SecretHash;
use crate::domain::session::SessionId;
use crate::domain::tenancy::{ApiKey, App, AppSettings, LoginMethod, Tenant};
use crate::domain::user::UserId;
use crate::domain::Error;
use serde::{Deserialize, Serialize};
use worker::kv::KvStore;

/// The edge view over the `FLAGS` namespace.
pub struct KvEdge {
    kv: KvStore,
}

/// KV refuses expirations shorter than a minute.
const MIN_TTL_SECONDS: i64 = 60;

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("KV {what}: {e}"))
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
}

#[derive(Serialize, Deserialize)]
struct TenantDoc {
    login_methods: Vec<String>,
    created_at: i64,
    updated_at: i64,
}

/// How long a mirror of an app or tenant lives before it is read from D1 again.
const MIRROR_TTL_SECONDS: u64 = 24 * 3600;

impl KvEdge {
    async fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<u64>,
    ) -> Result<(), Error> {
        let text = serde_json::to_string(value).map_err(|e| unavailable("encode", e))?;
        let mut put = self
            .kv
            .put(key, text)
            .map_err(|e| unavailable("write", e))?;
        if let Some(ttl) = ttl {
            put = put.expiration_ttl(ttl);
        }
        put.execute().await.map_err(|e| unavailable("write", e))
    }

    /// Wraps the `FLAGS` binding.
    pub fn new(kv: KvStore) -> Self {
        KvEdge { kv }
    }
}

impl EdgeStore for KvEdge {
    async fn find_flags(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<UserFlags>, Error> {
        self.kv
            .get(&format!("flags:{app}:{tenant}:{user}"))
            .json::<UserFlags>()
            .await
            .map_err(|e| unavailable("read", e))
    }

    async fn put_flags(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        flags: &UserFlags,
    ) -> Result<(), Error> {
        self.put_json(&format!("flags:{app}:{tenant}:{user}"), flags, None)
            .await
    }

    async fn find_policy(&self, app: &AppId) -> Result<Option<AppPolicy>, Error> {
        self.kv
            .get(&format!("policy:{app}"))
            .json::<AppPolicy>()
            .await
            .map_err(|e| unavailable("read", e))
    }

    async fn put_policy(&self, app: &AppId, policy: &AppPolicy) -> Result<(), Error> {
        self.put_json(&format!("policy:{app}"), policy, None).await
    }

    async fn is_session_revoked(&self, id: &SessionId) -> Result<bool, Error> {
        let found = self
            .kv
            .get(&format!("rev:{id}"))
            .text()
            .await
            .map_err(|e| unavailable("read", e))?;
        Ok(found.is_some())
    }

    async fn put_session_revoked(&self, id: &SessionId, ttl_seconds: i64) -> Result<(), Error> {
        let ttl = ttl_seconds.max(MIN_TTL_SECONDS) as u64;
        self.kv
            .put(&format!("rev:{id}"), "1")
            .map_err(|e| unavailable("write", e))?
            .expiration_ttl(ttl)
            .execute()
            .await
            .map_err(|e| unavailable("write", e))
    }

    async fn find_api_key(&self, hash: &SecretHash) -> Result<Option<ApiKey>, Error> {
        let doc = self
            .kv
            .get(&format!("key:{}", hash.as_str()))
            .json::<ApiKeyDoc>()
            .await
            .map_err(|e| unavailable("read", e))?;
        let Some(doc) = doc else { return Ok(None) };
        let bad = || Error::Internal("KV API key document does not parse".to_owned());
        Ok(Some(ApiKey {
            id: ApiKeyId::parse(&doc.id).map_err(|_| bad())?,
            app_id: AppId::parse(&doc.app_id).map_err(|_| bad())?,
            tenant_id: TenantId::parse(&doc.tenant_id).map_err(|_| bad())?,
            name: doc.name,
            scopes: Scope::parse_list(&doc.scopes).map_err(|_| bad())?,
            created_at_ms: doc.created_at,
        }))
    }

    async fn put_api_key(&self, hash: &SecretHash, key: &ApiKey) -> Result<(), Error> {
        let doc = ApiKeyDoc {
            id: key.id.to_string(),
            app_id: key.app_id.to_string(),
            tenant_id: key.tenant_id.to_string(),
            name: key.name.clone(),
            scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: key.created_at_ms,
        };
        self.kv
            .put(
                &format!("key:{}", hash.as_str()),
                serde_json::to_string(&doc).map_err(|e| unavailable("encode", e))?,
            )
            .map_err(|e| unavailable("write", e))?
            .execute()
            .await
            .map_err(|e| unavailable("write", e))
    }

    async fn delete_api_key(&self, hash: &SecretHash) -> Result<(), Error> {
        self.kv
            .delete(&format!("key:{}", hash.as_str()))
            .await
            .map_err(|e| unavailable("delete", e))
    }

    async fn find_public_keys(&self, owner: &KeyOwner) -> Result<Option<Vec<PublishedKey>>, Error> {
        let docs = self
            .kv
            .get(&format!("pub:{}", owner.as_stored()))
            .json::<Vec<PublishedKeyDoc>>()
            .await
            .map_err(|e| unavailable("read", e))?;
        Ok(docs.map(|docs| {
            docs.into_iter()
                .map(|d| PublishedKey {
                    kid: d.kid,
                    public_key: d.x,
                    activates_at_ms: d.activates_at,
                    created_at_ms: d.created_at,
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
                activates_at: k.activates_at_ms,
                created_at: k.created_at_ms,
            })
            .collect();
        let text = serde_json::to_string(&docs).map_err(|e| unavailable("encode", e))?;
        self.kv
            .put(&format!("pub:{}", owner.as_stored()), text)
            .map_err(|e| unavailable("write", e))?
            .execute()
            .await
            .map_err(|e| unavailable("write", e))
    }

    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error> {
        let doc = self
            .kv
            .get(&format!("app:{id}"))
            .json::<AppDoc>()
            .await
            .map_err(|e| unavailable("read", e))?;
        Ok(doc.map(|d| App {
            id: id.clone(),
            settings: d.settings,
            created_at_ms: d.created_at,
        }))
    }

    async fn put_app(&self, app: &App) -> Result<(), Error> {
        let doc = AppDoc {
            settings: app.settings.clone(),
            created_at: app.created_at_ms,
        };
        self.put_json(&format!("app:{}", app.id), &doc, Some(MIRROR_TTL_SECONDS))
            .await
    }

    async fn delete_app(&self, id: &AppId) -> Result<(), Error> {
        self.kv
            .delete(&format!("app:{id}"))
            .await
            .map_err(|e| unavailable("delete", e))
    }

    async fn find_tenant(&self, app: &AppId, id: &TenantId) -> Result<Option<Tenant>, Error> {
        let doc = self
            .kv
            .get(&format!("tenant:{app}:{id}"))
            .json::<TenantDoc>()
            .await
            .map_err(|e| unavailable("read", e))?;
        let Some(doc) = doc else { return Ok(None) };
        Ok(Some(Tenant {
            app_id: app.clone(),
            id: id.clone(),
            login_methods: LoginMethod::parse_list(&doc.login_methods)
                .map_err(|_| Error::Internal("KV tenant document does not parse".to_owned()))?,
            created_at_ms: doc.created_at,
            updated_at_ms: doc.updated_at,
        }))
    }

    async fn put_tenant(&self, tenant: &Tenant) -> Result<(), Error> {
        let doc = TenantDoc {
            login_methods: tenant
                .login_methods
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
            created_at: tenant.created_at_ms,
            updated_at: tenant.updated_at_ms,
        };
        let key = format!("tenant:{}:{}", tenant.app_id, tenant.id);
        self.put_json(&key, &doc, Some(MIRROR_TTL_SECONDS)).await
    }

    async fn delete_tenant(&self, app: &AppId, id: &TenantId) -> Result<(), Error> {
        self.kv
            .delete(&format!("tenant:{app}:{id}"))
            .await
            .map_err(|e| unavailable("delete", e))
    }
}

//! The D1 adapter (wasm32 only): every port over Cloudflare D1. All SQL lives here.
//!
//! Writes that must stay together go through `batch()`, which D1 runs as one transaction.
//! Races are settled by the database (`INSERT OR IGNORE`, `WHERE NOT EXISTS`, checked through
//! `changes`), never by a read followed by a write. A failing binding becomes
//! `Error::Unavailable` with the cause for the log.

use super::{ApiKeyStore, OperatorStore, SigningKeyStore, StoredSigningKey, TenancyStore};
use crate::domain::authz::Scope;
use crate::domain::email::Email;
use crate::domain::ids::{ApiKeyId, AppId, OperatorId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::operator::Operator;
use crate::domain::password::PasswordHash;
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::{ApiKey, App, LoginMethod, Tenant};
use crate::domain::Error;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

/// Every port over one D1 database.
pub struct D1Store {
    db: D1Database,
}

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

fn int(value: i64) -> JsValue {
    // D1 numbers are JS numbers; every integer stored here (ms times, flags) fits in 2^53.
    JsValue::from_f64(value as f64)
}

fn unavailable(what: &str, e: worker::Error) -> Error {
    Error::Unavailable(format!("D1 {what}: {e}"))
}

fn corrupt(what: &str) -> Error {
    Error::Internal(format!("D1 row of {what} does not parse"))
}

impl D1Store {
    /// Wraps the `DB` binding.
    pub fn new(db: D1Database) -> Self {
        D1Store { db }
    }

    fn statement(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, Error> {
        self.db
            .prepare(sql)
            .bind(args)
            .map_err(|e| unavailable("bind", e))
    }

    async fn first<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: &[JsValue],
    ) -> Result<Option<T>, Error> {
        self.statement(sql, args)?
            .first::<T>(None)
            .await
            .map_err(|e| unavailable("read", e))
    }

    async fn all<T: DeserializeOwned>(&self, sql: &str, args: &[JsValue]) -> Result<Vec<T>, Error> {
        let result = self
            .statement(sql, args)?
            .all()
            .await
            .map_err(|e| unavailable("read", e))?;
        result.results::<T>().map_err(|e| unavailable("decode", e))
    }

    /// Runs a write and returns how many rows it changed.
    async fn run(&self, sql: &str, args: &[JsValue]) -> Result<usize, Error> {
        let result = self
            .statement(sql, args)?
            .run()
            .await
            .map_err(|e| unavailable("write", e))?;
        changes(&result)
    }

    async fn batch(&self, statements: Vec<D1PreparedStatement>) -> Result<Vec<D1Result>, Error> {
        self.db
            .batch(statements)
            .await
            .map_err(|e| unavailable("batch", e))
    }
}

fn changes(result: &D1Result) -> Result<usize, Error> {
    result
        .meta()
        .map_err(|e| unavailable("meta", e))?
        .and_then(|m| m.changes)
        .ok_or_else(|| Error::Internal("D1 result has no change count".to_owned()))
}

#[derive(Deserialize)]
struct AppRow {
    id: String,
    created_at: i64,
}

impl AppRow {
    fn into_app(self) -> Result<App, Error> {
        Ok(App {
            id: AppId::parse(&self.id).map_err(|_| corrupt("apps"))?,
            created_at_ms: self.created_at,
        })
    }
}

#[derive(Deserialize)]
struct TenantRow {
    app_id: String,
    id: String,
    login_methods: String,
    created_at: i64,
    updated_at: i64,
}

impl TenantRow {
    fn into_tenant(self) -> Result<Tenant, Error> {
        let names: Vec<String> =
            serde_json::from_str(&self.login_methods).map_err(|_| corrupt("tenants"))?;
        Ok(Tenant {
            app_id: AppId::parse(&self.app_id).map_err(|_| corrupt("tenants"))?,
            id: TenantId::parse(&self.id).map_err(|_| corrupt("tenants"))?,
            login_methods: LoginMethod::parse_list(&names).map_err(|_| corrupt("tenants"))?,
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
        })
    }
}

fn methods_json(tenant: &Tenant) -> String {
    let names: Vec<&str> = tenant.login_methods.iter().map(|m| m.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
}

const TENANT_COLUMNS: &str = "app_id, id, login_methods, created_at, updated_at";

impl TenancyStore for D1Store {
    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error> {
        self.first::<AppRow>(
            "SELECT id, created_at FROM apps WHERE id = ?1",
            &[text(id.as_str())],
        )
        .await?
        .map(AppRow::into_app)
        .transpose()
    }

    async fn list_apps(&self, after: Option<&str>, limit: usize) -> Result<Vec<App>, Error> {
        self.all::<AppRow>(
            "SELECT id, created_at FROM apps WHERE id > ?1 ORDER BY id LIMIT ?2",
            &[text(after.unwrap_or("")), int(limit as i64)],
        )
        .await?
        .into_iter()
        .map(AppRow::into_app)
        .collect()
    }

    async fn create_app(&self, app: &App, public: &Tenant) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                self.statement(
                    "INSERT OR IGNORE INTO apps (id, created_at) VALUES (?1, ?2)",
                    &[text(app.id.as_str()), int(app.created_at_ms)],
                )?,
                self.statement(
                    "INSERT OR IGNORE INTO tenants (app_id, id, login_methods, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                    &[
                        text(app.id.as_str()),
                        text(public.id.as_str()),
                        text(&methods_json(public)),
                        int(public.created_at_ms),
                    ],
                )?,
            ])
            .await?;
        let first = results
            .first()
            .ok_or_else(|| Error::Internal("D1 batch returned no results".to_owned()))?;
        Ok(changes(first)? == 1)
    }

    async fn find_tenant(&self, app: &AppId, id: &TenantId) -> Result<Option<Tenant>, Error> {
        self.first::<TenantRow>(
            &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE app_id = ?1 AND id = ?2"),
            &[text(app.as_str()), text(id.as_str())],
        )
        .await?
        .map(TenantRow::into_tenant)
        .transpose()
    }

    async fn list_tenants(
        &self,
        app: &AppId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tenant>, Error> {
        self.all::<TenantRow>(
            &format!(
                "SELECT {TENANT_COLUMNS} FROM tenants WHERE app_id = ?1 AND id > ?2 \
                 ORDER BY id LIMIT ?3"
            ),
            &[
                text(app.as_str()),
                text(after.unwrap_or("")),
                int(limit as i64),
            ],
        )
        .await?
        .into_iter()
        .map(TenantRow::into_tenant)
        .collect()
    }

    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool, Error> {
        let changed = self
            .run(
                "INSERT OR IGNORE INTO tenants (app_id, id, login_methods, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &[
                    text(tenant.app_id.as_str()),
                    text(tenant.id.as_str()),
                    text(&methods_json(tenant)),
                    int(tenant.created_at_ms),
                    int(tenant.updated_at_ms),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn update_tenant(&self, tenant: &Tenant) -> Result<bool, Error> {
        let changed = self
            .run(
                "UPDATE tenants SET login_methods = ?3, updated_at = ?4 WHERE app_id = ?1 AND id = ?2",
                &[
                    text(tenant.app_id.as_str()),
                    text(tenant.id.as_str()),
                    text(&methods_json(tenant)),
                    int(tenant.updated_at_ms),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn delete_tenant(&self, app: &AppId, id: &TenantId) -> Result<bool, Error> {
        let args = [text(app.as_str()), text(id.as_str())];
        let results = self
            .batch(vec![
                self.statement(
                    "DELETE FROM api_keys WHERE app_id = ?1 AND tenant_id = ?2",
                    &args,
                )?,
                self.statement("DELETE FROM tenants WHERE app_id = ?1 AND id = ?2", &args)?,
            ])
            .await?;
        let last = results
            .last()
            .ok_or_else(|| Error::Internal("D1 batch returned no results".to_owned()))?;
        Ok(changes(last)? == 1)
    }
}

#[derive(Deserialize)]
struct OperatorRow {
    id: String,
    email: String,
    password_hash: Option<String>,
    is_platform_owner: i64,
    created_at: i64,
}

impl OperatorRow {
    fn into_operator(self) -> Result<Operator, Error> {
        Ok(Operator {
            id: OperatorId::parse(&self.id).map_err(|_| corrupt("operators"))?,
            email: Email::parse(&self.email).map_err(|_| corrupt("operators"))?,
            password_hash: self
                .password_hash
                .as_deref()
                .map(PasswordHash::parse)
                .transpose()?,
            is_platform_owner: self.is_platform_owner != 0,
            created_at_ms: self.created_at,
        })
    }
}

const OPERATOR_COLUMNS: &str = "id, email, password_hash, is_platform_owner, created_at";

impl OperatorStore for D1Store {
    async fn create_platform_owner(&self, operator: &Operator) -> Result<bool, Error> {
        let changed = self
            .run(
                "INSERT INTO operators (id, email, password_hash, is_platform_owner, created_at) \
                 SELECT ?1, ?2, ?3, 1, ?4 \
                 WHERE NOT EXISTS (SELECT 1 FROM operators WHERE is_platform_owner = 1)",
                &[
                    text(&operator.id.to_string()),
                    text(operator.email.as_str()),
                    operator
                        .password_hash
                        .as_ref()
                        .map(|h| text(&h.to_phc_string()))
                        .unwrap_or(JsValue::NULL),
                    int(operator.created_at_ms),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn find_operator(&self, id: &OperatorId) -> Result<Option<Operator>, Error> {
        self.first::<OperatorRow>(
            &format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = ?1"),
            &[text(&id.to_string())],
        )
        .await?
        .map(OperatorRow::into_operator)
        .transpose()
    }

    async fn find_operator_by_email(&self, email: &str) -> Result<Option<Operator>, Error> {
        self.first::<OperatorRow>(
            &format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE email = ?1"),
            &[text(email)],
        )
        .await?
        .map(OperatorRow::into_operator)
        .transpose()
    }

    async fn update_operator_password(
        &self,
        id: &OperatorId,
        hash: &PasswordHash,
    ) -> Result<(), Error> {
        self.run(
            "UPDATE operators SET password_hash = ?2 WHERE id = ?1",
            &[text(&id.to_string()), text(&hash.to_phc_string())],
        )
        .await
        .map(drop)
    }
}

#[derive(Deserialize)]
struct ApiKeyRow {
    id: String,
    app_id: String,
    tenant_id: String,
    name: String,
    scopes: String,
    created_at: i64,
}

impl ApiKeyRow {
    fn into_api_key(self) -> Result<ApiKey, Error> {
        let names: Vec<String> =
            serde_json::from_str(&self.scopes).map_err(|_| corrupt("api_keys"))?;
        Ok(ApiKey {
            id: ApiKeyId::parse(&self.id).map_err(|_| corrupt("api_keys"))?,
            app_id: AppId::parse(&self.app_id).map_err(|_| corrupt("api_keys"))?,
            tenant_id: TenantId::parse(&self.tenant_id).map_err(|_| corrupt("api_keys"))?,
            name: self.name,
            scopes: Scope::parse_list(&names).map_err(|_| corrupt("api_keys"))?,
            created_at_ms: self.created_at,
        })
    }
}

const API_KEY_COLUMNS: &str = "id, app_id, tenant_id, name, scopes, created_at";

impl ApiKeyStore for D1Store {
    async fn create_api_key(&self, key: &ApiKey, hash: &SecretHash) -> Result<(), Error> {
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        self.run(
            "INSERT INTO api_keys (id, app_id, tenant_id, name, scopes, key_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                text(&key.id.to_string()),
                text(key.app_id.as_str()),
                text(key.tenant_id.as_str()),
                text(&key.name),
                text(&serde_json::to_string(&scopes).unwrap_or_else(|_| "[]".to_owned())),
                text(hash.as_str()),
                int(key.created_at_ms),
            ],
        )
        .await
        .map(drop)
    }

    async fn list_api_keys(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ApiKey>, Error> {
        self.all::<ApiKeyRow>(
            &format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4"
            ),
            &[
                text(app.as_str()),
                text(tenant.as_str()),
                text(after.unwrap_or("")),
                int(limit as i64),
            ],
        )
        .await?
        .into_iter()
        .map(ApiKeyRow::into_api_key)
        .collect()
    }

    async fn delete_api_key(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ApiKeyId,
    ) -> Result<bool, Error> {
        let changed = self
            .run(
                "DELETE FROM api_keys WHERE id = ?1 AND app_id = ?2 AND tenant_id = ?3",
                &[
                    text(&id.to_string()),
                    text(app.as_str()),
                    text(tenant.as_str()),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn find_api_key_by_hash(&self, hash: &SecretHash) -> Result<Option<ApiKey>, Error> {
        self.first::<ApiKeyRow>(
            &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1"),
            &[text(hash.as_str())],
        )
        .await?
        .map(ApiKeyRow::into_api_key)
        .transpose()
    }
}

#[derive(Deserialize)]
struct SigningKeyRow {
    kid: String,
    public_key: String,
    private_key: String,
    created_at: i64,
}

impl SigningKeyStore for D1Store {
    async fn find_signing_keys(&self, owner: &KeyOwner) -> Result<Vec<StoredSigningKey>, Error> {
        let rows = self
            .all::<SigningKeyRow>(
                "SELECT kid, public_key, private_key, created_at FROM signing_keys \
                 WHERE owner = ?1 ORDER BY created_at DESC",
                &[text(&owner.as_stored())],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredSigningKey {
                kid: r.kid,
                owner: owner.clone(),
                public_key: r.public_key,
                sealed_private_key: r.private_key,
                created_at_ms: r.created_at,
            })
            .collect())
    }

    async fn create_signing_key(&self, key: &StoredSigningKey) -> Result<(), Error> {
        self.run(
            "INSERT INTO signing_keys (kid, owner, alg, public_key, private_key, created_at) \
             VALUES (?1, ?2, 'EdDSA', ?3, ?4, ?5)",
            &[
                text(&key.kid),
                text(&key.owner.as_stored()),
                text(&key.public_key),
                text(&key.sealed_private_key),
                int(key.created_at_ms),
            ],
        )
        .await
        .map(drop)
    }
}

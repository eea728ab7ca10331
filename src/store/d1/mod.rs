//! The D1 adapter (wasm32 only): every port over Cloudflare D1. All SQL lives here.
//!
//! Writes that must stay together go through `batch()`, which D1 runs as one transaction.
//! Races are settled by the database (`INSERT OR IGNORE`, `WHERE NOT EXISTS`, checked through
//! `changes`), never by a read followed by a write. A failing binding becomes
//! `Error::Unavailable` with the cause for the log.

use super::{
    ApiKeyStore, Attempt, EventOutcome, MemberStore, OperatorStore, PresentedRefresh, SessionStore,
    SignInRecord, SigningKeyStore, StoredSigningKey, TenancyStore, UserFilter, UserStateStore,
    UserStore,
};
use crate::domain::audit::AuditEntry;
use crate::domain::authz::{Grant, Scope};
use crate::domain::email::Email;
use crate::domain::ids::{ApiKeyId, AppId, OperatorId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::member::{Member, MemberId, MemberStatus, OperatorRole};
use crate::domain::operator::Operator;
use crate::domain::password::PasswordHash;
use crate::domain::policy::{AppPolicy, Plan};
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::tenancy::{ApiKey, App, AppSettings, LoginMethod, Tenant};
use crate::domain::throttle::{retry_after_seconds, ThrottlePolicy, ACCOUNT, CLIENT, SIGNUP};
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
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

impl D1Store {
    /// The statement that writes `entry`. With `only_if_changed`, it writes only when the
    /// statement just before it in the batch changed a row (`changes()`), so a refused or
    /// no-op change leaves no entry.
    fn audit(
        &self,
        entry: &AuditEntry,
        only_if_changed: bool,
    ) -> Result<D1PreparedStatement, Error> {
        let condition = if only_if_changed {
            " WHERE changes() > 0"
        } else {
            ""
        };
        self.statement(
            &format!(
                "INSERT INTO audit_log (id, app_id, at, actor, action, target, tenant_id, detail) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8{condition}"
            ),
            &[
                text(&entry.id),
                text(entry.app_id.as_str()),
                int(entry.at_ms),
                text(&entry.actor.as_stored()),
                text(entry.action),
                text(&entry.target),
                entry
                    .tenant_id
                    .as_ref()
                    .map(|t| text(t.as_str()))
                    .unwrap_or(JsValue::NULL),
                text(&entry.detail.to_string()),
            ],
        )
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
    settings: String,
    created_at: i64,
}

impl AppRow {
    fn into_app(self) -> Result<App, Error> {
        Ok(App {
            id: AppId::parse(&self.id).map_err(|_| corrupt("apps"))?,
            settings: serde_json::from_str(&self.settings).map_err(|_| corrupt("apps"))?,
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

/// `true` when the first statement of a batch changed a row.
fn first_changed(results: &[D1Result]) -> Result<bool, Error> {
    let first = results
        .first()
        .ok_or_else(|| Error::Internal("D1 batch returned no results".to_owned()))?;
    Ok(changes(first)? == 1)
}

fn settings_json(settings: &AppSettings) -> Result<String, Error> {
    serde_json::to_string(settings).map_err(|e| Error::Internal(format!("settings: {e}")))
}

fn methods_json(tenant: &Tenant) -> String {
    let names: Vec<&str> = tenant.login_methods.iter().map(|m| m.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
}

const TENANT_COLUMNS: &str = "app_id, id, login_methods, created_at, updated_at";

impl TenancyStore for D1Store {
    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error> {
        self.first::<AppRow>(
            "SELECT id, settings, created_at FROM apps WHERE id = ?1",
            &[text(id.as_str())],
        )
        .await?
        .map(AppRow::into_app)
        .transpose()
    }

    async fn list_apps(&self, after: Option<&str>, limit: usize) -> Result<Vec<App>, Error> {
        self.all::<AppRow>(
            "SELECT id, settings, created_at FROM apps WHERE id > ?1 ORDER BY id LIMIT ?2",
            &[text(after.unwrap_or("")), int(limit as i64)],
        )
        .await?
        .into_iter()
        .map(AppRow::into_app)
        .collect()
    }

    async fn create_app(
        &self,
        app: &App,
        public: &Tenant,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                self.statement(
                    "INSERT OR IGNORE INTO apps (id, settings, created_at) VALUES (?1, ?2, ?3)",
                    &[
                        text(app.id.as_str()),
                        text(&settings_json(&app.settings)?),
                        int(app.created_at_ms),
                    ],
                )?,
                self.audit(audit, true)?,
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

    async fn update_app_settings(
        &self,
        id: &AppId,
        settings: &AppSettings,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                self.statement(
                    "UPDATE apps SET settings = ?2 WHERE id = ?1",
                    &[text(id.as_str()), text(&settings_json(settings)?)],
                )?,
                self.audit(audit, true)?,
            ])
            .await?;
        first_changed(&results)
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

    async fn create_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                self.statement(
                    "INSERT OR IGNORE INTO tenants \
                     (app_id, id, login_methods, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    &[
                        text(tenant.app_id.as_str()),
                        text(tenant.id.as_str()),
                        text(&methods_json(tenant)),
                        int(tenant.created_at_ms),
                        int(tenant.updated_at_ms),
                    ],
                )?,
                self.audit(audit, true)?,
            ])
            .await?;
        first_changed(&results)
    }

    async fn update_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                self.statement(
                    "UPDATE tenants SET login_methods = ?3, updated_at = ?4 \
                     WHERE app_id = ?1 AND id = ?2",
                    &[
                        text(tenant.app_id.as_str()),
                        text(tenant.id.as_str()),
                        text(&methods_json(tenant)),
                        int(tenant.updated_at_ms),
                    ],
                )?,
                self.audit(audit, true)?,
            ])
            .await?;
        first_changed(&results)
    }

    async fn delete_tenant(
        &self,
        app: &AppId,
        id: &TenantId,
        audit: &AuditEntry,
    ) -> Result<Option<Vec<SecretHash>>, Error> {
        let args = [text(app.as_str()), text(id.as_str())];
        let in_tenant = "app_id = ?1 AND tenant_id = ?2";
        // Members narrowed to the tenant leave with it, so that a tenant re-created under the
        // same id does not hand its old operators their access back.
        let statements = vec![
            self.statement(
                &format!("SELECT key_hash FROM api_keys WHERE {in_tenant}"),
                &args,
            )?,
            self.statement(
                &format!(
                    "DELETE FROM refresh_tokens WHERE session_id IN \
                     (SELECT id FROM sessions WHERE {in_tenant})"
                ),
                &args,
            )?,
            self.statement(&format!("DELETE FROM sessions WHERE {in_tenant}"), &args)?,
            self.statement(
                &format!("DELETE FROM tenant_users WHERE {in_tenant}"),
                &args,
            )?,
            self.statement(
                &format!("DELETE FROM signin_failures WHERE {in_tenant}"),
                &args,
            )?,
            self.statement(&format!("DELETE FROM api_keys WHERE {in_tenant}"), &args)?,
            self.statement(
                &format!(
                    "UPDATE members SET status = 'left', invite_hash = NULL, updated_at = ?3 \
                     WHERE {in_tenant} AND status != 'left'"
                ),
                &[text(app.as_str()), text(id.as_str()), int(audit.at_ms)],
            )?,
            self.statement("DELETE FROM tenants WHERE app_id = ?1 AND id = ?2", &args)?,
            self.audit(audit, true)?,
        ];
        let tenant_delete = statements.len() - 2;
        let results = self.batch(statements).await?;
        let (Some(hashes), Some(last)) = (results.first(), results.get(tenant_delete)) else {
            return Err(Error::Internal(
                "D1 batch returned too few results".to_owned(),
            ));
        };
        if changes(last)? != 1 {
            return Ok(None);
        }
        let hashes = hashes
            .results::<HashRow>()
            .map_err(|e| unavailable("decode", e))?;
        Ok(Some(
            hashes
                .into_iter()
                .map(|r| SecretHash::from_stored(r.key_hash))
                .collect(),
        ))
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

/// The app and tenant columns of the operator plane's sign-in counters (no app has an empty id).
const OPERATOR_PLANE: &str = "";

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

    async fn begin_operator_signin(
        &self,
        email: &Email,
        attempt: &Attempt,
    ) -> Result<SignInRecord<Operator>, Error> {
        let lookup = self.statement(
            &format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE email = ?1"),
            &[text(email.as_str())],
        )?;
        let (results, retry_after) = self
            .count_attempt(OPERATOR_PLANE, OPERATOR_PLANE, attempt, lookup)
            .await?;
        let user = results
            .first()
            .ok_or_else(|| Error::Internal("D1 batch returned no results".to_owned()))?
            .results::<OperatorRow>()
            .map_err(|e| unavailable("decode", e))?
            .into_iter()
            .next()
            .map(OperatorRow::into_operator)
            .transpose()?;
        Ok(SignInRecord { user, retry_after })
    }

    async fn finish_operator_signin(&self, attempt: &Attempt) -> Result<(), Error> {
        let statements = self.settle_attempt(OPERATOR_PLANE, OPERATOR_PLANE, attempt)?;
        self.batch(statements).await.map(drop)
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

/// A row holding only an API key's hash.
#[derive(Deserialize)]
struct HashRow {
    key_hash: String,
}

const API_KEY_COLUMNS: &str = "id, app_id, tenant_id, name, scopes, created_at";

impl ApiKeyStore for D1Store {
    async fn create_api_key(
        &self,
        key: &ApiKey,
        hash: &SecretHash,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        self.batch(vec![
            self.statement(
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
            )?,
            self.audit(audit, false)?,
        ])
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
        audit: Option<&AuditEntry>,
    ) -> Result<Option<SecretHash>, Error> {
        let mut statements = vec![self.statement(
            "DELETE FROM api_keys WHERE id = ?1 AND app_id = ?2 AND tenant_id = ?3 \
             RETURNING key_hash",
            &[
                text(&id.to_string()),
                text(app.as_str()),
                text(tenant.as_str()),
            ],
        )?];
        if let Some(audit) = audit {
            statements.push(self.audit(audit, true)?);
        }
        let results = self.batch(statements).await?;
        let deleted = results
            .first()
            .ok_or_else(|| Error::Internal("D1 batch returned no results".to_owned()))?
            .results::<HashRow>()
            .map_err(|e| unavailable("decode", e))?;
        Ok(deleted
            .into_iter()
            .next()
            .map(|r| SecretHash::from_stored(r.key_hash)))
    }

    async fn find_api_key_hash(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ApiKeyId,
    ) -> Result<Option<SecretHash>, Error> {
        let row = self
            .first::<HashRow>(
                "SELECT key_hash FROM api_keys WHERE id = ?1 AND app_id = ?2 AND tenant_id = ?3",
                &[
                    text(&id.to_string()),
                    text(app.as_str()),
                    text(tenant.as_str()),
                ],
            )
            .await?;
        Ok(row.map(|r| SecretHash::from_stored(r.key_hash)))
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
    activates_at: i64,
}

impl SigningKeyStore for D1Store {
    async fn find_signing_keys(&self, owner: &KeyOwner) -> Result<Vec<StoredSigningKey>, Error> {
        let rows = self
            .all::<SigningKeyRow>(
                "SELECT kid, public_key, private_key, created_at, activates_at FROM signing_keys \
                 WHERE owner = ?1 ORDER BY activates_at DESC",
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
                activates_at_ms: r.activates_at,
            })
            .collect())
    }

    async fn create_signing_key(
        &self,
        key: &StoredSigningKey,
        audit: Option<&AuditEntry>,
    ) -> Result<(), Error> {
        let mut statements = vec![self.statement(
            "INSERT INTO signing_keys \
             (kid, owner, alg, public_key, private_key, created_at, activates_at) \
             VALUES (?1, ?2, 'EdDSA', ?3, ?4, ?5, ?6)",
            &[
                text(&key.kid),
                text(&key.owner.as_stored()),
                text(&key.public_key),
                text(&key.sealed_private_key),
                int(key.created_at_ms),
                int(key.activates_at_ms),
            ],
        )?];
        if let Some(audit) = audit {
            statements.push(self.audit(audit, false)?);
        }
        self.batch(statements).await.map(drop)
    }
}

#[derive(Deserialize)]
struct TenantUserRow {
    app_id: String,
    user_id: String,
    user_email: String,
    password_hash: Option<String>,
    user_created_at: i64,
    tenant_id: String,
    email: String,
    status: String,
    plan_tier: String,
    rate_limit_override: Option<i64>,
    roles: String,
    version: i64,
    created_at: i64,
}

/// Columns of `tenant_users tu JOIN users u`, in the shape of `TenantUserRow`.
const TENANT_USER_COLUMNS: &str = "u.app_id AS app_id, u.id AS user_id, u.email AS user_email, \
     u.password_hash AS password_hash, u.created_at AS user_created_at, \
     tu.tenant_id AS tenant_id, tu.email AS email, tu.status AS status, \
     tu.plan_tier AS plan_tier, tu.rate_limit_override AS rate_limit_override, \
     tu.roles AS roles, tu.version AS version, tu.created_at AS created_at";

impl TenantUserRow {
    fn into_pair(self) -> Result<(User, TenantUser), Error> {
        let bad = || corrupt("users");
        let app_id = AppId::parse(&self.app_id).map_err(|_| bad())?;
        let user_id = UserId::parse(&self.user_id).map_err(|_| bad())?;
        let user = User {
            app_id: app_id.clone(),
            id: user_id,
            email: Email::parse(&self.user_email).map_err(|_| bad())?,
            password_hash: self
                .password_hash
                .as_deref()
                .map(PasswordHash::parse)
                .transpose()?,
            created_at_ms: self.user_created_at,
        };
        let face = TenantUser {
            app_id,
            tenant_id: TenantId::parse(&self.tenant_id).map_err(|_| bad())?,
            user_id,
            email: Email::parse(&self.email).map_err(|_| bad())?,
            status: UserStatus::parse(&self.status).map_err(|_| bad())?,
            plan_tier: self.plan_tier,
            rate_limit_override: self.rate_limit_override,
            roles: serde_json::from_str(&self.roles).map_err(|_| bad())?,
            version: self.version,
            created_at_ms: self.created_at,
        };
        Ok((user, face))
    }
}

impl UserStore for D1Store {
    async fn create_user(
        &self,
        user: &User,
        face: &TenantUser,
        session: &Session,
        token: &SecretHash,
    ) -> Result<bool, Error> {
        // The user and its face are written only when the tenant does not have the email yet,
        // and the session and its token by `changes()` of the statement before, all inside one
        // transaction: either everything is written or nothing is.
        let mut statements = self.user_inserts(user, face)?;
        statements.push(self.session_insert(session, true)?);
        statements.push(self.refresh_token_insert(session, token, true)?);
        let results = self.batch(statements).await?;
        first_changed(&results)
    }

    async fn begin_signin(
        &self,
        app: &AppId,
        tenant: &TenantId,
        email: &Email,
        attempt: &Attempt,
    ) -> Result<SignInRecord<(User, TenantUser)>, Error> {
        let lookup = self.statement(
            &format!(
                "SELECT {TENANT_USER_COLUMNS} FROM tenant_users tu \
                 JOIN users u ON u.app_id = tu.app_id AND u.id = tu.user_id \
                 WHERE tu.app_id = ?1 AND tu.tenant_id = ?2 AND tu.email = ?3"
            ),
            &[
                text(app.as_str()),
                text(tenant.as_str()),
                text(email.as_str()),
            ],
        )?;
        let (results, retry_after) = self
            .count_attempt(app.as_str(), tenant.as_str(), attempt, lookup)
            .await?;
        let user = results
            .first()
            .ok_or_else(|| Error::Internal("D1 batch returned no results".to_owned()))?
            .results::<TenantUserRow>()
            .map_err(|e| unavailable("decode", e))?
            .into_iter()
            .next()
            .map(TenantUserRow::into_pair)
            .transpose()?;
        Ok(SignInRecord { user, retry_after })
    }

    async fn count_signup(
        &self,
        app: &AppId,
        tenant: &TenantId,
        client: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, Error> {
        // The same counting as a sign-in's client subject, under a subject of its own; the
        // account part of the attempt is the address too, so only one counter moves.
        let attempt = Attempt {
            account: format!("signup:{client}"),
            client: None,
            now_ms,
        };
        let nothing = self.statement("SELECT 1 AS one", &[])?;
        let (_, retry_after) = self
            .count_attempt_with(app.as_str(), tenant.as_str(), &attempt, nothing, &SIGNUP)
            .await?;
        Ok(retry_after)
    }

    async fn settle_signin(
        &self,
        app: &AppId,
        tenant: &TenantId,
        attempt: &Attempt,
    ) -> Result<(), Error> {
        let statements = self.settle_attempt(app.as_str(), tenant.as_str(), attempt)?;
        self.batch(statements).await.map(drop)
    }

    async fn find_tenant_user(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(User, TenantUser)>, Error> {
        self.first::<TenantUserRow>(
            &format!(
                "SELECT {TENANT_USER_COLUMNS} FROM tenant_users tu \
                 JOIN users u ON u.app_id = tu.app_id AND u.id = tu.user_id \
                 WHERE tu.app_id = ?1 AND tu.tenant_id = ?2 AND tu.user_id = ?3"
            ),
            &[
                text(app.as_str()),
                text(tenant.as_str()),
                text(&user.to_string()),
            ],
        )
        .await?
        .map(TenantUserRow::into_pair)
        .transpose()
    }

    async fn update_user_password(
        &self,
        app: &AppId,
        user: &UserId,
        hash: &PasswordHash,
    ) -> Result<(), Error> {
        self.run(
            "UPDATE users SET password_hash = ?3 WHERE app_id = ?1 AND id = ?2",
            &[
                text(app.as_str()),
                text(&user.to_string()),
                text(&hash.to_phc_string()),
            ],
        )
        .await
        .map(drop)
    }
}

#[derive(Deserialize)]
struct SessionRow {
    id: String,
    app_id: String,
    tenant_id: String,
    user_id: String,
    generation: i64,
    rotated_at: i64,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    idle_timeout_ms: i64,
    revoked_at: Option<i64>,
}

const SESSION_COLUMNS: &str = "s.id AS id, s.app_id AS app_id, s.tenant_id AS tenant_id, \
     s.user_id AS user_id, s.generation AS generation, s.rotated_at AS rotated_at, \
     s.created_at AS created_at, s.last_used_at AS last_used_at, s.expires_at AS expires_at, \
     s.idle_timeout_ms AS idle_timeout_ms, s.revoked_at AS revoked_at";

impl SessionRow {
    fn into_session(self) -> Result<Session, Error> {
        let bad = || corrupt("sessions");
        Ok(Session {
            id: SessionId::parse(&self.id).map_err(|_| bad())?,
            app_id: AppId::parse(&self.app_id).map_err(|_| bad())?,
            tenant_id: TenantId::parse(&self.tenant_id).map_err(|_| bad())?,
            user_id: UserId::parse(&self.user_id).map_err(|_| bad())?,
            generation: self.generation,
            rotated_at_ms: self.rotated_at,
            created_at_ms: self.created_at,
            last_used_at_ms: self.last_used_at,
            expires_at_ms: self.expires_at,
            idle_timeout_ms: self.idle_timeout_ms,
            revoked_at_ms: self.revoked_at,
        })
    }
}

#[derive(Deserialize)]
struct PresentedRow {
    #[serde(flatten)]
    session: SessionRow,
    token_generation: i64,
    status: Option<String>,
}

/// Counts one attempt against a subject unless it is blocked (the `WHERE` of the upsert), and
/// sets how long the subject is blocked should this attempt fail, from the policy's back-off
/// table. Returns a row only when the attempt was counted.
const COUNT_ATTEMPT: &str = "INSERT INTO signin_failures \
     (app_id, tenant_id, subject, failures, last_failed_at, blocked_until) \
     VALUES (?1, ?2, ?3, 1, ?4, ?4 + json_extract(?5, '$[1]')) \
     ON CONFLICT (app_id, tenant_id, subject) DO UPDATE SET \
     failures = CASE WHEN ?4 - last_failed_at > ?6 THEN 1 ELSE failures + 1 END, \
     blocked_until = ?4 + json_extract(?5, '$[' || \
       MIN(CASE WHEN ?4 - last_failed_at > ?6 THEN 1 ELSE failures + 1 END, ?7) || ']'), \
     last_failed_at = ?4 \
     WHERE signin_failures.blocked_until <= ?4 \
     RETURNING failures";

impl D1Store {
    fn count_statement(
        &self,
        app: &str,
        tenant: &str,
        subject: &str,
        policy: &ThrottlePolicy,
        now_ms: i64,
    ) -> Result<D1PreparedStatement, Error> {
        let table = serde_json::to_string(&policy.backoff_table())
            .map_err(|e| Error::Internal(format!("back-off table: {e}")))?;
        self.statement(
            COUNT_ATTEMPT,
            &[
                text(app),
                text(tenant),
                text(subject),
                int(now_ms),
                text(&table),
                int(policy.decay_ms),
                int(policy.lockout_failures),
            ],
        )
    }

    /// Runs `lookup` and counts `attempt` in one batch. Returns the batch's results (the
    /// lookup's first) and, when a subject was blocked, the seconds to wait.
    async fn count_attempt(
        &self,
        app: &str,
        tenant: &str,
        attempt: &Attempt,
        lookup: D1PreparedStatement,
    ) -> Result<(Vec<D1Result>, Option<i64>), Error> {
        self.count_attempt_with(app, tenant, attempt, lookup, &ACCOUNT)
            .await
    }

    /// `count_attempt` with `account_policy` for the attempt's account subject.
    async fn count_attempt_with(
        &self,
        app: &str,
        tenant: &str,
        attempt: &Attempt,
        lookup: D1PreparedStatement,
        account_policy: &ThrottlePolicy,
    ) -> Result<(Vec<D1Result>, Option<i64>), Error> {
        let mut statements = vec![
            lookup,
            self.count_statement(
                app,
                tenant,
                &attempt.account,
                account_policy,
                attempt.now_ms,
            )?,
        ];
        if let Some(client) = &attempt.client {
            statements.push(self.count_statement(app, tenant, client, &CLIENT, attempt.now_ms)?);
        }
        statements.push(self.statement(
            "SELECT MAX(blocked_until) AS until FROM signin_failures \
             WHERE app_id = ?1 AND tenant_id = ?2 AND subject IN (?3, ?4)",
            &[
                text(app),
                text(tenant),
                text(&attempt.account),
                text(attempt.client.as_deref().unwrap_or("")),
            ],
        )?);
        let results = self.batch(statements).await?;
        #[derive(Deserialize)]
        struct Counted {
            #[expect(dead_code, reason = "only its presence matters")]
            failures: i64,
        }
        #[derive(Deserialize)]
        struct Until {
            until: Option<i64>,
        }
        let mut blocked = false;
        for counted in &results[1..results.len() - 1] {
            let rows = counted
                .results::<Counted>()
                .map_err(|e| unavailable("decode", e))?;
            blocked |= rows.is_empty();
        }
        let retry_after = if blocked {
            let until = results
                .last()
                .map(|r| r.results::<Until>())
                .transpose()
                .map_err(|e| unavailable("decode", e))?
                .and_then(|rows| rows.into_iter().next())
                .and_then(|row| row.until)
                .unwrap_or(0);
            Some(retry_after_seconds(until, attempt.now_ms).unwrap_or(1))
        } else {
            None
        };
        Ok((results, retry_after))
    }

    /// After a successful sign-in: the account's count is cleared, and the client's count
    /// gets this (counted) attempt back, unblocking it if that takes it under the free
    /// attempts.
    fn settle_attempt(
        &self,
        app: &str,
        tenant: &str,
        attempt: &Attempt,
    ) -> Result<Vec<D1PreparedStatement>, Error> {
        let mut statements = vec![self.statement(
            "DELETE FROM signin_failures WHERE app_id = ?1 AND tenant_id = ?2 AND subject = ?3",
            &[text(app), text(tenant), text(&attempt.account)],
        )?];
        if let Some(client) = &attempt.client {
            statements.push(self.statement(
                "UPDATE signin_failures SET failures = failures - 1, \
                 blocked_until = CASE WHEN failures - 1 < ?4 THEN 0 ELSE blocked_until END \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND subject = ?3 AND failures > 0",
                &[
                    text(app),
                    text(tenant),
                    text(client),
                    int(CLIENT.free_failures),
                ],
            )?);
        }
        Ok(statements)
    }

    /// Inserts a user, then its face in one tenant — the first only when the tenant does not
    /// have the email yet, the second only when the first happened (`changes()`).
    fn user_inserts(
        &self,
        user: &User,
        face: &TenantUser,
    ) -> Result<Vec<D1PreparedStatement>, Error> {
        Ok(vec![
            self.statement(
                "INSERT INTO users (app_id, id, email, password_hash, created_at) \
                 SELECT ?1, ?4, ?3, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM tenant_users \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND email = ?3)",
                &[
                    text(user.app_id.as_str()),
                    text(face.tenant_id.as_str()),
                    text(face.email.as_str()),
                    text(&user.id.to_string()),
                    user.password_hash
                        .as_ref()
                        .map(|h| text(&h.to_phc_string()))
                        .unwrap_or(JsValue::NULL),
                    int(user.created_at_ms),
                ],
            )?,
            self.statement(
                "INSERT INTO tenant_users \
                 (app_id, tenant_id, user_id, email, status, plan_tier, created_at) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE changes() > 0",
                &[
                    text(face.app_id.as_str()),
                    text(face.tenant_id.as_str()),
                    text(&face.user_id.to_string()),
                    text(face.email.as_str()),
                    text(face.status.as_str()),
                    text(&face.plan_tier),
                    int(face.created_at_ms),
                ],
            )?,
        ])
    }

    /// Inserts a new session; with `only_if_changed`, only when the statement before it in the
    /// batch changed a row.
    fn session_insert(
        &self,
        session: &Session,
        only_if_changed: bool,
    ) -> Result<D1PreparedStatement, Error> {
        let condition = if only_if_changed {
            " WHERE changes() > 0"
        } else {
            ""
        };
        self.statement(
            &format!(
                "INSERT INTO sessions (id, app_id, tenant_id, user_id, generation, rotated_at, \
                 created_at, last_used_at, expires_at, idle_timeout_ms) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10{condition}"
            ),
            &[
                text(&session.id.to_string()),
                text(session.app_id.as_str()),
                text(session.tenant_id.as_str()),
                text(&session.user_id.to_string()),
                int(session.generation),
                int(session.rotated_at_ms),
                int(session.created_at_ms),
                int(session.last_used_at_ms),
                int(session.expires_at_ms),
                int(session.idle_timeout_ms),
            ],
        )
    }

    /// Inserts a session's refresh token of its current generation (conditionally, as above).
    fn refresh_token_insert(
        &self,
        session: &Session,
        token: &SecretHash,
        only_if_changed: bool,
    ) -> Result<D1PreparedStatement, Error> {
        let condition = if only_if_changed {
            " WHERE changes() > 0"
        } else {
            ""
        };
        self.statement(
            &format!(
                "INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at) \
                 SELECT ?1, ?2, ?3, ?4{condition}"
            ),
            &[
                text(token.as_str()),
                text(&session.id.to_string()),
                int(session.generation),
                int(session.created_at_ms),
            ],
        )
    }
}

impl SessionStore for D1Store {
    async fn create_session(
        &self,
        session: &Session,
        token: &SecretHash,
        attempt: &Attempt,
    ) -> Result<(), Error> {
        let mut statements = vec![
            self.session_insert(session, false)?,
            self.refresh_token_insert(session, token, false)?,
        ];
        statements.extend(self.settle_attempt(
            session.app_id.as_str(),
            session.tenant_id.as_str(),
            attempt,
        )?);
        self.batch(statements).await.map(drop)
    }

    async fn find_by_refresh_token(
        &self,
        token: &SecretHash,
    ) -> Result<Option<PresentedRefresh>, Error> {
        let row = self
            .first::<PresentedRow>(
                &format!(
                    "SELECT {SESSION_COLUMNS}, rt.generation AS token_generation, \
                     tu.status AS status FROM refresh_tokens rt \
                     JOIN sessions s ON s.id = rt.session_id \
                     LEFT JOIN tenant_users tu ON tu.app_id = s.app_id \
                     AND tu.tenant_id = s.tenant_id AND tu.user_id = s.user_id \
                     WHERE rt.token_hash = ?1"
                ),
                &[text(token.as_str())],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        // A session whose user no longer has a face in the tenant is as good as suspended.
        let status = match row.status.as_deref() {
            Some(s) => UserStatus::parse(s).map_err(|_| corrupt("tenant_users"))?,
            None => UserStatus::Suspended,
        };
        Ok(Some(PresentedRefresh {
            session: row.session.into_session()?,
            generation: row.token_generation,
            status,
        }))
    }

    async fn rotate_session(
        &self,
        id: &SessionId,
        from_generation: i64,
        successor: &SecretHash,
        now_ms: i64,
    ) -> Result<bool, Error> {
        let id = id.to_string();
        let results = self
            .batch(vec![
                self.statement(
                    "UPDATE sessions SET generation = ?2 + 1, rotated_at = ?3, last_used_at = ?3 \
                     WHERE id = ?1 AND generation = ?2 AND revoked_at IS NULL",
                    &[text(&id), int(from_generation), int(now_ms)],
                )?,
                // The successor is derived from the presented token, so a racing rotation
                // inserts the very same row: OR IGNORE makes that harmless.
                self.statement(
                    "INSERT OR IGNORE INTO refresh_tokens \
                     (token_hash, session_id, generation, created_at) VALUES (?1, ?2, ?3 + 1, ?4)",
                    &[
                        text(successor.as_str()),
                        text(&id),
                        int(from_generation),
                        int(now_ms),
                    ],
                )?,
            ])
            .await?;
        let first = results
            .first()
            .ok_or_else(|| Error::Internal("D1 batch returned no results".to_owned()))?;
        Ok(changes(first)? == 1)
    }

    async fn find_session(&self, id: &SessionId) -> Result<Option<Session>, Error> {
        self.first::<SessionRow>(
            &format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?1"),
            &[text(&id.to_string())],
        )
        .await?
        .map(SessionRow::into_session)
        .transpose()
    }

    async fn revoke_session(&self, id: &SessionId, now_ms: i64) -> Result<bool, Error> {
        let changed = self
            .run(
                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                &[text(&id.to_string()), int(now_ms)],
            )
            .await?;
        Ok(changed == 1)
    }
}

#[derive(Deserialize)]
struct MemberRow {
    id: String,
    app_id: String,
    operator_id: Option<String>,
    email: String,
    tenant_id: Option<String>,
    membership_type: String,
    roles: String,
    status: String,
    invite_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const MEMBER_COLUMNS: &str = "id, app_id, operator_id, email, tenant_id, membership_type, roles, \
     status, invite_expires_at, created_at, updated_at";

impl MemberRow {
    fn into_member(self) -> Result<Member, Error> {
        let bad = || corrupt("members");
        let roles: Vec<String> = serde_json::from_str(&self.roles).map_err(|_| bad())?;
        Ok(Member {
            id: MemberId::parse(&self.id).map_err(|_| bad())?,
            app_id: AppId::parse(&self.app_id).map_err(|_| bad())?,
            operator_id: self
                .operator_id
                .as_deref()
                .map(OperatorId::parse)
                .transpose()
                .map_err(|_| bad())?,
            email: Email::parse(&self.email).map_err(|_| bad())?,
            tenant_id: self
                .tenant_id
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(|_| bad())?,
            membership_type: self.membership_type,
            roles: OperatorRole::parse_list(&roles).map_err(|_| bad())?,
            status: MemberStatus::parse(&self.status).map_err(|_| bad())?,
            invite_expires_at_ms: self.invite_expires_at,
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
        })
    }
}

fn roles_json(roles: &[OperatorRole]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
}

/// SQL true when another active, app-wide admin than member `?1` exists in app `?2`.
const ANOTHER_ADMIN: &str = "EXISTS (SELECT 1 FROM members m2 WHERE m2.app_id = ?2 \
     AND m2.id != ?1 AND m2.status = 'active' AND m2.tenant_id IS NULL \
     AND EXISTS (SELECT 1 FROM json_each(m2.roles) WHERE json_each.value = 'admin'))";

impl MemberStore for D1Store {
    async fn create_member(
        &self,
        member: &Member,
        invite: &SecretHash,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                // An invitation that expired unaccepted no longer holds the email.
                self.statement(
                    "UPDATE members SET status = 'left', invite_hash = NULL, updated_at = ?3 \
                     WHERE app_id = ?1 AND email = ?2 AND status = 'invited' \
                     AND invite_expires_at <= ?3",
                    &[
                        text(member.app_id.as_str()),
                        text(member.email.as_str()),
                        int(member.created_at_ms),
                    ],
                )?,
                self.statement(
                    &format!(
                        "INSERT INTO members ({MEMBER_COLUMNS}, invite_hash) \
                         SELECT ?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10 \
                         WHERE NOT EXISTS (SELECT 1 FROM members \
                         WHERE app_id = ?2 AND email = ?3 AND status != 'left')"
                    ),
                    &[
                        text(&member.id.to_string()),
                        text(member.app_id.as_str()),
                        text(member.email.as_str()),
                        member
                            .tenant_id
                            .as_ref()
                            .map(|t| text(t.as_str()))
                            .unwrap_or(JsValue::NULL),
                        text(&member.membership_type),
                        text(&roles_json(&member.roles)),
                        text(member.status.as_str()),
                        member
                            .invite_expires_at_ms
                            .map(int)
                            .unwrap_or(JsValue::NULL),
                        int(member.created_at_ms),
                        text(invite.as_str()),
                    ],
                )?,
                self.audit(audit, true)?,
            ])
            .await?;
        let insert = results
            .get(1)
            .ok_or_else(|| Error::Internal("D1 batch returned too few results".to_owned()))?;
        Ok(changes(insert)? == 1)
    }

    async fn find_invite(&self, invite: &SecretHash) -> Result<Option<Member>, Error> {
        self.first::<MemberRow>(
            &format!("SELECT {MEMBER_COLUMNS} FROM members WHERE invite_hash = ?1"),
            &[text(invite.as_str())],
        )
        .await?
        .map(MemberRow::into_member)
        .transpose()
    }

    async fn accept_invite(
        &self,
        invite: &SecretHash,
        operator: &OperatorId,
        new_operator: Option<&Operator>,
        now_ms: i64,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let pending = "EXISTS (SELECT 1 FROM members WHERE invite_hash = ?1 \
                       AND status = 'invited' AND invite_expires_at > ?2)";
        let mut statements = Vec::new();
        if let Some(new) = new_operator {
            statements.push(self.statement(
                &format!(
                    "INSERT INTO operators (id, email, password_hash, is_platform_owner, created_at) \
                     SELECT ?3, ?4, ?5, 0, ?2 WHERE {pending}"
                ),
                &[
                    text(invite.as_str()),
                    int(now_ms),
                    text(&new.id.to_string()),
                    text(new.email.as_str()),
                    new.password_hash
                        .as_ref()
                        .map(|h| text(&h.to_phc_string()))
                        .unwrap_or(JsValue::NULL),
                ],
            )?);
        }
        let update_index = statements.len();
        statements.push(self.statement(
            "UPDATE members SET status = 'active', operator_id = ?3, invite_hash = NULL, \
             invite_expires_at = NULL, updated_at = ?2 \
             WHERE invite_hash = ?1 AND status = 'invited' AND invite_expires_at > ?2",
            &[
                text(invite.as_str()),
                int(now_ms),
                text(&operator.to_string()),
            ],
        )?);
        statements.push(self.audit(audit, true)?);
        let results = self.batch(statements).await?;
        let update = results
            .get(update_index)
            .ok_or_else(|| Error::Internal("D1 batch returned too few results".to_owned()))?;
        Ok(changes(update)? == 1)
    }

    async fn find_member(&self, app: &AppId, id: &MemberId) -> Result<Option<Member>, Error> {
        self.first::<MemberRow>(
            &format!("SELECT {MEMBER_COLUMNS} FROM members WHERE app_id = ?1 AND id = ?2"),
            &[text(app.as_str()), text(&id.to_string())],
        )
        .await?
        .map(MemberRow::into_member)
        .transpose()
    }

    async fn list_members(
        &self,
        app: &AppId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Member>, Error> {
        self.all::<MemberRow>(
            &format!(
                "SELECT {MEMBER_COLUMNS} FROM members WHERE app_id = ?1 AND id > ?2 \
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
        .map(MemberRow::into_member)
        .collect()
    }

    async fn update_member(
        &self,
        member: &Member,
        expected: MemberStatus,
        keep_an_admin: bool,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let guard = if keep_an_admin {
            format!(" AND {ANOTHER_ADMIN}")
        } else {
            String::new()
        };
        let results = self
            .batch(vec![
                self.statement(
                    &format!(
                        "UPDATE members SET status = ?3, roles = ?4, updated_at = ?5, \
                         invite_hash = CASE WHEN ?3 = 'left' THEN NULL ELSE invite_hash END \
                         WHERE id = ?1 AND app_id = ?2 AND status = ?6{guard}"
                    ),
                    &[
                        text(&member.id.to_string()),
                        text(member.app_id.as_str()),
                        text(member.status.as_str()),
                        text(&roles_json(&member.roles)),
                        int(member.updated_at_ms),
                        text(expected.as_str()),
                    ],
                )?,
                self.audit(audit, true)?,
            ])
            .await?;
        first_changed(&results)
    }

    async fn find_grants(&self, operator: &OperatorId) -> Result<Vec<Grant>, Error> {
        self.all::<MemberRow>(
            &format!(
                "SELECT {MEMBER_COLUMNS} FROM members WHERE operator_id = ?1 AND status != 'left'"
            ),
            &[text(&operator.to_string())],
        )
        .await?
        .into_iter()
        .map(|row| {
            row.into_member().map(|m| Grant {
                app_id: m.app_id,
                tenant_id: m.tenant_id,
                status: m.status,
                roles: m.roles,
            })
        })
        .collect()
    }
}

#[derive(Deserialize)]
struct AuditRow {
    id: String,
    app_id: String,
    at: i64,
    actor: String,
    action: String,
    target: String,
    tenant_id: Option<String>,
    detail: String,
}

/// An audit entry as read back: the stored actor and action as text.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: String,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub tenant_id: Option<String>,
    pub detail: serde_json::Value,
}

impl D1Store {
    /// Up to `limit` audit entries of an app, newest first, before `before`, optionally of one
    /// tenant (keyset over the id, which is a UUIDv7).
    pub async fn list_audit(
        &self,
        app: &AppId,
        tenant: Option<&TenantId>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Error> {
        let before = before.unwrap_or("~");
        let rows = match tenant {
            Some(t) => {
                self.all::<AuditRow>(
                    "SELECT * FROM audit_log WHERE app_id = ?1 AND tenant_id = ?2 AND id < ?3 \
                     ORDER BY id DESC LIMIT ?4",
                    &[
                        text(app.as_str()),
                        text(t.as_str()),
                        text(before),
                        int(limit as i64),
                    ],
                )
                .await?
            }
            None => {
                self.all::<AuditRow>(
                    "SELECT * FROM audit_log WHERE app_id = ?1 AND id < ?2 \
                     ORDER BY id DESC LIMIT ?3",
                    &[text(app.as_str()), text(before), int(limit as i64)],
                )
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .filter(|r| r.app_id == app.as_str())
            .map(|r| AuditRecord {
                id: r.id,
                at_ms: r.at,
                actor: r.actor,
                action: r.action,
                target: r.target,
                tenant_id: r.tenant_id,
                detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }
}

#[derive(Deserialize)]
struct RoleRow {
    name: String,
    permissions: String,
}

#[derive(Deserialize)]
struct PlanRow {
    tier: String,
    roles: String,
    rate_limit: Option<i64>,
}

#[derive(Deserialize)]
struct UserRow {
    app_id: String,
    id: String,
    email: String,
    password_hash: Option<String>,
    created_at: i64,
}

fn names_json(names: &[String]) -> String {
    serde_json::to_string(names).unwrap_or_else(|_| "[]".to_owned())
}

impl UserStateStore for D1Store {
    async fn find_policy(&self, app: &AppId) -> Result<AppPolicy, Error> {
        let results = self
            .batch(vec![
                self.statement(
                    "SELECT name, permissions FROM end_user_roles WHERE app_id = ?1",
                    &[text(app.as_str())],
                )?,
                self.statement(
                    "SELECT tier, roles, rate_limit FROM plans WHERE app_id = ?1",
                    &[text(app.as_str())],
                )?,
            ])
            .await?;
        let (Some(roles), Some(plans)) = (results.first(), results.get(1)) else {
            return Err(Error::Internal(
                "D1 batch returned too few results".to_owned(),
            ));
        };
        let mut policy = AppPolicy::default();
        for row in roles
            .results::<RoleRow>()
            .map_err(|e| unavailable("decode", e))?
        {
            let permissions =
                serde_json::from_str(&row.permissions).map_err(|_| corrupt("roles"))?;
            policy.roles.insert(row.name, permissions);
        }
        for row in plans
            .results::<PlanRow>()
            .map_err(|e| unavailable("decode", e))?
        {
            let roles = serde_json::from_str(&row.roles).map_err(|_| corrupt("plans"))?;
            policy.plans.insert(
                row.tier,
                Plan {
                    roles,
                    rate_limit: row.rate_limit,
                },
            );
        }
        Ok(policy)
    }

    async fn put_role(
        &self,
        app: &AppId,
        name: &str,
        permissions: &[String],
        now_ms: i64,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.batch(vec![
            self.statement(
                "INSERT INTO end_user_roles (app_id, name, permissions, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (app_id, name) DO UPDATE SET \
                 permissions = excluded.permissions, updated_at = excluded.updated_at",
                &[
                    text(app.as_str()),
                    text(name),
                    text(&names_json(permissions)),
                    int(now_ms),
                ],
            )?,
            self.audit(audit, false)?,
        ])
        .await
        .map(drop)
    }

    async fn put_plan(
        &self,
        app: &AppId,
        tier: &str,
        plan: &Plan,
        now_ms: i64,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.batch(vec![
            self.statement(
                "INSERT INTO plans (app_id, tier, roles, rate_limit, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (app_id, tier) DO UPDATE SET \
                 roles = excluded.roles, rate_limit = excluded.rate_limit, \
                 updated_at = excluded.updated_at",
                &[
                    text(app.as_str()),
                    text(tier),
                    text(&names_json(&plan.roles)),
                    plan.rate_limit.map(int).unwrap_or(JsValue::NULL),
                    int(now_ms),
                ],
            )?,
            self.audit(audit, false)?,
        ])
        .await
        .map(drop)
    }

    async fn list_tenant_users(
        &self,
        app: &AppId,
        tenant: &TenantId,
        filter: &UserFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TenantUser>, Error> {
        // D1 refuses bound values that the SQL does not use: number them as they are added.
        let mut args = vec![text(app.as_str()), text(tenant.as_str())];
        let mut conditions = vec!["tu.app_id = ?1".to_owned(), "tu.tenant_id = ?2".to_owned()];
        let mut bind = |conditions: &mut Vec<String>, sql: &str, value: JsValue| {
            args.push(value);
            conditions.push(sql.replace('?', &format!("?{}", args.len())));
        };
        if let Some(status) = filter.status {
            bind(&mut conditions, "tu.status = ?", text(status.as_str()));
        }
        if let Some(tier) = &filter.plan_tier {
            bind(&mut conditions, "tu.plan_tier = ?", text(tier));
        }
        let order = match &filter.email_prefix {
            Some(prefix) => {
                // A range over the (app, tenant, email) index: every email that starts with
                // the prefix.
                bind(&mut conditions, "tu.email >= ?", text(prefix));
                bind(
                    &mut conditions,
                    "tu.email < ? || char(1114111)",
                    text(prefix),
                );
                bind(&mut conditions, "tu.email > ?", text(after.unwrap_or("")));
                "tu.email"
            }
            None => {
                bind(&mut conditions, "tu.user_id > ?", text(after.unwrap_or("")));
                "tu.user_id"
            }
        };
        args.push(int(limit as i64));
        let sql = format!(
            "SELECT {TENANT_USER_COLUMNS} FROM tenant_users tu \
             JOIN users u ON u.app_id = tu.app_id AND u.id = tu.user_id \
             WHERE {} ORDER BY {order} LIMIT ?{}",
            conditions.join(" AND "),
            args.len()
        );
        self.all::<TenantUserRow>(&sql, &args)
            .await?
            .into_iter()
            .map(|row| row.into_pair().map(|(_, face)| face))
            .collect()
    }

    async fn find_user(&self, app: &AppId, id: &UserId) -> Result<Option<User>, Error> {
        let row = self
            .first::<UserRow>(
                "SELECT app_id, id, email, password_hash, created_at FROM users \
                 WHERE app_id = ?1 AND id = ?2",
                &[text(app.as_str()), text(&id.to_string())],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let bad = || corrupt("users");
        Ok(Some(User {
            app_id: AppId::parse(&row.app_id).map_err(|_| bad())?,
            id: UserId::parse(&row.id).map_err(|_| bad())?,
            email: Email::parse(&row.email).map_err(|_| bad())?,
            password_hash: row
                .password_hash
                .as_deref()
                .map(PasswordHash::parse)
                .transpose()?,
            created_at_ms: row.created_at,
        }))
    }

    async fn update_face(
        &self,
        face: &TenantUser,
        expected_version: i64,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                self.statement(
                    "UPDATE tenant_users SET status = ?4, plan_tier = ?5, \
                     rate_limit_override = ?6, roles = ?7, version = version + 1 \
                     WHERE app_id = ?1 AND tenant_id = ?2 AND user_id = ?3 AND version = ?8",
                    &[
                        text(face.app_id.as_str()),
                        text(face.tenant_id.as_str()),
                        text(&face.user_id.to_string()),
                        text(face.status.as_str()),
                        text(&face.plan_tier),
                        face.rate_limit_override.map(int).unwrap_or(JsValue::NULL),
                        text(&names_json(&face.roles)),
                        int(expected_version),
                    ],
                )?,
                self.audit(audit, true)?,
            ])
            .await?;
        first_changed(&results)
    }

    async fn associate(&self, face: &TenantUser, audit: &AuditEntry) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                self.statement(
                    "INSERT OR IGNORE INTO tenant_users \
                     (app_id, tenant_id, user_id, email, status, plan_tier, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    &[
                        text(face.app_id.as_str()),
                        text(face.tenant_id.as_str()),
                        text(&face.user_id.to_string()),
                        text(face.email.as_str()),
                        text(face.status.as_str()),
                        text(&face.plan_tier),
                        int(face.created_at_ms),
                    ],
                )?,
                self.audit(audit, true)?,
            ])
            .await?;
        first_changed(&results)
    }

    async fn create_user_only(
        &self,
        user: &User,
        face: &TenantUser,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let mut statements = self.user_inserts(user, face)?;
        statements.push(self.audit(audit, true)?);
        let results = self.batch(statements).await?;
        first_changed(&results)
    }

    async fn revoke_user_sessions(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        now_ms: i64,
        audit: &AuditEntry,
    ) -> Result<Vec<SessionId>, Error> {
        #[derive(Deserialize)]
        struct IdRow {
            id: String,
        }
        let results = self
            .batch(vec![
                self.statement(
                    "UPDATE sessions SET revoked_at = ?4 WHERE app_id = ?1 AND tenant_id = ?2 \
                     AND user_id = ?3 AND revoked_at IS NULL RETURNING id",
                    &[
                        text(app.as_str()),
                        text(tenant.as_str()),
                        text(&user.to_string()),
                        int(now_ms),
                    ],
                )?,
                self.audit(audit, false)?,
            ])
            .await?;
        let rows = results
            .first()
            .ok_or_else(|| Error::Internal("D1 batch returned no results".to_owned()))?
            .results::<IdRow>()
            .map_err(|e| unavailable("decode", e))?;
        rows.iter()
            .map(|r| SessionId::parse(&r.id).map_err(|_| corrupt("sessions")))
            .collect()
    }

    async fn find_metadata(&self, app: &AppId, user: &UserId) -> Result<serde_json::Value, Error> {
        #[derive(Deserialize)]
        struct MetadataRow {
            metadata: String,
        }
        let row = self
            .first::<MetadataRow>(
                "SELECT metadata FROM user_metadata WHERE app_id = ?1 AND user_id = ?2",
                &[text(app.as_str()), text(&user.to_string())],
            )
            .await?;
        match row {
            Some(row) => serde_json::from_str(&row.metadata).map_err(|_| corrupt("user_metadata")),
            None => Ok(serde_json::json!({})),
        }
    }

    async fn put_metadata(
        &self,
        app: &AppId,
        user: &UserId,
        metadata: &serde_json::Value,
        now_ms: i64,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.batch(vec![
            self.statement(
                "INSERT INTO user_metadata (app_id, user_id, metadata, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (app_id, user_id) DO UPDATE SET \
                 metadata = excluded.metadata, updated_at = excluded.updated_at",
                &[
                    text(app.as_str()),
                    text(&user.to_string()),
                    text(&metadata.to_string()),
                    int(now_ms),
                ],
            )?,
            self.audit(audit, false)?,
        ])
        .await
        .map(drop)
    }

    async fn find_webhook_secret(&self, app: &AppId) -> Result<Option<String>, Error> {
        #[derive(Deserialize)]
        struct SecretRow {
            secret: String,
        }
        Ok(self
            .first::<SecretRow>(
                "SELECT secret FROM webhook_secrets WHERE app_id = ?1",
                &[text(app.as_str())],
            )
            .await?
            .map(|r| r.secret))
    }

    async fn put_webhook_secret(
        &self,
        app: &AppId,
        sealed: &str,
        now_ms: i64,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.batch(vec![
            self.statement(
                "INSERT INTO webhook_secrets (app_id, secret, created_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (app_id) DO UPDATE SET secret = excluded.secret, \
                 created_at = excluded.created_at",
                &[text(app.as_str()), text(sealed), int(now_ms)],
            )?,
            self.audit(audit, false)?,
        ])
        .await
        .map(drop)
    }

    async fn has_event(&self, app: &AppId, event_id: &str) -> Result<bool, Error> {
        #[derive(Deserialize)]
        struct One {
            #[expect(dead_code, reason = "only its presence matters")]
            found: i64,
        }
        Ok(self
            .first::<One>(
                "SELECT 1 AS found FROM webhook_events WHERE app_id = ?1 AND event_id = ?2",
                &[text(app.as_str()), text(event_id)],
            )
            .await?
            .is_some())
    }

    async fn apply_plan_event(
        &self,
        app: &AppId,
        event_id: &str,
        face: &TenantUser,
        now_ms: i64,
        audit: &AuditEntry,
    ) -> Result<EventOutcome, Error> {
        // The event is recorded first; the plan change and the audit entry follow only if that
        // insert happened, so a replay racing the original changes nothing.
        let results = self
            .batch(vec![
                self.statement(
                    "INSERT OR IGNORE INTO webhook_events (app_id, event_id, received_at) \
                     VALUES (?1, ?2, ?3)",
                    &[text(app.as_str()), text(event_id), int(now_ms)],
                )?,
                self.statement(
                    "UPDATE tenant_users SET plan_tier = ?4, version = version + 1 \
                     WHERE app_id = ?1 AND tenant_id = ?2 AND user_id = ?3 \
                     AND (SELECT changes()) > 0",
                    &[
                        text(face.app_id.as_str()),
                        text(face.tenant_id.as_str()),
                        text(&face.user_id.to_string()),
                        text(&face.plan_tier),
                    ],
                )?,
                self.audit(audit, true)?,
            ])
            .await?;
        Ok(if first_changed(&results)? {
            EventOutcome::Applied
        } else {
            EventOutcome::Duplicate
        })
    }
}

//! Apps and tenants (`TenancyStore`), including the cascade of a tenant's deletion. Must not
//! depend on `service` or `http`.

use super::api_keys::HashRow;
use super::{
    audit_insert, changed, corrupt, first_changed, opt_text, rows, size, text, time, SqlBackend,
    SqlStore, SqlValue, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::links::WebUrl;
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::{App, AppSettings, LoginMethod, Tenant};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::TenancyStore;
use serde::Deserialize;

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
            created_at: Timestamp::from_unix_ms(self.created_at),
        })
    }
}

#[derive(Deserialize)]
struct TenantRow {
    app_id: String,
    id: String,
    login_methods: String,
    link_base_url: Option<String>,
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
            link_base_url: self
                .link_base_url
                .as_deref()
                .map(|url| WebUrl::from_stored(url).ok_or_else(|| corrupt("tenants")))
                .transpose()?,
            created_at: Timestamp::from_unix_ms(self.created_at),
            updated_at: Timestamp::from_unix_ms(self.updated_at),
        })
    }
}

fn settings_json(settings: &AppSettings) -> Result<String, Error> {
    serde_json::to_string(settings).map_err(|e| Error::Internal(format!("settings: {e}")))
}

fn methods_json(tenant: &Tenant) -> String {
    let names: Vec<&str> = tenant.login_methods.iter().map(|m| m.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
}

const TENANT_COLUMNS: &str = "app_id, id, login_methods, link_base_url, created_at, updated_at";

fn link_base(tenant: &Tenant) -> SqlValue {
    opt_text(tenant.link_base_url.as_ref().map(WebUrl::as_str))
}

impl<B: SqlBackend> TenancyStore for SqlStore<B> {
    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error> {
        self.first::<AppRow>(Statement::new(
            "SELECT id, settings, created_at FROM apps WHERE id = ?1",
            vec![text(id.as_str())],
        ))
        .await?
        .map(AppRow::into_app)
        .transpose()
    }

    async fn list_apps(&self, after: Option<&str>, limit: usize) -> Result<Vec<App>, Error> {
        self.all::<AppRow>(Statement::new(
            "SELECT id, settings, created_at FROM apps WHERE id > ?1 ORDER BY id LIMIT ?2",
            vec![text(after.unwrap_or("")), size(limit)],
        ))
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
                Statement::new(
                    "INSERT OR IGNORE INTO apps (id, settings, created_at) VALUES (?1, ?2, ?3)",
                    vec![
                        text(app.id.as_str()),
                        text(&settings_json(&app.settings)?),
                        time(app.created_at),
                    ],
                ),
                audit_insert(audit, true),
                Statement::new(
                    "INSERT OR IGNORE INTO tenants (app_id, id, login_methods, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                    vec![
                        text(app.id.as_str()),
                        text(public.id.as_str()),
                        text(&methods_json(public)),
                        time(public.created_at),
                    ],
                ),
            ])
            .await?;
        first_changed(&results)
    }

    async fn update_app_settings(
        &self,
        id: &AppId,
        settings: &AppSettings,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "UPDATE apps SET settings = ?2 WHERE id = ?1",
                    vec![text(id.as_str()), text(&settings_json(settings)?)],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn find_tenant(&self, app: &AppId, id: &TenantId) -> Result<Option<Tenant>, Error> {
        self.first::<TenantRow>(Statement::new(
            format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE app_id = ?1 AND id = ?2"),
            vec![text(app.as_str()), text(id.as_str())],
        ))
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
        self.all::<TenantRow>(Statement::new(
            format!(
                "SELECT {TENANT_COLUMNS} FROM tenants WHERE app_id = ?1 AND id > ?2 \
                 ORDER BY id LIMIT ?3"
            ),
            vec![text(app.as_str()), text(after.unwrap_or("")), size(limit)],
        ))
        .await?
        .into_iter()
        .map(TenantRow::into_tenant)
        .collect()
    }

    async fn create_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "INSERT OR IGNORE INTO tenants \
                     (app_id, id, login_methods, link_base_url, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?6, ?4, ?5)",
                    vec![
                        text(tenant.app_id.as_str()),
                        text(tenant.id.as_str()),
                        text(&methods_json(tenant)),
                        time(tenant.created_at),
                        time(tenant.updated_at),
                        link_base(tenant),
                    ],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn update_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "UPDATE tenants SET login_methods = ?3, updated_at = ?4, link_base_url = ?5 \
                     WHERE app_id = ?1 AND id = ?2",
                    vec![
                        text(tenant.app_id.as_str()),
                        text(tenant.id.as_str()),
                        text(&methods_json(tenant)),
                        time(tenant.updated_at),
                        link_base(tenant),
                    ],
                ),
                audit_insert(audit, true),
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
        let args = || vec![text(app.as_str()), text(id.as_str())];
        let in_tenant = "app_id = ?1 AND tenant_id = ?2";
        // Members narrowed to the tenant leave with it, so that a tenant re-created under the
        // same id does not hand its old operators their access back.
        let statements = vec![
            Statement::new(
                format!("SELECT key_hash FROM api_keys WHERE {in_tenant}"),
                args(),
            ),
            Statement::new(
                format!(
                    "DELETE FROM refresh_tokens WHERE session_id IN \
                     (SELECT id FROM sessions WHERE {in_tenant})"
                ),
                args(),
            ),
            Statement::new(format!("DELETE FROM sessions WHERE {in_tenant}"), args()),
            Statement::new(
                format!("DELETE FROM tenant_users WHERE {in_tenant}"),
                args(),
            ),
            Statement::new(
                format!("DELETE FROM signin_failures WHERE {in_tenant}"),
                args(),
            ),
            // What email flows kept of the tenant: challenges, send counts, messages.
            Statement::new(
                format!("DELETE FROM email_challenges WHERE {in_tenant}"),
                args(),
            ),
            Statement::new(
                format!("DELETE FROM email_send_counts WHERE {in_tenant}"),
                args(),
            ),
            Statement::new(
                format!("DELETE FROM email_outbox WHERE {in_tenant}"),
                args(),
            ),
            Statement::new(
                format!("DELETE FROM email_dead_letters WHERE {in_tenant}"),
                args(),
            ),
            Statement::new(format!("DELETE FROM api_keys WHERE {in_tenant}"), args()),
            Statement::new(
                format!(
                    "UPDATE members SET status = 'left', invite_hash = NULL, updated_at = ?3 \
                     WHERE {in_tenant} AND status != 'left'"
                ),
                vec![text(app.as_str()), text(id.as_str()), time(audit.at)],
            ),
            Statement::new("DELETE FROM tenants WHERE app_id = ?1 AND id = ?2", args()),
            audit_insert(audit, true),
        ];
        let tenant_delete = statements.len() - 2;
        let results = self.batch(statements).await?;
        if !changed(&results, tenant_delete)? {
            return Ok(None);
        }
        let hashes = rows::<HashRow, _>(&results, 0)?;
        Ok(Some(
            hashes
                .into_iter()
                .map(|r| SecretHash::from_stored(r.key_hash))
                .collect(),
        ))
    }
}

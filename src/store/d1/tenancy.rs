//! Apps and tenants (`TenancyStore`). An app or tenant whose deletion has begun
//! (`deleted_at` set, `store::DeletionStore`) is gone for every reader here. Must not depend
//! on `service` or `http`.

use super::{
    audit_insert, corrupt, first_changed, only_if, opt_text, size, text, time, with_condition,
    SqlBackend, SqlStore, SqlValue, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::links::WebUrl;
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
    pending_verification: i64,
}

impl AppRow {
    fn into_app(self) -> Result<App, Error> {
        Ok(App {
            id: AppId::parse(&self.id).map_err(|_| corrupt("apps"))?,
            settings: serde_json::from_str(&self.settings).map_err(|_| corrupt("apps"))?,
            created_at: Timestamp::from_unix_ms(self.created_at),
            pending_verification: self.pending_verification != 0,
        })
    }
}

const APP_COLUMNS: &str = "id, settings, created_at, pending_verification";

/// Inserts `app` unless one of its id exists (or is being deleted).
pub(super) fn app_insert(app: &App) -> Result<Statement, Error> {
    Ok(Statement::new(
        "INSERT OR IGNORE INTO apps (id, settings, created_at, pending_verification) \
         VALUES (?1, ?2, ?3, ?4)",
        vec![
            text(app.id.as_str()),
            text(&settings_json(&app.settings)?),
            time(app.created_at),
            SqlValue::Int(i64::from(app.pending_verification)),
        ],
    ))
}

/// Inserts an app's `public` tenant; an `INSERT … SELECT` without `WHERE`.
pub(super) fn public_tenant_insert(public: &Tenant) -> Statement {
    Statement::new(
        "INSERT INTO tenants (app_id, id, login_methods, created_at, updated_at) \
         SELECT ?1, ?2, ?3, ?4, ?4",
        vec![
            text(public.app_id.as_str()),
            text(public.id.as_str()),
            text(&methods_json(public)),
            time(public.created_at),
        ],
    )
}

#[derive(Deserialize)]
struct TenantRow {
    app_id: String,
    id: String,
    login_methods: String,
    link_base_url: Option<String>,
    redirect_uris: String,
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
            redirect_uris: stored_urls(&self.redirect_uris).ok_or_else(|| corrupt("tenants"))?,
            created_at: Timestamp::from_unix_ms(self.created_at),
            updated_at: Timestamp::from_unix_ms(self.updated_at),
        })
    }
}

/// A JSON array of URLs as stored (checked when they were written).
fn stored_urls(raw: &str) -> Option<Vec<WebUrl>> {
    let items: Vec<String> = serde_json::from_str(raw).ok()?;
    items.iter().map(|u| WebUrl::from_stored(u)).collect()
}

fn redirect_uris(tenant: &Tenant) -> SqlValue {
    let items: Vec<&str> = tenant.redirect_uris.iter().map(WebUrl::as_str).collect();
    SqlValue::Text(serde_json::to_string(&items).unwrap_or_else(|_| "[]".to_owned()))
}

fn settings_json(settings: &AppSettings) -> Result<String, Error> {
    serde_json::to_string(settings).map_err(|e| Error::Internal(format!("settings: {e}")))
}

fn methods_json(tenant: &Tenant) -> String {
    let names: Vec<&str> = tenant.login_methods.iter().map(|m| m.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
}

const TENANT_COLUMNS: &str =
    "app_id, id, login_methods, link_base_url, redirect_uris, created_at, updated_at";

/// Tenants that are not being deleted, of apps that are not either.
const LIVE_TENANT: &str = "deleted_at IS NULL AND NOT EXISTS \
     (SELECT 1 FROM apps a WHERE a.id = tenants.app_id AND a.deleted_at IS NOT NULL)";

fn link_base(tenant: &Tenant) -> SqlValue {
    opt_text(tenant.link_base_url.as_ref().map(WebUrl::as_str))
}

impl<B: SqlBackend> TenancyStore for SqlStore<B> {
    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error> {
        self.first::<AppRow>(Statement::new(
            format!("SELECT {APP_COLUMNS} FROM apps WHERE id = ?1 AND deleted_at IS NULL"),
            vec![text(id.as_str())],
        ))
        .await?
        .map(AppRow::into_app)
        .transpose()
    }

    async fn list_apps(&self, after: Option<&str>, limit: usize) -> Result<Vec<App>, Error> {
        self.all::<AppRow>(Statement::new(
            format!(
                "SELECT {APP_COLUMNS} FROM apps WHERE id > ?1 AND deleted_at IS NULL \
                 ORDER BY id LIMIT ?2"
            ),
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
        // The tenant goes in only with the app (the audit entry between them is written only
        // then, and so changes() after it is the app's).
        let results = self
            .batch(vec![
                app_insert(app)?,
                audit_insert(audit, true),
                with_condition(public_tenant_insert(public), only_if(true)),
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
                    "UPDATE apps SET settings = ?2 WHERE id = ?1 AND deleted_at IS NULL",
                    vec![text(id.as_str()), text(&settings_json(settings)?)],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn find_tenant(&self, app: &AppId, id: &TenantId) -> Result<Option<Tenant>, Error> {
        self.first::<TenantRow>(Statement::new(
            format!(
                "SELECT {TENANT_COLUMNS} FROM tenants WHERE app_id = ?1 AND id = ?2 \
                 AND {LIVE_TENANT}"
            ),
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
                 AND {LIVE_TENANT} ORDER BY id LIMIT ?3"
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
                // Not into an app being deleted (its row still exists until its last phase).
                Statement::new(
                    "INSERT OR IGNORE INTO tenants \
                     (app_id, id, login_methods, link_base_url, redirect_uris, created_at, updated_at) \
                     SELECT ?1, ?2, ?3, ?6, ?7, ?4, ?5 \
                     WHERE EXISTS (SELECT 1 FROM apps WHERE id = ?1 AND deleted_at IS NULL)",
                    vec![
                        text(tenant.app_id.as_str()),
                        text(tenant.id.as_str()),
                        text(&methods_json(tenant)),
                        time(tenant.created_at),
                        time(tenant.updated_at),
                        link_base(tenant),
                        redirect_uris(tenant),
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
                    format!(
                        "UPDATE tenants SET login_methods = ?3, updated_at = ?4, \
                         link_base_url = ?5, redirect_uris = ?6 WHERE app_id = ?1 AND id = ?2 \
                         AND {LIVE_TENANT}"
                    ),
                    vec![
                        text(tenant.app_id.as_str()),
                        text(tenant.id.as_str()),
                        text(&methods_json(tenant)),
                        time(tenant.updated_at),
                        link_base(tenant),
                        redirect_uris(tenant),
                    ],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }
}

//! Apps, tenants, tenant API keys and signing keys in memory (`TenancyStore`, `ApiKeyStore`,
//! `SigningKeyStore`), as the D1 adapter's SQL writes and reads them.

use super::{after_cursor, constraint, dedup, ApiKeyRow, MemoryStore, State};
use crate::domain::audit::AuditEntry;
use crate::domain::ids::{ApiKeyId, AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::{ApiKey, App, AppSettings, Tenant};
use crate::domain::Error;
use crate::store::{ApiKeyStore, SigningKeyStore, StoredSigningKey, TenancyStore};
use std::cmp::Reverse;

/// A tenant as stored: login methods read back without repeats.
fn stored_tenant(tenant: &Tenant) -> Tenant {
    Tenant {
        login_methods: dedup(&tenant.login_methods),
        ..tenant.clone()
    }
}

impl State {
    /// Inserts an app and its audit entry, and the app's public tenant (as the SQL does: with
    /// no link base nor redirect URIs, `updated_at` its creation time). `false` (nothing written) when an app of
    /// that id exists, even one being deleted.
    pub(super) fn create_app_with_public(
        &mut self,
        app: &App,
        public: &Tenant,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        if self.apps.contains_key(&app.id) {
            return Ok(false);
        }
        self.check_audit(audit)?;
        self.apps.insert(app.id.clone(), app.clone());
        self.write_audit(audit);
        let tenant = Tenant {
            app_id: app.id.clone(),
            updated_at: public.created_at,
            link_base_url: None,
            redirect_uris: Vec::new(),
            ..stored_tenant(public)
        };
        self.tenants
            .insert((app.id.clone(), public.id.clone()), tenant);
        Ok(true)
    }
}

impl TenancyStore for MemoryStore {
    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error> {
        self.check("find_app")?;
        let s = self.state.borrow();
        Ok(s.apps.get(id).filter(|_| s.app_is_live(id)).cloned())
    }

    async fn list_apps(&self, after: Option<&str>, limit: usize) -> Result<Vec<App>, Error> {
        self.check("list_apps")?;
        let s = self.state.borrow();
        Ok(s.apps
            .values()
            .filter(|a| s.app_is_live(&a.id) && after_cursor(a.id.as_str(), after))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn create_app(
        &self,
        app: &App,
        public: &Tenant,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("create_app")?;
        self.state
            .borrow_mut()
            .create_app_with_public(app, public, audit)
    }

    async fn update_app_settings(
        &self,
        id: &AppId,
        settings: &AppSettings,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("update_app_settings")?;
        let mut s = self.state.borrow_mut();
        if !s.app_is_live(id) {
            return Ok(false);
        }
        s.check_audit(audit)?;
        if let Some(app) = s.apps.get_mut(id) {
            app.settings = settings.clone();
        }
        s.write_audit(audit);
        Ok(true)
    }

    async fn find_tenant(&self, app: &AppId, id: &TenantId) -> Result<Option<Tenant>, Error> {
        self.check("find_tenant")?;
        let s = self.state.borrow();
        Ok(s.tenants
            .get(&(app.clone(), id.clone()))
            .filter(|_| s.tenant_is_live(app, id))
            .cloned())
    }

    async fn list_tenants(
        &self,
        app: &AppId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tenant>, Error> {
        self.check("list_tenants")?;
        let s = self.state.borrow();
        Ok(s.tenants
            .values()
            .filter(|t| t.app_id == *app && after_cursor(t.id.as_str(), after))
            .filter(|t| s.tenant_is_live(&t.app_id, &t.id))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn create_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<bool, Error> {
        self.check("create_tenant")?;
        let mut s = self.state.borrow_mut();
        let key = (tenant.app_id.clone(), tenant.id.clone());
        // Nothing goes into an app that is missing or being deleted, nor over an existing row
        // (one being deleted included).
        if s.tenants.contains_key(&key) || !s.app_is_live(&tenant.app_id) {
            return Ok(false);
        }
        s.check_audit(audit)?;
        s.tenants.insert(key, stored_tenant(tenant));
        s.write_audit(audit);
        Ok(true)
    }

    async fn update_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<bool, Error> {
        self.check("update_tenant")?;
        let mut s = self.state.borrow_mut();
        let key = (tenant.app_id.clone(), tenant.id.clone());
        if !s.tenant_is_live(&tenant.app_id, &tenant.id) {
            return Ok(false);
        }
        s.check_audit(audit)?;
        if let Some(stored) = s.tenants.get_mut(&key) {
            stored.login_methods = dedup(&tenant.login_methods);
            stored.link_base_url = tenant.link_base_url.clone();
            stored.redirect_uris = tenant.redirect_uris.clone();
            stored.updated_at = tenant.updated_at;
        }
        s.write_audit(audit);
        Ok(true)
    }
}

impl ApiKeyStore for MemoryStore {
    async fn create_api_key(
        &self,
        key: &ApiKey,
        hash: &SecretHash,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.check("create_api_key")?;
        let mut s = self.state.borrow_mut();
        if s.api_keys.contains_key(&key.id) {
            return Err(constraint("PRIMARY KEY (api_keys)"));
        }
        if s.api_keys.values().any(|r| r.hash == *hash) {
            return Err(constraint("UNIQUE (api_keys.key_hash)"));
        }
        s.require_tenant(&key.app_id, &key.tenant_id)?;
        s.check_audit(audit)?;
        let stored = ApiKey {
            scopes: dedup(&key.scopes),
            ..key.clone()
        };
        s.api_keys.insert(
            key.id,
            ApiKeyRow {
                key: stored,
                hash: hash.clone(),
            },
        );
        s.write_audit(audit);
        Ok(())
    }

    async fn list_api_keys(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ApiKey>, Error> {
        self.check("list_api_keys")?;
        Ok(self
            .state
            .borrow()
            .api_keys
            .values()
            .filter(|r| r.key.app_id == *app && r.key.tenant_id == *tenant)
            .filter(|r| after_cursor(&r.key.id.to_string(), after))
            .take(limit)
            .map(|r| r.key.clone())
            .collect())
    }

    async fn delete_api_key(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ApiKeyId,
        audit: Option<&AuditEntry>,
    ) -> Result<Option<SecretHash>, Error> {
        self.check("delete_api_key")?;
        let mut s = self.state.borrow_mut();
        let found = s
            .api_keys
            .get(id)
            .is_some_and(|r| r.key.app_id == *app && r.key.tenant_id == *tenant);
        if !found {
            return Ok(None);
        }
        if let Some(audit) = audit {
            s.check_audit(audit)?;
        }
        let removed = s.api_keys.remove(id).map(|r| r.hash);
        if let Some(audit) = audit {
            s.write_audit(audit);
        }
        Ok(removed)
    }

    async fn find_api_key_by_hash(&self, hash: &SecretHash) -> Result<Option<ApiKey>, Error> {
        self.check("find_api_key_by_hash")?;
        Ok(self
            .state
            .borrow()
            .api_keys
            .values()
            .find(|r| r.hash == *hash)
            .map(|r| r.key.clone()))
    }

    async fn find_api_key_hash(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ApiKeyId,
    ) -> Result<Option<SecretHash>, Error> {
        self.check("find_api_key_hash")?;
        Ok(self
            .state
            .borrow()
            .api_keys
            .get(id)
            .filter(|r| r.key.app_id == *app && r.key.tenant_id == *tenant)
            .map(|r| r.hash.clone()))
    }
}

impl SigningKeyStore for MemoryStore {
    async fn find_signing_keys(&self, owner: &KeyOwner) -> Result<Vec<StoredSigningKey>, Error> {
        self.check("find_signing_keys")?;
        let mut keys: Vec<StoredSigningKey> = self
            .state
            .borrow()
            .signing_keys
            .values()
            .filter(|k| k.owner == *owner)
            .cloned()
            .collect();
        // `ORDER BY activates_at DESC`; the SQL leaves ties unordered, here the later created
        // (then the greater kid) comes first.
        keys.sort_by_key(|k| Reverse((k.activates_at, k.created_at, k.kid.clone())));
        Ok(keys)
    }

    async fn create_signing_key(
        &self,
        key: &StoredSigningKey,
        audit: Option<&AuditEntry>,
    ) -> Result<(), Error> {
        self.check("create_signing_key")?;
        let mut s = self.state.borrow_mut();
        if s.signing_keys.contains_key(&key.kid) {
            return Err(constraint("PRIMARY KEY (signing_keys)"));
        }
        if let Some(audit) = audit {
            s.check_audit(audit)?;
        }
        s.signing_keys.insert(key.kid.clone(), key.clone());
        if let Some(audit) = audit {
            s.write_audit(audit);
        }
        Ok(())
    }
}

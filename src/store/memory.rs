//! In-memory adapter of the tenancy, operator, API-key and signing-key ports, for native tests.
//! Same contract as `d1`, including the atomicity promises (single-threaded, so each method is
//! trivially atomic). The end-user ports (users, sessions, edge view) are exercised against the
//! real D1 and KV by the end-to-end specs; their state machines are pure domain code with
//! native tests of their own.

use super::{
    ApiKeyStore, Attempt, OperatorStore, SignInRecord, SigningKeyStore, StoredSigningKey,
    TenancyStore,
};
use crate::domain::audit::AuditEntry;
use crate::domain::email::Email;
use crate::domain::ids::{ApiKeyId, AppId, OperatorId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::operator::Operator;
use crate::domain::password::PasswordHash;
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::{ApiKey, App, AppSettings, Tenant};
use crate::domain::throttle::{retry_after_seconds, ThrottlePolicy, ACCOUNT, CLIENT};
use crate::domain::Error;
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Default)]
struct State {
    apps: BTreeMap<String, App>,
    tenants: BTreeMap<(String, String), Tenant>,
    operators: Vec<Operator>,
    api_keys: Vec<(ApiKey, SecretHash)>,
    signing_keys: Vec<StoredSigningKey>,
    audit: Vec<AuditEntry>,
    /// Sign-in counters: subject → (failures, last attempt, blocked until).
    attempts: BTreeMap<String, (i64, i64, i64)>,
}

impl State {
    /// Counts an attempt like the D1 upsert does; `false` when the subject is blocked.
    fn count(&mut self, subject: &str, policy: &ThrottlePolicy, now_ms: i64) -> bool {
        let (failures, last, blocked) = self.attempts.get(subject).copied().unwrap_or((0, 0, 0));
        if blocked > now_ms {
            return false;
        }
        let n = if now_ms - last > policy.decay_ms {
            1
        } else {
            failures + 1
        };
        self.attempts.insert(
            subject.to_owned(),
            (n, now_ms, now_ms + policy.backoff_ms(n)),
        );
        true
    }

    fn blocked_until(&self, subject: &str) -> i64 {
        self.attempts.get(subject).map_or(0, |(_, _, b)| *b)
    }
}

/// Everything in one `RefCell`.
#[derive(Default)]
pub struct MemoryStore {
    state: RefCell<State>,
    /// When set, every call fails as if the binding were down.
    is_down: RefCell<bool>,
}

impl MemoryStore {
    /// A store with the `public` app and its `public` tenant, as the first migration leaves D1.
    pub fn seeded() -> Self {
        let store = MemoryStore::default();
        let app = AppId::parse("public").expect("a valid id");
        {
            let mut s = store.state.borrow_mut();
            s.apps.insert(
                app.to_string(),
                App {
                    id: app.clone(),
                    settings: Default::default(),
                    created_at_ms: 0,
                },
            );
            let public = Tenant::public_of(&app, 0);
            s.tenants
                .insert((app.to_string(), public.id.to_string()), public);
        }
        store
    }

    /// Every audit entry written so far, oldest first.
    pub fn audit_entries(&self) -> Vec<AuditEntry> {
        self.state.borrow().audit.clone()
    }

    /// Makes every following call fail with `Unavailable` (or succeed again).
    pub fn set_down(&self, down: bool) {
        *self.is_down.borrow_mut() = down;
    }

    fn state(&self) -> Result<std::cell::RefMut<'_, State>, Error> {
        if *self.is_down.borrow() {
            return Err(Error::Unavailable("memory store is down".to_owned()));
        }
        Ok(self.state.borrow_mut())
    }
}

fn page<T: Clone>(
    rows: impl Iterator<Item = T>,
    key: impl Fn(&T) -> String,
    after: Option<&str>,
    limit: usize,
) -> Vec<T> {
    let mut rows: Vec<T> = rows
        .filter(|r| after.is_none_or(|a| key(r).as_str() > a))
        .collect();
    rows.sort_by_key(|r| key(r));
    rows.truncate(limit);
    rows
}

impl TenancyStore for MemoryStore {
    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error> {
        Ok(self.state()?.apps.get(id.as_str()).cloned())
    }

    async fn list_apps(&self, after: Option<&str>, limit: usize) -> Result<Vec<App>, Error> {
        let s = self.state()?;
        Ok(page(
            s.apps.values().cloned(),
            |a| a.id.to_string(),
            after,
            limit,
        ))
    }

    async fn create_app(
        &self,
        app: &App,
        public: &Tenant,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let mut s = self.state()?;
        if s.apps.contains_key(app.id.as_str()) {
            return Ok(false);
        }
        s.audit.push(audit.clone());
        s.apps.insert(app.id.to_string(), app.clone());
        s.tenants
            .insert((app.id.to_string(), public.id.to_string()), public.clone());
        Ok(true)
    }

    async fn update_app_settings(
        &self,
        id: &AppId,
        settings: &AppSettings,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let mut s = self.state()?;
        match s.apps.get_mut(id.as_str()) {
            Some(app) => {
                app.settings = settings.clone();
                s.audit.push(audit.clone());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn find_tenant(&self, app: &AppId, id: &TenantId) -> Result<Option<Tenant>, Error> {
        let s = self.state()?;
        Ok(s.tenants.get(&(app.to_string(), id.to_string())).cloned())
    }

    async fn list_tenants(
        &self,
        app: &AppId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tenant>, Error> {
        let s = self.state()?;
        let rows = s.tenants.values().filter(|t| &t.app_id == app).cloned();
        Ok(page(rows, |t| t.id.to_string(), after, limit))
    }

    async fn create_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<bool, Error> {
        let mut s = self.state()?;
        let key = (tenant.app_id.to_string(), tenant.id.to_string());
        if s.tenants.contains_key(&key) {
            return Ok(false);
        }
        s.tenants.insert(key, tenant.clone());
        s.audit.push(audit.clone());
        Ok(true)
    }

    async fn update_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<bool, Error> {
        let mut s = self.state()?;
        match s
            .tenants
            .get_mut(&(tenant.app_id.to_string(), tenant.id.to_string()))
        {
            Some(existing) => {
                existing.login_methods = tenant.login_methods.clone();
                existing.updated_at_ms = tenant.updated_at_ms;
                s.audit.push(audit.clone());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_tenant(
        &self,
        app: &AppId,
        id: &TenantId,
        audit: &AuditEntry,
    ) -> Result<Option<Vec<SecretHash>>, Error> {
        let mut s = self.state()?;
        if s.tenants
            .remove(&(app.to_string(), id.to_string()))
            .is_none()
        {
            return Ok(None);
        }
        s.audit.push(audit.clone());
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut s.api_keys)
            .into_iter()
            .partition(|(k, _)| &k.app_id == app && &k.tenant_id == id);
        s.api_keys = kept;
        Ok(Some(gone.into_iter().map(|(_, h)| h).collect()))
    }
}

impl OperatorStore for MemoryStore {
    async fn begin_operator_signin(
        &self,
        email: &Email,
        attempt: &Attempt,
    ) -> Result<SignInRecord<Operator>, Error> {
        let mut s = self.state()?;
        let user = s.operators.iter().find(|o| &o.email == email).cloned();
        let mut counted = s.count(&attempt.account, &ACCOUNT, attempt.now_ms);
        if let Some(client) = &attempt.client {
            counted &= s.count(client, &CLIENT, attempt.now_ms);
        }
        let retry_after = (!counted).then(|| {
            let until = attempt
                .client
                .iter()
                .map(|c| s.blocked_until(c))
                .chain([s.blocked_until(&attempt.account)])
                .max()
                .unwrap_or(0);
            retry_after_seconds(until, attempt.now_ms).unwrap_or(1)
        });
        Ok(SignInRecord { user, retry_after })
    }

    async fn finish_operator_signin(&self, attempt: &Attempt) -> Result<(), Error> {
        let mut s = self.state()?;
        s.attempts.remove(&attempt.account);
        if let Some(client) = &attempt.client {
            if let Some(entry) = s.attempts.get_mut(client) {
                entry.0 = (entry.0 - 1).max(0);
                if entry.0 < CLIENT.free_failures {
                    entry.2 = 0;
                }
            }
        }
        Ok(())
    }

    async fn create_platform_owner(&self, operator: &Operator) -> Result<bool, Error> {
        let mut s = self.state()?;
        if s.operators.iter().any(|o| o.is_platform_owner) {
            return Ok(false);
        }
        s.operators.push(operator.clone());
        Ok(true)
    }

    async fn find_operator(&self, id: &OperatorId) -> Result<Option<Operator>, Error> {
        Ok(self
            .state()?
            .operators
            .iter()
            .find(|o| &o.id == id)
            .cloned())
    }

    async fn find_operator_by_email(&self, email: &str) -> Result<Option<Operator>, Error> {
        let s = self.state()?;
        Ok(s.operators
            .iter()
            .find(|o| o.email.as_str() == email)
            .cloned())
    }

    async fn update_operator_password(
        &self,
        id: &OperatorId,
        hash: &PasswordHash,
    ) -> Result<(), Error> {
        let mut s = self.state()?;
        if let Some(o) = s.operators.iter_mut().find(|o| &o.id == id) {
            o.password_hash = Some(hash.clone());
        }
        Ok(())
    }
}

impl ApiKeyStore for MemoryStore {
    async fn create_api_key(
        &self,
        key: &ApiKey,
        hash: &SecretHash,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        let mut s = self.state()?;
        s.api_keys.push((key.clone(), hash.clone()));
        s.audit.push(audit.clone());
        Ok(())
    }

    async fn list_api_keys(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ApiKey>, Error> {
        let s = self.state()?;
        let rows = s
            .api_keys
            .iter()
            .filter(|(k, _)| &k.app_id == app && &k.tenant_id == tenant)
            .map(|(k, _)| k.clone());
        Ok(page(rows, |k| k.id.to_string(), after, limit))
    }

    async fn delete_api_key(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ApiKeyId,
        audit: Option<&AuditEntry>,
    ) -> Result<Option<SecretHash>, Error> {
        let mut s = self.state()?;
        let found = s
            .api_keys
            .iter()
            .position(|(k, _)| &k.id == id && &k.app_id == app && &k.tenant_id == tenant);
        let Some(i) = found else { return Ok(None) };
        if let Some(audit) = audit {
            s.audit.push(audit.clone());
        }
        Ok(Some(s.api_keys.remove(i).1))
    }

    async fn find_api_key_hash(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ApiKeyId,
    ) -> Result<Option<SecretHash>, Error> {
        let s = self.state()?;
        Ok(s.api_keys
            .iter()
            .find(|(k, _)| &k.id == id && &k.app_id == app && &k.tenant_id == tenant)
            .map(|(_, h)| h.clone()))
    }

    async fn find_api_key_by_hash(&self, hash: &SecretHash) -> Result<Option<ApiKey>, Error> {
        let s = self.state()?;
        Ok(s.api_keys
            .iter()
            .find(|(_, h)| h == hash)
            .map(|(k, _)| k.clone()))
    }
}

impl SigningKeyStore for MemoryStore {
    async fn find_signing_keys(&self, owner: &KeyOwner) -> Result<Vec<StoredSigningKey>, Error> {
        let s = self.state()?;
        let mut keys: Vec<_> = s
            .signing_keys
            .iter()
            .filter(|k| &k.owner == owner)
            .cloned()
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at_ms));
        Ok(keys)
    }

    async fn create_signing_key(
        &self,
        key: &StoredSigningKey,
        audit: Option<&AuditEntry>,
    ) -> Result<(), Error> {
        let mut s = self.state()?;
        s.signing_keys.push(key.clone());
        if let Some(audit) = audit {
            s.audit.push(audit.clone());
        }
        Ok(())
    }
}

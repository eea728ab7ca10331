//! The OAuth authorization server in memory (`OAuthStore`): settings, clients, codes and
//! consents, with the same conditional writes as the SQL of `d1::oauth`. Grants are sessions
//! that carry their client (`Session::grant`).

use super::{constraint, MemoryStore, State};
use crate::domain::audit::AuditEntry;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::oauth::{
    AuthMethod, AuthorizationCode, Client, ClientId, Consent, OAuthSettings,
};
use crate::domain::secret::SecretHash;
use crate::domain::session::Session;
use crate::domain::time::Timestamp;
use crate::domain::user::{UserId, UserStatus};
use crate::domain::Error;
use crate::store::{AssertionUse, OAuthStore};

/// `oauth_clients`' primary key.
pub(super) type ClientKey = (AppId, TenantId, ClientId);
/// `oauth_consents`' primary key.
pub(super) type ConsentKey = (AppId, TenantId, UserId, ClientId);

impl State {
    /// Revokes every live session `client` holds in the tenant, bumping each user's edge
    /// document; the users, in order, once each.
    fn end_grants(
        &mut self,
        app: &AppId,
        tenant: &TenantId,
        client: &ClientId,
        now: Timestamp,
    ) -> Vec<UserId> {
        let mut users: Vec<UserId> = Vec::new();
        for row in self.sessions.values_mut() {
            let x = &mut row.session;
            let held = x.app_id == *app
                && x.tenant_id == *tenant
                && x.revoked_at.is_none()
                && x.grant.as_ref().is_some_and(|g| g.client_id == *client);
            if held {
                x.revoked_at = Some(now);
                if !users.contains(&x.user_id) {
                    users.push(x.user_id);
                }
            }
        }
        for user in &users {
            self.bump_user_edge(app, tenant, user, now);
        }
        users
    }

    /// Inserts a code, as `oauth_codes`' keys allow: its user's face must exist, its hash be
    /// new.
    fn insert_code(&mut self, code: &AuthorizationCode) -> Result<(), Error> {
        let face = (code.app_id.clone(), code.tenant_id.clone(), code.user_id);
        if !self.faces.contains_key(&face) {
            return Err(constraint("FOREIGN KEY (oauth_codes → tenant_users)"));
        }
        if self.oauth_codes.contains_key(code.hash.as_str()) {
            return Err(constraint("PRIMARY KEY (oauth_codes)"));
        }
        self.oauth_codes
            .insert(code.hash.as_str().to_owned(), code.clone());
        Ok(())
    }

    /// What the foreign keys of `oauth_codes` and `oauth_consents` cascade to when faces go:
    /// the rows of `user` in the tenants `here` selects.
    pub(super) fn forget_face_oauth(
        &mut self,
        app: &AppId,
        user: &UserId,
        here: impl Fn(&TenantId) -> bool,
    ) {
        self.oauth_codes
            .retain(|_, c| !(c.app_id == *app && c.user_id == *user && here(&c.tenant_id)));
        self.oauth_consents
            .retain(|(a, t, u, _), _| !(a == app && u == user && here(t)));
    }

    /// What the foreign keys cascade to when a tenant row goes (and what a purge deletes).
    pub(super) fn forget_tenant_oauth(&mut self, here: impl Fn(&AppId, &TenantId) -> bool) {
        self.oauth_clients.retain(|(a, t, _), _| !here(a, t));
        self.oauth_codes
            .retain(|_, c| !here(&c.app_id, &c.tenant_id));
        self.oauth_consents.retain(|(a, t, _, _), _| !here(a, t));
        self.oauth_settings.retain(|(a, t), _| !here(a, t));
    }
}

impl OAuthStore for MemoryStore {
    async fn find_oauth_settings(
        &self,
        app: &AppId,
        tenant: &TenantId,
    ) -> Result<Option<OAuthSettings>, Error> {
        self.check("find_oauth_settings")?;
        let s = self.state.borrow();
        if !s.tenant_is_live(app, tenant) {
            return Ok(None);
        }
        Ok(Some(
            s.oauth_settings
                .get(&(app.clone(), tenant.clone()))
                .cloned()
                .unwrap_or_default(),
        ))
    }

    async fn put_oauth_settings(
        &self,
        app: &AppId,
        tenant: &TenantId,
        settings: &OAuthSettings,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("put_oauth_settings")?;
        let mut s = self.state.borrow_mut();
        if !s.tenant_is_live(app, tenant) {
            return Ok(false);
        }
        s.check_audit(audit)?;
        s.oauth_settings
            .insert((app.clone(), tenant.clone()), settings.clone());
        s.write_audit(audit);
        Ok(true)
    }

    async fn create_client(&self, client: &Client, audit: &AuditEntry) -> Result<bool, Error> {
        self.check("create_client")?;
        let mut s = self.state.borrow_mut();
        if !s.tenant_is_live(&client.app_id, &client.tenant_id) {
            return Ok(false);
        }
        let key = (
            client.app_id.clone(),
            client.tenant_id.clone(),
            client.id.clone(),
        );
        if s.oauth_clients.contains_key(&key) {
            return Err(constraint("PRIMARY KEY (oauth_clients)"));
        }
        s.check_audit(audit)?;
        s.oauth_clients.insert(key, client.clone());
        s.write_audit(audit);
        Ok(true)
    }

    async fn find_client(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Client>, Error> {
        self.check("find_client")?;
        let s = self.state.borrow();
        Ok(s.oauth_clients
            .get(&(app.clone(), tenant.clone(), id.clone()))
            .cloned())
    }

    async fn list_clients(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Client>, Error> {
        self.check("list_clients")?;
        let s = self.state.borrow();
        Ok(s.oauth_clients
            .values()
            .filter(|c| c.app_id == *app && c.tenant_id == *tenant)
            .filter(|c| after.is_none_or(|after| c.id.as_str() > after))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn update_client(
        &self,
        client: &Client,
        end_grants: bool,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<Option<Vec<UserId>>, Error> {
        self.check("update_client")?;
        let mut s = self.state.borrow_mut();
        let (app, tenant, id) = (&client.app_id, &client.tenant_id, &client.id);
        let key = (app.clone(), tenant.clone(), id.clone());
        let Some(stored) = s
            .oauth_clients
            .get(&key)
            .filter(|c| c.version == client.version)
        else {
            return Ok(None);
        };
        s.check_audit(audit)?;
        let updated = Client {
            version: stored.version + 1,
            secret_hash: stored.secret_hash.clone(),
            // Keys change only for a private_key_jwt client (as the SQL's CASE).
            jwks: if stored.auth_method == AuthMethod::PrivateKeyJwt {
                client.jwks.clone()
            } else {
                stored.jwks.clone()
            },
            // Only ever moved forward, as the SQL's max(); to `now` when the grants end.
            tokens_revoked_before: [
                stored.tokens_revoked_before,
                client.tokens_revoked_before,
                end_grants.then_some(now),
            ]
            .into_iter()
            .flatten()
            .max(),
            created_at: stored.created_at,
            client_type: stored.client_type,
            auth_method: stored.auth_method,
            ..client.clone()
        };
        s.oauth_clients.insert(key, updated);
        let users = if end_grants {
            s.oauth_codes.retain(|_, c| {
                !(c.app_id == *app
                    && c.tenant_id == *tenant
                    && c.client_id == *id
                    && c.used.is_none())
            });
            s.end_grants(app, tenant, id, now)
        } else {
            Vec::new()
        };
        s.write_audit(audit);
        Ok(Some(users))
    }

    async fn rotate_client_secret(
        &self,
        client: &Client,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("rotate_client_secret")?;
        let mut s = self.state.borrow_mut();
        let key = (
            client.app_id.clone(),
            client.tenant_id.clone(),
            client.id.clone(),
        );
        let current = s
            .oauth_clients
            .get(&key)
            .filter(|c| c.version == client.version && c.secret_hash.is_some())
            .is_some();
        if !current || client.secret_hash.is_none() {
            return Ok(false);
        }
        s.check_audit(audit)?;
        if let Some(stored) = s.oauth_clients.get_mut(&key) {
            stored.secret_hash = client.secret_hash.clone();
            stored.updated_at = client.updated_at;
            stored.version += 1;
        }
        s.write_audit(audit);
        Ok(true)
    }

    async fn delete_client(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ClientId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<Option<Vec<UserId>>, Error> {
        self.check("delete_client")?;
        let mut s = self.state.borrow_mut();
        let key = (app.clone(), tenant.clone(), id.clone());
        if !s.oauth_clients.contains_key(&key) {
            return Ok(None);
        }
        s.check_audit(audit)?;
        let users = s.end_grants(app, tenant, id, now);
        s.oauth_codes
            .retain(|_, c| !(c.app_id == *app && c.tenant_id == *tenant && c.client_id == *id));
        s.oauth_consents
            .retain(|(a, t, _, c), _| !(a == app && t == tenant && c == id));
        s.oauth_assertions
            .retain(|(a, t, c, _), _| !(a == app && t == tenant && c == id));
        s.oauth_clients.remove(&key);
        s.write_audit(audit);
        Ok(Some(users))
    }

    async fn revoke_client_tokens(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ClientId,
        at: Timestamp,
    ) -> Result<Option<Client>, Error> {
        self.check("revoke_client_tokens")?;
        let mut s = self.state.borrow_mut();
        let key = (app.clone(), tenant.clone(), id.clone());
        Ok(s.oauth_clients.get_mut(&key).map(|client| {
            client.tokens_revoked_before = Some(at);
            client.clone()
        }))
    }

    async fn create_code(&self, code: &AuthorizationCode) -> Result<(), Error> {
        self.check("create_code")?;
        let mut s = self.state.borrow_mut();
        s.insert_code(code)?;
        Ok(())
    }

    async fn create_code_with_consent(
        &self,
        code: &AuthorizationCode,
        consent: &Consent,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.check("create_code_with_consent")?;
        let mut s = self.state.borrow_mut();
        s.check_audit(audit)?;
        // The code's checks first: when it cannot be written (no face, a taken hash), neither is.
        s.insert_code(code)?;
        let key = (
            consent.app_id.clone(),
            consent.tenant_id.clone(),
            consent.user_id,
            consent.client_id.clone(),
        );
        s.oauth_consents.insert(key, consent.clone());
        s.write_audit(audit);
        Ok(())
    }

    async fn find_code(&self, hash: &SecretHash) -> Result<Option<AuthorizationCode>, Error> {
        self.check("find_code")?;
        Ok(self.state.borrow().oauth_codes.get(hash.as_str()).cloned())
    }

    async fn redeem_code(
        &self,
        code: &SecretHash,
        session: &Session,
        refresh: &SecretHash,
        now: Timestamp,
    ) -> Result<bool, Error> {
        self.check("redeem_code")?;
        let mut s = self.state.borrow_mut();
        let Some(stored) = s.oauth_codes.get(code.as_str()) else {
            return Ok(false);
        };
        let face = s.faces.get(&(
            stored.app_id.clone(),
            stored.tenant_id.clone(),
            stored.user_id,
        ));
        let client_active = stored.client_id.is_document()
            || s.oauth_clients
                .get(&(
                    stored.app_id.clone(),
                    stored.tenant_id.clone(),
                    stored.client_id.clone(),
                ))
                .is_some_and(Client::is_active);
        let redeemable = stored.used.is_none()
            && now < stored.expires_at
            && face.is_some_and(|f| f.status == UserStatus::Active)
            && client_active;
        if !redeemable {
            return Ok(false);
        }
        s.check_session_insert(session, refresh)?;
        if let Some(stored) = s.oauth_codes.get_mut(code.as_str()) {
            stored.used = Some((now, session.id));
        }
        s.write_session(session, refresh);
        Ok(true)
    }

    async fn find_consent(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        client: &ClientId,
    ) -> Result<Option<Consent>, Error> {
        self.check("find_consent")?;
        let key = (app.clone(), tenant.clone(), *user, client.clone());
        Ok(self.state.borrow().oauth_consents.get(&key).cloned())
    }

    async fn put_consent(&self, consent: &Consent, audit: &AuditEntry) -> Result<(), Error> {
        self.check("put_consent")?;
        let mut s = self.state.borrow_mut();
        let face = (
            consent.app_id.clone(),
            consent.tenant_id.clone(),
            consent.user_id,
        );
        if !s.faces.contains_key(&face) {
            return Ok(());
        }
        s.check_audit(audit)?;
        s.write_audit(audit);
        let key = (
            consent.app_id.clone(),
            consent.tenant_id.clone(),
            consent.user_id,
            consent.client_id.clone(),
        );
        s.oauth_consents.insert(key, consent.clone());
        Ok(())
    }

    async fn list_consents(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<Consent>, Error> {
        self.check("list_consents")?;
        Ok(self
            .state
            .borrow()
            .oauth_consents
            .iter()
            .filter(|((a, t, u, _), _)| a == app && t == tenant && u == user)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn revoke_grant(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        client: &ClientId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("revoke_grant")?;
        let mut s = self.state.borrow_mut();
        let key = (app.clone(), tenant.clone(), *user, client.clone());
        let held = |x: &Session| {
            x.app_id == *app
                && x.tenant_id == *tenant
                && x.user_id == *user
                && x.revoked_at.is_none()
                && x.grant.as_ref().is_some_and(|g| g.client_id == *client)
        };
        let live = s.sessions.values().any(|r| held(&r.session));
        if !live && !s.oauth_consents.contains_key(&key) {
            return Ok(false);
        }
        s.check_audit(audit)?;
        s.oauth_consents.remove(&key);
        s.oauth_codes.retain(|_, c| {
            !(c.app_id == *app
                && c.tenant_id == *tenant
                && c.user_id == *user
                && c.client_id == *client
                && c.used.is_none())
        });
        for row in s.sessions.values_mut() {
            if held(&row.session) {
                row.session.revoked_at = Some(now);
            }
        }
        s.bump_user_edge(app, tenant, user, now);
        s.write_audit(audit);
        Ok(true)
    }

    async fn prune_codes(&self, before: Timestamp, limit: usize) -> Result<usize, Error> {
        self.check("prune_codes")?;
        let mut s = self.state.borrow_mut();
        let doomed: Vec<String> = s
            .oauth_codes
            .iter()
            .filter(|(_, c)| c.expires_at < before)
            .take(limit)
            .map(|(hash, _)| hash.clone())
            .collect();
        for hash in &doomed {
            s.oauth_codes.remove(hash);
        }
        let used: Vec<_> = s
            .oauth_assertions
            .iter()
            .filter(|(_, until)| **until < before)
            .take(limit)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &used {
            s.oauth_assertions.remove(key);
        }
        Ok(doomed.len() + used.len())
    }

    async fn use_assertion(
        &self,
        (app, tenant, client): (&AppId, &TenantId, &ClientId),
        used: &AssertionUse,
    ) -> Result<bool, Error> {
        self.check("use_assertion")?;
        let mut s = self.state.borrow_mut();
        let known = s
            .oauth_clients
            .contains_key(&(app.clone(), tenant.clone(), client.clone()));
        let of_client = |(a, t, c, _): &(AppId, TenantId, ClientId, String)| {
            a == app && t == tenant && c == client
        };
        let live = s
            .oauth_assertions
            .iter()
            .filter(|(k, until)| of_client(k) && **until >= used.now)
            .count();
        let key = (
            app.clone(),
            tenant.clone(),
            client.clone(),
            used.jti_hash.clone(),
        );
        let inserted = known && live < used.max_live && !s.oauth_assertions.contains_key(&key);
        if inserted {
            s.oauth_assertions.insert(key, used.remember_until);
        }
        let expired: Vec<_> = s
            .oauth_assertions
            .iter()
            .filter(|(k, until)| of_client(k) && **until < used.now)
            .take(16)
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            s.oauth_assertions.remove(&k);
        }
        Ok(inserted)
    }
}

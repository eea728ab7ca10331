//! Ports (traits in domain terms) and their adapters.
//!
//! `memory` runs everywhere and backs the native tests; `d1` (wasm32 only) is the real thing.
//! SQL lives only in `d1`. The worker is single-threaded, so the traits carry no `Send` bounds.
//! Every method returns `Error::Unavailable` when the backing binding fails: callers fail
//! closed on it.
#![expect(
    async_fn_in_trait,
    reason = "the worker is single-threaded: futures need no Send bound"
)]

use crate::domain::ids::{ApiKeyId, AppId, OperatorId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::operator::Operator;
use crate::domain::password::PasswordHash;
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::{ApiKey, App, Tenant};
use crate::domain::Error;

#[cfg(target_arch = "wasm32")]
pub mod d1;
pub mod memory;

/// Apps and tenants.
pub trait TenancyStore {
    /// The app with this id, if any.
    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error>;
    /// Up to `limit` apps ordered by id, after `after`.
    async fn list_apps(&self, after: Option<&str>, limit: usize) -> Result<Vec<App>, Error>;
    /// Creates an app together with its `public` tenant, atomically. `false` if it exists.
    async fn create_app(&self, app: &App, public: &Tenant) -> Result<bool, Error>;
    /// The tenant with this id in this app, if any.
    async fn find_tenant(&self, app: &AppId, id: &TenantId) -> Result<Option<Tenant>, Error>;
    /// Up to `limit` tenants of an app ordered by id, after `after`.
    async fn list_tenants(
        &self,
        app: &AppId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tenant>, Error>;
    /// Inserts a tenant. `false` if one with that id exists already.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool, Error>;
    /// Overwrites a tenant's settings. `false` if it does not exist.
    async fn update_tenant(&self, tenant: &Tenant) -> Result<bool, Error>;
    /// Deletes a tenant and everything that belongs to it (API keys), atomically.
    /// `false` if it did not exist.
    async fn delete_tenant(&self, app: &AppId, id: &TenantId) -> Result<bool, Error>;
}

/// Operator accounts.
pub trait OperatorStore {
    /// Creates the first platform owner. `false` when a platform owner exists already — checked
    /// in the same statement as the insert, so two racing bootstraps cannot both win.
    async fn create_platform_owner(&self, operator: &Operator) -> Result<bool, Error>;
    /// The operator with this id, if any.
    async fn find_operator(&self, id: &OperatorId) -> Result<Option<Operator>, Error>;
    /// The operator with this (normalised) email, if any.
    async fn find_operator_by_email(&self, email: &str) -> Result<Option<Operator>, Error>;
    /// Replaces an operator's password hash (used to upgrade weak hashes at sign-in).
    async fn update_operator_password(
        &self,
        id: &OperatorId,
        hash: &PasswordHash,
    ) -> Result<(), Error>;
}

/// Tenant API keys, stored by the hash of their secret.
pub trait ApiKeyStore {
    /// Stores a new key.
    async fn create_api_key(&self, key: &ApiKey, hash: &SecretHash) -> Result<(), Error>;
    /// Up to `limit` keys of a tenant ordered by id, after `after`.
    async fn list_api_keys(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ApiKey>, Error>;
    /// Deletes a key of this tenant. `false` if there was none.
    async fn delete_api_key(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ApiKeyId,
    ) -> Result<bool, Error>;
    /// The key whose secret hashes to `hash`, if any.
    async fn find_api_key_by_hash(&self, hash: &SecretHash) -> Result<Option<ApiKey>, Error>;
}

/// A signing key as stored: public half in the clear, private half sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub owner: KeyOwner,
    /// base64url of the Ed25519 public key.
    pub public_key: String,
    /// The sealed private key (see `domain::keys::KeyEncryptionKey`).
    pub sealed_private_key: String,
    pub created_at_ms: i64,
}

/// Signing keys of the operator plane and of each app.
pub trait SigningKeyStore {
    /// Every key of `owner`, newest first.
    async fn find_signing_keys(&self, owner: &KeyOwner) -> Result<Vec<StoredSigningKey>, Error>;
    /// Stores a new key.
    async fn create_signing_key(&self, key: &StoredSigningKey) -> Result<(), Error>;
}

//! Tenant API keys (`ApiKeyStore`), stored by the hash of their secret. Must not depend on
//! `service` or `http`.

use super::{
    audit_insert, corrupt, json_list, rows, size, text, time, SqlBackend, SqlStore, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::authz::Scope;
use crate::domain::ids::{ApiKeyId, AppId, TenantId};
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::{ApiKey, ApiKeyName};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::ApiKeyStore;
use serde::Deserialize;

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
        let bad = |_: Error| corrupt("api_keys");
        let names: Vec<String> =
            serde_json::from_str(&self.scopes).map_err(|_| corrupt("api_keys"))?;
        Ok(ApiKey {
            id: ApiKeyId::parse(&self.id).map_err(bad)?,
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            tenant_id: TenantId::parse(&self.tenant_id).map_err(bad)?,
            name: ApiKeyName::parse(&self.name).map_err(bad)?,
            scopes: Scope::parse_list(&names).map_err(bad)?,
            created_at: Timestamp::from_unix_ms(self.created_at),
        })
    }
}

/// A row holding only an API key's hash.
#[derive(Deserialize)]
pub(super) struct HashRow {
    pub(super) key_hash: String,
}

const API_KEY_COLUMNS: &str = "id, app_id, tenant_id, name, scopes, created_at";

impl<B: SqlBackend> ApiKeyStore for SqlStore<B> {
    async fn create_api_key(
        &self,
        key: &ApiKey,
        hash: &SecretHash,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        self.batch(vec![
            Statement::new(
                "INSERT INTO api_keys (id, app_id, tenant_id, name, scopes, key_hash, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                vec![
                    text(&key.id.to_string()),
                    text(key.app_id.as_str()),
                    text(key.tenant_id.as_str()),
                    text(key.name.as_str()),
                    text(&json_list(&scopes)),
                    text(hash.as_str()),
                    time(key.created_at),
                ],
            ),
            audit_insert(audit, false),
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
        self.all::<ApiKeyRow>(Statement::new(
            format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4"
            ),
            vec![
                text(app.as_str()),
                text(tenant.as_str()),
                text(after.unwrap_or("")),
                size(limit),
            ],
        ))
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
        let mut statements = vec![Statement::new(
            "DELETE FROM api_keys WHERE id = ?1 AND app_id = ?2 AND tenant_id = ?3 \
             RETURNING key_hash",
            vec![
                text(&id.to_string()),
                text(app.as_str()),
                text(tenant.as_str()),
            ],
        )];
        if let Some(audit) = audit {
            statements.push(audit_insert(audit, true));
        }
        let results = self.batch(statements).await?;
        let deleted = rows::<HashRow, _>(&results, 0)?;
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
            .first::<HashRow>(Statement::new(
                "SELECT key_hash FROM api_keys WHERE id = ?1 AND app_id = ?2 AND tenant_id = ?3",
                vec![
                    text(&id.to_string()),
                    text(app.as_str()),
                    text(tenant.as_str()),
                ],
            ))
            .await?;
        Ok(row.map(|r| SecretHash::from_stored(r.key_hash)))
    }

    async fn find_api_key_by_hash(&self, hash: &SecretHash) -> Result<Option<ApiKey>, Error> {
        self.first::<ApiKeyRow>(Statement::new(
            format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1"),
            vec![text(hash.as_str())],
        ))
        .await?
        .map(ApiKeyRow::into_api_key)
        .transpose()
    }
}

//! Signing keys of the operator plane and of each app (`SigningKeyStore`). Must not depend on
//! `service` or `http`.

use super::edge_sync::edge_bump;
use super::{audit_insert, rows, text, time, SqlBackend, SqlResult, SqlStore, Statement};
use crate::domain::audit::AuditEntry;
use crate::domain::edge::MirroredDoc;
use crate::domain::keys::KeyOwner;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{SigningKeyStore, StoredSigningKey};
use serde::Deserialize;

#[derive(Deserialize)]
struct SigningKeyRow {
    kid: String,
    public_key: String,
    private_key: String,
    created_at: i64,
    activates_at: i64,
}

/// The statement that reads an owner's keys, newest activation first.
pub(super) fn keys_statement(owner: &KeyOwner) -> Statement {
    Statement::new(
        "SELECT kid, public_key, private_key, created_at, activates_at FROM signing_keys \
         WHERE owner = ?1 ORDER BY activates_at DESC",
        vec![text(&owner.as_stored())],
    )
}

/// The keys read by `keys_statement`, the `index`th statement of a batch.
pub(super) fn keys_of<R: SqlResult>(
    results: &[R],
    index: usize,
    owner: &KeyOwner,
) -> Result<Vec<StoredSigningKey>, Error> {
    Ok(rows::<SigningKeyRow, _>(results, index)?
        .into_iter()
        .map(|r| StoredSigningKey {
            kid: r.kid,
            owner: owner.clone(),
            public_key: r.public_key,
            sealed_private_key: r.private_key,
            created_at: Timestamp::from_unix_ms(r.created_at),
            activates_at: Timestamp::from_unix_ms(r.activates_at),
        })
        .collect())
}

impl<B: SqlBackend> SigningKeyStore for SqlStore<B> {
    async fn find_signing_keys(&self, owner: &KeyOwner) -> Result<Vec<StoredSigningKey>, Error> {
        let results = self.batch(vec![keys_statement(owner)]).await?;
        keys_of(&results, 0, owner)
    }

    async fn create_signing_key(
        &self,
        key: &StoredSigningKey,
        audit: Option<&AuditEntry>,
    ) -> Result<(), Error> {
        let mut statements = vec![Statement::new(
            "INSERT INTO signing_keys \
             (kid, owner, alg, public_key, private_key, created_at, activates_at) \
             VALUES (?1, ?2, 'EdDSA', ?3, ?4, ?5, ?6)",
            vec![
                text(&key.kid),
                text(&key.owner.as_stored()),
                text(&key.public_key),
                text(&key.sealed_private_key),
                time(key.created_at),
                time(key.activates_at),
            ],
        )];
        // The owner's public-keys document must now list the key: pending in the same batch.
        statements.push(edge_bump(
            &MirroredDoc::Keys(key.owner.clone()),
            key.created_at,
            false,
        ));
        if let Some(audit) = audit {
            statements.push(audit_insert(audit, false));
        }
        self.batch(statements).await.map(drop)
    }
}

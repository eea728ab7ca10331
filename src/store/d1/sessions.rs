//! Refresh sessions and their refresh tokens (`SessionStore`): creation with the settlement of
//! the sign-in attempt, lookup by token, and rotation as a compare-and-swap on the generation.
//! Must not depend on `service` or `http`.

use super::throttle::settle_attempt;
use super::{corrupt, first_changed, int, only_if, text, time, SqlBackend, SqlStore, Statement};
use crate::domain::ids::{AppId, TenantId};
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::time::Timestamp;
use crate::domain::user::{UserId, UserStatus};
use crate::domain::Error;
use crate::store::{Attempt, PresentedRefresh, SessionStore};
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct SessionRow {
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

pub(super) const SESSION_COLUMNS: &str =
    "s.id AS id, s.app_id AS app_id, s.tenant_id AS tenant_id, \
     s.user_id AS user_id, s.generation AS generation, s.rotated_at AS rotated_at, \
     s.created_at AS created_at, s.last_used_at AS last_used_at, s.expires_at AS expires_at, \
     s.idle_timeout_ms AS idle_timeout_ms, s.revoked_at AS revoked_at";

impl SessionRow {
    pub(super) fn into_session(self) -> Result<Session, Error> {
        let bad = |_: Error| corrupt("sessions");
        Ok(Session {
            id: SessionId::parse(&self.id).map_err(bad)?,
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            tenant_id: TenantId::parse(&self.tenant_id).map_err(bad)?,
            user_id: UserId::parse(&self.user_id).map_err(bad)?,
            generation: self.generation,
            rotated_at: Timestamp::from_unix_ms(self.rotated_at),
            created_at: Timestamp::from_unix_ms(self.created_at),
            last_used_at: Timestamp::from_unix_ms(self.last_used_at),
            expires_at: Timestamp::from_unix_ms(self.expires_at),
            idle_timeout_ms: self.idle_timeout_ms,
            revoked_at: self.revoked_at.map(Timestamp::from_unix_ms),
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

/// Inserts a new session; with `only_if_changed`, only when the statement before it in the
/// batch changed a row.
pub(super) fn session_insert(session: &Session, only_if_changed: bool) -> Statement {
    let condition = only_if(only_if_changed);
    Statement::new(
        format!(
            "INSERT INTO sessions (id, app_id, tenant_id, user_id, generation, rotated_at, \
             created_at, last_used_at, expires_at, idle_timeout_ms) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10{condition}"
        ),
        vec![
            text(&session.id.to_string()),
            text(session.app_id.as_str()),
            text(session.tenant_id.as_str()),
            text(&session.user_id.to_string()),
            int(session.generation),
            time(session.rotated_at),
            time(session.created_at),
            time(session.last_used_at),
            time(session.expires_at),
            int(session.idle_timeout_ms),
        ],
    )
}

/// Inserts a session's refresh token of its current generation (conditionally, as above).
pub(super) fn refresh_token_insert(
    session: &Session,
    token: &SecretHash,
    only_if_changed: bool,
) -> Statement {
    let condition = only_if(only_if_changed);
    Statement::new(
        format!(
            "INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at) \
             SELECT ?1, ?2, ?3, ?4{condition}"
        ),
        vec![
            text(token.as_str()),
            text(&session.id.to_string()),
            int(session.generation),
            time(session.created_at),
        ],
    )
}

impl<B: SqlBackend> SessionStore for SqlStore<B> {
    async fn create_session(
        &self,
        session: &Session,
        token: &SecretHash,
        attempt: &Attempt,
    ) -> Result<(), Error> {
        let mut statements = vec![
            session_insert(session, false),
            refresh_token_insert(session, token, false),
        ];
        statements.extend(settle_attempt(
            session.app_id.as_str(),
            session.tenant_id.as_str(),
            attempt,
        ));
        self.batch(statements).await.map(drop)
    }

    async fn find_by_refresh_token(
        &self,
        token: &SecretHash,
    ) -> Result<Option<PresentedRefresh>, Error> {
        let row = self
            .first::<PresentedRow>(Statement::new(
                format!(
                    "SELECT {SESSION_COLUMNS}, rt.generation AS token_generation, \
                     tu.status AS status FROM refresh_tokens rt \
                     JOIN sessions s ON s.id = rt.session_id \
                     LEFT JOIN tenant_users tu ON tu.app_id = s.app_id \
                     AND tu.tenant_id = s.tenant_id AND tu.user_id = s.user_id \
                     WHERE rt.token_hash = ?1"
                ),
                vec![text(token.as_str())],
            ))
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
        now: Timestamp,
    ) -> Result<bool, Error> {
        let id = id.to_string();
        let results = self
            .batch(vec![
                Statement::new(
                    "UPDATE sessions SET generation = ?2 + 1, rotated_at = ?3, last_used_at = ?3 \
                     WHERE id = ?1 AND generation = ?2 AND revoked_at IS NULL",
                    vec![text(&id), int(from_generation), time(now)],
                ),
                // The successor is derived from the presented token, so a racing rotation
                // inserts the very same row: OR IGNORE makes that harmless.
                Statement::new(
                    "INSERT OR IGNORE INTO refresh_tokens \
                     (token_hash, session_id, generation, created_at) VALUES (?1, ?2, ?3 + 1, ?4)",
                    vec![
                        text(successor.as_str()),
                        text(&id),
                        int(from_generation),
                        time(now),
                    ],
                ),
            ])
            .await?;
        first_changed(&results)
    }

    async fn find_session(&self, id: &SessionId) -> Result<Option<Session>, Error> {
        self.first::<SessionRow>(Statement::new(
            format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?1"),
            vec![text(&id.to_string())],
        ))
        .await?
        .map(SessionRow::into_session)
        .transpose()
    }

    async fn revoke_session(&self, id: &SessionId, now: Timestamp) -> Result<bool, Error> {
        let changed = self
            .run(Statement::new(
                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                vec![text(&id.to_string()), time(now)],
            ))
            .await?;
        Ok(changed == 1)
    }
}

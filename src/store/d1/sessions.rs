//! Refresh sessions and their refresh tokens (`SessionStore`): creation with the settlement of
//! the sign-in attempt, lookup by token, and rotation as a compare-and-swap on the generation.
//! Must not depend on `service` or `http`.

use super::throttle::settle_attempt;
use super::users::{TenantUserRow, TENANT_USER_COLUMNS};
use super::{
    corrupt, first_changed, int, only_if, opt_text, rows, text, time, SqlBackend, SqlStore,
    Statement,
};
use crate::domain::ids::{AppId, TenantId};
use crate::domain::oauth::{ClientId, SessionGrant};
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
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
    client_id: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
}

pub(super) const SESSION_COLUMNS: &str =
    "s.id AS id, s.app_id AS app_id, s.tenant_id AS tenant_id, \
     s.user_id AS user_id, s.generation AS generation, s.rotated_at AS rotated_at, \
     s.created_at AS created_at, s.last_used_at AS last_used_at, s.expires_at AS expires_at, \
     s.idle_timeout_ms AS idle_timeout_ms, s.revoked_at AS revoked_at, \
     s.client_id AS client_id, s.scope AS scope, s.resource AS resource";

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
            grant: match self.client_id {
                None => None,
                Some(client) => Some(SessionGrant {
                    client_id: ClientId::parse(&client).ok_or_else(|| corrupt("sessions"))?,
                    scope: self.scope.unwrap_or_default(),
                    resource: self.resource,
                }),
            },
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

/// The session of a refresh token, the token's generation and the user's status in the
/// session's tenant.
fn presented_statement(token: &SecretHash) -> Statement {
    Statement::new(
        format!(
            "SELECT {SESSION_COLUMNS}, rt.generation AS token_generation, \
             tu.status AS status FROM refresh_tokens rt \
             JOIN sessions s ON s.id = rt.session_id \
             LEFT JOIN tenant_users tu ON tu.app_id = s.app_id \
             AND tu.tenant_id = s.tenant_id AND tu.user_id = s.user_id \
             WHERE rt.token_hash = ?1"
        ),
        vec![text(token.as_str())],
    )
}

impl PresentedRow {
    fn into_presented(self) -> Result<PresentedRefresh, Error> {
        // A session whose user no longer has a face in the tenant is as good as suspended.
        let status = match self.status.as_deref() {
            Some(s) => UserStatus::parse(s).map_err(|_| corrupt("tenant_users"))?,
            None => UserStatus::Suspended,
        };
        Ok(PresentedRefresh {
            session: self.session.into_session()?,
            generation: self.token_generation,
            status,
        })
    }
}

/// Inserts a new session; with `only_if_changed`, only when the statement before it in the
/// batch changed a row.
pub(super) fn session_insert(session: &Session, only_if_changed: bool) -> Statement {
    let condition = only_if(only_if_changed);
    Statement::new(
        format!(
            "INSERT INTO sessions (id, app_id, tenant_id, user_id, generation, rotated_at, \
             created_at, last_used_at, expires_at, idle_timeout_ms, client_id, scope, resource) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13{condition}"
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
            opt_text(session.grant.as_ref().map(|g| g.client_id.as_str())),
            opt_text(session.grant.as_ref().map(|g| g.scope.as_str())),
            opt_text(session.grant.as_ref().and_then(|g| g.resource.as_deref())),
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
        self.first::<PresentedRow>(presented_statement(token))
            .await?
            .map(PresentedRow::into_presented)
            .transpose()
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

    async fn rotate_presented(
        &self,
        app: &AppId,
        tenant: &TenantId,
        token: &SecretHash,
        successor: &SecretHash,
        client: Option<&ClientId>,
        now: Timestamp,
    ) -> Result<(bool, Option<PresentedRefresh>), Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "UPDATE sessions SET generation = generation + 1, rotated_at = ?4, \
                     last_used_at = ?4 \
                     WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ?1) \
                     AND generation = (SELECT generation FROM refresh_tokens WHERE token_hash = ?1) \
                     AND app_id = ?2 AND tenant_id = ?3 AND revoked_at IS NULL \
                     AND ?4 < expires_at AND ?4 < last_used_at + idle_timeout_ms \
                     AND client_id IS ?5 \
                     AND EXISTS (SELECT 1 FROM tenant_users tu WHERE tu.app_id = sessions.app_id \
                     AND tu.tenant_id = sessions.tenant_id AND tu.user_id = sessions.user_id \
                     AND tu.status = 'active' AND tu.created_at <= sessions.created_at)",
                    vec![
                        text(token.as_str()),
                        text(app.as_str()),
                        text(tenant.as_str()),
                        time(now),
                        opt_text(client.map(ClientId::as_str)),
                    ],
                ),
                // Only for the call that moved the session; OR IGNORE as in `rotate_session`.
                Statement::new(
                    "INSERT OR IGNORE INTO refresh_tokens \
                     (token_hash, session_id, generation, created_at) \
                     SELECT ?2, session_id, generation + 1, ?3 FROM refresh_tokens \
                     WHERE token_hash = ?1 AND changes() > 0",
                    vec![text(token.as_str()), text(successor.as_str()), time(now)],
                ),
                presented_statement(token),
            ])
            .await?;
        let rotated = first_changed(&results)?;
        let presented = rows::<PresentedRow, _>(&results, 2)?
            .into_iter()
            .next()
            .map(PresentedRow::into_presented)
            .transpose()?;
        Ok((rotated, presented))
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

    async fn revoke_session(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<(Session, bool)>, Error> {
        let id = text(&id.to_string());
        let results = self
            .batch(vec![
                Statement::new(
                    "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    vec![id.clone(), time(now)],
                ),
                // Whether or not this call revoked it: a retried revocation republishes.
                Statement::new(
                    "INSERT INTO edge_sync (doc, version, synced_version, changed_at) \
                     SELECT 'flags:' || app_id || ':' || tenant_id || ':' || user_id, 1, 0, ?2 \
                     FROM sessions WHERE id = ?1 \
                     ON CONFLICT (doc) DO UPDATE SET version = version + 1, \
                     changed_at = excluded.changed_at",
                    vec![id.clone(), time(now)],
                ),
                Statement::new(
                    format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?1"),
                    vec![id],
                ),
            ])
            .await?;
        let newly = first_changed(&results)?;
        rows::<SessionRow, _>(&results, 2)?
            .into_iter()
            .next()
            .map(|row| row.into_session().map(|session| (session, newly)))
            .transpose()
    }

    async fn find_session_user(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        session: &SessionId,
    ) -> Result<Option<(User, TenantUser)>, Error> {
        let row = self
            .first::<TenantUserRow>(Statement::new(
                format!(
                    "SELECT {TENANT_USER_COLUMNS} FROM sessions s \
                     JOIN tenant_users tu ON tu.app_id = s.app_id AND tu.tenant_id = s.tenant_id \
                     AND tu.user_id = s.user_id \
                     JOIN users u ON u.app_id = tu.app_id AND u.id = tu.user_id \
                     WHERE s.id = ?4 AND s.app_id = ?1 AND s.tenant_id = ?2 AND s.user_id = ?3 \
                     AND s.revoked_at IS NULL AND tu.created_at <= s.created_at"
                ),
                vec![
                    text(app.as_str()),
                    text(tenant.as_str()),
                    text(&user.to_string()),
                    text(&session.to_string()),
                ],
            ))
            .await?;
        row.map(TenantUserRow::into_pair).transpose()
    }
}

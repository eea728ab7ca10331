//! End users and their per-tenant faces (`UserStore`): sign-up (user, face and first session
//! in one batch, all or nothing), sign-in lookup with attempt counting, sign-up throttling and
//! password upgrades. The face columns and inserts are shared with `user_state`. Must not
//! depend on `service` or `http`.

use super::sessions::{refresh_token_insert, session_insert};
use super::throttle::{count_attempt, count_signup, settle_attempt};
use super::{
    corrupt, first_changed, phc, phc_params, rows, text, time, SqlBackend, SqlStore, SqlValue,
    Statement,
};
use crate::domain::email::Email;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::names::{PlanTier, RoleName};
use crate::domain::password::{PasswordHash, PasswordParams};
use crate::domain::secret::SecretHash;
use crate::domain::session::Session;
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::Error;
use crate::store::{Attempt, SignInRecord, UserStore};
use serde::Deserialize;

/// A face joined with its user, in the shape of `TENANT_USER_COLUMNS`.
#[derive(Deserialize)]
pub(super) struct TenantUserRow {
    app_id: String,
    user_id: String,
    user_email: String,
    password_hash: Option<String>,
    email_verified_at: Option<i64>,
    passwordless_at: Option<i64>,
    user_created_at: i64,
    tenant_id: String,
    email: String,
    status: String,
    plan_tier: String,
    rate_limit_override: Option<i64>,
    roles: String,
    version: i64,
    /// JSON array of the ids of the providers linked to the user in the tenant.
    providers: String,
    created_at: i64,
}

/// Columns of `tenant_users tu JOIN users u`, in the shape of `TenantUserRow`.
pub(super) const TENANT_USER_COLUMNS: &str = "u.app_id AS app_id, u.id AS user_id, \
     u.email AS user_email, \
     u.password_hash AS password_hash, u.email_verified_at AS email_verified_at, \
     u.passwordless_at AS passwordless_at, u.created_at AS user_created_at, \
     tu.tenant_id AS tenant_id, tu.email AS email, tu.status AS status, \
     tu.plan_tier AS plan_tier, tu.rate_limit_override AS rate_limit_override, \
     tu.roles AS roles, tu.version AS version, tu.created_at AS created_at, \
     (SELECT json_group_array(ui.provider_id) FROM user_identities ui \
      WHERE ui.app_id = tu.app_id AND ui.user_id = tu.user_id \
      AND ui.tenant_id = tu.tenant_id) AS providers";

/// A row of `users`, by column name.
#[derive(Deserialize)]
pub(super) struct UserRow {
    pub(super) app_id: String,
    pub(super) id: String,
    pub(super) email: String,
    pub(super) password_hash: Option<String>,
    pub(super) email_verified_at: Option<i64>,
    pub(super) passwordless_at: Option<i64>,
    pub(super) created_at: i64,
}

/// Columns of `users`, in the shape of `UserRow`.
pub(super) const USER_COLUMNS: &str =
    "app_id, id, email, password_hash, email_verified_at, passwordless_at, created_at";

impl UserRow {
    /// Parses a stored user.
    pub(super) fn into_user(self) -> Result<User, Error> {
        let bad = |_: Error| corrupt("users");
        Ok(User {
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            id: UserId::parse(&self.id).map_err(bad)?,
            email: Email::from_stored(&self.email).map_err(bad)?,
            password_hash: self
                .password_hash
                .as_deref()
                .map(PasswordHash::parse)
                .transpose()
                .map_err(bad)?,
            email_verified: self.email_verified_at.is_some(),
            passwordless: self.passwordless_at.is_some(),
            created_at: Timestamp::from_unix_ms(self.created_at),
        })
    }
}

impl TenantUserRow {
    pub(super) fn into_pair(self) -> Result<(User, TenantUser), Error> {
        let bad = |_: Error| corrupt("users");
        let user = UserRow {
            app_id: self.app_id,
            id: self.user_id,
            email: self.user_email,
            password_hash: self.password_hash,
            email_verified_at: self.email_verified_at,
            passwordless_at: self.passwordless_at,
            created_at: self.user_created_at,
        }
        .into_user()?;
        let roles: Vec<RoleName> =
            serde_json::from_str(&self.roles).map_err(|_| corrupt("users"))?;
        let face = TenantUser {
            app_id: user.app_id.clone(),
            tenant_id: TenantId::parse(&self.tenant_id).map_err(bad)?,
            user_id: user.id,
            email: Email::from_stored(&self.email).map_err(bad)?,
            status: UserStatus::parse(&self.status).map_err(bad)?,
            plan_tier: PlanTier::parse(&self.plan_tier).map_err(bad)?,
            rate_limit_override: self.rate_limit_override,
            roles,
            version: self.version,
            providers: super::thirdparty::providers_of(&self.providers)?,
            created_at: Timestamp::from_unix_ms(self.created_at),
        };
        Ok((user, face))
    }
}

/// The face of a tenant whose `column` (`email` or `user_id`) is `key`, joined with its user.
fn face_lookup(app: &AppId, tenant: &TenantId, column: &str, key: &str) -> Statement {
    Statement::new(
        format!(
            "SELECT {TENANT_USER_COLUMNS} FROM tenant_users tu \
             JOIN users u ON u.app_id = tu.app_id AND u.id = tu.user_id \
             WHERE tu.app_id = ?1 AND tu.tenant_id = ?2 AND tu.{column} = ?3"
        ),
        vec![text(app.as_str()), text(tenant.as_str()), text(key)],
    )
}

/// Inserts a user, then its face in one tenant — the first only when the tenant does not have
/// the email yet, the second only when the first happened (`changes()`).
pub(super) fn user_inserts(user: &User, face: &TenantUser) -> Vec<Statement> {
    user_inserts_after(user, face, false)
}

/// `user_inserts`; with `only_if_changed`, the user only when the statement before it in the
/// batch changed a row too. A verified email and passwordless use are dated at creation.
pub(super) fn user_inserts_after(
    user: &User,
    face: &TenantUser,
    only_if_changed: bool,
) -> Vec<Statement> {
    let since = |flag: bool| {
        if flag {
            time(user.created_at)
        } else {
            SqlValue::Null
        }
    };
    let condition = if only_if_changed {
        "changes() > 0 AND "
    } else {
        ""
    };
    vec![
        Statement::new(
            format!(
                "INSERT INTO users (app_id, id, email, password_hash, email_verified_at, \
                 passwordless_at, created_at, password_params) \
                 SELECT ?1, ?4, ?3, ?5, ?7, ?8, ?6, ?9 WHERE {condition}NOT EXISTS \
                 (SELECT 1 FROM tenant_users WHERE app_id = ?1 AND tenant_id = ?2 AND email = ?3)"
            ),
            vec![
                text(user.app_id.as_str()),
                text(face.tenant_id.as_str()),
                text(face.email.as_str()),
                text(&user.id.to_string()),
                phc(user.password_hash.as_ref()),
                time(user.created_at),
                since(user.email_verified),
                since(user.passwordless),
                phc_params(user.password_hash.as_ref()),
            ],
        ),
        Statement::new(
            "INSERT INTO tenant_users \
             (app_id, tenant_id, user_id, email, status, plan_tier, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE changes() > 0",
            face_values(face),
        ),
    ]
}

/// The values of a new face, as `(app_id, tenant_id, user_id, email, status, plan_tier,
/// created_at)`.
pub(super) fn face_values(face: &TenantUser) -> Vec<SqlValue> {
    vec![
        text(face.app_id.as_str()),
        text(face.tenant_id.as_str()),
        text(&face.user_id.to_string()),
        text(face.email.as_str()),
        text(face.status.as_str()),
        text(face.plan_tier.as_str()),
        time(face.created_at),
    ]
}

impl<B: SqlBackend> UserStore for SqlStore<B> {
    async fn create_user(
        &self,
        user: &User,
        face: &TenantUser,
        session: &Session,
        token: &SecretHash,
    ) -> Result<bool, Error> {
        // The user and its face are written only when the tenant does not have the email yet,
        // and the session and its token by `changes()` of the statement before, all inside one
        // transaction: either everything is written or nothing is.
        let mut statements = user_inserts(user, face);
        statements.push(session_insert(session, true));
        statements.push(refresh_token_insert(session, token, true));
        let results = self.batch(statements).await?;
        first_changed(&results)
    }

    async fn begin_signin(
        &self,
        app: &AppId,
        tenant: &TenantId,
        email: &Email,
        attempt: &Attempt,
    ) -> Result<SignInRecord<(User, TenantUser)>, Error> {
        let lookup = face_lookup(app, tenant, "email", email.as_str());
        let (results, retry_after) =
            count_attempt(self, app.as_str(), tenant.as_str(), attempt, lookup).await?;
        let user = rows::<TenantUserRow, _>(&results, 0)?
            .into_iter()
            .next()
            .map(TenantUserRow::into_pair)
            .transpose()?;
        Ok(SignInRecord { user, retry_after })
    }

    async fn count_signup(
        &self,
        app: &AppId,
        tenant: &TenantId,
        client: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, Error> {
        count_signup(self, app.as_str(), tenant.as_str(), client, now).await
    }

    async fn settle_signin(
        &self,
        app: &AppId,
        tenant: &TenantId,
        attempt: &Attempt,
    ) -> Result<(), Error> {
        let statements = settle_attempt(app.as_str(), tenant.as_str(), attempt);
        self.batch(statements).await.map(drop)
    }

    async fn find_tenant_user_by_email(
        &self,
        app: &AppId,
        tenant: &TenantId,
        email: &Email,
    ) -> Result<Option<(User, TenantUser)>, Error> {
        self.first::<TenantUserRow>(face_lookup(app, tenant, "email", email.as_str()))
            .await?
            .map(TenantUserRow::into_pair)
            .transpose()
    }

    async fn find_tenant_user(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(User, TenantUser)>, Error> {
        self.first::<TenantUserRow>(face_lookup(app, tenant, "user_id", &user.to_string()))
            .await?
            .map(TenantUserRow::into_pair)
            .transpose()
    }

    async fn update_user_password(
        &self,
        app: &AppId,
        user: &UserId,
        hash: &PasswordHash,
    ) -> Result<(), Error> {
        self.run(Statement::new(
            "UPDATE users SET password_hash = ?3, password_params = ?4 \
             WHERE app_id = ?1 AND id = ?2",
            vec![
                text(app.as_str()),
                text(&user.to_string()),
                text(&hash.to_phc_string()),
                text(&hash.params().to_phc_prefix()),
            ],
        ))
        .await
        .map(drop)
    }

    async fn find_password_params(&self, app: &AppId) -> Result<Vec<PasswordParams>, Error> {
        #[derive(Deserialize)]
        struct ParamsRow {
            password_params: String,
        }
        let rows = self
            .all::<ParamsRow>(Statement::new(
                "SELECT DISTINCT password_params FROM users \
                 WHERE app_id = ?1 AND password_params IS NOT NULL",
                vec![text(app.as_str())],
            ))
            .await?;
        rows.iter()
            .map(|r| PasswordParams::parse(&r.password_params).ok_or_else(|| corrupt("users")))
            .collect()
    }
}

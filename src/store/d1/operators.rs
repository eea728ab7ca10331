//! Operator accounts (`OperatorStore`): the bootstrap of the platform owner and operator
//! sign-in, counted under the operator plane's own throttle subjects. Must not depend on
//! `service` or `http`.

use super::members::member_insert;
use super::tenancy::{app_insert, public_tenant_insert};
use super::throttle::{count_attempt, count_signup, settle_attempt, OPERATOR_PLANE};
use super::{
    audit_insert, corrupt, first_changed, only_if, phc, phc_params, rows, text, time, when_audited,
    with_condition, SqlBackend, SqlStore, SqlValue, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::email::Email;
use crate::domain::ids::OperatorId;
use crate::domain::member::Member;
use crate::domain::operator::Operator;
use crate::domain::password::{PasswordHash, PasswordParams};
use crate::domain::tenancy::{App, Tenant};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{Attempt, OperatorStore, SignInRecord};
use serde::Deserialize;

#[derive(Deserialize)]
struct OperatorRow {
    id: String,
    email: String,
    password_hash: Option<String>,
    is_platform_owner: i64,
    created_at: i64,
    password_reset_at: Option<i64>,
    email_verified_at: Option<i64>,
}

impl OperatorRow {
    fn into_operator(self) -> Result<Operator, Error> {
        let bad = |_: Error| corrupt("operators");
        Ok(Operator {
            id: OperatorId::parse(&self.id).map_err(bad)?,
            email: Email::from_stored(&self.email).map_err(bad)?,
            password_hash: self
                .password_hash
                .as_deref()
                .map(PasswordHash::parse)
                .transpose()
                .map_err(bad)?,
            is_platform_owner: self.is_platform_owner != 0,
            created_at: Timestamp::from_unix_ms(self.created_at),
            password_reset_at: self.password_reset_at.map(Timestamp::from_unix_ms),
            email_verified_at: self.email_verified_at.map(Timestamp::from_unix_ms),
        })
    }
}

const OPERATOR_COLUMNS: &str = "id, email, password_hash, is_platform_owner, created_at, \
     password_reset_at, email_verified_at";

/// Inserts `operator` (never a platform owner); an `INSERT … SELECT` without `WHERE`.
fn operator_insert(operator: &Operator) -> Statement {
    Statement::new(
        "INSERT INTO operators (id, email, password_hash, is_platform_owner, created_at, \
         password_params, email_verified_at) SELECT ?1, ?2, ?3, 0, ?4, ?5, ?6",
        vec![
            text(&operator.id.to_string()),
            text(operator.email.as_str()),
            phc(operator.password_hash.as_ref()),
            time(operator.created_at),
            phc_params(operator.password_hash.as_ref()),
            operator
                .email_verified_at
                .map(time)
                .unwrap_or(SqlValue::Null),
        ],
    )
}

impl<B: SqlBackend> OperatorStore for SqlStore<B> {
    async fn create_platform_owner(
        &self,
        operator: &Operator,
        membership: &Member,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "INSERT INTO operators \
                     (id, email, password_hash, is_platform_owner, created_at, password_params) \
                     SELECT ?1, ?2, ?3, 1, ?4, ?5 \
                     WHERE NOT EXISTS (SELECT 1 FROM operators WHERE is_platform_owner = 1)",
                    vec![
                        text(&operator.id.to_string()),
                        text(operator.email.as_str()),
                        phc(operator.password_hash.as_ref()),
                        time(operator.created_at),
                        phc_params(operator.password_hash.as_ref()),
                    ],
                ),
                // The owner of the app `public`, only with the operator just made.
                with_condition(member_insert(membership, None), only_if(true)),
            ])
            .await?;
        first_changed(&results)
    }

    async fn begin_operator_signin(
        &self,
        email: &Email,
        attempt: &Attempt,
    ) -> Result<SignInRecord<Operator>, Error> {
        let lookup = Statement::new(
            format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE email = ?1"),
            vec![text(email.as_str())],
        );
        let (results, retry_after) =
            count_attempt(self, OPERATOR_PLANE, OPERATOR_PLANE, attempt, lookup).await?;
        let user = rows::<OperatorRow, _>(&results, 0)?
            .into_iter()
            .next()
            .map(OperatorRow::into_operator)
            .transpose()?;
        Ok(SignInRecord { user, retry_after })
    }

    async fn finish_operator_signin(&self, attempt: &Attempt) -> Result<(), Error> {
        let statements = settle_attempt(OPERATOR_PLANE, OPERATOR_PLANE, attempt);
        self.batch(statements).await.map(drop)
    }

    async fn find_operator(&self, id: &OperatorId) -> Result<Option<Operator>, Error> {
        self.first::<OperatorRow>(Statement::new(
            format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = ?1"),
            vec![text(&id.to_string())],
        ))
        .await?
        .map(OperatorRow::into_operator)
        .transpose()
    }

    async fn find_operator_by_email(&self, email: &Email) -> Result<Option<Operator>, Error> {
        self.first::<OperatorRow>(Statement::new(
            format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE email = ?1"),
            vec![text(email.as_str())],
        ))
        .await?
        .map(OperatorRow::into_operator)
        .transpose()
    }

    async fn update_operator_password(
        &self,
        id: &OperatorId,
        hash: &PasswordHash,
    ) -> Result<(), Error> {
        self.run(Statement::new(
            "UPDATE operators SET password_hash = ?2, password_params = ?3 WHERE id = ?1",
            vec![
                text(&id.to_string()),
                text(&hash.to_phc_string()),
                text(&hash.params().to_phc_prefix()),
            ],
        ))
        .await
        .map(drop)
    }

    async fn find_operator_password_params(&self) -> Result<Vec<PasswordParams>, Error> {
        #[derive(Deserialize)]
        struct ParamsRow {
            password_params: String,
        }
        let rows = self
            .all::<ParamsRow>(Statement::new(
                "SELECT DISTINCT password_params FROM operators WHERE password_params IS NOT NULL",
                vec![],
            ))
            .await?;
        rows.iter()
            .map(|r| PasswordParams::parse(&r.password_params).ok_or_else(|| corrupt("operators")))
            .collect()
    }

    async fn count_operator_signup(
        &self,
        client: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, Error> {
        // As end users' sign-ups, in the operator plane.
        count_signup(self, OPERATOR_PLANE, OPERATOR_PLANE, client, now).await
    }

    async fn sign_up_operator(
        &self,
        new_operator: Option<&Operator>,
        app: &App,
        public: &Tenant,
        owner: &Member,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        // Everything after the app's insert happens only when it did: its audit entry (written
        // only then) is the witness the later statements check.
        let mut statements = vec![
            app_insert(app)?,
            audit_insert(audit, true),
            when_audited(public_tenant_insert(public), "WHERE", audit),
        ];
        if let Some(operator) = new_operator {
            statements.push(when_audited(operator_insert(operator), "WHERE", audit));
        }
        statements.push(when_audited(member_insert(owner, None), "WHERE", audit));
        let results = self.batch(statements).await?;
        first_changed(&results)
    }

    async fn clear_operator_failures(&self, email: &Email) -> Result<(), Error> {
        self.run(Statement::new(
            "DELETE FROM signin_failures WHERE app_id = ?1 AND tenant_id = ?1 AND subject = ?2",
            vec![text(OPERATOR_PLANE), text(&format!("operator:{email}"))],
        ))
        .await
        .map(drop)
    }
}

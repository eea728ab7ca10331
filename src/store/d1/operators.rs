//! Operator accounts (`OperatorStore`): the bootstrap of the platform owner and operator
//! sign-in, counted under the operator plane's own throttle subjects. Must not depend on
//! `service` or `http`.

use super::throttle::{count_attempt, settle_attempt, OPERATOR_PLANE};
use super::{corrupt, phc, phc_params, rows, text, time, SqlBackend, SqlStore, Statement};
use crate::domain::email::Email;
use crate::domain::ids::OperatorId;
use crate::domain::operator::Operator;
use crate::domain::password::{PasswordHash, PasswordParams};
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
}

impl OperatorRow {
    fn into_operator(self) -> Result<Operator, Error> {
        let bad = |_: Error| corrupt("operators");
        Ok(Operator {
            id: OperatorId::parse(&self.id).map_err(bad)?,
            email: Email::parse(&self.email).map_err(bad)?,
            password_hash: self
                .password_hash
                .as_deref()
                .map(PasswordHash::parse)
                .transpose()
                .map_err(bad)?,
            is_platform_owner: self.is_platform_owner != 0,
            created_at: Timestamp::from_unix_ms(self.created_at),
            password_reset_at: self.password_reset_at.map(Timestamp::from_unix_ms),
        })
    }
}

const OPERATOR_COLUMNS: &str =
    "id, email, password_hash, is_platform_owner, created_at, password_reset_at";

impl<B: SqlBackend> OperatorStore for SqlStore<B> {
    async fn create_platform_owner(&self, operator: &Operator) -> Result<bool, Error> {
        let changed = self
            .run(Statement::new(
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
            ))
            .await?;
        Ok(changed == 1)
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

    async fn clear_operator_failures(&self, email: &Email) -> Result<(), Error> {
        self.run(Statement::new(
            "DELETE FROM signin_failures WHERE app_id = ?1 AND tenant_id = ?1 AND subject = ?2",
            vec![text(OPERATOR_PLANE), text(&format!("operator:{email}"))],
        ))
        .await
        .map(drop)
    }
}

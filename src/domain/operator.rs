//! Operators: the people who run apps through `/admin`. A separate population from end users,
//! with their own table, credentials and token audience; an email may be both and the two
//! share nothing.

use super::email::Email;
use super::ids::OperatorId;
use super::password::PasswordHash;
use super::time::Timestamp;

/// An operator account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: OperatorId,
    pub email: Email,
    /// `None` until the operator has set a password (e.g. an invited operator).
    pub password_hash: Option<PasswordHash>,
    /// The bootstrap operator: creates apps and holds `admin` everywhere.
    pub is_platform_owner: bool,
    pub created_at: Timestamp,
    /// When a password reset last replaced the password: operator tokens issued until then
    /// (in that second or before) are no longer accepted.
    pub password_reset_at: Option<Timestamp>,
    /// When the operator proved its email (`POST /admin/auth/email-verification/verify`).
    pub email_verified_at: Option<Timestamp>,
}

impl Operator {
    /// True when a token issued at `iat` (Unix seconds) predates the last password reset.
    pub fn predates_reset(&self, iat: i64) -> bool {
        self.password_reset_at
            .is_some_and(|at| iat <= at.unix_seconds())
    }
}

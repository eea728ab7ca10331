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
}

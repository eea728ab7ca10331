//! Audit entries: who changed what, on what, when. Written in the same D1 batch as the change
//! itself, so a change is never recorded without happening, nor the reverse.

use super::ids::{AppId, TenantId};
use serde_json::Value;

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Operator(String),
    ApiKey(String),
    /// The billing webhook of the app.
    Webhook,
}

impl Actor {
    /// The stored form: `operator:<id>`, `api_key:<id>`, `webhook:billing`.
    pub fn as_stored(&self) -> String {
        match self {
            Actor::Operator(id) => format!("operator:{id}"),
            Actor::ApiKey(id) => format!("api_key:{id}"),
            Actor::Webhook => "webhook:billing".to_owned(),
        }
    }
}

/// One audit entry. `detail` is a small object and never holds a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// UUIDv7: entries sort by time.
    pub id: String,
    pub app_id: AppId,
    pub at_ms: i64,
    pub actor: Actor,
    /// e.g. `tenant.create`, `api_key.delete`, `member.update`.
    pub action: &'static str,
    /// What was acted on, e.g. the tenant id or key id.
    pub target: String,
    pub tenant_id: Option<TenantId>,
    pub detail: Value,
}

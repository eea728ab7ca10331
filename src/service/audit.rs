//! The audit log as operators read it: newest first, keyset pages, optionally one tenant's.

use super::tenancy::existing_app;
use super::{Ctx, Stores};
use crate::domain::audit::AuditRecord;
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::ids::{AppId, TenantId};
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{AuditStore, TenancyStore};

/// `GET /admin/apps/{app}/audit` — `audit:read` on the app, or on the tenant named by
/// `?tenant_id=` (which a tenant-scoped member must give).
pub async fn list<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: Option<&TenantId>,
    page: &PageRequest,
) -> Result<Page<AuditRecord>, Error> {
    let target = match tenant_id {
        Some(t) => Target::Tenant(app_id, t),
        None => Target::App(app_id),
    };
    authorize(caller, Some(Permission::AuditRead), &target).into_result()?;
    existing_app(cx, app_id).await?;
    // Only the current incarnation's entries of a tenant that exists; a deleted tenant's
    // history stays readable until a namesake is created.
    let scope = match tenant_id {
        Some(t) => {
            let since = cx
                .db
                .find_tenant(app_id, t)
                .await?
                .map_or(Timestamp::EPOCH, |tenant| tenant.created_at);
            Some((t, since))
        }
        None => None,
    };
    let entries = cx
        .db
        .list_audit(app_id, scope, page.after.as_deref(), page.limit + 1)
        .await?;
    Ok(finish_page(entries, page.limit, |e| e.id.to_string()))
}

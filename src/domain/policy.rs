//! End-user roles, plans and the effective view of a user in a tenant.
//!
//! Roles (with their permissions) and plans (with their roles and default rate limit) are
//! defined per app. A user's face in a tenant holds its status, plan tier, rate-limit override
//! and hand-assigned roles. What introspection answers — effective rate limit, roles,
//! permissions — is computed from the two at read time: the plan's roles are always the
//! plan's *current* roles, so redefining a plan or a role takes effect for every user at once,
//! and the billing webhook's reconciliation (old plan's roles out, new plan's in, hand-assigned
//! kept) is exactly "derive from the current plan".

use super::user::{UserStatus, DEFAULT_PLAN_TIER};
use super::Error;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Checks a role or plan name: `^[a-z0-9][a-z0-9_:-]{0,62}$`.
pub fn parse_name(raw: &str, what: &str) -> Result<String, Error> {
    let bytes = raw.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b':' | b'-')
        });
    ok.then(|| raw.to_owned()).ok_or_else(|| {
        Error::validation(format!("{what} must match ^[a-z0-9][a-z0-9_:-]{{0,62}}$"))
    })
}

/// Checks an end-user permission string: `^[a-z0-9][a-z0-9_:.-]{0,127}$`.
pub fn parse_permission(raw: &str) -> Result<String, Error> {
    let bytes = raw.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b':' | b'.' | b'-')
        });
    ok.then(|| raw.to_owned())
        .ok_or_else(|| Error::validation("permissions must match ^[a-z0-9][a-z0-9_:.-]{0,127}$"))
}

/// Sorted, de-duplicated names.
fn sorted(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A plan: the roles it brings and its default rate limit (requests per minute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub roles: Vec<String>,
    pub rate_limit: Option<i64>,
}

/// An app's end-user roles and plans.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppPolicy {
    /// Role name → permissions.
    pub roles: BTreeMap<String, Vec<String>>,
    /// Plan tier → plan.
    pub plans: BTreeMap<String, Plan>,
}

/// The KV flags document of a user in a tenant: what introspection needs, rewritten from D1
/// after every change of the user.
///
/// `rate_limit`, `roles` and `permissions` are the effective values when it was written;
/// introspection recomputes them from `plan_tier`, `assigned_roles` and `rate_limit_override`
/// with the app's *current* roles and plans, so redefining a role or plan applies to every user
/// at once without rewriting each document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFlags {
    pub status: UserStatus,
    pub plan_tier: String,
    pub rate_limit: Option<i64>,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    /// Increases with every change of the user in D1.
    pub version: i64,
    /// Roles assigned by hand (the plan's come with the plan).
    pub assigned_roles: Vec<String>,
    pub rate_limit_override: Option<i64>,
}

impl UserFlags {
    /// How a user with no document is judged: from its token alone, never suspended.
    pub fn from_token() -> Self {
        UserFlags {
            status: UserStatus::Active,
            plan_tier: DEFAULT_PLAN_TIER.to_owned(),
            rate_limit: None,
            roles: Vec::new(),
            permissions: Vec::new(),
            version: 0,
            assigned_roles: Vec::new(),
            rate_limit_override: None,
        }
    }
}

/// The effective view: rate limit, roles and permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub rate_limit: Option<i64>,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

impl AppPolicy {
    /// True when `tier` can be assigned: a defined plan, or the implicit `free`.
    pub fn has_plan(&self, tier: &str) -> bool {
        tier == DEFAULT_PLAN_TIER || self.plans.contains_key(tier)
    }

    /// Checks that every role in `roles` is defined (`422 unknown_role` otherwise).
    pub fn check_roles(&self, roles: &[String]) -> Result<(), Error> {
        match roles.iter().find(|r| !self.roles.contains_key(*r)) {
            Some(unknown) => Err(Error::UnknownRole(unknown.clone())),
            None => Ok(()),
        }
    }

    /// The effective view of `flags`: override, else the plan's default rate limit; hand roles
    /// plus the plan's current roles; the union of those roles' permissions. Roles that are no
    /// longer defined grant nothing.
    pub fn effective(&self, flags: &UserFlags) -> Effective {
        let plan = self.plans.get(&flags.plan_tier);
        let roles = sorted(
            flags
                .assigned_roles
                .iter()
                .chain(plan.map(|p| p.roles.iter()).into_iter().flatten())
                .cloned(),
        );
        let permissions = sorted(
            roles
                .iter()
                .filter_map(|r| self.roles.get(r))
                .flatten()
                .cloned(),
        );
        Effective {
            rate_limit: flags
                .rate_limit_override
                .or(plan.and_then(|p| p.rate_limit)),
            roles,
            permissions,
        }
    }
}

/// Largest serialized metadata object of a user.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Applies an RFC 7396 JSON merge patch to `target`.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> AppPolicy {
        let mut p = AppPolicy::default();
        p.roles.insert(
            "editor".into(),
            vec!["docs:write".into(), "docs:read".into()],
        );
        p.roles.insert("viewer".into(), vec!["docs:read".into()]);
        p.roles.insert("beta".into(), vec!["beta:use".into()]);
        p.plans.insert(
            "pro".into(),
            Plan {
                roles: vec!["editor".into()],
                rate_limit: Some(600),
            },
        );
        p.plans.insert(
            "team".into(),
            Plan {
                roles: vec!["beta".into()],
                rate_limit: None,
            },
        );
        p
    }

    fn flags(plan: &str, roles: &[&str], over: Option<i64>) -> UserFlags {
        UserFlags {
            plan_tier: plan.into(),
            rate_limit_override: over,
            assigned_roles: roles.iter().map(|r| r.to_string()).collect(),
            ..UserFlags::from_token()
        }
    }

    #[test]
    fn the_override_wins_over_the_plan_default() {
        let p = policy();
        assert_eq!(p.effective(&flags("pro", &[], None)).rate_limit, Some(600));
        assert_eq!(
            p.effective(&flags("pro", &[], Some(10))).rate_limit,
            Some(10)
        );
        assert_eq!(p.effective(&flags("free", &[], None)).rate_limit, None);
    }

    #[test]
    fn roles_are_hand_assigned_plus_the_current_plans_and_permissions_their_union() {
        let p = policy();
        let e = p.effective(&flags("pro", &["viewer"], None));
        assert_eq!(e.roles, ["editor", "viewer"]);
        assert_eq!(e.permissions, ["docs:read", "docs:write"]);
    }

    #[test]
    fn a_plan_change_swaps_plan_roles_and_keeps_hand_assigned_ones() {
        let p = policy();
        // "editor" is both hand-assigned and in the old plan: it stays.
        let before = p.effective(&flags("pro", &["editor"], None));
        let after = p.effective(&flags("team", &["editor"], None));
        assert_eq!(before.roles, ["editor"]);
        assert_eq!(after.roles, ["beta", "editor"]);
        let dropped = p.effective(&flags("team", &[], None));
        assert_eq!(
            dropped.roles,
            ["beta"],
            "the old plan's role left with the plan"
        );
    }

    #[test]
    fn unknown_roles_and_plans_are_refused() {
        let p = policy();
        assert!(matches!(
            p.check_roles(&["ghost".into()]),
            Err(Error::UnknownRole(_))
        ));
        assert!(p.has_plan("free") && p.has_plan("pro") && !p.has_plan("gold"));
        assert!(parse_name("Pro", "plan").is_err());
        assert!(parse_permission("docs:read").is_ok());
        assert!(parse_permission("Docs Read").is_err());
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The examples of RFC 7396, appendix A (a selection).
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }
}

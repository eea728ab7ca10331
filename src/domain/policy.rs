//! End-user roles, plans and the effective view of a user in a tenant.
//!
//! Roles (with their permissions) and plans (with their roles and default rate limit) are
//! defined per app. A user's face in a tenant holds its status, plan tier, rate-limit override
//! and hand-assigned roles. What introspection answers — effective rate limit, roles,
//! permissions — is computed from the two at read time: the plan's roles are always the
//! plan's *current* roles, so redefining a plan or a role takes effect for every user at once,
//! and the billing webhook's reconciliation (old plan's roles out, new plan's in, hand-assigned
//! kept) is exactly "derive from the current plan".

use super::names::{PlanTier, RoleName, UserPermission};
use super::user::UserStatus;
use super::Error;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Sorted, de-duplicated values.
fn sorted<T: Ord>(names: impl IntoIterator<Item = T>) -> Vec<T> {
    names
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A plan: the roles it brings and its default rate limit (requests per minute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub roles: Vec<RoleName>,
    pub rate_limit: Option<i64>,
}

/// The largest rate limit (requests per minute) a plan or override may set.
pub const MAX_RATE_LIMIT: i64 = 1_000_000_000;

/// Checks a rate limit (a plan's default or a user's override): 0 to 1,000,000,000 or none.
pub fn check_rate_limit(limit: Option<i64>, field: &str) -> Result<(), Error> {
    if limit.is_some_and(|l| !(0..=MAX_RATE_LIMIT).contains(&l)) {
        return Err(Error::validation(format!(
            "{field} must be 0 to {MAX_RATE_LIMIT} or null"
        )));
    }
    Ok(())
}

/// An app's end-user roles and plans.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppPolicy {
    /// Role name → permissions.
    pub roles: BTreeMap<RoleName, Vec<UserPermission>>,
    /// Plan tier → plan.
    pub plans: BTreeMap<PlanTier, Plan>,
}

/// The KV flags document of a user in a tenant: what introspection needs, rewritten from D1
/// after every change of the user.
///
/// It holds the inputs of the effective view — status, plan tier, hand-assigned roles and the
/// rate-limit override — from which introspection computes the effective rate limit, roles and
/// permissions with the app's *current* roles and plans (so redefining a role or plan applies
/// to every user at once without rewriting each document), and, for readers of the document
/// itself, the effective values as they were when it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFlags {
    pub status: UserStatus,
    pub plan_tier: PlanTier,
    /// Increases with every change of the user in D1.
    pub version: i64,
    /// Roles assigned by hand (the plan's come with the plan).
    pub assigned_roles: Vec<RoleName>,
    pub rate_limit_override: Option<i64>,
    /// The effective rate limit when the document was written.
    #[serde(default)]
    pub rate_limit: Option<i64>,
    /// The effective roles when the document was written.
    #[serde(default)]
    pub roles: Vec<RoleName>,
    /// The effective permissions when the document was written.
    #[serde(default)]
    pub permissions: Vec<UserPermission>,
}

impl UserFlags {
    /// How a user with no document is judged: from its token alone, never suspended.
    pub fn from_token() -> Self {
        UserFlags {
            status: UserStatus::Active,
            plan_tier: PlanTier::free(),
            version: 0,
            assigned_roles: Vec::new(),
            rate_limit_override: None,
            rate_limit: None,
            roles: Vec::new(),
            permissions: Vec::new(),
        }
    }
}

/// The effective view: rate limit, roles and permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub rate_limit: Option<i64>,
    pub roles: Vec<RoleName>,
    pub permissions: Vec<UserPermission>,
}

impl AppPolicy {
    /// True when `tier` can be assigned: a defined plan, or the implicit `free`.
    pub fn has_plan(&self, tier: &PlanTier) -> bool {
        tier.is_free() || self.plans.contains_key(tier)
    }

    /// Checks that every role in `roles` is defined (`422 unknown_role` otherwise).
    pub fn check_roles(&self, roles: &[RoleName]) -> Result<(), Error> {
        match roles.iter().find(|r| !self.roles.contains_key(*r)) {
            Some(unknown) => Err(Error::UnknownRole(unknown.to_string())),
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

    fn r(name: &str) -> RoleName {
        RoleName::parse(name).unwrap()
    }
    fn t(name: &str) -> PlanTier {
        PlanTier::parse(name).unwrap()
    }
    fn p(name: &str) -> UserPermission {
        UserPermission::parse(name).unwrap()
    }

    fn policy() -> AppPolicy {
        let mut policy = AppPolicy::default();
        policy
            .roles
            .insert(r("editor"), vec![p("docs:write"), p("docs:read")]);
        policy.roles.insert(r("viewer"), vec![p("docs:read")]);
        policy.roles.insert(r("beta"), vec![p("beta:use")]);
        policy.plans.insert(
            t("pro"),
            Plan {
                roles: vec![r("editor")],
                rate_limit: Some(600),
            },
        );
        policy.plans.insert(
            t("team"),
            Plan {
                roles: vec![r("beta")],
                rate_limit: None,
            },
        );
        policy
    }

    fn flags(plan: &str, roles: &[&str], over: Option<i64>) -> UserFlags {
        UserFlags {
            plan_tier: t(plan),
            rate_limit_override: over,
            assigned_roles: roles.iter().map(|name| r(name)).collect(),
            ..UserFlags::from_token()
        }
    }

    #[test]
    fn the_override_wins_over_the_plan_default() {
        let policy = policy();
        assert_eq!(
            policy.effective(&flags("pro", &[], None)).rate_limit,
            Some(600)
        );
        assert_eq!(
            policy.effective(&flags("pro", &[], Some(10))).rate_limit,
            Some(10)
        );
        assert_eq!(policy.effective(&flags("free", &[], None)).rate_limit, None);
    }

    #[test]
    fn roles_are_hand_assigned_plus_the_current_plans_and_permissions_their_union() {
        let policy = policy();
        let e = policy.effective(&flags("pro", &["viewer"], None));
        assert_eq!(e.roles, [r("editor"), r("viewer")]);
        assert_eq!(e.permissions, [p("docs:read"), p("docs:write")]);
    }

    #[test]
    fn a_plan_change_swaps_plan_roles_and_keeps_hand_assigned_ones() {
        let policy = policy();
        // "editor" is both hand-assigned and in the old plan: it stays.
        let before = policy.effective(&flags("pro", &["editor"], None));
        let after = policy.effective(&flags("team", &["editor"], None));
        assert_eq!(before.roles, [r("editor")]);
        assert_eq!(after.roles, [r("beta"), r("editor")]);
        let dropped = policy.effective(&flags("team", &[], None));
        assert_eq!(
            dropped.roles,
            [r("beta")],
            "the old plan's role left with the plan"
        );
    }

    #[test]
    fn unknown_roles_and_plans_are_refused() {
        let policy = policy();
        assert!(matches!(
            policy.check_roles(&[r("ghost")]),
            Err(Error::UnknownRole(_))
        ));
        assert!(policy.has_plan(&t("free")) && policy.has_plan(&t("pro")));
        assert!(!policy.has_plan(&t("gold")));
        assert!(check_rate_limit(Some(-1), "rate_limit").is_err());
        assert!(check_rate_limit(None, "rate_limit").is_ok());
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

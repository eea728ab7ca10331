//! Names that cross layers as types, not strings: end-user role names, plan tiers and
//! end-user permissions (defined per app by operators), and the names of operator roles. Parsing is the only way in, so a
//! `RoleName` held anywhere is known to match its pattern.

use super::Error;
use serde::{Deserialize, Serialize};
use std::fmt;

/// True when `raw` is 1..=`max` bytes, starts with `[a-z0-9]` and continues with `[a-z0-9]` or
/// one of `extra`.
fn matches_pattern(raw: &str, max: usize, extra: &[u8]) -> bool {
    let bytes = raw.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(b))
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal, $extra:expr, $pattern:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses a name, refusing anything outside its pattern.
            pub fn parse(raw: &str) -> Result<Self, Error> {
                if matches_pattern(raw, $max, $extra) {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(Error::validation(concat!($what, " must match ", $pattern)))
                }
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

name_type!(
    /// An end-user role of an app, e.g. `editor`.
    RoleName,
    "role",
    63,
    b"_:-",
    "^[a-z0-9][a-z0-9_:-]{0,62}$"
);
name_type!(
    /// A plan tier of an app, e.g. `free`, `pro`.
    PlanTier,
    "plan_tier",
    63,
    b"_:-",
    "^[a-z0-9][a-z0-9_:-]{0,62}$"
);
name_type!(
    /// An end-user permission granted by a role, e.g. `docs:read`.
    UserPermission,
    "permissions",
    128,
    b"_:.-",
    "^[a-z0-9][a-z0-9_:.-]{0,127}$"
);

name_type!(
    /// The name of an operator role: a built-in one (`admin`, …) or one an app defines.
    OperatorRoleName,
    "role",
    63,
    b"_-",
    "^[a-z0-9][a-z0-9_-]{0,62}$"
);

/// The plan tier every user starts on, which every app has without defining it.
pub const FREE_PLAN: &str = "free";

impl PlanTier {
    /// The `free` tier.
    pub fn free() -> Self {
        PlanTier(FREE_PLAN.to_owned())
    }

    /// True for the `free` tier.
    pub fn is_free(&self) -> bool {
        self.0 == FREE_PLAN
    }
}

impl RoleName {
    /// Parses the roles to assign to a user or a plan, dropping duplicates but keeping the
    /// order of first appearance. A name that cannot be a role cannot be defined either, so it
    /// is `422 unknown_role`, like a well-formed name the app does not define.
    pub fn parse_assigned(raw: &[String]) -> Result<Vec<Self>, Error> {
        let mut roles: Vec<RoleName> = Vec::new();
        for name in raw {
            let role = RoleName::parse(name).map_err(|_| Error::UnknownRole(name.clone()))?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        Ok(roles)
    }
}

impl UserPermission {
    /// Parses a role's permissions: sorted, without duplicates.
    pub fn parse_set(raw: &[String]) -> Result<Vec<Self>, Error> {
        let mut permissions = raw
            .iter()
            .map(|p| UserPermission::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        permissions.sort();
        permissions.dedup();
        Ok(permissions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_their_patterns() {
        assert!(RoleName::parse("editor").is_ok());
        assert!(RoleName::parse("team:admin_2").is_ok());
        for bad in ["", "Editor", "-x", "a b", "a.b"] {
            assert!(RoleName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RoleName::parse(&"r".repeat(63)).is_ok());
        assert!(RoleName::parse(&"r".repeat(64)).is_err());
        assert!(UserPermission::parse("docs.v2:read").is_ok());
        assert!(UserPermission::parse("Docs Read").is_err());
        assert!(PlanTier::free().is_free());
    }

    #[test]
    fn assigned_roles_keep_their_order_and_bad_names_are_unknown_roles() {
        let raw = ["b".to_owned(), "a".to_owned(), "b".to_owned()];
        let roles = RoleName::parse_assigned(&raw).unwrap();
        assert_eq!(
            roles,
            [RoleName::parse("b").unwrap(), RoleName::parse("a").unwrap()]
        );
        assert!(matches!(
            RoleName::parse_assigned(&["Bad Name".to_owned()]),
            Err(Error::UnknownRole(_))
        ));
        let perms =
            UserPermission::parse_set(&["b:x".to_owned(), "a:x".to_owned(), "b:x".to_owned()]);
        assert_eq!(perms.unwrap().len(), 2);
    }

    #[test]
    fn deserializing_checks_the_pattern() {
        let ok: RoleName = serde_json::from_str("\"viewer\"").unwrap();
        assert_eq!(ok.as_str(), "viewer");
        assert!(serde_json::from_str::<RoleName>("\"Viewer\"").is_err());
    }
}

// The operator roles and membership types an invitation or a role change may name.
//
// Extension point (issue 16, custom operator roles): `operatorRoles` is the one place that
// lists them; it will read the app's roles from `GET /admin/apps/{app}/operator-roles` and
// add them to the built-in ones.

/** The built-in operator roles and what they are for (API.md). */
export const BUILT_IN_OPERATOR_ROLES = [
  { value: "admin", label: "admin — everything" },
  { value: "security_admin", label: "security_admin — users, members (read), API keys, audit" },
  { value: "billing_admin", label: "billing_admin — plans, roles, billing webhook" },
  { value: "support", label: "support — read and suspend users" },
  { value: "auditor", label: "auditor — read tenants, members, users, audit" },
] as const;

/** The operator roles of `app` a membership may hold. */
export function operatorRoles(_app: string): readonly { value: string; label: string }[] {
  return BUILT_IN_OPERATOR_ROLES;
}

/** Membership types: metadata for people, never a permission. */
export const MEMBERSHIP_TYPES = ["owner", "admin", "member", "contractor", "service_operator", "readonly_auditor"] as const;

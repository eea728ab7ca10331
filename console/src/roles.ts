// The operator roles and membership types an invitation or a role change may name: the
// built-in roles and the ones the app defines (`GET /admin/apps/{app}/operator-roles`).

import { admin, type OperatorRole } from "./api";
import { useLoad } from "./ui";

/** The built-in operator roles and what they are for (API.md). */
export const BUILT_IN_OPERATOR_ROLES = [
  { value: "admin", label: "admin — everything" },
  { value: "security_admin", label: "security_admin — users, members (read), API keys, audit" },
  { value: "billing_admin", label: "billing_admin — plans, roles, billing webhook" },
  { value: "support", label: "support — read and suspend users" },
  { value: "auditor", label: "auditor — read tenants, members, users, audit" },
  { value: "mcp_admin", label: "mcp_admin — OAuth settings and clients, read tenants, audit" },
] as const;

export interface RoleOption {
  value: string;
  label: string;
}

/** The options for a role picker: the built-in roles with their words, then the app's own with their permissions. */
export function roleOptions(roles: readonly OperatorRole[] | null): RoleOption[] {
  const custom = (roles ?? [])
    .filter((r) => !r.built_in)
    .map((r) => ({ value: r.name, label: `${r.name} — ${r.permissions.join(", ") || "no permission"}` }));
  return [...BUILT_IN_OPERATOR_ROLES, ...custom];
}

/**
 * The operator roles of `app` a membership may hold. An app defines at most 100 beside the 6
 * built-in ones, so one page of 200 holds them all. Until they are read (or if they cannot
 * be), the built-in roles.
 */
export function useOperatorRoles(app: string): RoleOption[] {
  const load = useLoad(() => admin.operatorRoles(app, { limit: 200 }), [app]);
  return roleOptions(load.data?.items ?? null);
}

/** Membership types: metadata for people, never a permission. */
export const MEMBERSHIP_TYPES = ["owner", "admin", "member", "contractor", "service_operator", "readonly_auditor"] as const;

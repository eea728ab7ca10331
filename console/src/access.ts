// What the signed-in operator may do, from `GET /admin/me`: the same decision the API makes
// (`domain::authz::authorize`), so the console offers what will be allowed and disables the
// rest. The API stays the authority: it checks every call again.

export type Permission =
  | "tenants:read"
  | "tenants:write"
  | "members:read"
  | "members:write"
  | "users:read"
  | "users:suspend"
  | "users:plan"
  | "users:write"
  | "roles:write"
  | "apikeys:write"
  | "webhooks:write"
  | "audit:read"
  | "clients:read"
  | "clients:write";

/** Every permission, in the order of API.md. */
export const PERMISSIONS: readonly Permission[] = [
  "tenants:read",
  "tenants:write",
  "members:read",
  "members:write",
  "users:read",
  "users:suspend",
  "users:plan",
  "users:write",
  "roles:write",
  "apikeys:write",
  "webhooks:write",
  "audit:read",
  "clients:read",
  "clients:write",
];

export interface Operator {
  id: string;
  email: string;
  is_platform_owner: boolean;
  created_at: string;
}

export interface Membership {
  app_id: string;
  /** null: the whole app. */
  tenant_id: string | null;
  status: "invited" | "active" | "suspended" | "left";
  roles: string[];
  /**
   * What the roles bind (custom roles by their definitions) that is usable now; granted only
   * while `status` is active. While `app_not_verified`, only the app's settings.
   */
  permissions: string[];
  /** The app was made by operator sign-up and its owner has not verified their email yet. */
  app_not_verified: boolean;
}

/** `GET /admin/me`. */
export interface Me {
  operator: Operator;
  memberships: Membership[];
}

/**
 * Whether `me` may use `permission` on `app` (an app-wide action when `tenant` is absent, else
 * on that tenant). Mirrors the API: the platform owner may do anything; otherwise the app's
 * membership must be active, reach the tenant (a tenant-scoped one reaches only its own, and
 * no app-wide action), and bind the permission.
 */
export function can(me: Me | null, permission: Permission, app: string, tenant?: string | null): boolean {
  if (!me) return false;
  if (me.operator.is_platform_owner) return true;
  const m = membershipIn(me, app);
  if (!m || m.status !== "active") return false;
  if (m.tenant_id !== null && m.tenant_id !== (tenant ?? null)) return false;
  return m.permissions.includes(permission);
}

/** The caller's membership in `app`, if any. */
export function membershipIn(me: Me, app: string): Membership | undefined {
  return me.memberships.find((m) => m.app_id === app);
}

/** The one tenant a tenant-scoped member acts in (null: app-wide, or no membership). */
export function tenantScope(me: Me | null, app: string): string | null {
  if (!me || me.operator.is_platform_owner) return null;
  return membershipIn(me, app)?.tenant_id ?? null;
}

/** True when the caller's membership of `app` waits for the owner's email (the API answers `403 app_not_verified` to all but the settings). */
export function appNotVerified(me: Me | null, app: string): boolean {
  if (!me || me.operator.is_platform_owner) return false;
  return membershipIn(me, app)?.app_not_verified ?? false;
}

/** Words for a permission the caller lacks, for a disabled control's hint. */
export function needs(permission: Permission): string {
  return `Needs the permission ${permission}`;
}

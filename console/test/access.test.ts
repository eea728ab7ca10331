import { describe, expect, it } from "vitest";
import { appNotVerified, can, PERMISSIONS, tenantScope, type Me, type Membership } from "../src/access";

const operator = { id: "o1", email: "o@example.com", is_platform_owner: false, created_at: "2026-01-01T00:00:00Z" };
const me = (...memberships: Membership[]): Me => ({ operator, memberships });
const support = (over: Partial<Membership> = {}): Membership => ({
  app_id: "shop",
  tenant_id: null,
  status: "active",
  roles: ["support"],
  permissions: ["tenants:read", "users:read", "users:suspend"],
  app_not_verified: false,
  ...over,
});

describe("can (the API's decision, mirrored)", () => {
  it("lets the platform owner do anything, anywhere", () => {
    const owner: Me = { operator: { ...operator, is_platform_owner: true }, memberships: [] };
    expect(can(owner, "apikeys:write", "any", "t")).toBe(true);
  });

  it("allows what an active membership's roles bind, and nothing else", () => {
    expect(can(me(support()), "users:suspend", "shop", "acme")).toBe(true);
    expect(can(me(support()), "users:suspend", "shop")).toBe(true);
    expect(can(me(support()), "apikeys:write", "shop", "acme")).toBe(false);
  });

  it("allows nothing in another app", () => {
    expect(can(me(support()), "users:read", "other", "acme")).toBe(false);
  });

  it("allows nothing while the membership is not active, whatever its roles", () => {
    for (const status of ["invited", "suspended", "left"] as const) {
      expect(can(me(support({ status })), "users:read", "shop", "acme")).toBe(false);
    }
  });

  it("confines a tenant's member to its tenant, and to no app-wide action", () => {
    const m = me(support({ tenant_id: "acme" }));
    expect(can(m, "users:read", "shop", "acme")).toBe(true);
    expect(can(m, "users:read", "shop", "beta")).toBe(false);
    expect(can(m, "tenants:read", "shop")).toBe(false);
    expect(tenantScope(m, "shop")).toBe("acme");
    expect(tenantScope(me(support()), "shop")).toBeNull();
  });

  it("allows nothing when nobody is signed in", () => {
    expect(can(null, "users:read", "shop")).toBe(false);
  });
});

describe("an app waiting for its owner's email", () => {
  // /admin/me lists only the settings as usable then: the console offers nothing else.
  const pending = support({ roles: ["admin"], permissions: ["tenants:read", "tenants:write"], app_not_verified: true });

  it("offers its settings and nothing else, as the API lists them", () => {
    expect(can(me(pending), "tenants:write", "shop", "public")).toBe(true);
    expect(can(me(pending), "users:read", "shop", "public")).toBe(false);
    expect(can(me(pending), "members:write", "shop")).toBe(false);
  });

  it("is said of the app concerned only, and never holds the platform owner back", () => {
    expect(appNotVerified(me(pending), "shop")).toBe(true);
    expect(appNotVerified(me(pending), "other")).toBe(false);
    expect(appNotVerified(me(support()), "shop")).toBe(false);
    const owner: Me = { operator: { ...operator, is_platform_owner: true }, memberships: [pending] };
    expect(appNotVerified(owner, "shop")).toBe(false);
  });
});

describe("the permissions the console offers (custom roles, API-key scopes)", () => {
  it("are the API's, in its order, OAuth clients included", () => {
    expect(PERMISSIONS).toEqual([
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
    ]);
  });
});

// What the console relies on, through HTTP: `GET /admin/me` (who the caller is and what each
// membership binds) and `/console/` on a deployment without the assets binding. The console
// itself, in a browser, is tests/console/.
import { describe, it, expect } from "vitest";
import { useWorker, json, rawFetch } from "./harness";
import { owner, createApp, putTenant, apiKey, activeMember, patchMember } from "./support";

useWorker();

describe("GET /admin/me", () => {
  it("describes the platform owner", async () => {
    const me = await json("GET", "/admin/me", undefined, await owner());
    expect(me.status).toBe(200);
    expect(me.headers.get("cache-control")).toBe("no-store");
    expect(me.body.operator).toMatchObject({ email: "owner@example.com", is_platform_owner: true });
    expect(me.body.operator).not.toHaveProperty("password_hash");
    // Its one membership: the bootstrap's ownership of the app `public`, binding everything.
    expect(me.body.memberships).toEqual([
      {
        app_id: "public",
        tenant_id: null,
        status: "active",
        roles: ["admin"],
        permissions: [
          "tenants:read", "tenants:write", "members:read", "members:write", "users:read", "users:suspend",
          "users:plan", "users:write", "roles:write", "apikeys:write", "webhooks:write", "audit:read",
          "clients:read", "clients:write",
        ],
        app_not_verified: false,
      },
    ]);
  });

  it("lists a member's memberships with their scope, status, roles and the permissions they bind", async () => {
    await createApp("me-shop");
    await createApp("me-other");
    await putTenant("me-shop", "acme");
    const email = "me-support@example.com";
    const scoped = await activeMember("me-shop", ["support"], { email, tenant: "acme" });
    const other = await activeMember("me-other", ["auditor"], { email });
    const me = await json("GET", "/admin/me", undefined, other.auth);
    expect(me.status).toBe(200);
    expect(me.body.operator).toMatchObject({ id: scoped.operatorId, email, is_platform_owner: false });
    expect(me.body.memberships).toEqual([
      { app_id: "me-shop", tenant_id: "acme", status: "active", roles: ["support"], permissions: ["tenants:read", "users:read", "users:suspend"], app_not_verified: false },
      { app_id: "me-other", tenant_id: null, status: "active", roles: ["auditor"], permissions: ["tenants:read", "members:read", "users:read", "audit:read"], app_not_verified: false },
    ]);
    // Suspended: still listed, as suspended (it grants nothing now); then gone once left.
    expect((await patchMember("me-other", other.id, { status: "suspended" })).status).toBe(200);
    const suspended = await json("GET", "/admin/me", undefined, other.auth);
    expect(suspended.body.memberships.map((m: any) => [m.app_id, m.status])).toEqual([["me-shop", "active"], ["me-other", "suspended"]]);
    expect((await patchMember("me-other", other.id, { status: "left" })).status).toBe(200);
    const left = await json("GET", "/admin/me", undefined, other.auth);
    expect(left.body.memberships.map((m: any) => m.app_id)).toEqual(["me-shop"]);
  });

  it("names a custom operator role with the permissions its definition binds", async () => {
    await createApp("me-custom");
    const defined = await json("PUT", "/admin/apps/me-custom/operator-roles/reader", { permissions: ["users:read", "audit:read"] }, await owner());
    expect(defined.status, defined.text).toBe(200);
    const reader = await activeMember("me-custom", ["reader", "support"], { email: "me-reader@example.com" });
    const me = await json("GET", "/admin/me", undefined, reader.auth);
    expect(me.body.memberships).toEqual([
      {
        app_id: "me-custom",
        tenant_id: null,
        status: "active",
        roles: ["reader", "support"],
        permissions: ["tenants:read", "users:read", "users:suspend", "audit:read"],
        app_not_verified: false,
      },
    ]);
  });

  it("refuses an API key (no operator) and a missing or bad credential", async () => {
    await putTenant("me-shop", "keys");
    const key = await apiKey("me-shop", "keys", ["users:read"]);
    const byKey = await json("GET", "/admin/me", undefined, { authorization: `Bearer ${key}` });
    expect(byKey.status).toBe(403);
    expect(byKey.body.code).toBe("forbidden");
    expect((await json("GET", "/admin/me")).body.code).toBe("unauthorized");
    expect((await json("GET", "/admin/me", undefined, { authorization: "Bearer nope" })).status).toBe(401);
  });
});

describe("/console/ without the assets binding", () => {
  it("says the deployment serves no console, and /console still redirects", async () => {
    const res = await json("GET", "/console/");
    expect(res.status).toBe(404);
    expect(res.body.code).toBe("not_found");
    expect(res.body.detail).toContain("no console");
    const redirect = await rawFetch("/console", { redirect: "manual" });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get("location")).toBe("/console/");
  });
});

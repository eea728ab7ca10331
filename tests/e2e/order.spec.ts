// The order of refusals on /admin: 401 (who are you) before 403 (may you) before 400 (what you
// sent) before 404 — so a caller who may not act learns nothing from the validation of a body.
import { describe, expect, it } from "vitest";
import { json, useWorker } from "./harness";
import { apiKey, bearer } from "./support";

useWorker();

describe("refusal order on /admin", () => {
  it("answers 403 to a caller without the permission, whatever the body", async () => {
    const reader = bearer(await apiKey("public", "public", ["tenants:read", "users:read"]));
    const cases: Array<[string, string, unknown]> = [
      ["PUT", "/admin/apps/public/tenants/public", { login_methods: ["bogus"] }],
      ["PUT", "/admin/apps/public/tenants/public", "not json"],
      ["POST", "/admin/apps/public/tenants/public/api-keys", { name: "", scopes: ["nope"] }],
      ["POST", "/admin/apps/public/tenants/public/users", { email: "not an email" }],
      ["PATCH", "/admin/apps/public/tenants/public/users/not-a-uuid", { plan_tier: "Not A Tier" }],
      ["PUT", "/admin/apps/public/tenants/public/users/not-a-uuid/roles", { roles: 7 }],
      ["POST", "/admin/apps", { id: "Not An Id" }],
    ];
    for (const [method, path, body] of cases) {
      const res = await json(method, path, body, reader);
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(403);
      expect(res.body.code).toBe("forbidden");
    }
  });

  it("answers 401 before anything else without a credential", async () => {
    const res = await json("PUT", "/admin/apps/public/tenants/public", "not json");
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("unauthorized");
  });
});

// The management minimum: bootstrap, operator sign-in, apps, tenants and tenant API keys.
import { describe, it, expect, beforeAll } from "vitest";
import { useWorker, json, ROOT_TOKEN } from "./harness";

useWorker();

const OWNER = { email: "Owner@Example.com ", password: "correct horse battery" };
const root = { authorization: `Bearer ${ROOT_TOKEN}` };
let ownerToken = "";
const asOwner = () => ({ authorization: `Bearer ${ownerToken}` });

describe("bootstrap", () => {
  it("refuses a wrong root token with 401 and creates nobody", async () => {
    const res = await json("POST", "/admin/bootstrap", OWNER, { authorization: "Bearer wrong" });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body.code).toBe("unauthorized");
    const signin = await json("POST", "/admin/auth/signin", OWNER);
    expect(signin.status).toBe(401);
  });

  it("refuses a missing root token with 401", async () => {
    const res = await json("POST", "/admin/bootstrap", OWNER);
    expect(res.status).toBe(401);
  });

  it("refuses a too-short password before creating anything", async () => {
    const res = await json("POST", "/admin/bootstrap", { email: "o@example.com", password: "short" }, root);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
  });

  it("creates the first platform owner with a normalised email", async () => {
    const res = await json("POST", "/admin/bootstrap", OWNER, root);
    expect(res.status).toBe(201);
    expect(res.body.operator.email).toBe("owner@example.com");
    expect(res.body.operator.is_platform_owner).toBe(true);
    expect(res.body.operator.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(res.body)).not.toContain(OWNER.password);
  });

  it("answers 409 already_bootstrapped the second time", async () => {
    const res = await json("POST", "/admin/bootstrap", { email: "second@example.com", password: "another password" }, root);
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("already_bootstrapped");
  });
});

describe("operator sign-in", () => {
  it("returns an operator access token for the right password, in any email casing", async () => {
    const res = await json("POST", "/admin/auth/signin", { email: "OWNER@example.COM", password: OWNER.password });
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe("Bearer");
    expect(res.body.expires_in).toBe(900);
    const [header, payload] = res.body.access_token.split(".").slice(0, 2).map((p: string) => JSON.parse(Buffer.from(p, "base64url").toString()));
    expect(header.alg).toBe("EdDSA");
    expect(header.kid).toBeTruthy();
    expect(payload.aud).toBe("tessera:admin");
    ownerToken = res.body.access_token;
  });

  it("answers an unknown email and a wrong password with the same 401 body", async () => {
    const wrong = await json("POST", "/admin/auth/signin", { email: OWNER.email, password: "wrong password" });
    const unknown = await json("POST", "/admin/auth/signin", { email: "nobody@example.com", password: "wrong password" });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.code).toBe("invalid_credentials");
  });

  it("refuses a tampered operator token on /admin", async () => {
    const [h, p, s] = ownerToken.split(".");
    const forged = JSON.parse(Buffer.from(p, "base64url").toString());
    forged.exp += 3600;
    const token = [h, Buffer.from(JSON.stringify(forged)).toString("base64url"), s].join(".");
    const res = await json("GET", "/admin/apps", undefined, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("unauthorized");
  });

  it("refuses the root token and a missing token on other admin endpoints", async () => {
    expect((await json("GET", "/admin/apps", undefined, root)).status).toBe(401);
    expect((await json("GET", "/admin/apps")).status).toBe(401);
  });
});

describe("apps", () => {
  it("creates an app with its public tenant", async () => {
    const res = await json("POST", "/admin/apps", { id: "shop-prod" }, asOwner());
    expect(res.status).toBe(201);
    expect(res.body.app.id).toBe("shop-prod");
    const tenant = await json("GET", "/admin/apps/shop-prod/tenants/public", undefined, asOwner());
    expect(tenant.status).toBe(200);
    expect(tenant.body.tenant.login_methods).toEqual(["emailpassword"]);
  });

  it("answers 409 conflict for an app that exists", async () => {
    const res = await json("POST", "/admin/apps", { id: "shop-prod" }, asOwner());
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("conflict");
  });

  it("refuses an app id outside the pattern", async () => {
    for (const id of ["Shop", "-shop", "shop_prod", "", "a".repeat(64)]) {
      const res = await json("POST", "/admin/apps", { id }, asOwner());
      expect(res.status, id).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });

  it("lists apps in pages, the migration's public app included", async () => {
    await json("POST", "/admin/apps", { id: "shop-dev" }, asOwner());
    const first = await json("GET", "/admin/apps?limit=2", undefined, asOwner());
    expect(first.status).toBe(200);
    expect(first.body.items.map((a: any) => a.id)).toEqual(["public", "shop-dev"]);
    expect(first.body.next_cursor).toBeTruthy();
    const second = await json("GET", `/admin/apps?limit=2&cursor=${first.body.next_cursor}`, undefined, asOwner());
    expect(second.body.items.map((a: any) => a.id)).toEqual(["shop-prod"]);
    expect(second.body.next_cursor).toBeNull();
  });

  it("refuses a bad limit or cursor", async () => {
    expect((await json("GET", "/admin/apps?limit=0", undefined, asOwner())).status).toBe(400);
    expect((await json("GET", "/admin/apps?limit=201", undefined, asOwner())).status).toBe(400);
    expect((await json("GET", "/admin/apps?cursor=%%%", undefined, asOwner())).status).toBe(400);
  });
});

describe("tenants", () => {
  it("creates a tenant with 201 and updates it with 200", async () => {
    const created = await json("PUT", "/admin/apps/shop-prod/tenants/acme", { login_methods: ["emailpassword"] }, asOwner());
    expect(created.status).toBe(201);
    expect(created.body.tenant).toMatchObject({ id: "acme", app_id: "shop-prod", login_methods: ["emailpassword"] });
    const updated = await json("PUT", "/admin/apps/shop-prod/tenants/acme", { login_methods: [] }, asOwner());
    expect(updated.status).toBe(200);
    expect(updated.body.tenant.login_methods).toEqual([]);
    const read = await json("GET", "/admin/apps/shop-prod/tenants/acme", undefined, asOwner());
    expect(read.body.tenant.login_methods).toEqual([]);
  });

  it("refuses an unknown login method and a wrongly typed one", async () => {
    for (const body of [{ login_methods: ["passkey"] }, { login_methods: "emailpassword" }, { login_methods: [1] }]) {
      const res = await json("PUT", "/admin/apps/shop-prod/tenants/acme", body, asOwner());
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });

  it("ignores unknown fields", async () => {
    const res = await json("PUT", "/admin/apps/shop-prod/tenants/acme", { login_methods: ["emailpassword"], colour: "blue" }, asOwner());
    expect(res.status).toBe(200);
  });

  it("lists the tenants of an app", async () => {
    await json("PUT", "/admin/apps/shop-prod/tenants/beta", {}, asOwner());
    const res = await json("GET", "/admin/apps/shop-prod/tenants", undefined, asOwner());
    expect(res.status).toBe(200);
    expect(res.body.items.map((t: any) => t.id)).toEqual(["acme", "beta", "public"]);
  });

  it("deletes a tenant, after which it is gone", async () => {
    const del = await json("DELETE", "/admin/apps/shop-prod/tenants/beta", undefined, asOwner());
    expect(del.status).toBe(204);
    const read = await json("GET", "/admin/apps/shop-prod/tenants/beta", undefined, asOwner());
    expect(read.status).toBe(404);
    expect(read.body.code).toBe("tenant_not_found");
    const again = await json("DELETE", "/admin/apps/shop-prod/tenants/beta", undefined, asOwner());
    expect(again.status).toBe(404);
  });

  it("never deletes the public tenant", async () => {
    const res = await json("DELETE", "/admin/apps/shop-prod/tenants/public", undefined, asOwner());
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("conflict");
    expect((await json("GET", "/admin/apps/shop-prod/tenants/public", undefined, asOwner())).status).toBe(200);
  });

  it("answers 404 app_not_found and tenant_not_found", async () => {
    const noApp = await json("GET", "/admin/apps/nope/tenants/public", undefined, asOwner());
    expect(noApp.status).toBe(404);
    expect(noApp.body.code).toBe("app_not_found");
    const noTenant = await json("GET", "/admin/apps/shop-prod/tenants/nope", undefined, asOwner());
    expect(noTenant.body.code).toBe("tenant_not_found");
    const putNoApp = await json("PUT", "/admin/apps/nope/tenants/acme", {}, asOwner());
    expect(putNoApp.body.code).toBe("app_not_found");
    const listNoApp = await json("GET", "/admin/apps/nope/tenants", undefined, asOwner());
    expect(listNoApp.body.code).toBe("app_not_found");
  });
});

describe("tenant API keys", () => {
  let key = "";
  let keyId = "";

  beforeAll(async () => {
    await json("PUT", "/admin/apps/shop-prod/tenants/keys", {}, asOwner());
  });

  it("creates a key that is shown once with the tsk_ prefix", async () => {
    const res = await json("POST", "/admin/apps/shop-prod/tenants/keys/api-keys", { name: "backend", scopes: ["introspect", "apikeys:write"] }, asOwner());
    expect(res.status).toBe(201);
    expect(res.body.key).toMatch(/^tsk_[A-Za-z0-9_-]{43}$/);
    expect(res.body.scopes).toEqual(["introspect", "apikeys:write"]);
    key = res.body.key;
    keyId = res.body.id;
  });

  it("lists keys without any secret", async () => {
    const res = await json("GET", "/admin/apps/shop-prod/tenants/keys/api-keys", undefined, asOwner());
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(1);
    expect(res.body.items[0]).toMatchObject({ id: keyId, name: "backend" });
    expect(res.text).not.toContain(key.slice(4));
    expect(res.body.items[0].key).toBeUndefined();
  });

  it("stores only a hash of the key", async () => {
    const db = await import("./harness").then((h) => h.worker().db());
    const row: any = await db.prepare("SELECT * FROM api_keys WHERE id = ?").bind(keyId).first();
    expect(JSON.stringify(row)).not.toContain(key.slice(4));
    expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("refuses unknown scopes, empty scopes and missing names", async () => {
    for (const body of [{ name: "x", scopes: ["root"] }, { name: "x", scopes: [] }, { scopes: ["introspect"] }, { name: "", scopes: ["introspect"] }]) {
      const res = await json("POST", "/admin/apps/shop-prod/tenants/keys/api-keys", body, asOwner());
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });

  it("lets a key act within its scopes and its own tenant only", async () => {
    const asKey = { authorization: `Bearer ${key}` };
    const own = await json("GET", "/admin/apps/shop-prod/tenants/keys/api-keys", undefined, asKey);
    expect(own.status).toBe(200);
    const sibling = await json("GET", "/admin/apps/shop-prod/tenants/acme/api-keys", undefined, asKey);
    expect(sibling.status).toBe(403);
    expect(sibling.body.code).toBe("forbidden");
    const outOfScope = await json("GET", "/admin/apps/shop-prod/tenants/keys", undefined, asKey);
    expect(outOfScope.status).toBe(403);
    const createApp = await json("POST", "/admin/apps", { id: "by-key" }, asKey);
    expect(createApp.status).toBe(403);
  });

  it("deletes a key, which stops working at once", async () => {
    const del = await json("DELETE", `/admin/apps/shop-prod/tenants/keys/api-keys/${keyId}`, undefined, asOwner());
    expect(del.status).toBe(204);
    const use = await json("GET", "/admin/apps/shop-prod/tenants/keys/api-keys", undefined, { authorization: `Bearer ${key}` });
    expect(use.status).toBe(401);
    const again = await json("DELETE", `/admin/apps/shop-prod/tenants/keys/api-keys/${keyId}`, undefined, asOwner());
    expect(again.status).toBe(404);
  });

  it("refuses a key id that is not a UUID", async () => {
    const res = await json("DELETE", "/admin/apps/shop-prod/tenants/keys/api-keys/not-a-uuid", undefined, asOwner());
    expect(res.status).toBe(400);
  });

  it("deletes a tenant's keys with the tenant", async () => {
    await json("PUT", "/admin/apps/shop-prod/tenants/doomed", {}, asOwner());
    const created = await json("POST", "/admin/apps/shop-prod/tenants/doomed/api-keys", { name: "k", scopes: ["apikeys:write"] }, asOwner());
    await json("DELETE", "/admin/apps/shop-prod/tenants/doomed", undefined, asOwner());
    await json("PUT", "/admin/apps/shop-prod/tenants/doomed", {}, asOwner());
    const use = await json("GET", "/admin/apps/shop-prod/tenants/doomed/api-keys", undefined, { authorization: `Bearer ${created.body.key}` });
    expect(use.status).toBe(401);
  });
});

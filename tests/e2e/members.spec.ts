// Operators (issue 4): the permission matrix of the built-in roles over every /admin endpoint,
// the membership lifecycle, tenant and API-key confinement, token confusion, last-admin
// protection and the audit log (written for each change, never for a refused one).
import { describe, it, expect, beforeAll } from "vitest";
import { useWorker, json, worker, type JsonResponse } from "./harness";
import {
  PASSWORD, owner, createApp, putTenant, apiKey, base, bearer, at, introspect, unique, inviteMember, acceptInvite,
  operatorSignin, activeMember, patchMember, auditLog, operatorIdOf,
} from "./support";

useWorker();

/** Request headers carrying a credential. */
type Auth = Record<string, string>;
const DAY_MS = 24 * 3600 * 1000;

const expectProblem = (res: JsonResponse, status: number, code: string) => {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(res.body.code).toBe(code);
};

// ================================================================ the permission matrix

/** The permissions of API.md, section "Permissions and roles of operators". */
const PERMISSIONS = [
  "tenants:read", "tenants:write", "members:read", "members:write", "users:read", "users:suspend",
  "users:plan", "users:write", "roles:write", "apikeys:write", "webhooks:write", "audit:read",
  "clients:read", "clients:write",
] as const;
type Permission = (typeof PERMISSIONS)[number];

/** The built-in operator roles of API.md and the permissions each binds. */
const ROLES: Record<string, readonly Permission[]> = {
  admin: PERMISSIONS,
  security_admin: ["users:read", "users:suspend", "members:read", "apikeys:write", "audit:read", "tenants:read"],
  billing_admin: ["users:read", "users:plan", "roles:write", "webhooks:write", "tenants:read"],
  support: ["users:read", "users:suspend", "tenants:read"],
  auditor: ["tenants:read", "members:read", "users:read", "audit:read"],
  mcp_admin: ["tenants:read", "audit:read", "clients:read", "clients:write"],
};

/** What an endpoint needs: a permission on the app/tenant, the platform owner, or any operator. */
type Need = Permission | "platform owner" | "any operator";

interface EndpointClass {
  method: string;
  /** The path template exactly as in /openapi.json. */
  path: string;
  need: Need;
  /** The status when the check passes. */
  ok: number;
  /** Where an allowed change is audited: the app's own log (default), `public`'s, or nowhere. */
  audited?: "app" | "public" | "nowhere";
  /** Owner-made fixtures the call needs (fresh each time, so allowed writes break nothing). */
  prepare?: (app: string) => Promise<any>;
  call: (app: string, auth: Auth, fixture: any) => Promise<JsonResponse>;
  /** Checks that the change happened (allowed) or did not (refused), read as the owner. */
  effect?: (app: string, fixture: any, allowed: boolean) => Promise<void>;
}

/**
 * Every /admin endpoint that needs a credential, with its permission from API.md (GET/PATCH
 * app and the key rotation are not in API.md's table: GET reads the app as `tenants:read`,
 * PATCH and rotate are the platform owner's, like creating apps). The coverage spec below
 * fails when /openapi.json lists an /admin operation this table lacks.
 */
/** The OAuth settings of the matrix's tenants (a scope its clients may hold). */
const MATRIX_OAUTH = { registration: "off", client_id_metadata_documents: false, scopes: { "mcp:tools": "Use tools" }, access_token_ttl_seconds: 900 };
const matrixClient = (name: string) => ({ name, type: "confidential", redirect_uris: ["https://app.example/cb"], grant_types: ["client_credentials"], scopes: ["mcp:tools"] });

/** A client of `app`'s tenant `public`, made by the owner (its OAuth settings first). */
async function oauthClient(app: string): Promise<string> {
  const put = await json("PUT", `/admin/apps/${app}/tenants/public/oauth`, MATRIX_OAUTH, await owner());
  if (put.status !== 200) throw new Error(`oauth settings: ${put.status} ${put.text}`);
  const made = await json("POST", `/admin/apps/${app}/tenants/public/clients`, matrixClient(unique("client")), await owner());
  if (made.status !== 201) throw new Error(`client: ${made.status} ${made.text}`);
  return made.body.client.client_id;
}

const ENDPOINTS: EndpointClass[] = [
  {
    method: "GET", path: "/admin/apps", need: "any operator", ok: 200,
    call: (_, auth) => json("GET", "/admin/apps", undefined, auth),
  },
  {
    method: "GET", path: "/admin/me", need: "any operator", ok: 200,
    call: (_, auth) => json("GET", "/admin/me", undefined, auth),
  },
  {
    method: "POST", path: "/admin/apps", need: "platform owner", ok: 201,
    prepare: async () => unique("made"),
    call: (_, auth, id) => json("POST", "/admin/apps", { id }, auth),
    effect: async (_, id, allowed) => {
      const res = await json("GET", `/admin/apps/${id}`, undefined, await owner());
      expect(res.status).toBe(allowed ? 200 : 404);
      if (allowed) expect((await auditLog(id)).map((e) => e.action)).toEqual(["app.create"]);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}", need: "tenants:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}`, undefined, auth),
  },
  {
    method: "PATCH", path: "/admin/apps/{app_id}", need: "platform owner", ok: 200,
    call: (app, auth) => json("PATCH", `/admin/apps/${app}`, { settings: {} }, auth),
  },
  {
    // Operators completed (issue 16): deleting an app, audited in the log of `public`.
    method: "DELETE", path: "/admin/apps/{app_id}", need: "platform owner", ok: 204, audited: "public",
    prepare: async () => {
      const doomed = unique("doomed");
      await createApp(doomed);
      return doomed;
    },
    call: (_, auth, doomed) => json("DELETE", `/admin/apps/${doomed}`, undefined, auth),
    effect: async (_, doomed, allowed) => {
      const res = await json("GET", `/admin/apps/${doomed}`, undefined, await owner());
      expect(res.status).toBe(allowed ? 404 : 200);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/deletions/{deletion_id}", need: "tenants:write", ok: 200,
    // The owner deletes a tenant; the audit entry of the deletion names its id.
    prepare: async (app) => {
      const tenant = unique("gone");
      await putTenant(app, tenant);
      expect((await json("DELETE", `/admin/apps/${app}/tenants/${tenant}`, undefined, await owner())).status).toBe(204);
      const entry = (await auditLog(app)).find((e) => e.action === "tenant.delete" && e.target === tenant);
      return entry.detail.deletion_id;
    },
    call: (app, auth, id) => json("GET", `/admin/apps/${app}/deletions/${id}`, undefined, auth),
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/operator-roles", need: "members:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/operator-roles`, undefined, auth),
  },
  {
    // A role binding nothing, so that holding members:write is all it takes.
    method: "PUT", path: "/admin/apps/{app_id}/operator-roles/{role}", need: "members:write", ok: 200,
    prepare: async () => unique("op-role"),
    call: (app, auth, role) => json("PUT", `/admin/apps/${app}/operator-roles/${role}`, { permissions: [] }, auth),
    effect: async (app, role, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/operator-roles?limit=200`, undefined, await owner());
      expect(res.body.items.some((r: any) => r.name === role)).toBe(allowed);
    },
  },
  {
    method: "DELETE", path: "/admin/apps/{app_id}/operator-roles/{role}", need: "members:write", ok: 204,
    prepare: async (app) => {
      const role = unique("doomed-role");
      const res = await json("PUT", `/admin/apps/${app}/operator-roles/${role}`, { permissions: [] }, await owner());
      expect(res.status, res.text).toBe(200);
      return role;
    },
    call: (app, auth, role) => json("DELETE", `/admin/apps/${app}/operator-roles/${role}`, undefined, auth),
    effect: async (app, role, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/operator-roles?limit=200`, undefined, await owner());
      expect(res.body.items.some((r: any) => r.name === role)).toBe(!allowed);
    },
  },
  {
    // Sending a link to one's own email: no change to audit (operators' mail goes through the
    // delivery of `public`, which the owner sets to the outbox first).
    method: "POST", path: "/admin/auth/email-verification/send", need: "any operator", ok: 202, audited: "nowhere",
    prepare: async () => {
      const res = await json("PUT", "/admin/apps/public/email-delivery", { kind: "outbox" }, await owner());
      expect(res.status, res.text).toBe(200);
    },
    call: (_, auth) => json("POST", "/admin/auth/email-verification/send", undefined, auth),
  },
  {
    method: "POST", path: "/admin/apps/{app_id}/signing-keys/rotate", need: "platform owner", ok: 201,
    prepare: async (app) => (await json("GET", `/apps/${app}/.well-known/jwks.json`)).body.keys.length,
    call: (app, auth) => json("POST", `/admin/apps/${app}/signing-keys/rotate`, undefined, auth),
    effect: async (app, before, allowed) => {
      const keys = (await json("GET", `/apps/${app}/.well-known/jwks.json`)).body.keys.length;
      expect(keys).toBe(allowed ? before + 1 : before);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/tenants", need: "tenants:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/tenants`, undefined, auth),
  },
  {
    method: "PUT", path: "/admin/apps/{app_id}/tenants/{tenant_id}", need: "tenants:write", ok: 201,
    prepare: async () => unique("t"),
    call: (app, auth, tenant) => json("PUT", `/admin/apps/${app}/tenants/${tenant}`, { login_methods: ["emailpassword"] }, auth),
    effect: async (app, tenant, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/tenants/${tenant}`, undefined, await owner());
      expect(res.status).toBe(allowed ? 200 : 404);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/tenants/{tenant_id}", need: "tenants:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/tenants/public`, undefined, auth),
  },
  {
    method: "DELETE", path: "/admin/apps/{app_id}/tenants/{tenant_id}", need: "tenants:write", ok: 204,
    prepare: async (app) => {
      const tenant = unique("t");
      await putTenant(app, tenant);
      return tenant;
    },
    call: (app, auth, tenant) => json("DELETE", `/admin/apps/${app}/tenants/${tenant}`, undefined, auth),
    effect: async (app, tenant, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/tenants/${tenant}`, undefined, await owner());
      expect(res.status).toBe(allowed ? 404 : 200);
    },
  },
  {
    method: "POST", path: "/admin/apps/{app_id}/tenants/{tenant_id}/api-keys", need: "apikeys:write", ok: 201,
    prepare: async () => unique("key"),
    call: (app, auth, name) => json("POST", `/admin/apps/${app}/tenants/public/api-keys`, { name, scopes: ["introspect"] }, auth),
    effect: async (app, name, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/tenants/public/api-keys?limit=200`, undefined, await owner());
      expect(res.body.items.some((k: any) => k.name === name)).toBe(allowed);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/tenants/{tenant_id}/api-keys", need: "apikeys:write", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/tenants/public/api-keys`, undefined, auth),
  },
  {
    method: "DELETE", path: "/admin/apps/{app_id}/tenants/{tenant_id}/api-keys/{key_id}", need: "apikeys:write", ok: 204,
    prepare: async (app) => {
      const res = await json("POST", `/admin/apps/${app}/tenants/public/api-keys`, { name: unique("doomed"), scopes: ["tenants:read"] }, await owner());
      expect(res.status).toBe(201);
      return res.body;
    },
    call: (app, auth, key) => json("DELETE", `/admin/apps/${app}/tenants/public/api-keys/${key.id}`, undefined, auth),
    effect: async (app, key, allowed) => {
      const use = await json("GET", `/admin/apps/${app}/tenants/public`, undefined, bearer(key.key));
      expect(use.status).toBe(allowed ? 401 : 200);
    },
  },
  {
    method: "POST", path: "/admin/apps/{app_id}/members", need: "members:write", ok: 201,
    prepare: async () => `${unique("invitee")}@example.com`,
    // No roles: granting roles takes their permissions too (a custom team lead with
    // members:write alone may not hand out `support`), which the matrix does not measure.
    call: (app, auth, email) => inviteMember(app, email, [], { as: auth }),
    effect: async (app, email, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/members?limit=200`, undefined, await owner());
      expect(res.body.items.some((m: any) => m.email === email)).toBe(allowed);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/members", need: "members:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/members`, undefined, auth),
  },
  {
    method: "PATCH", path: "/admin/apps/{app_id}/members/{member_id}", need: "members:write", ok: 200,
    prepare: async (app) => {
      const res = await inviteMember(app, `${unique("patched")}@example.com`, ["support"]);
      expect(res.status).toBe(201);
      return res.body.member.id;
    },
    // Taking roles away grants nothing, so members:write is all it needs.
    call: (app, auth, id) => patchMember(app, id, { roles: [] }, auth),
    effect: async (app, id, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/members?limit=200`, undefined, await owner());
      expect(res.body.items.find((m: any) => m.id === id).roles).toEqual(allowed ? [] : ["support"]);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/audit", need: "audit:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/audit`, undefined, auth),
  },
  // End-user state (issue 5). The owner prepares a user in the public tenant where one is needed.
  {
    method: "POST", path: "/admin/apps/{app_id}/tenants/{tenant_id}/users", need: "users:write", ok: 201,
    prepare: async () => `${unique("made-user")}@example.com`,
    call: (app, auth, email) => json("POST", `/admin/apps/${app}/tenants/public/users`, { email }, auth),
  },
  {
    method: "PUT", path: "/admin/apps/{app_id}/tenants/{tenant_id}/providers/{provider_id}", need: "tenants:write", ok: 201,
    prepare: async () => unique("idp"),
    call: (app, auth, id) =>
      json("PUT", `/admin/apps/${app}/tenants/public/providers/${id}`, { kind: "github", client_id: "matrix", client_secret: "matrix-secret" }, auth),
    effect: async (app, id, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/tenants/public/providers/${id}`, undefined, await owner());
      expect(res.status).toBe(allowed ? 200 : 404);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/tenants/{tenant_id}/providers/{provider_id}", need: "tenants:read", ok: 200,
    prepare: async (app) => provider(app),
    call: (app, auth, id) => json("GET", `/admin/apps/${app}/tenants/public/providers/${id}`, undefined, auth),
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/tenants/{tenant_id}/providers", need: "tenants:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/tenants/public/providers`, undefined, auth),
  },
  {
    method: "DELETE", path: "/admin/apps/{app_id}/tenants/{tenant_id}/providers/{provider_id}", need: "tenants:write", ok: 204,
    prepare: async (app) => provider(app),
    call: (app, auth, id) => json("DELETE", `/admin/apps/${app}/tenants/public/providers/${id}`, undefined, auth),
    effect: async (app, id, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/tenants/public/providers/${id}`, undefined, await owner());
      expect(res.status).toBe(allowed ? 404 : 200);
    },
  },
  // The tenant's OAuth server (issue 14).
  {
    method: "PUT", path: "/admin/apps/{app_id}/tenants/{tenant_id}/oauth", need: "clients:write", ok: 200,
    prepare: async () => 300 + Math.floor(Math.random() * 1000),
    call: (app, auth, ttl) =>
      json("PUT", `/admin/apps/${app}/tenants/public/oauth`, { ...MATRIX_OAUTH, access_token_ttl_seconds: ttl }, auth),
    effect: async (app, ttl, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/tenants/public/oauth`, undefined, await owner());
      expect(res.body.oauth.access_token_ttl_seconds === ttl).toBe(allowed);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/tenants/{tenant_id}/oauth", need: "clients:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/tenants/public/oauth`, undefined, auth),
  },
  {
    method: "POST", path: "/admin/apps/{app_id}/tenants/{tenant_id}/clients", need: "clients:write", ok: 201,
    prepare: async () => unique("client"),
    call: (app, auth, name) => json("POST", `/admin/apps/${app}/tenants/public/clients`, matrixClient(name), auth),
    effect: async (app, name, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/tenants/public/clients?limit=200`, undefined, await owner());
      expect(res.body.items.some((c: any) => c.name === name)).toBe(allowed);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/tenants/{tenant_id}/clients", need: "clients:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/tenants/public/clients`, undefined, auth),
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}", need: "clients:read", ok: 200,
    prepare: (app) => oauthClient(app),
    call: (app, auth, id) => json("GET", `/admin/apps/${app}/tenants/public/clients/${id}`, undefined, auth),
  },
  {
    method: "PATCH", path: "/admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}", need: "clients:write", ok: 200,
    prepare: (app) => oauthClient(app),
    call: (app, auth, id) => json("PATCH", `/admin/apps/${app}/tenants/public/clients/${id}`, { name: "renamed" }, auth),
    effect: async (app, id, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/tenants/public/clients/${id}`, undefined, await owner());
      expect(res.body.client.name === "renamed").toBe(allowed);
    },
  },
  {
    method: "POST", path: "/admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}/secret", need: "clients:write", ok: 200,
    prepare: (app) => oauthClient(app),
    call: (app, auth, id) => json("POST", `/admin/apps/${app}/tenants/public/clients/${id}/secret`, undefined, auth),
    effect: async (app, id, allowed) => {
      // A rotation shows in the client's audit trail; refused, nothing was rotated.
      const entries = await auditLog(app);
      expect(entries.some((e: any) => e.action === "client.secret_rotate" && e.target === id)).toBe(allowed);
    },
  },
  {
    method: "DELETE", path: "/admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}", need: "clients:write", ok: 204,
    prepare: (app) => oauthClient(app),
    call: (app, auth, id) => json("DELETE", `/admin/apps/${app}/tenants/public/clients/${id}`, undefined, auth),
    effect: async (app, id, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/tenants/public/clients/${id}`, undefined, await owner());
      expect(res.status).toBe(allowed ? 404 : 200);
    },
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/tenants/{tenant_id}/users", need: "users:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/tenants/public/users`, undefined, auth),
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}", need: "users:read", ok: 200,
    prepare: (app) => endUser(app),
    call: (app, auth, id) => json("GET", `/admin/apps/${app}/tenants/public/users/${id}`, undefined, auth),
  },
  {
    method: "DELETE", path: "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}", need: "users:write", ok: 204,
    prepare: (app) => endUser(app),
    call: (app, auth, id) => json("DELETE", `/admin/apps/${app}/tenants/public/users/${id}`, undefined, auth),
    effect: async (app, id, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/tenants/public/users/${id}`, undefined, await owner());
      expect(res.status).toBe(allowed ? 404 : 200);
    },
  },
  {
    method: "DELETE", path: "/admin/apps/{app_id}/users/{user_id}", need: "users:write", ok: 204,
    prepare: (app) => endUser(app),
    call: (app, auth, id) => json("DELETE", `/admin/apps/${app}/users/${id}`, undefined, auth),
    effect: async (app, id, allowed) => {
      const res = await json("GET", `/admin/apps/${app}/users/${id}/metadata`, undefined, await owner());
      expect(res.status).toBe(allowed ? 404 : 200);
    },
  },
  {
    method: "PATCH", path: "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}", need: "users:plan", ok: 200,
    prepare: (app) => endUser(app),
    call: (app, auth, id) => json("PATCH", `/admin/apps/${app}/tenants/public/users/${id}`, { rate_limit_override: 5 }, auth),
  },
  {
    method: "POST", path: "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}/suspend", need: "users:suspend", ok: 200,
    prepare: (app) => endUser(app),
    call: (app, auth, id) => json("POST", `/admin/apps/${app}/tenants/public/users/${id}/suspend`, {}, auth),
  },
  {
    method: "POST", path: "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}/unsuspend", need: "users:suspend", ok: 200,
    prepare: (app) => endUser(app),
    call: (app, auth, id) => json("POST", `/admin/apps/${app}/tenants/public/users/${id}/unsuspend`, undefined, auth),
  },
  {
    method: "PUT", path: "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}/roles", need: "users:write", ok: 200,
    prepare: (app) => endUser(app),
    call: (app, auth, id) => json("PUT", `/admin/apps/${app}/tenants/public/users/${id}/roles`, { roles: [] }, auth),
  },
  {
    method: "POST", path: "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}/associate", need: "users:write", ok: 200,
    prepare: async (app) => {
      const tenant = unique("assoc");
      await putTenant(app, tenant);
      return { tenant, id: await endUser(app) };
    },
    call: (app, auth, f) => json("POST", `/admin/apps/${app}/tenants/${f.tenant}/users/${f.id}/associate`, undefined, auth),
  },
  {
    method: "POST", path: "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}/sessions/revoke", need: "users:suspend", ok: 200,
    prepare: (app) => endUser(app),
    call: (app, auth, id) => json("POST", `/admin/apps/${app}/tenants/public/users/${id}/sessions/revoke`, undefined, auth),
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/users/{user_id}/metadata", need: "users:read", ok: 200,
    prepare: (app) => endUser(app),
    call: (app, auth, id) => json("GET", `/admin/apps/${app}/users/${id}/metadata`, undefined, auth),
  },
  {
    method: "PATCH", path: "/admin/apps/{app_id}/users/{user_id}/metadata", need: "users:write", ok: 200,
    prepare: (app) => endUser(app),
    call: (app, auth, id) => json("PATCH", `/admin/apps/${app}/users/${id}/metadata`, { team: "blue" }, auth),
  },
  {
    method: "PUT", path: "/admin/apps/{app_id}/roles/{role}", need: "roles:write", ok: 200,
    prepare: async () => unique("role"),
    call: (app, auth, role) => json("PUT", `/admin/apps/${app}/roles/${role}`, { permissions: ["docs:read"] }, auth),
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/roles", need: "users:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/roles`, undefined, auth),
  },
  {
    method: "PUT", path: "/admin/apps/{app_id}/plans/{plan_tier}", need: "roles:write", ok: 200,
    prepare: async () => unique("plan"),
    call: (app, auth, tier) => json("PUT", `/admin/apps/${app}/plans/${tier}`, { roles: [], rate_limit: 10 }, auth),
  },
  {
    method: "POST", path: "/admin/apps/{app_id}/webhook-secret", need: "webhooks:write", ok: 200,
    call: (app, auth) => json("POST", `/admin/apps/${app}/webhook-secret`, undefined, auth),
  },
  // Email delivery (issue 12).
  {
    method: "PUT", path: "/admin/apps/{app_id}/email-delivery", need: "tenants:write", ok: 200,
    call: (app, auth) => json("PUT", `/admin/apps/${app}/email-delivery`, { kind: "outbox" }, auth),
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/email-delivery", need: "tenants:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/email-delivery`, undefined, auth),
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/email-delivery/dead-letters", need: "users:read", ok: 200,
    call: (app, auth) => json("GET", `/admin/apps/${app}/email-delivery/dead-letters`, undefined, auth),
  },
  {
    method: "GET", path: "/admin/apps/{app_id}/outbox", need: "users:write", ok: 200,
    // The outbox is readable only while the app's delivery is the outbox.
    prepare: async (app) => {
      const res = await json("PUT", `/admin/apps/${app}/email-delivery`, { kind: "outbox" }, await owner());
      expect(res.status, res.text).toBe(200);
    },
    call: (app, auth) => json("GET", `/admin/apps/${app}/outbox`, undefined, auth),
  },
];

/** A GitHub provider of the app's public tenant, made by the owner; returns its id. */
async function provider(app: string): Promise<string> {
  const id = unique("idp");
  const body = { kind: "github", client_id: "matrix", client_secret: "matrix-secret" };
  const res = await json("PUT", `/admin/apps/${app}/tenants/public/providers/${id}`, body, await owner());
  expect(res.status, res.text).toBe(201);
  return id;
}

/** A user of the app's public tenant, made by the owner; returns its id. */
async function endUser(app: string): Promise<string> {
  const res = await json("POST", `/admin/apps/${app}/tenants/public/users`, { email: `${unique("eu")}@example.com` }, await owner());
  expect(res.status, res.text).toBe(201);
  return res.body.user.id;
}

/** /admin operations that take no operator credential (the root token, a password, an invite, a reset link). */
const UNAUTHENTICATED = [
  "POST /admin/signup",
  "POST /admin/auth/email-verification/verify",
  "POST /admin/bootstrap",
  "POST /admin/auth/signin",
  "POST /admin/auth/unlock",
  "POST /admin/invites/accept",
  "POST /admin/auth/password-reset/send",
  "POST /admin/auth/password-reset",
];

function expectedAllow(role: string, need: Need): boolean {
  if (need === "any operator") return true;
  if (need === "platform owner") return false;
  return ROLES[role].includes(need);
}

/** Calls one endpoint class and checks the answer, the effect and (when refused) the audit log. */
async function exercise(ep: EndpointClass, app: string, auth: Auth, allowed: boolean) {
  const fixture = await ep.prepare?.(app);
  const log = ep.audited === "public" ? "public" : app;
  const before = await auditLog(log);
  const res = await ep.call(app, auth, fixture);
  if (allowed) {
    expect(res.status, `${ep.method} ${ep.path}: ${res.text}`).toBe(ep.ok);
    // A change writes one entry in its app's log (creating an app: in the new app's, see
    // effect; deleting one: in the log of `public`).
    const changes = ep.method !== "GET" && ep.path !== "/admin/apps" && ep.audited !== "nowhere";
    expect((await auditLog(log)).length - before.length).toBe(changes ? 1 : 0);
  } else {
    expectProblem(res, 403, "forbidden");
    expect(await auditLog(log), "a refused request writes no audit entry").toEqual(before);
  }
  await ep.effect?.(app, fixture, allowed);
}

describe("permission matrix", () => {
  it("covers every /admin operation of /openapi.json, and only those", async () => {
    const doc = (await json("GET", "/openapi.json")).body;
    const served: string[] = [];
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      if (!path.startsWith("/admin")) continue;
      for (const method of Object.keys(ops)) served.push(`${method.toUpperCase()} ${path}`);
    }
    const tabled = ENDPOINTS.map((e) => `${e.method} ${e.path}`);
    expect(new Set(tabled).size).toBe(tabled.length);
    expect([...tabled, ...UNAUTHENTICATED].sort()).toEqual(served.sort());
  });

  it("names only permissions of API.md", () => {
    for (const ep of ENDPOINTS) {
      expect(["platform owner", "any operator", ...PERMISSIONS]).toContain(ep.need);
    }
  });

  describe("as the platform owner, every request of the table is allowed (so a 403 below is a refusal)", () => {
    let app = "";
    beforeAll(async () => {
      app = "matrix-owner";
      await createApp(app);
    });
    it.each(ENDPOINTS.map((ep) => [`${ep.method} ${ep.path}`, ep] as const))("the owner may %s", async (_, ep) => {
      await exercise(ep, app, await owner(), true);
    });
  });

  for (const role of Object.keys(ROLES)) {
    describe(`an app-wide member with the role ${role}`, () => {
      const app = `matrix-${role.replace(/_/g, "-")}`;
      let auth: Auth = {};
      beforeAll(async () => {
        await createApp(app);
        auth = (await activeMember(app, [role])).auth;
      });
      const cases = ENDPOINTS.map((ep) => {
        const allowed = expectedAllow(role, ep.need);
        return [allowed ? "may" : "is refused (403)", `${ep.method} ${ep.path}`, ep.need, ep, allowed] as const;
      });
      it.each(cases)("%s %s (needs %s)", async (_, __, ___, ep, allowed) => {
        await exercise(ep, app, auth, allowed);
      });
    });
  }

  /** Roles the apps below define (issue 16), bound like the built-in ones. */
  const CUSTOM: Record<string, readonly Permission[]> = {
    user_reader: ["users:read"],
    team_lead: ["members:read", "members:write", "users:read"],
  };
  for (const [role, permissions] of Object.entries(CUSTOM)) {
    describe(`an app-wide member with the app's own role ${role} (${permissions.join(", ")})`, () => {
      const app = `matrix-custom-${role.replace(/_/g, "-")}`;
      let auth: Auth = {};
      beforeAll(async () => {
        await createApp(app);
        const defined = await json("PUT", `/admin/apps/${app}/operator-roles/${role}`, { permissions }, await owner());
        expect(defined.status, defined.text).toBe(200);
        expect(defined.body.role).toEqual({ name: role, permissions, built_in: false });
        auth = (await activeMember(app, [role])).auth;
      });
      const cases = ENDPOINTS.map((ep) => {
        const allowed = ep.need === "any operator" || (ep.need !== "platform owner" && permissions.includes(ep.need));
        return [allowed ? "may" : "is refused (403)", `${ep.method} ${ep.path}`, ep.need, ep, allowed] as const;
      });
      it.each(cases)("%s %s (needs %s)", async (_, __, ___, ep, allowed) => {
        await exercise(ep, app, auth, allowed);
      });
    });
  }

  it("a member's role reaches only its own app: an admin of one app is refused everywhere in another", async () => {
    await createApp("matrix-elsewhere");
    await createApp("matrix-target");
    const { auth } = await activeMember("matrix-elsewhere", ["admin"]);
    for (const ep of ENDPOINTS.filter((e) => e.need !== "any operator")) {
      await exercise(ep, "matrix-target", auth, false);
    }
  });
});

// ================================================================ invitations

describe("invitations", () => {
  const app = "inv";
  beforeAll(async () => {
    await createApp(app);
    await putTenant(app, "acme");
  });

  it("an invitation is pending with a one-time token, and accepting it makes the member active", async () => {
    const email = "Ann.Invitee@Example.com";
    const T = Date.now();
    const invited = await inviteMember(app, email, ["auditor"], { membershipType: "contractor", headers: at(T) });
    expect(invited.status).toBe(201);
    expect(invited.body.member).toMatchObject({
      app_id: app, email: "ann.invitee@example.com", status: "invited", roles: ["auditor"],
      membership_type: "contractor", tenant_id: null, operator_id: null,
    });
    expect(invited.body.member.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(invited.body.member.invite_expires_at).toBe(new Date(T + 7 * DAY_MS).toISOString());
    const token = invited.body.invite_token;
    expect(typeof token).toBe("string");

    // Pending: listed as invited, the token shown nowhere else, stored only hashed.
    const listed = await json("GET", `/admin/apps/${app}/members?limit=200`, undefined, await owner());
    expect(listed.body.items.find((m: any) => m.id === invited.body.member.id).status).toBe("invited");
    expect(listed.text).not.toContain(token);
    const row: any = await (await worker().db()).prepare("SELECT * FROM members WHERE id = ?").bind(invited.body.member.id).first();
    expect(JSON.stringify(row)).not.toContain(token);
    // Nobody can sign in as the invitee yet.
    expect((await json("POST", "/admin/auth/signin", { email, password: PASSWORD })).status).toBe(401);

    const accepted = await acceptInvite(token);
    expect(accepted.status).toBe(200);
    expect(accepted.body.member).toMatchObject({ id: invited.body.member.id, status: "active", roles: ["auditor"] });
    expect(accepted.body.member.operator_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(accepted.text).not.toContain(PASSWORD);

    const after = await json("GET", `/admin/apps/${app}/members?limit=200`, undefined, await owner());
    expect(after.body.items.find((m: any) => m.id === invited.body.member.id).status).toBe("active");
    const auth = await operatorSignin(email);
    expect(operatorIdOf(auth)).toBe(accepted.body.member.operator_id);
    expect((await json("GET", `/admin/apps/${app}/tenants`, undefined, auth)).status).toBe(200);
  });

  it("an invite token works once: a second accept is 401 and does not change the password", async () => {
    const email = `${unique("twice")}@example.com`;
    const invited = await inviteMember(app, email, ["support"]);
    expect((await acceptInvite(invited.body.invite_token)).status).toBe(200);
    const before = await auditLog(app);
    const again = await acceptInvite(invited.body.invite_token, "another password entirely");
    expect(again.status).toBe(401);
    expect(await auditLog(app)).toEqual(before);
    expect((await json("POST", "/admin/auth/signin", { email, password: "another password entirely" })).status).toBe(401);
    expect((await json("POST", "/admin/auth/signin", { email, password: PASSWORD })).status).toBe(200);
  });

  it("an invitation expires after 7 days (401), and is still good just before", async () => {
    const T = Date.now();
    const invited = await inviteMember(app, `${unique("late")}@example.com`, ["support"], { headers: at(T) });
    expect(invited.status).toBe(201);
    const late = await acceptInvite(invited.body.invite_token, PASSWORD, at(T + 7 * DAY_MS + 1));
    expect(late.status).toBe(401);
    const listed = await json("GET", `/admin/apps/${app}/members?limit=200`, undefined, await owner());
    expect(listed.body.items.find((m: any) => m.id === invited.body.member.id).status).toBe("invited");
    const inTime = await acceptInvite(invited.body.invite_token, PASSWORD, at(T + 7 * DAY_MS - 1));
    expect(inTime.status).toBe(200);
    expect(inTime.body.member.status).toBe("active");
  });

  it("two simultaneous accepts of one invitation: exactly one wins, and only its password works", async () => {
    const email = `${unique("race")}@example.com`;
    const invited = await inviteMember(app, email, ["support"]);
    const passwords = ["first racer password", "second racer password"];
    const results = await Promise.all(passwords.map((p) => acceptInvite(invited.body.invite_token, p)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    const winner = passwords[results.findIndex((r) => r.status === 200)];
    const loser = passwords.find((p) => p !== winner)!;
    expect((await json("POST", "/admin/auth/signin", { email, password: winner })).status).toBe(200);
    expect((await json("POST", "/admin/auth/signin", { email, password: loser })).status).toBe(401);
    const accepts = (await auditLog(app)).filter((e) => e.action === "member.accept" && e.target === invited.body.member.id);
    expect(accepts).toHaveLength(1);
  });

  it("refuses a malformed or unknown invite token with 401", async () => {
    for (const token of ["", "garbage", "tsi_" + "A".repeat(43), "tsk_" + "A".repeat(43)]) {
      expect((await acceptInvite(token)).status, token).toBe(401);
    }
  });

  it("accepting with an existing operator's email links that operator, and only with its password", async () => {
    await createApp("inv-second");
    const first = await activeMember(app, ["auditor"]);
    const invited = await inviteMember("inv-second", first.email.toUpperCase(), ["support"]);
    expect(invited.status).toBe(201);
    const before = await auditLog("inv-second");

    const wrong = await acceptInvite(invited.body.invite_token, "not the operator password");
    expectProblem(wrong, 401, "invalid_credentials");
    expect(await auditLog("inv-second")).toEqual(before);
    // The wrong password neither consumed the invitation nor became the operator's password.
    const listed = await json("GET", "/admin/apps/inv-second/members?limit=200", undefined, await owner());
    expect(listed.body.items.find((m: any) => m.id === invited.body.member.id).status).toBe("invited");
    expect((await json("POST", "/admin/auth/signin", { email: first.email, password: "not the operator password" })).status).toBe(401);

    const right = await acceptInvite(invited.body.invite_token, PASSWORD);
    expect(right.status).toBe(200);
    expect(right.body.member.operator_id).toBe(first.operatorId);
    // One operator, two memberships with different roles.
    const apps = await json("GET", "/admin/apps", undefined, first.auth);
    expect(apps.body.items.map((a: any) => a.id)).toEqual([app, "inv-second"]);
    expect((await json("GET", "/admin/apps/inv-second/tenants", undefined, first.auth)).status).toBe(200);
    expect((await json("GET", "/admin/apps/inv-second/members", undefined, first.auth)).status).toBe(403);
    expect((await json("GET", `/admin/apps/${app}/members`, undefined, first.auth)).status).toBe(200);
  });

  it("refuses a second live invitation of the same email in an app with 409 and no audit entry", async () => {
    const email = `${unique("dup")}@example.com`;
    expect((await inviteMember(app, email, ["support"])).status).toBe(201);
    const before = await auditLog(app);
    expectProblem(await inviteMember(app, email, ["auditor"]), 409, "conflict");
    expect(await auditLog(app)).toEqual(before);
  });

  it("refuses unknown roles (422) and membership types (400) before inviting anyone", async () => {
    const before = await auditLog(app);
    expectProblem(await inviteMember(app, `${unique("x")}@example.com`, ["root"]), 422, "unknown_role");
    expectProblem(await inviteMember(app, `${unique("x")}@example.com`, ["admin"], { membershipType: "god" }), 400, "validation_failed");
    expectProblem(await inviteMember(app, "not-an-email", ["admin"]), 400, "validation_failed");
    expect(await auditLog(app)).toEqual(before);
  });

  it("membership_type is metadata only: an owner-type member without roles has no permission", async () => {
    const { auth } = await activeMember(app, [], { membershipType: "owner" });
    for (const path of [`/admin/apps/${app}/tenants`, `/admin/apps/${app}/members`, `/admin/apps/${app}/audit`]) {
      expectProblem(await json("GET", path, undefined, auth), 403, "forbidden");
    }
    expectProblem(await json("PUT", `/admin/apps/${app}/tenants/${unique("t")}`, {}, auth), 403, "forbidden");
  });
});

// ================================================================ lifecycle

describe("membership lifecycle", () => {
  const app = "life";
  beforeAll(async () => {
    await createApp(app);
  });

  it("a suspended member is refused at once with its unexpired token, and works again when reactivated", async () => {
    const m = await activeMember(app, ["support"]);
    const tenants = () => json("GET", `/admin/apps/${app}/tenants`, undefined, m.auth);
    expect((await tenants()).status).toBe(200);

    const suspended = await patchMember(app, m.id, { status: "suspended" });
    expect(suspended.status).toBe(200);
    expect(suspended.body.member.status).toBe("suspended");
    const refused = await tenants();
    expect([401, 403], refused.text).toContain(refused.status);
    expect((await json("GET", `/admin/apps/${app}/tenants/public`, undefined, m.auth)).status).not.toBe(200);
    expect((await json("GET", "/admin/apps", undefined, m.auth)).body?.items ?? []).toEqual([]);
    // Signing in again gives a token, but no permission.
    const fresh = await operatorSignin(m.email);
    expect([401, 403]).toContain((await json("GET", `/admin/apps/${app}/tenants`, undefined, fresh)).status);

    const reactivated = await patchMember(app, m.id, { status: "active" });
    expect(reactivated.status).toBe(200);
    expect(reactivated.body.member.status).toBe("active");
    expect((await tenants()).status).toBe(200);
    expect((await json("GET", "/admin/apps", undefined, m.auth)).body.items.map((a: any) => a.id)).toEqual([app]);
  });

  it("a suspended admin loses every permission, its roles notwithstanding", async () => {
    await activeMember(app, ["admin"]); // keeps the app an admin
    const m = await activeMember(app, ["admin"]);
    expect((await patchMember(app, m.id, { status: "suspended" })).status).toBe(200);
    const before = await auditLog(app);
    const attempts = [
      await json("PUT", `/admin/apps/${app}/tenants/${unique("t")}`, {}, m.auth),
      await inviteMember(app, `${unique("x")}@example.com`, ["admin"], { as: m.auth }),
      await patchMember(app, m.id, { status: "active" }, m.auth),
      await json("GET", `/admin/apps/${app}/audit`, undefined, m.auth),
    ];
    for (const res of attempts) expect([401, 403], res.text).toContain(res.status);
    expect(await auditLog(app)).toEqual(before);
  });

  it("left is final: the member is refused, and no PATCH brings it back (409)", async () => {
    const m = await activeMember(app, ["support"]);
    const left = await patchMember(app, m.id, { status: "left" });
    expect(left.status).toBe(200);
    expect(left.body.member.status).toBe("left");
    expect([401, 403]).toContain((await json("GET", `/admin/apps/${app}/tenants`, undefined, m.auth)).status);
    const before = await auditLog(app);
    for (const status of ["active", "suspended", "invited", "left"]) {
      expectProblem(await patchMember(app, m.id, { status }), 409, "conflict");
    }
    expectProblem(await patchMember(app, m.id, { roles: ["admin"] }), 409, "conflict");
    expect(await auditLog(app)).toEqual(before);
    expect([401, 403]).toContain((await json("GET", `/admin/apps/${app}/tenants`, undefined, m.auth)).status);
    expect((await json("GET", "/admin/apps", undefined, m.auth)).body?.items ?? []).toEqual([]);
  });

  it("an invitation becomes active only by being accepted, and a withdrawn one cannot be accepted", async () => {
    const invited = await inviteMember(app, `${unique("w")}@example.com`, ["support"]);
    expectProblem(await patchMember(app, invited.body.member.id, { status: "active" }), 409, "conflict");
    const withdrawn = await patchMember(app, invited.body.member.id, { status: "left" });
    expect(withdrawn.status).toBe(200);
    expect((await acceptInvite(invited.body.invite_token)).status).toBe(401);
  });

  it("refuses an unknown status (400), an unknown role (422) and an unknown member (404)", async () => {
    const m = await activeMember(app, ["support"]);
    expectProblem(await patchMember(app, m.id, { status: "gone" }), 400, "validation_failed");
    expectProblem(await patchMember(app, m.id, { roles: ["root"] }), 422, "unknown_role");
    expectProblem(await patchMember(app, "0190a5b0-0000-7000-8000-000000000000", { status: "suspended" }), 404, "member_not_found");
    expectProblem(await patchMember(app, "not-a-uuid", { status: "suspended" }), 400, "validation_failed");
  });

  it("a member of another app cannot be changed through this app's path", async () => {
    await createApp("life-other");
    const other = await activeMember("life-other", ["support"]);
    const res = await patchMember(app, other.id, { status: "suspended" });
    expect(res.status).toBe(404);
    const listed = await json("GET", "/admin/apps/life-other/members?limit=200", undefined, await owner());
    expect(listed.body.items.find((m: any) => m.id === other.id).status).toBe("active");
  });

  it("GET /admin/apps lists only the apps where the caller is an active member", async () => {
    const email = `${unique("lister")}@example.com`;
    const ids = ["list-active", "list-suspended", "list-left", "list-invited", "list-none", "list-active2"];
    for (const id of ids) await createApp(id);
    const m = await activeMember("list-active", ["support"], { email });
    // Support, not admin: the only admin of an app could be neither suspended nor removed.
    const s = await inviteMember("list-suspended", email, ["support"]);
    await acceptInvite(s.body.invite_token);
    const l = await inviteMember("list-left", email, ["support"]);
    await acceptInvite(l.body.invite_token);
    await inviteMember("list-invited", email, ["admin"]);
    const a2 = await inviteMember("list-active2", email, ["auditor"], { tenant: "public" });
    await acceptInvite(a2.body.invite_token);
    expect((await patchMember("list-suspended", s.body.member.id, { status: "suspended" })).status).toBe(200);
    expect((await patchMember("list-left", l.body.member.id, { status: "left" })).status).toBe(200);

    const res = await json("GET", "/admin/apps", undefined, m.auth);
    expect(res.status).toBe(200);
    expect(res.body.items.map((a: any) => a.id)).toEqual(["list-active", "list-active2"]);
    const page = await json("GET", "/admin/apps?limit=1", undefined, m.auth);
    expect(page.body.items.map((a: any) => a.id)).toEqual(["list-active"]);
    const next = await json("GET", `/admin/apps?limit=1&cursor=${page.body.next_cursor}`, undefined, m.auth);
    expect(next.body.items.map((a: any) => a.id)).toEqual(["list-active2"]);
    expect(next.body.next_cursor).toBeNull();
    // The owner sees them all.
    const all = await json("GET", "/admin/apps?limit=200", undefined, await owner());
    for (const id of ids) expect(all.body.items.map((a: any) => a.id)).toContain(id);
  });
});

// ================================================================ tenant-scoped members

describe("tenant-scoped members", () => {
  const app = "scoped";
  let m: Awaited<ReturnType<typeof activeMember>>;
  beforeAll(async () => {
    await createApp(app);
    await putTenant(app, "acme");
    await putTenant(app, "beta");
    m = await activeMember(app, ["admin"], { tenant: "acme" });
  });

  it("acts inside its own tenant", async () => {
    expect((await json("GET", `/admin/apps/${app}/tenants/acme`, undefined, m.auth)).status).toBe(200);
    expect((await json("PUT", `/admin/apps/${app}/tenants/acme`, { login_methods: ["emailpassword"] }, m.auth)).status).toBe(200);
    expect((await json("GET", `/admin/apps/${app}/tenants/acme/api-keys`, undefined, m.auth)).status).toBe(200);
    const key = await json("POST", `/admin/apps/${app}/tenants/acme/api-keys`, { name: "mine", scopes: ["introspect"] }, m.auth);
    expect(key.status).toBe(201);
    expect((await json("GET", `/admin/apps/${app}/audit?tenant_id=acme`, undefined, m.auth)).status).toBe(200);
    const invited = await inviteMember(app, `${unique("acme")}@example.com`, ["support"], { as: m.auth, tenant: "acme" });
    expect(invited.status).toBe(201);
    expect(invited.body.member.tenant_id).toBe("acme");
    expect((await patchMember(app, invited.body.member.id, { roles: ["auditor"] }, m.auth)).status).toBe(200);
    expect((await json("GET", "/admin/apps", undefined, m.auth)).body.items.map((a: any) => a.id)).toEqual([app]);
  });

  it("is refused (403) on a sibling tenant, which stays unchanged", async () => {
    const keyOfBeta = await apiKey(app, "beta", ["tenants:read"]);
    const before = await auditLog(app);
    const attempts: Array<[string, string, unknown?]> = [
      ["GET", `/admin/apps/${app}/tenants/beta`],
      ["PUT", `/admin/apps/${app}/tenants/beta`, { login_methods: [] }],
      ["DELETE", `/admin/apps/${app}/tenants/beta`],
      ["PUT", `/admin/apps/${app}/tenants/gamma`, {}],
      ["GET", `/admin/apps/${app}/tenants/beta/api-keys`],
      ["POST", `/admin/apps/${app}/tenants/beta/api-keys`, { name: "theirs", scopes: ["introspect"] }],
      ["GET", `/admin/apps/${app}/audit?tenant_id=beta`],
    ];
    for (const [method, path, body] of attempts) {
      const res = await json(method, path, body, m.auth);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.code).toBe("forbidden");
    }
    expectProblem(await inviteMember(app, `${unique("beta")}@example.com`, ["admin"], { as: m.auth, tenant: "beta" }), 403, "forbidden");
    const betaMember = await inviteMember(app, `${unique("beta")}@example.com`, ["support"], { tenant: "beta" });
    expectProblem(await patchMember(app, betaMember.body.member.id, { status: "left" }, m.auth), 403, "forbidden");
    const after = await auditLog(app);
    expect(after.length).toBe(before.length + 1); // only the owner's invitation above
    const beta = await json("GET", `/admin/apps/${app}/tenants/beta`, undefined, await owner());
    expect(beta.body.tenant.login_methods).toEqual(["emailpassword"]);
    expect((await json("GET", `/admin/apps/${app}/tenants/gamma`, undefined, await owner())).status).toBe(404);
    expect((await json("GET", `/admin/apps/${app}/tenants/beta`, undefined, bearer(keyOfBeta))).status).toBe(200);
  });

  it("is refused (403) on app-level endpoints and on app-wide members", async () => {
    const appWide = await inviteMember(app, `${unique("wide")}@example.com`, ["support"]);
    for (const path of [`/admin/apps/${app}`, `/admin/apps/${app}/tenants`, `/admin/apps/${app}/members`, `/admin/apps/${app}/audit`]) {
      expectProblem(await json("GET", path, undefined, m.auth), 403, "forbidden");
    }
    expectProblem(await inviteMember(app, `${unique("wide")}@example.com`, ["admin"], { as: m.auth }), 403, "forbidden");
    expectProblem(await patchMember(app, appWide.body.member.id, { roles: ["admin"] }, m.auth), 403, "forbidden");
    expectProblem(await json("PATCH", `/admin/apps/${app}`, { settings: {} }, m.auth), 403, "forbidden");
    expectProblem(await json("POST", `/admin/apps/${app}/signing-keys/rotate`, undefined, m.auth), 403, "forbidden");
    expectProblem(await json("POST", "/admin/apps", { id: unique("by-scoped") }, m.auth), 403, "forbidden");
  });

  it("loses its membership when its tenant is deleted, also if the tenant comes back", async () => {
    await putTenant(app, "brief");
    const t = await activeMember(app, ["admin"], { tenant: "brief" });
    expect((await json("GET", `/admin/apps/${app}/tenants/brief`, undefined, t.auth)).status).toBe(200);
    expect((await json("DELETE", `/admin/apps/${app}/tenants/brief`, undefined, await owner())).status).toBe(204);
    await putTenant(app, "brief");
    expect([401, 403]).toContain((await json("GET", `/admin/apps/${app}/tenants/brief`, undefined, t.auth)).status);
  });
});

// ================================================================ API keys on /admin

describe("API keys on /admin", () => {
  const app = "keyed";
  let key = "";
  let keyId = "";
  beforeAll(async () => {
    await createApp(app);
    await putTenant(app, "acme");
    await putTenant(app, "beta");
    const res = await json("POST", `/admin/apps/${app}/tenants/acme/api-keys`,
      { name: "ops", scopes: ["tenants:read", "tenants:write", "apikeys:write", "members:read", "members:write", "audit:read"] }, await owner());
    key = res.body.key;
    keyId = res.body.id;
  });

  it("acts within its scopes in its own tenant, and its changes are audited as the key", async () => {
    const asKey = bearer(key);
    expect((await json("GET", `/admin/apps/${app}/tenants/acme`, undefined, asKey)).status).toBe(200);
    expect((await json("GET", `/admin/apps/${app}/tenants/acme/api-keys`, undefined, asKey)).status).toBe(200);
    expect((await json("GET", `/admin/apps/${app}/audit?tenant_id=acme`, undefined, asKey)).status).toBe(200);
    const put = await json("PUT", `/admin/apps/${app}/tenants/acme`, { login_methods: ["emailpassword"] }, asKey);
    expect(put.status).toBe(200);
    const [newest] = await auditLog(app);
    expect(newest).toMatchObject({ action: "tenant.update", actor: `api_key:${keyId}`, target: "acme", tenant_id: "acme" });
    const apps = await json("GET", "/admin/apps", undefined, asKey);
    expect(apps.body.items.map((a: any) => a.id)).toEqual([app]);
  });

  it("is refused (403) outside its tenant and on app-level endpoints, whatever its scopes", async () => {
    const asKey = bearer(key);
    const before = await auditLog(app);
    const attempts: Array<[string, string, unknown?]> = [
      ["GET", `/admin/apps/${app}/tenants/beta`],
      ["PUT", `/admin/apps/${app}/tenants/beta`, { login_methods: [] }],
      ["PUT", `/admin/apps/${app}/tenants/${unique("t")}`, {}],
      ["DELETE", `/admin/apps/${app}/tenants/beta`],
      ["GET", `/admin/apps/${app}/tenants/beta/api-keys`],
      ["POST", `/admin/apps/${app}/tenants/beta/api-keys`, { name: "x", scopes: ["introspect"] }],
      ["GET", `/admin/apps/${app}/tenants`],
      ["GET", `/admin/apps/${app}/members`],
      ["POST", `/admin/apps/${app}/members`, { email: "k@example.com", membership_type: "member", roles: ["admin"], tenant_id: null }],
      ["GET", `/admin/apps/${app}/audit`],
      ["GET", `/admin/apps/${app}/audit?tenant_id=beta`],
      ["PATCH", `/admin/apps/${app}`, { settings: {} }],
      ["POST", `/admin/apps/${app}/signing-keys/rotate`],
      ["POST", "/admin/apps", { id: unique("by-key") }],
      ["GET", "/admin/apps/public/tenants/public"],
    ];
    for (const [method, path, body] of attempts) {
      const res = await json(method, path, body, asKey);
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(403);
      expect(res.body.code).toBe("forbidden");
    }
    expect(await auditLog(app)).toEqual(before);
    expect((await json("GET", `/admin/apps/${app}/tenants/beta`, undefined, await owner())).body.tenant.login_methods).toEqual(["emailpassword"]);
  });

  it("is refused (403) in its own tenant for a permission it does not carry", async () => {
    const narrow = await apiKey(app, "acme", ["tenants:read", "introspect"]);
    const introspectOnly = await apiKey(app, "acme", ["introspect"]);
    const before = await auditLog(app);
    expect((await json("GET", `/admin/apps/${app}/tenants/acme`, undefined, bearer(narrow))).status).toBe(200);
    expectProblem(await json("PUT", `/admin/apps/${app}/tenants/acme`, { login_methods: [] }, bearer(narrow)), 403, "forbidden");
    expectProblem(await json("GET", `/admin/apps/${app}/tenants/acme/api-keys`, undefined, bearer(narrow)), 403, "forbidden");
    expectProblem(await json("POST", `/admin/apps/${app}/tenants/acme/api-keys`, { name: "up", scopes: ["tenants:write"] }, bearer(narrow)), 403, "forbidden");
    expectProblem(await json("GET", `/admin/apps/${app}/audit?tenant_id=acme`, undefined, bearer(narrow)), 403, "forbidden");
    expectProblem(await json("GET", `/admin/apps/${app}/tenants/acme`, undefined, bearer(introspectOnly)), 403, "forbidden");
    expect(await auditLog(app)).toEqual(before);
  });

  it("a key never carries more than its creator holds (403 for a wider scope, no entry)", async () => {
    const security = await activeMember(app, ["security_admin"]);
    const narrowKey = await apiKey(app, "acme", ["apikeys:write", "tenants:read"]);
    const before = await auditLog(app);
    for (const [creator, scopes] of [
      [security.auth, ["tenants:write"]],
      [security.auth, ["introspect", "members:write"]],
      [bearer(narrowKey), ["tenants:write"]],
      [bearer(narrowKey), ["audit:read"]],
    ] as const) {
      const res = await json("POST", `/admin/apps/${app}/tenants/acme/api-keys`, { name: "wider", scopes }, creator);
      expectProblem(res, 403, "forbidden");
      expect(res.body.key).toBeUndefined();
    }
    expect(await auditLog(app)).toEqual(before);
    const within = await json("POST", `/admin/apps/${app}/tenants/acme/api-keys`,
      { name: "within", scopes: ["introspect", "apikeys:write", "audit:read", "tenants:read"] }, security.auth);
    expect(within.status).toBe(201);
    const byKey = await json("POST", `/admin/apps/${app}/tenants/acme/api-keys`, { name: "by-key", scopes: ["tenants:read"] }, bearer(narrowKey));
    expect(byKey.status).toBe(201);
  });

  it("a key of another app is refused on this app", async () => {
    await createApp("keyed-other");
    const foreign = await apiKey("keyed-other", "public", ["tenants:read", "apikeys:write"]);
    expectProblem(await json("GET", `/admin/apps/${app}/tenants/public`, undefined, bearer(foreign)), 403, "forbidden");
    expectProblem(await json("GET", `/admin/apps/${app}/tenants/public/api-keys`, undefined, bearer(foreign)), 403, "forbidden");
  });
});

// ================================================================ token confusion

describe("operator and end-user tokens never cross", () => {
  const app = "tokens";
  let member: Awaited<ReturnType<typeof activeMember>>;
  let endUser = "";
  let endRefresh = "";
  beforeAll(async () => {
    await createApp(app);
    member = await activeMember(app, ["admin"]);
    // The same email is an end user too: nothing is shared.
    const res = await json("POST", `${base(app, "public")}/auth/signup`, { email: member.email, password: "an end-user password" });
    endUser = res.body.session.access_token;
    endRefresh = res.body.session.refresh_token;
  });

  it("a member's operator token is refused (401) on end-user endpoints and inactive at introspection", async () => {
    const op = member.auth.authorization.slice(7);
    expectProblem(await json("GET", `${base(app, "public")}/auth/me`, undefined, bearer(op)), 401, "invalid_token");
    expect((await json("POST", `${base(app, "public")}/auth/signout`, undefined, bearer(op))).status).toBe(401);
    expect((await json("POST", `${base(app, "public")}/auth/refresh`, { refresh_token: op })).status).toBe(401);
    const key = await apiKey(app, "public");
    expect(await introspect(app, "public", key, op)).toEqual({ active: false });
    // The end user is untouched.
    expect((await json("GET", `${base(app, "public")}/auth/me`, undefined, bearer(endUser))).status).toBe(200);
  });

  it("an end-user token (access or refresh) is refused (401 unauthorized) on /admin", async () => {
    for (const token of [endUser, endRefresh]) {
      for (const path of ["/admin/apps", `/admin/apps/${app}/tenants`, `/admin/apps/${app}/members`, `/admin/apps/${app}/audit`]) {
        expectProblem(await json("GET", path, undefined, bearer(token)), 401, "unauthorized");
      }
    }
    const before = await auditLog(app);
    expectProblem(await json("PUT", `/admin/apps/${app}/tenants/${unique("t")}`, {}, bearer(endUser)), 401, "unauthorized");
    expect(await auditLog(app)).toEqual(before);
  });

  it("the end user's password does not sign the operator in, nor the reverse", async () => {
    expectProblem(await json("POST", "/admin/auth/signin", { email: member.email, password: "an end-user password" }), 401, "invalid_credentials");
    expect((await json("POST", `${base(app, "public")}/auth/signin`, { email: member.email, password: PASSWORD })).status).toBe(401);
  });

  it("a member's operator token past its expiry is refused (401 unauthorized)", async () => {
    const exp = JSON.parse(Buffer.from(member.auth.authorization.split(".")[1], "base64url").toString()).exp;
    expect((await json("GET", `/admin/apps/${app}/tenants`, undefined, { ...member.auth, ...at(exp * 1000 - 1000) })).status).toBe(200);
    expectProblem(await json("GET", `/admin/apps/${app}/tenants`, undefined, { ...member.auth, ...at(exp * 1000 + 1000) }), 401, "unauthorized");
  });

  it("an invite token is no credential on /admin", async () => {
    const invited = await inviteMember(app, `${unique("inv")}@example.com`, ["admin"]);
    expectProblem(await json("GET", `/admin/apps/${app}/tenants`, undefined, bearer(invited.body.invite_token)), 401, "unauthorized");
  });
});

// ================================================================ last-admin protection

describe("last-admin protection", () => {
  const app = "solo";
  let a: Awaited<ReturnType<typeof activeMember>>;
  beforeAll(async () => {
    await createApp(app);
    a = await activeMember(app, ["admin"]);
  });

  const refusals = async (by: Auth) => {
    const before = await auditLog(app);
    for (const body of [{ status: "suspended" }, { status: "left" }, { roles: ["auditor"] }, { roles: [] }, { status: "active", roles: ["security_admin"] }]) {
      expectProblem(await patchMember(app, a.id, body, by), 409, "conflict");
    }
    expect(await auditLog(app)).toEqual(before);
    expect((await json("GET", `/admin/apps/${app}/members`, undefined, a.auth)).status).toBe(200);
  };

  it("the only active app admin cannot be suspended, removed or demoted (409), by the owner or by itself", async () => {
    await refusals(await owner());
    await refusals(a.auth);
  });

  it("keeping admin among other roles is allowed", async () => {
    const res = await patchMember(app, a.id, { roles: ["admin", "auditor"] });
    expect(res.status).toBe(200);
    expect(res.body.member.roles).toEqual(["admin", "auditor"]);
  });

  it("a tenant-scoped, an invited or a suspended admin does not count as a second admin", async () => {
    await activeMember(app, ["admin"], { tenant: "public" });
    await inviteMember(app, `${unique("pending")}@example.com`, ["admin"]);
    const suspended = await activeMember(app, ["admin"]);
    expect((await patchMember(app, suspended.id, { status: "suspended" })).status).toBe(200);
    await refusals(await owner());
  });

  it("two admins suspending each other at the same moment: exactly one succeeds", async () => {
    await createApp("duel");
    const x = await activeMember("duel", ["admin"]);
    const y = await activeMember("duel", ["admin"]);
    const [byX, byY] = await Promise.all([
      patchMember("duel", y.id, { status: "suspended" }, x.auth),
      patchMember("duel", x.id, { status: "suspended" }, y.auth),
    ]);
    // The loser is refused either as the last admin (409) or, once suspended, as no longer
    // active (403): never both suspended.
    const statuses = [byX.status, byY.status].sort();
    expect(statuses[0]).toBe(200);
    expect([403, 409]).toContain(statuses[1]);
    const members = await json("GET", "/admin/apps/duel/members", undefined, await owner());
    expect(members.body.items.filter((m: any) => m.status === "active")).toHaveLength(1);
    expect((await auditLog("duel")).filter((e) => e.action === "member.update")).toHaveLength(1);
  });

  it("once a second active app admin exists, either can go, but never both", async () => {
    const b = await activeMember(app, ["admin"]);
    const suspended = await patchMember(app, a.id, { status: "suspended" }, b.auth);
    expect(suspended.status).toBe(200);
    // b is now the last one.
    expectProblem(await patchMember(app, b.id, { status: "left" }, b.auth), 409, "conflict");
    expectProblem(await patchMember(app, b.id, { roles: ["support"] }), 409, "conflict");
    expect((await patchMember(app, a.id, { status: "active" }, b.auth)).status).toBe(200);
    const left = await patchMember(app, b.id, { status: "left" }, b.auth);
    expect(left.status).toBe(200);
    expectProblem(await patchMember(app, a.id, { status: "left" }), 409, "conflict");
  });
});

// ================================================================ audit log

describe("audit log", () => {
  const app = "audited";
  let ownerId = "";
  let own: Auth = {};
  beforeAll(async () => {
    await createApp(app);
    own = await owner();
    ownerId = operatorIdOf(own);
  });

  /** Makes one change and checks it added exactly one entry, matching `expected`. */
  async function oneEntry(change: () => Promise<JsonResponse>, status: number, expected: Record<string, unknown>) {
    const before = await auditLog(app);
    const res = await change();
    expect(res.status, res.text).toBe(status);
    const after = await auditLog(app);
    const known = new Set(before.map((e) => e.id));
    const added = after.filter((e) => !known.has(e.id));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject(expected);
    expect(after[0].id).toBe(added[0].id); // newest first
    return { res, entry: added[0] };
  }

  it("creating the app was recorded", async () => {
    const log = await auditLog(app);
    expect(log.find((e) => e.action === "app.create")).toMatchObject({ actor: `operator:${ownerId}`, target: app, tenant_id: null });
  });

  it("writes one entry for each change, with time, actor, action, target, tenant and no secret", async () => {
    const actor = `operator:${ownerId}`;
    const t0 = Date.now();
    const { entry: created } = await oneEntry(
      () => json("PUT", `/admin/apps/${app}/tenants/acme`, { login_methods: ["emailpassword"] }, own), 201,
      { action: "tenant.create", actor, target: "acme", tenant_id: "acme", detail: { login_methods: ["emailpassword"] } });
    expect(Date.parse(created.at)).toBeGreaterThanOrEqual(t0 - 1);
    expect(Date.parse(created.at)).toBeLessThanOrEqual(Date.now() + 1);
    expect(created.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);

    await oneEntry(() => json("PUT", `/admin/apps/${app}/tenants/acme`, { login_methods: [] }, own), 200,
      { action: "tenant.update", actor, target: "acme", tenant_id: "acme", detail: { login_methods: [] } });

    const { res: key, entry: keyEntry } = await oneEntry(
      () => json("POST", `/admin/apps/${app}/tenants/acme/api-keys`, { name: "audited-key", scopes: ["introspect"] }, own), 201,
      { action: "api_key.create", actor, tenant_id: "acme" });
    expect(keyEntry.target).toBe(key.body.id);
    expect(JSON.stringify(keyEntry)).not.toContain(key.body.key.slice(4));

    await oneEntry(() => json("DELETE", `/admin/apps/${app}/tenants/acme/api-keys/${key.body.id}`, undefined, own), 204,
      { action: "api_key.delete", actor, target: key.body.id, tenant_id: "acme" });

    const email = `${unique("audited")}@example.com`;
    const { res: invited, entry: inviteEntry } = await oneEntry(() => inviteMember(app, email, ["admin"]), 201,
      { action: "member.invite", actor, tenant_id: null });
    const memberId = invited.body.member.id;
    expect(inviteEntry.target).toBe(memberId);
    expect(JSON.stringify(inviteEntry)).not.toContain(invited.body.invite_token);

    const { res: accepted, entry: acceptEntry } = await oneEntry(() => acceptInvite(invited.body.invite_token), 200,
      { action: "member.accept", target: memberId });
    expect(acceptEntry.actor).toBe(`operator:${accepted.body.member.operator_id}`);
    expect(JSON.stringify(acceptEntry)).not.toContain(PASSWORD);

    // A change by the new member is recorded under its own operator id.
    const memberAuth = await operatorSignin(email);
    await oneEntry(() => json("PUT", `/admin/apps/${app}/tenants/beta`, {}, memberAuth), 201,
      { action: "tenant.create", actor: `operator:${accepted.body.member.operator_id}`, target: "beta", tenant_id: "beta" });

    const scoped = await activeMember(app, ["support"], { tenant: "beta" });
    await oneEntry(() => patchMember(app, scoped.id, { status: "suspended", roles: ["auditor"] }), 200,
      { action: "member.update", actor, target: scoped.id, tenant_id: "beta",
        detail: { status: { from: "active", to: "suspended" }, roles: { from: ["support"], to: ["auditor"] } } });

    await oneEntry(() => json("PATCH", `/admin/apps/${app}`, { settings: {} }, own), 200,
      { action: "app.update", actor, target: app, tenant_id: null });

    await oneEntry(() => json("POST", `/admin/apps/${app}/signing-keys/rotate`, undefined, own), 201,
      { action: "signing_key.rotate", actor, target: app, tenant_id: null });

    await oneEntry(() => json("DELETE", `/admin/apps/${app}/tenants/acme`, undefined, own), 204,
      { action: "tenant.delete", actor, target: "acme", tenant_id: "acme" });
  });

  it("writes no entry for a refused or failed change (403, 409, 400, 401, 404, 422)", async () => {
    await putTenant(app, "refusals");
    const auditor = await activeMember(app, ["auditor"]);
    const support = await activeMember(app, ["support"]);
    const left = await activeMember(app, ["support"]);
    expect((await patchMember(app, left.id, { status: "left" })).status).toBe(200);
    const dup = `${unique("dup")}@example.com`;
    expect((await inviteMember(app, dup, ["support"])).status).toBe(201);
    await createApp("audited-link");
    const linked = await activeMember("audited-link", ["support"]);
    const linkInvite = await inviteMember(app, linked.email, ["support"]);
    const o = await owner();
    const before = await auditLog(app);

    // Thunks, run one after the other.
    const attempts: Array<[number, () => Promise<JsonResponse>]> = [
      [403, () => json("PUT", `/admin/apps/${app}/tenants/refusals`, { login_methods: [] }, auditor.auth)],
      [403, () => json("DELETE", `/admin/apps/${app}/tenants/refusals`, undefined, support.auth)],
      [403, () => inviteMember(app, `${unique("x")}@example.com`, ["admin"], { as: auditor.auth })],
      [403, () => patchMember(app, support.id, { status: "suspended" }, auditor.auth)],
      [403, () => json("POST", `/admin/apps/${app}/tenants/refusals/api-keys`, { name: "k", scopes: ["introspect"] }, support.auth)],
      [403, () => json("PATCH", `/admin/apps/${app}`, { settings: {} }, auditor.auth)],
      [403, () => json("POST", `/admin/apps/${app}/signing-keys/rotate`, undefined, auditor.auth)],
      [409, () => json("DELETE", `/admin/apps/${app}/tenants/public`, undefined, o)],
      [409, () => inviteMember(app, dup, ["admin"])],
      [409, () => patchMember(app, left.id, { status: "active" })],
      [400, () => json("PUT", `/admin/apps/${app}/tenants/refusals`, { login_methods: ["passkey"] }, o)],
      [400, () => json("PUT", `/admin/apps/${app}/tenants/refusals`, "{not json", o)],
      [400, () => json("POST", `/admin/apps/${app}/tenants/refusals/api-keys`, { name: "k", scopes: ["root"] }, o)],
      [400, () => json("PATCH", `/admin/apps/${app}`, { settings: { no_such_setting: 1 } }, o)],
      [400, () => patchMember(app, support.id, { status: "gone" })],
      [401, () => json("PUT", `/admin/apps/${app}/tenants/refusals`, { login_methods: [] })],
      [401, () => acceptInvite(linkInvite.body.invite_token, "not the operator password")],
      [401, () => acceptInvite("tsi_" + "B".repeat(43))],
      [404, () => json("DELETE", `/admin/apps/${app}/tenants/nope`, undefined, o)],
      [404, () => json("DELETE", `/admin/apps/${app}/tenants/refusals/api-keys/0190a5b0-0000-7000-8000-000000000000`, undefined, o)],
      [404, () => patchMember(app, "0190a5b0-0000-7000-8000-000000000000", { status: "suspended" })],
      [404, () => inviteMember(app, `${unique("x")}@example.com`, ["support"], { tenant: "nope" })],
      [422, () => inviteMember(app, `${unique("x")}@example.com`, ["root"])],
      [422, () => patchMember(app, support.id, { roles: ["root"] })],
    ];
    for (const [status, attempt] of attempts) {
      const res = await attempt();
      expect(res.status, res.text).toBe(status);
    }
    expect(await auditLog(app)).toEqual(before);
  });

  it("pages newest first with limit and cursor, each entry once", async () => {
    const all = await auditLog(app);
    expect(all.length).toBeGreaterThan(5);
    const ids = all.map((e) => e.id);
    expect([...ids].sort().reverse()).toEqual(ids);
    const paged: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: JsonResponse = await json("GET", `/admin/apps/${app}/audit?limit=2${cursor ? `&cursor=${cursor}` : ""}`, undefined, await owner());
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      paged.push(...res.body.items);
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 100);
    expect(paged).toEqual(all);
    expect(pages).toBe(Math.ceil(all.length / 2));
    const first = await json("GET", `/admin/apps/${app}/audit`, undefined, await owner());
    expect(first.body.items).toEqual(all.slice(0, 50));
  });

  it("refuses a bad limit or cursor with 400", async () => {
    for (const q of ["limit=0", "limit=201", "limit=x", "cursor=%%%"]) {
      expectProblem(await json("GET", `/admin/apps/${app}/audit?${q}`, undefined, await owner()), 400, "validation_failed");
    }
  });

  it("filters by tenant, and never shows another app's entries", async () => {
    await putTenant(app, "filtered");
    await json("PUT", `/admin/apps/${app}/tenants/filtered`, { login_methods: [] }, await owner());
    await createApp("audited-other");
    await putTenant("audited-other", "filtered");
    const all = await auditLog(app);
    const filtered = await auditLog(app, "filtered");
    expect(filtered.map((e) => e.action)).toEqual(["tenant.update", "tenant.create"]);
    expect(filtered).toEqual(all.filter((e) => e.tenant_id === "filtered"));
    const page = await json("GET", `/admin/apps/${app}/audit?tenant_id=filtered&limit=1`, undefined, await owner());
    expect(page.body.items).toEqual(filtered.slice(0, 1));
    const rest = await json("GET", `/admin/apps/${app}/audit?tenant_id=filtered&limit=1&cursor=${page.body.next_cursor}`, undefined, await owner());
    expect(rest.body.items).toEqual(filtered.slice(1, 2));
    expect((await auditLog("audited-other", "filtered")).map((e) => e.action)).toEqual(["tenant.create"]);
    expect(await auditLog(app, "no-such-tenant")).toEqual([]);
    expectProblem(await json("GET", `/admin/apps/${app}/audit?tenant_id=Bad_Id`, undefined, await owner()), 400, "validation_failed");
  });

  it("a tenant-scoped auditor reads its tenant's entries only", async () => {
    const scoped = await activeMember(app, ["auditor"], { tenant: "filtered" });
    const own = await json("GET", `/admin/apps/${app}/audit?tenant_id=filtered&limit=200`, undefined, scoped.auth);
    expect(own.status).toBe(200);
    expect(own.body.items.length).toBeGreaterThan(0);
    expect(own.body.items.every((e: any) => e.tenant_id === "filtered")).toBe(true);
    expectProblem(await json("GET", `/admin/apps/${app}/audit`, undefined, scoped.auth), 403, "forbidden");
    expectProblem(await json("GET", `/admin/apps/${app}/audit?tenant_id=beta`, undefined, scoped.auth), 403, "forbidden");
  });
});

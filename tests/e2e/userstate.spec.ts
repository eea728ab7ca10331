// End-user state at the edge (issue 5): suspension, plans and rate limits, end-user roles and
// permissions per tenant, the signed billing webhook with plan-role reconciliation, user metadata,
// association with a second tenant, operator-created users and keyset listing, and the KV flags
// document that introspection reads — including what happens when KV or D1 throws.
//
// The worker runs with `faults` (see harness.ts) so that the failure specs can make KV reads or
// D1 writes throw; every other spec runs with no rule set. Every change is checked both where
// the operator sees it (the admin answer, GET user) and where a resource server sees it
// (introspection of a token issued *before* the change), so a spec cannot pass when nothing
// changed or nothing was refused.
import { describe, it, expect, beforeAll, afterEach } from "vitest";
import { createHmac } from "node:crypto";
import { useWorker, json, worker, type Faults, type JsonResponse } from "./harness";
import { PASSWORD, owner, createApp, putTenant, apiKey, base, bearer, at, introspect } from "./support";

const faults: Faults = {};
useWorker({ faults });

afterEach(() => {
  faults.kv = null;
  faults.d1 = null;
  faults.injected = [];
});

const APP = "ustate";
const A = base(APP, "acme");
const B = base(APP, "beta");
const ADMIN = `/admin/apps/${APP}`;
const tenantAdmin = (tenant: string) => `${ADMIN}/tenants/${tenant}`;
const userAdmin = (tenant: string, id: string) => `${tenantAdmin(tenant)}/users/${id}`;

/** Introspection keys of acme and beta. */
let keyA = "";
let keyB = "";
/** The app's current webhook secret (rotated in beforeAll, and again by one spec). */
let secret = "";

/** App-level end-user roles used throughout (name → permissions). */
const ROLE_DEFS: Record<string, string[]> = {
  viewer: ["docs.read"],
  editor: ["docs.write", "docs.read"],
  "pro-reports": ["reports.export", "api:calls"],
  "team-seats": ["seats.manage"],
  "priority-support": ["support:priority"],
};
/** Plans: tier → roles and default rate limit. */
const PLAN_DEFS: Record<string, { roles: string[]; rate_limit: number | null }> = {
  pro: { roles: ["pro-reports", "priority-support"], rate_limit: 600 },
  team: { roles: ["team-seats", "priority-support"], rate_limit: 1200 },
  basic: { roles: [], rate_limit: 60 },
};

/** The sorted union of the permissions of `roles` (per ROLE_DEFS). */
const permissionsOf = (roles: string[]) => [...new Set(roles.flatMap((r) => ROLE_DEFS[r]))].sort();
const sorted = (xs: string[]) => [...xs].sort();

// ---------------------------------------------------------------- request helpers

type Hdrs = Record<string, string>;
type Res = JsonResponse & { what: string };

/** A JSON request whose result carries `what` ("METHOD path body → status text") for messages. */
async function call(method: string, path: string, body?: unknown, headers: Hdrs = {}): Promise<Res> {
  const res = await json(method, path, body, headers);
  const sent = body === undefined ? "" : ` ${typeof body === "string" ? body : JSON.stringify(body)}`.slice(0, 300);
  return Object.assign(res, { what: `${method} ${path}${sent} → ${res.status} ${res.text.slice(0, 600)}` });
}

/** As the platform owner. */
async function admin(method: string, path: string, body?: unknown, headers: Hdrs = {}): Promise<Res> {
  return call(method, path, body, { ...(await owner()), ...headers });
}

function expectStatus(res: Res, status: number) {
  expect(res.status, res.what).toBe(status);
}

function expectProblem(res: Res, status: number, code: string) {
  expect(res.status, res.what).toBe(status);
  expect(res.headers.get("content-type"), res.what).toMatch(/^application\/problem\+json/);
  expect(res.body?.code, res.what).toBe(code);
}

/** Exactly the inactive answer of RFC 7662. */
function expectInactive(res: Res) {
  expect(res.status, res.what).toBe(200);
  expect(res.body, res.what).toEqual({ active: false });
}

function introspectRaw(path: string, key: string, token: string, headers: Hdrs = {}): Promise<Res> {
  return call("POST", `${path}/oauth/introspect`, `token=${encodeURIComponent(token)}`, {
    ...bearer(key),
    "content-type": "application/x-www-form-urlencoded",
    ...headers,
  });
}

interface Session {
  session_id: string;
  access_token: string;
  refresh_token: string;
}

async function signup(path: string, email: string): Promise<{ user: any; session: Session }> {
  const res = await call("POST", `${path}/auth/signup`, { email, password: PASSWORD });
  expectStatus(res, 201);
  return res.body;
}

function signinRaw(path: string, email: string, password = PASSWORD) {
  return call("POST", `${path}/auth/signin`, { email, password });
}

async function signin(path: string, email: string): Promise<{ user: any; session: Session }> {
  const res = await signinRaw(path, email);
  expectStatus(res, 200);
  return res.body;
}

const refresh = (path: string, refresh_token: string) => call("POST", `${path}/auth/refresh`, { refresh_token });
const me = (path: string, token: string) => call("GET", `${path}/auth/me`, undefined, bearer(token));

/** Admin call on a user that must succeed with `status`; returns the body. */
async function must(res: Promise<Res>, status = 200) {
  const r = await res;
  expectStatus(r, status);
  return r.body;
}

const suspend = (tenant: string, id: string, as?: Hdrs) =>
  as ? call("POST", `${userAdmin(tenant, id)}/suspend`, { reason: "spec" }, as) : admin("POST", `${userAdmin(tenant, id)}/suspend`, { reason: "spec" });
const unsuspend = (tenant: string, id: string, as?: Hdrs) =>
  as ? call("POST", `${userAdmin(tenant, id)}/unsuspend`, undefined, as) : admin("POST", `${userAdmin(tenant, id)}/unsuspend`);
const patchUser = (tenant: string, id: string, body: unknown, as?: Hdrs) =>
  as ? call("PATCH", userAdmin(tenant, id), body, as) : admin("PATCH", userAdmin(tenant, id), body);
const putRoles = (tenant: string, id: string, roles: string[], as?: Hdrs) =>
  as ? call("PUT", `${userAdmin(tenant, id)}/roles`, { roles }, as) : admin("PUT", `${userAdmin(tenant, id)}/roles`, { roles });
const getUser = (tenant: string, id: string, as?: Hdrs) =>
  as ? call("GET", userAdmin(tenant, id), undefined, as) : admin("GET", userAdmin(tenant, id));
const associate = (tenant: string, id: string) => admin("POST", `${userAdmin(tenant, id)}/associate`);
const revokeSessions = (tenant: string, id: string, as?: Hdrs) =>
  as ? call("POST", `${userAdmin(tenant, id)}/sessions/revoke`, undefined, as) : admin("POST", `${userAdmin(tenant, id)}/sessions/revoke`);
const metadataPath = (id: string) => `${ADMIN}/users/${id}/metadata`;

/** The KV flags document of (tenant, user), read from the real namespace; null when absent. */
async function flagsDoc(tenant: string, id: string): Promise<any> {
  return (await worker().kv()).get(`flags:${APP}:${tenant}:${id}`, "json");
}

/** Every audit entry of the app for `tenant` (newest first). */
async function audit(tenant?: string): Promise<any[]> {
  const entries: any[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const q = new URLSearchParams({ limit: "200" });
    if (tenant) q.set("tenant_id", tenant);
    if (cursor) q.set("cursor", cursor);
    const res = await admin("GET", `${ADMIN}/audit?${q}`);
    expectStatus(res, 200);
    entries.push(...res.body.items);
    cursor = res.body.next_cursor;
    if (!cursor) break;
  }
  return entries;
}

let sequence = 0;
const email = (label: string) => `${label}-${++sequence}@example.com`;

/** A user signed up in acme and associated with beta, with one session in each tenant. */
async function userInBothTenants(label: string) {
  const address = email(label);
  const a = await signup(A, address);
  const assoc = await associate("beta", a.user.id);
  expectStatus(assoc, 200);
  const b = await signin(B, address);
  expect(b.user.id).toBe(a.user.id);
  return { email: address, id: a.user.id as string, acme: a.session, beta: b.session };
}

// ---------------------------------------------------------------- billing webhook helpers

/** `t=<t>,v1=<hex HMAC-SHA256(key, "<t>.<raw>")>`. */
function signature(key: string, t: number, raw: string): string {
  return `t=${t},v1=${createHmac("sha256", key).update(`${t}.${raw}`).digest("hex")}`;
}

interface WebhookOptions {
  /** Signing secret (default: the current one). */
  key?: string;
  /** The worker's "now" in ms (sent as the test clock; default: the real now). */
  nowMs?: number;
  /** The signed timestamp in seconds (default: now). */
  t?: number;
  /** A Webhook-Signature header to send as is; null sends none. */
  header?: string | null;
  /** Body sent instead of the signed one (tampering). */
  sendRaw?: string;
  app?: string;
}

let eventSeq = 0;
const eventId = () => `evt_spec_${++eventSeq}_${Date.now()}`;

function planEvent(tenant: string, userId: string, plan_tier: string, event_id = eventId()) {
  return { event_id, type: "plan.updated", tenant_id: tenant, user_id: userId, plan_tier };
}

async function webhook(event: unknown, opts: WebhookOptions = {}): Promise<Res> {
  const raw = JSON.stringify(event);
  const nowMs = opts.nowMs ?? Date.now();
  const t = opts.t ?? Math.floor(nowMs / 1000);
  const header = opts.header === undefined ? signature(opts.key ?? secret, t, raw) : opts.header;
  const headers: Hdrs = { "content-type": "application/json", ...at(nowMs) };
  if (header !== null) headers["Webhook-Signature"] = header;
  return call("POST", `/apps/${opts.app ?? APP}/webhooks/billing`, opts.sendRaw ?? raw, headers);
}

// ---------------------------------------------------------------- fixtures

beforeAll(async () => {
  await createApp(APP);
  await putTenant(APP, "acme");
  await putTenant(APP, "beta");
  await putTenant(APP, "bulk");
  keyA = await apiKey(APP, "acme");
  keyB = await apiKey(APP, "beta");
  for (const [name, permissions] of Object.entries(ROLE_DEFS)) {
    const res = await admin("PUT", `${ADMIN}/roles/${name}`, { permissions });
    expectStatus(res, 200);
    expect(res.body.role.name, res.what).toBe(name);
    expect(sorted(res.body.role.permissions), res.what).toEqual(sorted(permissions));
  }
  for (const [tier, plan] of Object.entries(PLAN_DEFS)) {
    const res = await admin("PUT", `${ADMIN}/plans/${tier}`, plan);
    expectStatus(res, 200);
    expect(res.body.plan.tier, res.what).toBe(tier);
    expect(sorted(res.body.plan.roles), res.what).toEqual(sorted(plan.roles));
    expect(res.body.plan.rate_limit, res.what).toBe(plan.rate_limit);
  }
  const rotated = await admin("POST", `${ADMIN}/webhook-secret`);
  expectStatus(rotated, 200);
  expect(rotated.body.secret, rotated.what).toMatch(/^whsec_/);
  secret = rotated.body.secret;
});

// ================================================================ suspension

describe("suspension", () => {
  it("refuses sign-in, refresh and introspection at once, leaves the other tenant alone, and unsuspend restores all", async () => {
    const u = await userInBothTenants("suspend");
    const second = await signin(A, u.email); // every token the user holds for acme, not just one
    for (const s of [u.acme, second.session]) expect((await introspect(APP, "acme", keyA, s.access_token)).active).toBe(true);
    const auditBefore = (await audit("acme")).length;

    const res = await suspend("acme", u.id);
    expectStatus(res, 200);
    expect(res.body.user, res.what).toMatchObject({ id: u.id, tenant_id: "acme", status: "suspended" });

    // At once, in acme: both access tokens inactive, sign-in and refresh refused.
    for (const s of [u.acme, second.session]) expectInactive(await introspectRaw(A, keyA, s.access_token));
    expectProblem(await signinRaw(A, u.email), 403, "user_suspended");
    expectProblem(await refresh(A, u.acme.refresh_token), 403, "user_suspended");
    const meSuspended = await me(A, u.acme.access_token);
    expect([401, 403], meSuspended.what).toContain(meSuspended.status);
    expect((await getUser("acme", u.id)).body.user.status).toBe("suspended");
    expect((await flagsDoc("acme", u.id))?.status).toBe("suspended");

    // beta is another tenant: untouched.
    const betaIntro = await introspect(APP, "beta", keyB, u.beta.access_token);
    expect(betaIntro).toMatchObject({ active: true, status: "active", sub: u.id, tenant_id: "beta" });
    expectStatus(await signinRaw(B, u.email), 200);
    const betaRefresh = await refresh(B, u.beta.refresh_token);
    expectStatus(betaRefresh, 200);
    expect((await getUser("beta", u.id)).body.user.status).toBe("active");

    // Unsuspend restores everything: the old access tokens, the refused refresh token, sign-in.
    const back = await unsuspend("acme", u.id);
    expectStatus(back, 200);
    expect(back.body.user, back.what).toMatchObject({ id: u.id, status: "active" });
    for (const s of [u.acme, second.session]) {
      expect(await introspect(APP, "acme", keyA, s.access_token)).toMatchObject({ active: true, status: "active" });
    }
    expectStatus(await refresh(A, u.acme.refresh_token), 200);
    expectStatus(await signinRaw(A, u.email), 200);
    expectStatus(await me(A, second.session.access_token), 200);
    expect((await flagsDoc("acme", u.id))?.status).toBe("active");
    expect((await audit("acme")).length - auditBefore, "one audit entry per change").toBe(2);
  });

  it("does not reveal a suspension to a sign-in with a wrong password", async () => {
    const address = email("suspend-wrong");
    const { user } = await signup(A, address);
    expectStatus(await suspend("acme", user.id), 200);
    expectProblem(await signinRaw(A, address, "not the password"), 401, "invalid_credentials");
    expectProblem(await signinRaw(A, address), 403, "user_suspended");
  });

  it("revokes every session of a user in one tenant, answers the count, and leaves the other tenant alone", async () => {
    const u = await userInBothTenants("revoke");
    const second = (await signin(A, u.email)).session;
    const signedOut = (await signin(A, u.email)).session;
    expectStatus(await call("POST", `${A}/auth/signout`, undefined, bearer(signedOut.access_token)), 204);

    const res = await revokeSessions("acme", u.id);
    expectStatus(res, 200);
    expect(res.body, res.what).toEqual({ revoked: 2 }); // the signed-out session was no longer live

    for (const s of [u.acme, second]) {
      expectInactive(await introspectRaw(A, keyA, s.access_token));
      expectProblem(await refresh(A, s.refresh_token), 401, "invalid_token");
      expectStatus(await me(A, s.access_token), 401);
    }
    expect((await introspect(APP, "beta", keyB, u.beta.access_token)).active).toBe(true);
    expectStatus(await refresh(B, u.beta.refresh_token), 200);

    // Revocation is not suspension: the user signs in again, and nothing is left to revoke.
    expect((await admin("POST", `${userAdmin("acme", u.id)}/sessions/revoke`)).body).toEqual({ revoked: 0 });
    const again = await signin(A, u.email);
    expect((await introspect(APP, "acme", keyA, again.session.access_token)).active).toBe(true);
  });
});

// ================================================================ permissions of the caller

describe("permission checks", () => {
  it("refuses suspension, session revocation, plan and role changes to an API key with users:read only", async () => {
    const address = email("readonly-key");
    const { user, session } = await signup(A, address);
    const reader = bearer(await apiKey(APP, "acme", ["users:read"]));
    const seen = await getUser("acme", user.id, reader);
    expectStatus(seen, 200);
    expect(seen.body.user.id).toBe(user.id);
    const docBefore = await flagsDoc("acme", user.id);
    const auditBefore = (await audit("acme")).length;

    expectProblem(await suspend("acme", user.id, reader), 403, "forbidden");
    expectProblem(await revokeSessions("acme", user.id, reader), 403, "forbidden");
    expectProblem(await patchUser("acme", user.id, { plan_tier: "pro" }, reader), 403, "forbidden");
    expectProblem(await putRoles("acme", user.id, ["viewer"], reader), 403, "forbidden");

    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ active: true, status: "active", plan_tier: "free", roles: [] });
    expectStatus(await signinRaw(A, address), 200);
    expect(await flagsDoc("acme", user.id)).toEqual(docBefore);
    expect((await audit("acme")).length, "a refused request writes no audit entry").toBe(auditBefore);

    // The refusal is about the permission, not the key: users:suspend may suspend.
    const suspender = bearer(await apiKey(APP, "acme", ["users:suspend"]));
    expectStatus(await suspend("acme", user.id, suspender), 200);
    expectInactive(await introspectRaw(A, keyA, session.access_token));
    expectStatus(await unsuspend("acme", user.id, suspender), 200);
  });

  it("refuses a key of another tenant, whatever its scopes", async () => {
    const { user, session } = await signup(A, email("foreign-key"));
    const betaKey = bearer(await apiKey(APP, "beta", ["users:read", "users:suspend", "users:plan", "users:write"]));
    const res = await suspend("acme", user.id, betaKey);
    expect([403, 404], res.what).toContain(res.status);
    expect((await introspect(APP, "acme", keyA, session.access_token)).active).toBe(true);
  });
});

// ================================================================ plans and rate limits

describe("plans and rate limits", () => {
  it("shows an operator's plan change, the plan's roles and rate limit, and an override in introspection and /me at once", async () => {
    const { user, session } = await signup(A, email("plan-admin"));
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({
      active: true, plan_tier: "free", rate_limit: null, roles: [], permissions: [],
    });

    const pro = await patchUser("acme", user.id, { plan_tier: "pro" });
    expectStatus(pro, 200);
    expect(pro.body.user, pro.what).toMatchObject({ id: user.id, plan_tier: "pro", rate_limit: 600, permissions: permissionsOf(PLAN_DEFS.pro.roles) });
    expect(sorted(pro.body.user.roles)).toEqual(sorted(PLAN_DEFS.pro.roles));
    const seen = await introspect(APP, "acme", keyA, session.access_token);
    expect(seen).toMatchObject({ active: true, status: "active", plan_tier: "pro", rate_limit: 600, permissions: permissionsOf(PLAN_DEFS.pro.roles) });
    expect(sorted(seen.roles)).toEqual(sorted(PLAN_DEFS.pro.roles));
    const meRes = await me(A, session.access_token);
    expectStatus(meRes, 200);
    expect(meRes.body.user, meRes.what).toMatchObject({ plan_tier: "pro", rate_limit: 600 });
    expect(sorted(meRes.body.user.roles)).toEqual(sorted(PLAN_DEFS.pro.roles));

    // The override wins over the plan's default; PATCH leaves absent fields alone.
    const over = await patchUser("acme", user.id, { rate_limit_override: 42 });
    expectStatus(over, 200);
    expect(over.body.user, over.what).toMatchObject({ plan_tier: "pro", rate_limit: 42 });
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ plan_tier: "pro", rate_limit: 42 });
    expect((await me(A, session.access_token)).body.user.rate_limit).toBe(42);

    // Clearing the override falls back to the plan; "free" exists without being defined.
    expect((await must(patchUser("acme", user.id, { rate_limit_override: null }))).user.rate_limit).toBe(600);
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ rate_limit: 600 });
    const free = await must(patchUser("acme", user.id, { plan_tier: "free" }));
    expect(free.user).toMatchObject({ plan_tier: "free", rate_limit: null, roles: [], permissions: [] });
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ plan_tier: "free", rate_limit: null, roles: [], permissions: [] });
  });

  it("refuses an unknown plan tier with 422 unknown_plan and a plan with an undefined role with 422 unknown_role", async () => {
    const { user, session } = await signup(A, email("plan-unknown"));
    expectStatus(await patchUser("acme", user.id, { plan_tier: "basic" }), 200);
    expectProblem(await patchUser("acme", user.id, { plan_tier: "platinum" }), 422, "unknown_plan");
    expect((await getUser("acme", user.id)).body.user.plan_tier).toBe("basic");
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ plan_tier: "basic", rate_limit: 60 });

    expectProblem(await admin("PUT", `${ADMIN}/plans/ghostly`, { roles: ["no-such-role"], rate_limit: 5 }), 422, "unknown_role");
    expectProblem(await patchUser("acme", user.id, { plan_tier: "ghostly" }), 422, "unknown_plan");
  });
});

// ================================================================ billing webhook

describe("billing webhook", () => {
  it("applies a signed plan.updated: plan and roles in introspection at once, audited as webhook:billing", async () => {
    const { user, session } = await signup(A, email("hook-apply"));
    const before = await audit("acme");
    const res = await webhook(planEvent("acme", user.id, "team"));
    expectStatus(res, 200);
    expect(res.body, res.what).toEqual({ status: "applied" });

    const seen = await introspect(APP, "acme", keyA, session.access_token);
    expect(seen).toMatchObject({ active: true, plan_tier: "team", rate_limit: 1200, permissions: permissionsOf(PLAN_DEFS.team.roles) });
    expect(sorted(seen.roles)).toEqual(sorted(PLAN_DEFS.team.roles));
    expect((await getUser("acme", user.id)).body.user.plan_tier).toBe("team");

    const seenIds = new Set(before.map((e) => e.id));
    const added = (await audit("acme")).filter((e) => !seenIds.has(e.id));
    expect(added, JSON.stringify(added)).toHaveLength(1);
    expect(added[0]).toMatchObject({ actor: "webhook:billing", tenant_id: "acme" });
  });

  it("refuses a missing, malformed, wrong or tampered signature with 401 invalid_signature and changes nothing", async () => {
    const { user, session } = await signup(A, email("hook-badsig"));
    const event = planEvent("acme", user.id, "pro");
    const raw = JSON.stringify(event);
    const t = Math.floor(Date.now() / 1000);
    const good = signature(secret, t, raw);
    const tampered = JSON.stringify({ ...event, plan_tier: "team" });
    const auditBefore = (await audit("acme")).length;
    const cases: Array<[string, WebhookOptions]> = [
      ["no header", { header: null }],
      ["empty header", { header: "" }],
      ["no v1", { header: `t=${t}` }],
      ["no t", { header: good.split(",")[1] }],
      ["not hex", { header: `t=${t},v1=zz${good.slice(-62)}` }],
      ["wrong secret", { key: "whsec_not-the-secret" }],
      ["v1 of another timestamp", { header: `t=${t - 1},${good.split(",")[1]}` }],
      ["truncated v1", { header: good.slice(0, -2) }],
      ["tampered body", { header: good, sendRaw: tampered }],
    ];
    for (const [label, opts] of cases) {
      const res = await webhook(event, opts);
      expect(res.status, `${label}: ${res.what}`).toBe(401);
      expect(res.body?.code, `${label}: ${res.what}`).toBe("invalid_signature");
    }
    expect((await getUser("acme", user.id)).body.user.plan_tier).toBe("free");
    expect((await introspect(APP, "acme", keyA, session.access_token)).plan_tier).toBe("free");
    expect((await audit("acme")).length).toBe(auditBefore);

    // Refused requests did not consume the event id: the genuine event still applies.
    const genuine = await webhook(event);
    expectStatus(genuine, 200);
    expect(genuine.body).toEqual({ status: "applied" });
    expect((await introspect(APP, "acme", keyA, session.access_token)).plan_tier).toBe("pro");
  });

  it("stops accepting the old secret once it is rotated", async () => {
    const { user, session } = await signup(A, email("hook-rotate"));
    const old = secret;
    const rotated = await admin("POST", `${ADMIN}/webhook-secret`);
    expectStatus(rotated, 200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(old);
    secret = rotated.body.secret;
    expectProblem(await webhook(planEvent("acme", user.id, "pro"), { key: old }), 401, "invalid_signature");
    expect((await introspect(APP, "acme", keyA, session.access_token)).plan_tier).toBe("free");
    expectStatus(await webhook(planEvent("acme", user.id, "pro")), 200);
    expect((await introspect(APP, "acme", keyA, session.access_token)).plan_tier).toBe("pro");
  });

  it("refuses every event of an app that has no webhook secret yet", async () => {
    await createApp("nosecret");
    await putTenant("nosecret", "acme");
    const { user } = await signup(base("nosecret", "acme"), email("hook-nosecret"));
    for (const key of ["", "whsec_", secret]) {
      const res = await webhook(planEvent("acme", user.id, "free"), { app: "nosecret", key });
      expectProblem(res, 401, "invalid_signature");
    }
  });

  it("refuses a timestamp more than 300 s from the worker's now with 401 invalid_signature", async () => {
    const { user, session } = await signup(A, email("hook-stale"));
    const now = Date.now() + 3_600_000; // the worker's now, through the test clock
    const nowS = Math.floor(now / 1000);
    for (const t of [nowS - 301, nowS + 301, nowS - 86_400]) {
      const res = await webhook(planEvent("acme", user.id, "pro"), { nowMs: now, t });
      expect(res.status, `t = now ${t - nowS} s: ${res.what}`).toBe(401);
      expect(res.body?.code, res.what).toBe("invalid_signature");
    }
    // Also an event signed at a real time, delivered when the worker's clock is 301 s later.
    const event = planEvent("acme", user.id, "pro");
    const late = await webhook(event, { t: nowS, nowMs: now + 301_000 });
    expectProblem(late, 401, "invalid_signature");
    expect((await introspect(APP, "acme", keyA, session.access_token)).plan_tier).toBe("free");

    // Within 300 s either side is accepted.
    const early = await webhook(planEvent("acme", user.id, "basic"), { nowMs: now, t: nowS - 299 });
    expectStatus(early, 200);
    expect((await introspect(APP, "acme", keyA, session.access_token)).plan_tier).toBe("basic");
    expectStatus(await webhook(planEvent("acme", user.id, "pro"), { nowMs: now, t: nowS + 299 }), 200);
    expect((await introspect(APP, "acme", keyA, session.access_token)).plan_tier).toBe("pro");
  });

  it("answers a replayed event_id with 200 duplicate and changes nothing, even with another body", async () => {
    const { user, session } = await signup(A, email("hook-replay"));
    const first = planEvent("acme", user.id, "pro");
    const applied = await webhook(first);
    expectStatus(applied, 200);
    expect(applied.body).toEqual({ status: "applied" });
    // Meanwhile an operator moves the user on.
    expectStatus(await patchUser("acme", user.id, { plan_tier: "basic" }), 200);
    const docBefore = await flagsDoc("acme", user.id);
    const auditBefore = (await audit("acme")).length;

    const replay = await webhook(first); // freshly signed, same event
    expectStatus(replay, 200);
    expect(replay.body, replay.what).toEqual({ status: "duplicate" });
    const sameIdOtherPlan = await webhook({ ...first, plan_tier: "team" });
    expectStatus(sameIdOtherPlan, 200);
    expect(sameIdOtherPlan.body, sameIdOtherPlan.what).toEqual({ status: "duplicate" });

    expect((await getUser("acme", user.id)).body.user.plan_tier).toBe("basic");
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ plan_tier: "basic", rate_limit: 60 });
    expect(await flagsDoc("acme", user.id)).toEqual(docBefore);
    expect((await audit("acme")).length).toBe(auditBefore);
  });

  it("refuses an unknown plan tier with 422 unknown_plan and changes nothing", async () => {
    const { user, session } = await signup(A, email("hook-unknown"));
    const res = await webhook(planEvent("acme", user.id, "diamond"));
    expectProblem(res, 422, "unknown_plan");
    expect((await getUser("acme", user.id)).body.user.plan_tier).toBe("free");
    expect((await introspect(APP, "acme", keyA, session.access_token)).plan_tier).toBe("free");
  });
});

// ================================================================ roles

describe("end-user roles", () => {
  it("reconciles plan-derived roles on billing events and keeps hand-assigned ones", async () => {
    const handy = await signup(A, email("reconcile-hand"));
    const plain = await signup(A, email("reconcile-plain")); // control: nothing assigned by hand
    // By hand: editor, and priority-support, which is also a role of pro and team.
    expectStatus(await putRoles("acme", handy.user.id, ["editor", "priority-support"]), 200);

    const expectRoles = async (u: { user: any; session: Session }, roles: string[], plan: string) => {
      const seen = await introspect(APP, "acme", keyA, u.session.access_token);
      expect(seen.plan_tier).toBe(plan);
      expect(sorted(seen.roles), `roles of ${u.user.email} on ${plan}`).toEqual(sorted(roles));
      expect(seen.permissions).toEqual(permissionsOf(roles));
      const viaAdmin = (await getUser("acme", u.user.id)).body.user;
      expect(sorted(viaAdmin.roles)).toEqual(sorted(roles));
    };

    for (const u of [handy, plain]) expectStatus(await webhook(planEvent("acme", u.user.id, "pro")), 200);
    await expectRoles(handy, ["editor", "priority-support", "pro-reports"], "pro");
    await expectRoles(plain, ["pro-reports", "priority-support"], "pro");

    // pro → team: pro-reports out, team-seats in; hand-assigned roles stay.
    for (const u of [handy, plain]) expectStatus(await webhook(planEvent("acme", u.user.id, "team")), 200);
    await expectRoles(handy, ["editor", "priority-support", "team-seats"], "team");
    await expectRoles(plain, ["team-seats", "priority-support"], "team");

    // team → basic (no roles): priority-support leaves the control user but not the one who
    // holds it by hand.
    for (const u of [handy, plain]) expectStatus(await webhook(planEvent("acme", u.user.id, "basic")), 200);
    await expectRoles(handy, ["editor", "priority-support"], "basic");
    await expectRoles(plain, [], "basic");

    // An operator's plan change reconciles the same way.
    expectStatus(await patchUser("acme", handy.user.id, { plan_tier: "pro" }), 200);
    await expectRoles(handy, ["editor", "priority-support", "pro-reports"], "pro");
    // Replacing the hand-assigned roles leaves the plan's roles in place.
    expectStatus(await putRoles("acme", handy.user.id, []), 200);
    await expectRoles(handy, ["pro-reports", "priority-support"], "pro");
    expectStatus(await patchUser("acme", handy.user.id, { plan_tier: "free" }), 200);
    await expectRoles(handy, [], "free");
  });

  it("assigns roles per tenant: the same user is editor in acme and viewer in beta", async () => {
    const u = await userInBothTenants("roles-tenants");
    const inAcme = await putRoles("acme", u.id, ["editor"]);
    expectStatus(inAcme, 200);
    expect(inAcme.body.user, inAcme.what).toMatchObject({ tenant_id: "acme", roles: ["editor"], permissions: ["docs.read", "docs.write"] });
    const inBeta = await putRoles("beta", u.id, ["viewer"]);
    expectStatus(inBeta, 200);
    expect(inBeta.body.user, inBeta.what).toMatchObject({ tenant_id: "beta", roles: ["viewer"], permissions: ["docs.read"] });

    expect(await introspect(APP, "acme", keyA, u.acme.access_token)).toMatchObject({ tenant_id: "acme", roles: ["editor"], permissions: ["docs.read", "docs.write"] });
    expect(await introspect(APP, "beta", keyB, u.beta.access_token)).toMatchObject({ tenant_id: "beta", roles: ["viewer"], permissions: ["docs.read"] });
    expect((await me(A, u.acme.access_token)).body.user).toMatchObject({ roles: ["editor"], permissions: ["docs.read", "docs.write"] });
    expect((await me(B, u.beta.access_token)).body.user).toMatchObject({ roles: ["viewer"], permissions: ["docs.read"] });

    // A plan in one tenant is not a plan in the other.
    expectStatus(await patchUser("acme", u.id, { plan_tier: "pro" }), 200);
    expect(await introspect(APP, "beta", keyB, u.beta.access_token)).toMatchObject({ plan_tier: "free", rate_limit: null, roles: ["viewer"] });
    expect((await getUser("beta", u.id)).body.user).toMatchObject({ plan_tier: "free", roles: ["viewer"] });
  });

  it("refuses an undefined role with 422 unknown_role and keeps the roles as they were", async () => {
    const { user, session } = await signup(A, email("roles-unknown"));
    expectStatus(await putRoles("acme", user.id, ["viewer"]), 200);
    expectProblem(await putRoles("acme", user.id, ["viewer", "wizard"]), 422, "unknown_role");
    expect((await getUser("acme", user.id)).body.user.roles).toEqual(["viewer"]);
    expect((await introspect(APP, "acme", keyA, session.access_token)).roles).toEqual(["viewer"]);
  });

  it("applies a redefined role or plan to the users who hold it at once", async () => {
    expectStatus(await admin("PUT", `${ADMIN}/roles/shifting`, { permissions: ["old.perm"] }), 200);
    expectStatus(await admin("PUT", `${ADMIN}/plans/shifting-plan`, { roles: ["shifting"], rate_limit: 5 }), 200);
    const { user, session } = await signup(A, email("redefine"));
    expectStatus(await patchUser("acme", user.id, { plan_tier: "shifting-plan" }), 200);
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ roles: ["shifting"], permissions: ["old.perm"], rate_limit: 5 });

    expectStatus(await admin("PUT", `${ADMIN}/roles/shifting`, { permissions: ["new.perm"] }), 200);
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ roles: ["shifting"], permissions: ["new.perm"] });
    expectStatus(await admin("PUT", `${ADMIN}/plans/shifting-plan`, { roles: [], rate_limit: 9 }), 200);
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ plan_tier: "shifting-plan", roles: [], permissions: [], rate_limit: 9 });
    expect((await getUser("acme", user.id)).body.user).toMatchObject({ roles: [], permissions: [], rate_limit: 9 });
  });

  it("validates role names and permission strings with 400 and lists the defined roles", async () => {
    for (const name of ["Bad", "-lead", "has space", "x".repeat(64), "dots.not.allowed"]) {
      const res = await admin("PUT", `${ADMIN}/roles/${encodeURIComponent(name)}`, { permissions: ["docs.read"] });
      expect([400, 404], `role ${name}: ${res.what}`).toContain(res.status);
    }
    for (const permissions of [["Upper"], ["has space"], [""], ["x".repeat(129)], "docs.read", [1]]) {
      const res = await admin("PUT", `${ADMIN}/roles/ok-role`, { permissions });
      expectProblem(res, 400, "validation_failed");
    }
    const longest = await admin("PUT", `${ADMIN}/roles/${"r".repeat(63)}`, { permissions: ["p".repeat(128), "a:b.c-d_e"] });
    expectStatus(longest, 200);

    const list = await admin("GET", `${ADMIN}/roles?limit=200`);
    expectStatus(list, 200);
    expect(list.body.next_cursor).toBeNull();
    const byName = Object.fromEntries(list.body.items.map((r: any) => [r.name, r.permissions]));
    for (const [name, permissions] of Object.entries(ROLE_DEFS)) expect(sorted(byName[name] ?? []), name).toEqual(sorted(permissions));
    expect(byName["ok-role"], "a refused definition is not stored").toBeUndefined();
  });
});

// ================================================================ metadata

describe("user metadata", () => {
  it("merges patches as RFC 7396 and is the same for every tenant of the app", async () => {
    const u = await userInBothTenants("metadata");
    expect(await must(admin("GET", metadataPath(u.id)))).toEqual({ metadata: {} });

    const first = await admin("PATCH", metadataPath(u.id), { theme: "dark", prefs: { lang: "fr", tz: "UTC", deep: { a: 1 } }, tags: ["a", "b"] });
    expectStatus(first, 200);
    expect(first.body).toEqual({ metadata: { theme: "dark", prefs: { lang: "fr", tz: "UTC", deep: { a: 1 } }, tags: ["a", "b"] } });

    // null deletes, objects merge recursively, arrays and scalars replace.
    const second = await admin("PATCH", metadataPath(u.id), { theme: null, prefs: { tz: null, lang: "de", deep: { b: 2 } }, tags: ["c"], plan: { seats: 3 } });
    expectStatus(second, 200);
    const merged = { prefs: { lang: "de", deep: { a: 1, b: 2 } }, tags: ["c"], plan: { seats: 3 } };
    expect(second.body, second.what).toEqual({ metadata: merged });
    expect(await must(admin("GET", metadataPath(u.id)))).toEqual({ metadata: merged });
    // Deleting a key that is not there is no error; an empty patch changes nothing.
    expect(await must(admin("PATCH", metadataPath(u.id), { nothing: null }))).toEqual({ metadata: merged });
    expect(await must(admin("PATCH", metadataPath(u.id), {}))).toEqual({ metadata: merged });

    expectProblem(await admin("GET", metadataPath("01900000-0000-7000-8000-000000000000")), 404, "user_not_found");
    expectProblem(await admin("PATCH", metadataPath("01900000-0000-7000-8000-000000000000"), { a: 1 }), 404, "user_not_found");
  });

  it("refuses a patch whose merged result exceeds 16 KiB with 413 and keeps the metadata", async () => {
    const { user } = await signup(A, email("metadata-big"));
    const nine = "x".repeat(9 * 1024);
    expectStatus(await admin("PATCH", metadataPath(user.id), { a: nine }), 200);
    // The patch alone is small enough; the merged document is not.
    const res = await admin("PATCH", metadataPath(user.id), { b: nine });
    expectProblem(res, 413, "payload_too_large");
    expect(await must(admin("GET", metadataPath(user.id)))).toEqual({ metadata: { a: nine } });
    // Replacing instead of adding fits.
    expect(await must(admin("PATCH", metadataPath(user.id), { a: null, b: nine }))).toEqual({ metadata: { b: nine } });
  });

  it("accepts a result of exactly 16 KiB serialized and refuses one byte more", async () => {
    const { user } = await signup(A, email("metadata-edge"));
    const pad = (n: number) => "y".repeat(n - JSON.stringify({ pad: "" }).length);
    const exact = { pad: pad(16 * 1024) };
    expect(JSON.stringify(exact).length).toBe(16 * 1024);
    const ok = await admin("PATCH", metadataPath(user.id), exact);
    expectStatus(ok, 200);
    const over = await admin("PATCH", metadataPath(user.id), { pad: pad(16 * 1024 + 1) });
    expectProblem(over, 413, "payload_too_large");
    expect(await must(admin("GET", metadataPath(user.id)))).toEqual({ metadata: exact });
  });
});

// ================================================================ association

describe("association with a second tenant", () => {
  it("lets the user sign in to the second tenant with the same credentials and a separate session", async () => {
    const address = email("assoc");
    const a = await signup(A, address);
    expectProblem(await signinRaw(B, address), 401, "invalid_credentials");
    expectProblem(await getUser("beta", a.user.id), 404, "user_not_found");

    const res = await associate("beta", a.user.id);
    expectStatus(res, 200);
    expect(res.body.user, res.what).toMatchObject({ id: a.user.id, email: address, tenant_id: "beta", status: "active", plan_tier: "free", roles: [] });
    expect((await getUser("beta", a.user.id)).body.user.id).toBe(a.user.id);

    const b = await signin(B, address);
    expect(b.user).toMatchObject({ id: a.user.id, tenant_id: "beta" });
    expect(b.session.session_id).not.toBe(a.session.session_id);
    // Sessions stay per tenant.
    expectInactive(await introspectRaw(B, keyB, a.session.access_token));
    expectInactive(await introspectRaw(A, keyA, b.session.access_token));
    expectProblem(await refresh(B, a.session.refresh_token), 401, "invalid_token");

    // Signing out of beta leaves acme's session alive, and the reverse.
    expectStatus(await call("POST", `${B}/auth/signout`, undefined, bearer(b.session.access_token)), 204);
    expectInactive(await introspectRaw(B, keyB, b.session.access_token));
    expect((await introspect(APP, "acme", keyA, a.session.access_token)).active).toBe(true);
    expectStatus(await refresh(A, a.session.refresh_token), 200);
    const b2 = await signin(B, address);
    expectStatus(await call("POST", `${A}/auth/signout`, undefined, bearer(a.session.access_token)), 204);
    expect((await introspect(APP, "beta", keyB, b2.session.access_token)).active).toBe(true);
  });

  it("starts a re-created tenant empty in KV: the deleted incarnation's roles never come back", async () => {
    const address = email("namesake");
    const a = await signup(A, address);
    await putTenant(APP, "gamma");
    expectStatus(await associate("gamma", a.user.id), 200);
    expectStatus(await putRoles("gamma", a.user.id, ["viewer"]), 200);
    const oldDoc = await flagsDoc("gamma", a.user.id);
    expect(oldDoc.roles).toEqual(["viewer"]);
    expectStatus(await admin("DELETE", tenantAdmin("gamma")), 204);

    await putTenant(APP, "gamma");
    const keyG = await apiKey(APP, "gamma");
    expectStatus(await associate("gamma", a.user.id), 200);
    const g = await signin(base(APP, "gamma"), address);
    expect(await introspect(APP, "gamma", keyG, g.session.access_token)).toMatchObject({ active: true, roles: [], permissions: [] });
    // A copy of the deleted incarnation's document lingering in KV (another location, a write
    // that landed late) is ignored: it belongs to an older tenant.
    await (await worker().kv()).put(`flags:${APP}:gamma:${a.user.id}`, JSON.stringify(oldDoc));
    expect(await introspect(APP, "gamma", keyG, g.session.access_token)).toMatchObject({ active: true, roles: [], permissions: [] });
  });

  it("refuses to associate a user with a tenant that has the email already (409 email_taken)", async () => {
    const address = email("assoc-taken");
    const a = await signup(A, address);
    const other = await signup(B, address); // another user with the same email in beta
    expect(other.user.id).not.toBe(a.user.id);
    expectProblem(await associate("beta", a.user.id), 409, "email_taken");
    expect((await signin(B, address)).user.id).toBe(other.user.id);
    expectProblem(await getUser("beta", a.user.id), 404, "user_not_found");
  });
});

// ================================================================ operator-created users and listing

describe("operator-created users", () => {
  it("creates a user with or without a password, and refuses a taken email with 409", async () => {
    const address = email("created");
    const res = await admin("POST", `${tenantAdmin("acme")}/users`, { email: `  ${address.toUpperCase()}`, password: PASSWORD });
    expectStatus(res, 201);
    expect(res.body.user, res.what).toMatchObject({ email: address, tenant_id: "acme", status: "active", plan_tier: "free", roles: [] });
    expect((await signin(A, address)).user.id).toBe(res.body.user.id);
    expectProblem(await admin("POST", `${tenantAdmin("acme")}/users`, { email: address }), 409, "email_taken");
    expectProblem(await call("POST", `${A}/auth/signup`, { email: address, password: PASSWORD }), 409, "email_taken");

    const nopass = email("created-nopass");
    const bare = await admin("POST", `${tenantAdmin("acme")}/users`, { email: nopass });
    expectStatus(bare, 201);
    expectProblem(await signinRaw(A, nopass), 401, "invalid_credentials");
  });
});

describe("listing users", () => {
  const TOTAL = 1000;
  const PAGE = 37;
  const users: Array<{ id: string; email: string; status: string; plan: string }> = [];

  beforeAll(async () => {
    const auth = await owner();
    const path = `${tenantAdmin("bulk")}/users`;
    // 100 vip- addresses among 1,000; every 33rd user suspended, every 7th on pro (some of them
    // vip-, some suspended).
    const emails = Array.from({ length: TOTAL }, (_, i) =>
      i % 10 === 3 ? `vip-${String(i).padStart(4, "0")}@bulk.example` : `user-${String(i).padStart(4, "0")}@bulk.example`,
    );
    for (let i = 0; i < TOTAL; i += 50) {
      const batch = await Promise.all(emails.slice(i, i + 50).map((e) => json("POST", path, { email: e }, auth)));
      for (const [j, res] of batch.entries()) {
        if (res.status !== 201) throw new Error(`create ${emails[i + j]}: ${res.status} ${res.text}`);
        users.push({ id: res.body.user.id, email: emails[i + j], status: "active", plan: "free" });
      }
    }
    // Two phases, so that no two changes of one user race each other.
    const expectOk = (what: string) => (r: JsonResponse) => {
      if (r.status !== 200) throw new Error(`${what}: ${r.status} ${r.text}`);
    };
    const suspended = users.filter((_, i) => i % 33 === 0);
    await Promise.all(suspended.map((u) => {
      u.status = "suspended";
      return json("POST", `${userAdmin("bulk", u.id)}/suspend`, {}, auth).then(expectOk("suspend"));
    }));
    const pro = users.filter((_, i) => i % 7 === 3);
    await Promise.all(pro.map((u) => {
      u.plan = "pro";
      return json("PATCH", userAdmin("bulk", u.id), { plan_tier: "pro" }, auth).then(expectOk("plan"));
    }));
  }, 120_000);

  /** Pages through `query` with limit=37; returns the pages (ids), checking each one's shape. */
  async function pages(query: Record<string, string> = {}): Promise<any[][]> {
    const out: any[][] = [];
    let cursor: string | null = null;
    for (let n = 0; n < 100; n++) {
      const q = new URLSearchParams({ ...query, limit: String(PAGE) });
      if (cursor) q.set("cursor", cursor);
      const res = await admin("GET", `${tenantAdmin("bulk")}/users?${q}`);
      expectStatus(res, 200);
      expect(res.body.items.length, res.what.slice(0, 200)).toBeLessThanOrEqual(PAGE);
      out.push(res.body.items);
      cursor = res.body.next_cursor;
      if (!cursor) return out;
    }
    throw new Error(`no end after 100 pages of ${JSON.stringify(query)}`);
  }

  const idsOf = (ps: any[][]) => ps.flat().map((u) => u.id);

  it("returns each of 1,000 users exactly once in pages of 37", async () => {
    const ps = await pages();
    const ids = idsOf(ps);
    expect(new Set(ids).size, "no user twice").toBe(ids.length);
    expect(sorted(ids)).toEqual(sorted(users.map((u) => u.id)));
    expect(ps.length).toBe(Math.ceil(TOTAL / PAGE));
    for (const p of ps.slice(0, -1)) expect(p.length).toBe(PAGE);
    for (const u of ps.flat()) expect(u.tenant_id).toBe("bulk");
  });

  it("filters by status, plan tier and email prefix, alone and together, across pages", async () => {
    const expectIds = async (query: Record<string, string>, pick: (u: (typeof users)[number]) => boolean) => {
      const want = users.filter(pick).map((u) => u.id);
      expect(want.length, `fixture for ${JSON.stringify(query)}`).toBeGreaterThan(0);
      expect(want.length, `fixture for ${JSON.stringify(query)}`).toBeLessThan(TOTAL);
      const ids = idsOf(await pages(query));
      expect(new Set(ids).size, `duplicates for ${JSON.stringify(query)}`).toBe(ids.length);
      expect(sorted(ids), JSON.stringify(query)).toEqual(sorted(want));
    };
    await expectIds({ status: "suspended" }, (u) => u.status === "suspended");
    await expectIds({ status: "active" }, (u) => u.status === "active");
    await expectIds({ plan_tier: "pro" }, (u) => u.plan === "pro");
    await expectIds({ email: "vip-" }, (u) => u.email.startsWith("vip-"));
    await expectIds({ email: "user-01" }, (u) => u.email.startsWith("user-01"));
    await expectIds({ status: "suspended", plan_tier: "pro" }, (u) => u.status === "suspended" && u.plan === "pro");
    await expectIds({ status: "active", plan_tier: "pro", email: "vip-" }, (u) => u.status === "active" && u.plan === "pro" && u.email.startsWith("vip-"));
    const none = await admin("GET", `${tenantAdmin("bulk")}/users?plan_tier=team`);
    expect(none.body, none.what).toEqual({ items: [], next_cursor: null });
  });

  it("treats the email filter as a literal prefix: % and _ match only themselves", async () => {
    for (const email of ["%", "user_", "_ser-", "vip-%"]) {
      const res = await admin("GET", `${tenantAdmin("bulk")}/users?${new URLSearchParams({ email })}`);
      expectStatus(res, 200);
      expect(res.body.items, `email=${email}: ${res.what.slice(0, 300)}`).toEqual([]);
    }
  });

  it("refuses limits outside 1..200 with 400 validation_failed", async () => {
    for (const q of ["limit=0", "limit=201", "limit=x"]) {
      expectProblem(await admin("GET", `${tenantAdmin("bulk")}/users?${q}`), 400, "validation_failed");
    }
  });
});

// ================================================================ the KV flags document

describe("the KV flags document", () => {
  it("is rewritten from D1 on every change, with a version that grows each time", async () => {
    const { user, session } = await signup(A, email("doc"));
    const versions: number[] = [];
    const check = async (expected: Record<string, unknown>) => {
      const doc = await flagsDoc("acme", user.id);
      expect(doc, "the flags document exists after a change").not.toBeNull();
      expect(doc).toMatchObject(expected);
      const viaAdmin = (await getUser("acme", user.id)).body.user;
      expect(doc.status).toBe(viaAdmin.status);
      expect(doc.plan_tier).toBe(viaAdmin.plan_tier);
      expect(doc.rate_limit).toBe(viaAdmin.rate_limit);
      expect(sorted(doc.roles)).toEqual(sorted(viaAdmin.roles));
      expect(doc.permissions).toEqual(viaAdmin.permissions);
      versions.push(doc.version);
    };
    expectStatus(await patchUser("acme", user.id, { plan_tier: "pro" }), 200);
    await check({ status: "active", plan_tier: "pro", rate_limit: 600 });
    expectStatus(await putRoles("acme", user.id, ["viewer"]), 200);
    await check({ permissions: permissionsOf(["viewer", ...PLAN_DEFS.pro.roles]) });
    expectStatus(await patchUser("acme", user.id, { rate_limit_override: 7 }), 200);
    await check({ rate_limit: 7 });
    expectStatus(await suspend("acme", user.id), 200);
    await check({ status: "suspended" });
    expectStatus(await unsuspend("acme", user.id), 200);
    await check({ status: "active" });
    expectStatus(await webhook(planEvent("acme", user.id, "team")), 200);
    await check({ plan_tier: "team", rate_limit: 7 });
    for (let i = 1; i < versions.length; i++) expect(versions[i], `versions ${versions}`).toBeGreaterThan(versions[i - 1]);

    // A tampered copy is not patched: the next change rewrites the whole document from D1.
    const kv = await worker().kv();
    const key = `flags:${APP}:acme:${user.id}`;
    await kv.put(key, JSON.stringify({ status: "active", plan_tier: "bogus", rate_limit: 1, roles: ["hacked"], permissions: ["root"], version: versions.at(-1) }));
    expectStatus(await putRoles("acme", user.id, ["editor"]), 200);
    const doc = await flagsDoc("acme", user.id);
    expect(doc).toMatchObject({ status: "active", plan_tier: "team", rate_limit: 7 });
    expect(sorted(doc.roles)).toEqual(sorted(["editor", ...PLAN_DEFS.team.roles]));
    expect(doc.permissions).toEqual(permissionsOf(["editor", ...PLAN_DEFS.team.roles]));
    expect(doc.version).toBeGreaterThan(versions.at(-1)!);
    expect((await introspect(APP, "acme", keyA, session.access_token)).roles).not.toContain("hacked");
  });

  it("judges a user without a document from its token: active, free, no roles — never suspended", async () => {
    const fresh = await signup(A, email("doc-absent"));
    expect(await introspect(APP, "acme", keyA, fresh.session.access_token)).toMatchObject({
      active: true, status: "active", plan_tier: "free", rate_limit: null, roles: [], permissions: [],
    });

    const { user, session } = await signup(A, email("doc-deleted"));
    expectStatus(await putRoles("acme", user.id, ["viewer"]), 200);
    expect((await introspect(APP, "acme", keyA, session.access_token)).roles).toEqual(["viewer"]);
    await (await worker().kv()).delete(`flags:${APP}:acme:${user.id}`);
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({
      active: true, status: "active", plan_tier: "free", rate_limit: null, roles: [], permissions: [],
    });
  });
});

// ================================================================ failures

function injectedKv(): string[] {
  return (faults.injected ?? []).filter((c) => c.binding === "kv").map((c: any) => `${c.op} ${c.key}`);
}

function injectedD1(): string[] {
  return (faults.injected ?? []).filter((c) => c.binding === "d1").map((c: any) => `${c.op}: ${c.sql.join("; ")}`);
}

/** 503 unavailable as a problem document that reveals nothing of the cause. */
function expectUnavailable(res: Res) {
  expectProblem(res, 503, "unavailable");
  expect(res.text).not.toMatch(/SELECT|INSERT|UPDATE|tenant_users|D1_ERROR|KV_ERROR|injected|flags:|wasm/i);
}

const isWrite = (sql: string) => /^\s*(INSERT|UPDATE|DELETE|REPLACE|UPSERT)\b/i.test(sql);

describe("storage failures", () => {
  it("answers {active: false} when the flags read throws during introspection, whether or not a document exists", async () => {
    const withDoc = await signup(A, email("kv-throws-doc"));
    expectStatus(await patchUser("acme", withDoc.user.id, { plan_tier: "pro" }), 200);
    const withoutDoc = await signup(A, email("kv-throws-nodoc"));
    for (const u of [withDoc, withoutDoc]) {
      expect((await introspect(APP, "acme", keyA, u.session.access_token)).active).toBe(true);
      faults.injected = [];
      faults.kv = (c) => c.key.startsWith("flags:");
      expectInactive(await introspectRaw(A, keyA, u.session.access_token));
      expect(injectedKv(), "the flags read of this user was made to throw").toContainEqual(expect.stringMatching(new RegExp(`flags:${APP}:acme:${u.user.id}$`)));
      faults.kv = null;
      expect((await introspect(APP, "acme", keyA, u.session.access_token)).active, "nothing sticks").toBe(true);
    }
  });

  it("introspects from KV alone: with every D1 call failing, the flags and revocation reads decide", async () => {
    const { user, session } = await signup(A, email("no-d1"));
    expectStatus(await patchUser("acme", user.id, { plan_tier: "pro" }), 200);
    expectStatus(await introspectRaw(A, keyA, session.access_token), 200); // warm the isolate
    const reads: string[] = [];
    faults.kv = (c) => {
      reads.push(`${c.op} ${c.key}`);
      return false;
    };
    faults.d1 = () => true;
    const res = await introspectRaw(A, keyA, session.access_token);
    expect(res.body, res.what).toMatchObject({ active: true, plan_tier: "pro", rate_limit: 600, permissions: permissionsOf(PLAN_DEFS.pro.roles) });
    expect(injectedD1(), "introspection read D1").toEqual([]);
    // ONE KV read per token: the user's edge document (its state and its sessions'
    // revocations; the API key and the policy come from the isolate).
    expect(reads, `KV reads: ${reads.join(", ")}`).toEqual([`get flags:${APP}:acme:${user.id}`]);
  });

  it("answers 503 and leaves D1 and KV as they were when the suspension's D1 write throws", async () => {
    const address = email("d1-suspend");
    const { user, session } = await signup(A, address);
    expectStatus(await patchUser("acme", user.id, { plan_tier: "pro" }), 200); // so a document exists
    const docBefore = await flagsDoc("acme", user.id);
    expect(docBefore).not.toBeNull();
    const auditBefore = (await audit("acme")).length;

    faults.d1 = (c) => (c.op === "batch" || c.op === "run" || c.op === "exec") && c.sql.some(isWrite);
    const res = await suspend("acme", user.id);
    expectUnavailable(res);
    expect(injectedD1().length, "a D1 write was made to throw").toBeGreaterThan(0);
    faults.d1 = null;

    const row: any = await (await worker().db())
      .prepare("SELECT status FROM tenant_users WHERE app_id = ?1 AND tenant_id = ?2 AND user_id = ?3")
      .bind(APP, "acme", user.id)
      .first();
    expect(row.status).toBe("active");
    expect(await flagsDoc("acme", user.id)).toEqual(docBefore);
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ active: true, status: "active", plan_tier: "pro" });
    expectStatus(await signinRaw(A, address), 200);
    expect((await getUser("acme", user.id)).body.user.status).toBe("active");
    expect((await audit("acme")).length, "no audit entry for a change that did not happen").toBe(auditBefore);

    // With D1 back, the same request suspends.
    expectStatus(await suspend("acme", user.id), 200);
    expectInactive(await introspectRaw(A, keyA, session.access_token));
  });

  it("keeps a suspension whose edge document could not be written (200, D1 has it at once) and the sweep converges KV", async () => {
    const address = email("kv-suspend");
    const { user, session } = await signup(A, address);
    expectStatus(await patchUser("acme", user.id, { plan_tier: "pro" }), 200); // so a document exists
    faults.kv = (c) => c.op === "put" && c.key.startsWith("flags:");
    const res = await suspend("acme", user.id);
    // KV failing (a 429 for a second write within a second included) neither refuses nor
    // undoes the change.
    expectStatus(res, 200);
    expect(res.body.user.status).toBe("suspended");
    expect(injectedKv()).toContainEqual(`put flags:${APP}:acme:${user.id}`);
    // The D1 paths honour it at once.
    expectProblem(await signinRaw(A, address), 403, "user_suspended");
    expectProblem(await me(A, session.access_token), 401, "invalid_token");
    // The document is pending in D1.
    const pending: any = await (await worker().db())
      .prepare("SELECT version > synced_version AS pending FROM edge_sync WHERE doc = ?1")
      .bind(`flags:${APP}:acme:${user.id}`)
      .first();
    expect(pending.pending).toBe(1);
    faults.kv = null;

    // The cron's sweep writes it; introspection follows.
    await (await worker().mf.getWorker()).scheduled({ cron: "* * * * *" });
    expect((await flagsDoc("acme", user.id))?.status).toBe("suspended");
    expectInactive(await introspectRaw(A, keyA, session.access_token));
  });

  it("applies a billing event whose edge document could not be written, and the sender's retry brings KV in line", async () => {
    const { user, session } = await signup(A, email("kv-webhook"));
    const event = planEvent("acme", user.id, "pro");
    faults.kv = (c) => c.op === "put" && c.key.startsWith("flags:");
    const res = await webhook(event);
    expectStatus(res, 200);
    expect(injectedKv()).toContainEqual(`put flags:${APP}:acme:${user.id}`);
    expect((await getUser("acme", user.id)).body.user.plan_tier).toBe("pro");
    faults.kv = null;

    const retry = await webhook(event); // a replay rewrites the document from D1
    expectStatus(retry, 200);
    expect(retry.body.status).toBe("duplicate");
    expect((await flagsDoc("acme", user.id))?.plan_tier).toBe("pro");
    expect(await introspect(APP, "acme", keyA, session.access_token)).toMatchObject({ active: true, plan_tier: "pro", rate_limit: 600 });
  });

  it("honours at /auth/me a revocation that KV never heard of", async () => {
    const { session } = await signup(A, email("kv-signout"));
    expectStatus(await me(A, session.access_token), 200);
    faults.kv = (c) => c.op === "put";
    const out = await call("POST", `${A}/auth/signout`, undefined, bearer(session.access_token));
    expectStatus(out, 204);
    faults.kv = null;
    expectProblem(await me(A, session.access_token), 401, "invalid_token");
  });
});

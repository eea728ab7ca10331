// Deletion (issue 16): users from a tenant, users erased from an app, tenants and apps — with
// nothing left in local D1 (every table, every column) or KV (every key and value) that names
// what was deleted, in bounded steps that answer 202 with progress for big ones, continued by a
// repeated DELETE and by the cron.
import { describe, it, expect, beforeAll } from "vitest";
import { useWorker, json, worker, CLOCK_HEADER } from "./harness";
import { PASSWORD, owner, createApp, putTenant, apiKey, base, bearer, introspect, auditLog } from "./support";

useWorker();

const expectProblem = (res: { status: number; body: any; text: string }, status: number, code: string) => {
  expect(res.status, res.text).toBe(status);
  expect(res.body.code).toBe(code);
};

/** Every row of every table of the local D1, as text (one line per table). */
async function everyRow(): Promise<string> {
  const db = await worker().db();
  const tables = await db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
    .all();
  const lines: string[] = [];
  for (const { name } of tables.results as any[]) {
    const rows = await db.prepare(`SELECT * FROM "${name}"`).all();
    lines.push(`${name}: ${JSON.stringify(rows.results)}`);
  }
  return lines.join("\n");
}

/** Every key and value of the KV namespace, as text. */
async function everyKey(): Promise<string> {
  const kv = await worker().kv();
  const lines: string[] = [];
  let cursor: string | undefined;
  do {
    const page: any = await kv.list({ cursor });
    for (const { name } of page.keys) lines.push(`${name} = ${await kv.get(name)}`);
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return lines.join("\n");
}

async function signup(app: string, tenant: string, email: string) {
  const res = await json("POST", `${base(app, tenant)}/auth/signup`, { email, password: PASSWORD });
  expect(res.status, res.text).toBe(201);
  return res.body as { user: any; session: any };
}

async function signin(app: string, tenant: string, email: string, password = PASSWORD) {
  return json("POST", `${base(app, tenant)}/auth/signin`, { email, password });
}

/** Waits until the outbox of `app` holds a message to `to` (the queue is asynchronous). */
async function mailed(app: string, to: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await json("GET", `/admin/apps/${app}/outbox?to=${encodeURIComponent(to)}`, undefined, await owner());
    if (res.body?.items?.length) return;
    if (Date.now() > deadline) throw new Error(`nothing mailed to ${to}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The longest lifetime of an access token (MAX_ACCESS_TOKEN_TTL_SECONDS), in ms. */
const MAX_ACCESS_TOKEN_TTL_MS = 86_400_000;

/**
 * The platform owner's headers on the test clock at `ms`, past the lifetime of every token
 * issued now (its own included: it signs in again then).
 */
async function ownerAt(ms: number): Promise<Record<string, string>> {
  const clock = { [CLOCK_HEADER]: String(ms) };
  const res = await json("POST", "/admin/auth/signin", { email: "owner@example.com", password: PASSWORD }, clock);
  expect(res.status, res.text).toBe(200);
  return { ...bearer(res.body.access_token), ...clock };
}

/** When every access token issued until now has expired. */
const afterTokens = () => Date.now() + MAX_ACCESS_TOKEN_TTL_MS + 1_000;

/** Runs the cron (the every-30-minutes trigger) once. */
async function cron() {
  const fetcher: any = await worker().mf.getWorker();
  await fetcher.scheduled({ cron: "*/30 * * * *", scheduledTime: new Date() });
}

describe("erasing a user from an app", () => {
  const app = "erase";
  const tenants = ["acme", "bravo", "charlie"];
  beforeAll(async () => {
    await createApp(app);
    for (const t of tenants) {
      await putTenant(app, t, ["emailpassword", "passwordless"]);
      const res = await json("PUT", `/admin/apps/${app}/tenants/${t}`, { link_base_url: "https://app.example/auth" }, await owner());
      expect(res.status, res.text).toBe(200);
    }
    expect((await json("PUT", `/admin/apps/${app}/email-delivery`, { kind: "outbox" }, await owner())).status).toBe(200);
  });

  it("leaves no row of local D1 (any table, any column) and no KV key or value that names the user or its email", async () => {
    const ada = await signup(app, "acme", "ada@example.com");
    const id = ada.user.id;
    const key = await apiKey(app, "bravo");
    const sessions: Record<string, string> = { acme: ada.session.access_token };
    for (const t of tenants.slice(1)) {
      expect((await json("POST", `/admin/apps/${app}/tenants/${t}/users/${id}/associate`, undefined, await owner())).status).toBe(200);
      const signed = await signin(app, t, "ada@example.com");
      expect(signed.status, signed.text).toBe(200);
      sessions[t] = signed.body.session.access_token;
      expect((await signin(app, t, "ada@example.com", "a wrong password")).status).toBe(401);
    }
    expect((await json("PATCH", `/admin/apps/${app}/users/${id}/metadata`, { likes: "tea" }, await owner())).status).toBe(200);
    expect((await json("PATCH", `/admin/apps/${app}/tenants/bravo/users/${id}`, { rate_limit_override: 7 }, await owner())).status).toBe(200);
    expect((await json("POST", `/admin/apps/${app}/tenants/charlie/users/${id}/suspend`, {}, await owner())).status).toBe(200);
    for (const t of tenants) {
      const sent = await json("POST", `${base(app, t)}/auth/password-reset/send`, { email: "ada@example.com" });
      expect(sent.status, sent.text).toBe(202);
    }
    await mailed(app, "ada@example.com");
    expect((await introspect(app, "bravo", key, sessions.bravo)).active).toBe(true);
    const bob = await signup(app, "acme", "bob@example.com");
    // The traces exist before (so the scan below is not vacuous).
    expect(await everyRow()).toContain(id);
    expect(await everyRow()).toContain("ada@example.com");
    expect(await everyKey()).toContain(id);

    const erased = await json("DELETE", `/admin/apps/${app}/users/${id}`, undefined, await owner());
    // Done for the operator (204): the user is gone. Its documents refuse every token of it at
    // once, and stay until none can be alive: the deletion still runs, waiting in its `flags` phase
    // (the audit log names the deletion already, checked below).
    expect(erased.status, erased.text).toBe(204);
    const began = (await auditLog(app)).find((e) => e.action === "user.erase");
    const waiting = await json("GET", `/admin/apps/${app}/deletions/${began.detail.deletion_id}`, undefined, await owner());
    expect(waiting.body.deletion).toMatchObject({ state: "running", progress: { phase: "flags" } });
    expect((await auditLog(app)).filter((e) => e.target === id), "no entry names the user once the erasure answers").toEqual([]);
    expect((await introspect(app, "bravo", key, sessions.bravo)).active).toBe(false);
    expect(await everyKey()).toContain(`flags:${app}:bravo:${id}`);
    const later = await ownerAt(afterTokens());
    const finished = await json("DELETE", `/admin/apps/${app}/users/${id}`, undefined, later);
    expect(finished.status, finished.text).toBe(204);

    const rows = await everyRow();
    const kv = await everyKey();
    expect(rows).not.toContain(id);
    expect(rows).not.toContain("ada@example.com");
    expect(kv).not.toContain(id);
    expect(kv).not.toContain("ada@example.com");
    expect(rows).toContain(bob.user.id);
    // (Its tokens were refused from the first DELETE, and have expired by now.) Its email can
    // sign up afresh as someone new.
    expectProblem(await json("GET", `/admin/apps/${app}/users/${id}/metadata`, undefined, await owner()), 404, "user_not_found");
    const again = await signup(app, "acme", "ada@example.com");
    expect(again.user.id).not.toBe(id);
    // The log keeps what happened, naming the deletion instead of the user.
    const log = await auditLog(app);
    const erase = log.find((e) => e.action === "user.erase");
    expect(erase.target).toBe(`erased:${erase.detail.deletion_id}`);
    expect(log.filter((e) => e.target === erase.target).map((e) => e.action)).toEqual(
      expect.arrayContaining(["user.erase", "user.suspend", "user.plan", "user.metadata", "user.associate"]),
    );
    const progress = await json("GET", `/admin/apps/${app}/deletions/${erase.detail.deletion_id}`, undefined, await owner());
    expect(progress.status, progress.text).toBe(200);
    expect(progress.body.deletion).toMatchObject({ kind: "user", app_id: app, tenant_id: null, state: "done" });
    expect(progress.text).not.toContain(id);
  });

  it("needs users:write on every tenant of the user, and answers 404 for an unknown user", async () => {
    const eve = await signup(app, "acme", "eve@example.com");
    await json("POST", `/admin/apps/${app}/tenants/bravo/users/${eve.user.id}/associate`, undefined, await owner());
    const invited = await json("POST", `/admin/apps/${app}/members`, { email: "acme-admin@example.com", membership_type: "member", roles: ["admin"], tenant_id: "acme" }, await owner());
    await json("POST", "/admin/invites/accept", { invite_token: invited.body.invite_token, password: PASSWORD });
    const acmeAdmin = bearer((await json("POST", "/admin/auth/signin", { email: "acme-admin@example.com", password: PASSWORD })).body.access_token);
    expectProblem(await json("DELETE", `/admin/apps/${app}/users/${eve.user.id}`, undefined, acmeAdmin), 403, "forbidden");
    expect((await json("GET", `/admin/apps/${app}/users/${eve.user.id}/metadata`, undefined, await owner())).status).toBe(200);
    expectProblem(await json("DELETE", `/admin/apps/${app}/users/0190f5c2-a9c4-7b3e-8d2a-4f5e6a7b8c9d`, undefined, await owner()), 404, "user_not_found");
    expectProblem(await json("DELETE", `/admin/apps/${app}/users/${eve.user.id}`), 401, "unauthorized");
  });
});

describe("deleting a user from one tenant", () => {
  const app = "leave";
  beforeAll(async () => {
    await createApp(app);
    await putTenant(app, "acme");
    await putTenant(app, "bravo");
  });

  it("ends its tokens there at once, keeps its other tenant, and is audited", async () => {
    const keyA = await apiKey(app, "acme");
    const keyB = await apiKey(app, "bravo");
    const ada = await signup(app, "acme", "ada@example.com");
    const id = ada.user.id;
    await json("POST", `/admin/apps/${app}/tenants/bravo/users/${id}/associate`, undefined, await owner());
    const inBravo = (await signin(app, "bravo", "ada@example.com")).body.session.access_token;
    const res = await json("DELETE", `/admin/apps/${app}/tenants/acme/users/${id}`, undefined, await owner());
    // 204: all that is left is to wait for its access tokens to expire.
    expect(res.status, res.text).toBe(204);
    const began = (await auditLog(app, "acme")).find((e) => e.action === "user.delete");
    const waiting = await json("GET", `/admin/apps/${app}/deletions/${began.detail.deletion_id}`, undefined, await owner());
    expect(waiting.body.deletion).toMatchObject({ state: "running", progress: { phase: "flags" } });
    expect((await introspect(app, "acme", keyA, ada.session.access_token)).active).toBe(false);
    expect((await introspect(app, "bravo", keyB, inBravo)).active).toBe(true);
    // The document says "no face" (a missing one would let the token judge itself)...
    expect(await everyKey()).toContain(`flags:${app}:acme:${id}`);
    // ...until no token of the user there can be alive: a repeated DELETE then finishes it.
    const later = await ownerAt(afterTokens());
    const done = await json("DELETE", `/admin/apps/${app}/tenants/acme/users/${id}`, undefined, later);
    expect(done.status, done.text).toBe(204);
    expect(await everyKey()).not.toContain(`flags:${app}:acme:${id}`);
    const { n } = await (await worker().db())
      .prepare("SELECT COUNT(*) AS n FROM edge_sync WHERE doc = ?")
      .bind(`flags:${app}:acme:${id}`)
      .first();
    expect(n).toBe(0);
    expectProblem(await json("GET", `/admin/apps/${app}/tenants/acme/users/${id}`, undefined, await owner()), 404, "user_not_found");
    expect((await json("GET", `/admin/apps/${app}/tenants/bravo/users/${id}`, undefined, await owner())).status).toBe(200);
    expectProblem(await signin(app, "acme", "ada@example.com"), 401, "invalid_credentials");
    const entry = (await auditLog(app)).find((e) => e.action === "user.delete");
    expect(entry).toMatchObject({ target: id, tenant_id: "acme" });
    expectProblem(await json("DELETE", `/admin/apps/${app}/tenants/acme/users/${id}`, undefined, await owner()), 404, "user_not_found");
  });
});

describe("deleting a big tenant", () => {
  const app = "bigapp";
  const USERS = 1000;
  beforeAll(async () => {
    await createApp(app);
    await putTenant(app, "big");
    // Seeded straight into D1: the users, their faces, and an edge document each (its
    // edge_sync row; a few also in KV) — the documents go 100 a step, so a request's 400 KV
    // writes run out before they all do.
    const db = await worker().db();
    const series = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${USERS})`;
    const id = "printf('%08x-0000-7000-8000-%012x', i, i)";
    await db.prepare(`${series} INSERT INTO users (app_id, id, email, created_at) SELECT '${app}', ${id}, 'seed' || i || '@example.com', 0 FROM n`).run();
    await db.prepare(`${series} INSERT INTO tenant_users (app_id, tenant_id, user_id, email, created_at) SELECT '${app}', 'big', ${id}, 'seed' || i || '@example.com', 0 FROM n`).run();
    await db.prepare(`${series} INSERT INTO edge_sync (doc, version, synced_version, changed_at) SELECT 'flags:${app}:big:' || ${id}, 1, 1, 0 FROM n`).run();
    const kv = await worker().kv();
    for (const i of [1, 2, USERS]) await kv.put(seededDoc(i), JSON.stringify({ version: 1, status: "active" }));
  });
  const seededDoc = (i: number) =>
    `flags:${app}:big:${i.toString(16).padStart(8, "0")}-0000-7000-8000-${i.toString(16).padStart(12, "0")}`;

  it("answers 202 with its progress, blocks a namesake, and goes on with a repeated DELETE and with the cron", async () => {
    const key = await apiKey(app, "big");
    const first = await json("DELETE", `/admin/apps/${app}/tenants/big`, undefined, await owner());
    expect(first.status, first.text).toBe(202);
    const d = first.body.deletion;
    expect(d).toMatchObject({ kind: "tenant", app_id: app, tenant_id: "big", state: "running", finished_at: null });
    // api_keys, sessions, third_party (issue 13's identities), users, email, throttle, flags, row.
    expect(d.progress).toMatchObject({ phase: "flags", phases_total: 8 });
    expect(d.progress.phases_done).toBe(6);
    expect(first.headers.get("location")).toBe(`/admin/apps/${app}/deletions/${d.id}`);
    // Gone at once for every reader; the key with it; no namesake meanwhile.
    expectProblem(await json("GET", `/admin/apps/${app}/tenants/big`, undefined, await owner()), 404, "tenant_not_found");
    expect((await json("GET", `/admin/apps/${app}/tenants/big/users`, undefined, bearer(key))).status).not.toBe(200);
    expectProblem(await json("PUT", `/admin/apps/${app}/tenants/big`, {}, await owner()), 409, "conflict");
    const read = await json("GET", first.headers.get("location")!, undefined, await owner());
    expect(read.body.deletion).toEqual(d);
    // A repeated DELETE continues the same deletion.
    const second = await json("DELETE", `/admin/apps/${app}/tenants/big`, undefined, await owner());
    expect(second.status, second.text).toBe(202);
    expect(second.body.deletion.id).toBe(d.id);
    expect(second.body.deletion.progress.rows_deleted).toBeGreaterThan(d.progress.rows_deleted);
    // The cron finishes it.
    await cron();
    const done = await json("GET", `/admin/apps/${app}/deletions/${d.id}`, undefined, await owner());
    expect(done.body.deletion).toMatchObject({ state: "done", progress: { phase: null, phases_done: 8, phases_total: 8 } });
    expect(done.body.deletion.progress.rows_deleted).toBeGreaterThanOrEqual(2 * USERS);
    const db = await worker().db();
    for (const table of ["users", "tenant_users"]) {
      const { n } = await db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE app_id = ?`).bind(app).first();
      expect(n, table).toBe(0);
    }
    const { n } = await db.prepare("SELECT COUNT(*) AS n FROM edge_sync WHERE doc LIKE ?").bind(`flags:${app}:%`).first();
    expect(n, "edge_sync").toBe(0);
    expect(await everyKey()).not.toContain(`flags:${app}:`);
    // The id is free again, and the namesake starts empty.
    expect((await json("PUT", `/admin/apps/${app}/tenants/big`, {}, await owner())).status).toBe(201);
    const users = await json("GET", `/admin/apps/${app}/tenants/big/users`, undefined, await owner());
    expect(users.body.items).toEqual([]);
    expect((await auditLog(app, "big")).map((e) => e.action)).toEqual(["tenant.create"]);
    // Another DELETE of the new one is its own deletion (small: 204).
    expect((await json("DELETE", `/admin/apps/${app}/tenants/big`, undefined, await owner())).status).toBe(204);
  });
});

describe("deleting an app", () => {
  const app = "gone-app";
  beforeAll(async () => {
    await createApp(app);
    await putTenant(app, "acme", ["emailpassword"]);
  });

  it("leaves nothing of it in D1 or KV but the deletion's own record, and the id can be used again", async () => {
    const key = await apiKey(app, "acme");
    const ada = await signup(app, "acme", "ada@example.com");
    await json("PATCH", `/admin/apps/${app}/users/${ada.user.id}/metadata`, { a: 1 }, await owner());
    await json("POST", `/admin/apps/${app}/tenants/acme/users/${ada.user.id}/suspend`, {}, await owner());
    await json("PUT", `/admin/apps/${app}/roles/editor`, { permissions: ["docs:write"] }, await owner());
    await json("PUT", `/admin/apps/${app}/plans/pro`, { roles: ["editor"], rate_limit: 5 }, await owner());
    await json("PUT", `/admin/apps/${app}/operator-roles/viewer`, { permissions: ["users:read"] }, await owner());
    await json("POST", `/admin/apps/${app}/webhook-secret`, undefined, await owner());
    await json("PUT", `/admin/apps/${app}/email-delivery`, { kind: "outbox" }, await owner());
    await json("POST", `/admin/apps/${app}/members`, { email: "m@example.com", membership_type: "member", roles: ["viewer"] }, await owner());
    // A confidential OAuth client, published under clientkey:<sha-256 of its secret> (no TTL).
    const made = await json("POST", `/admin/apps/${app}/tenants/acme/clients`, { name: "Backend", type: "confidential", grant_types: ["client_credentials"] }, await owner());
    expect(made.status, made.text).toBe(201);
    // The JWKS publishes its keys at the edge.
    expect((await json("GET", `/apps/${app}/.well-known/jwks.json`)).body.keys.length).toBeGreaterThan(0);
    expect(await everyKey()).toContain(app);
    const clientKeys = (kv: string) => kv.split("\n").filter((line) => line.startsWith("clientkey:") && line.includes(made.body.client.client_id));
    expect(clientKeys(await everyKey())).toHaveLength(1);

    const res = await json("DELETE", `/admin/apps/${app}`, undefined, await owner());
    expect(res.status, res.text).toBe(204);

    expect(await everyKey()).not.toContain(app);
    expect(clientKeys(await everyKey()), "the client's key went with the app").toEqual([]);
    const rows = (await everyRow()).split("\n").filter((line) => line.includes(app));
    expect(rows.map((line) => line.split(":")[0]).sort()).toEqual(["audit_log", "deletions"]);
    const entry = (await auditLog("public")).find((e) => e.action === "app.delete" && e.target === app);
    expect(entry).toBeTruthy();
    expectProblem(await json("GET", `/admin/apps/${app}`, undefined, await owner()), 404, "app_not_found");
    expectProblem(await json("POST", `${base(app, "acme")}/auth/signin`, { email: "ada@example.com", password: PASSWORD }), 404, "app_not_found");

    expect((await json("POST", "/admin/apps", { id: app }, await owner())).status).toBe(201);
    const tenants = await json("GET", `/admin/apps/${app}/tenants`, undefined, await owner());
    expect(tenants.body.items.map((t: any) => t.id)).toEqual(["public"]);
    const roles = await json("GET", `/admin/apps/${app}/operator-roles`, undefined, await owner());
    expect(roles.body.items.every((r: any) => r.built_in)).toBe(true);
    expect((await json("GET", `/admin/apps/${app}/members`, undefined, await owner())).body.items).toEqual([]);
    expect((await json("GET", `/admin/apps/${app}/tenants/public`, undefined, bearer(key))).status).toBe(401);
    expect((await auditLog(app)).map((e) => e.action)).toEqual(["app.create"]);
  });

  it("the app public cannot be deleted (409), nor an app by anyone but the platform owner (403)", async () => {
    expectProblem(await json("DELETE", "/admin/apps/public", undefined, await owner()), 409, "conflict");
    await createApp("kept-app");
    const invited = await json("POST", "/admin/apps/kept-app/members", { email: "boss@example.com", membership_type: "owner", roles: ["admin"] }, await owner());
    await json("POST", "/admin/invites/accept", { invite_token: invited.body.invite_token, password: PASSWORD });
    const boss = bearer((await json("POST", "/admin/auth/signin", { email: "boss@example.com", password: PASSWORD })).body.access_token);
    expectProblem(await json("DELETE", "/admin/apps/kept-app", undefined, boss), 403, "forbidden");
    expectProblem(await json("DELETE", "/admin/apps/no-such-app", undefined, await owner()), 404, "app_not_found");
  });
});

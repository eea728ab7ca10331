// A split deployment (README, "Deploy"): the edge Worker (build-test-edge/, `--features edge`,
// wrangler.edge.toml) in front of the full Worker (build-test/, wrangler.toml) behind its FULL
// service binding, sharing D1, KV and the email queue. The edge answers the end users' and
// resource servers' routes itself (`RouteId::at_edge`) and forwards every other request
// unchanged; the operators' changes reach it through D1 and KV, and its isolate caches follow
// them within TENANCY_CACHE_TTL_SECONDS, as any other isolate's do.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FULL_WORKER_NAME, json, rawFetch, startWorker, useWorker, worker } from "./harness";
import { PASSWORD, apiKey, at, base, bearer, createApp, introspect, owner, putTenant } from "./support";

useWorker({ split: true, console: true });

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const APP = "split";
const TENANT = "t1";
const A = base(APP, TENANT);
const form = { "content-type": "application/x-www-form-urlencoded" };

/** The full Worker's own answer to `p`, bypassing the edge. */
async function fromFull(p: string, init?: RequestInit): Promise<Response> {
  const full = await worker().mf.getWorker(FULL_WORKER_NAME);
  return (await full.fetch(`http://tessera.test${p}`, init as any)) as unknown as Response;
}

/** A TOML file's top-level table `name` (the text up to the next header). */
function table(file: string, header: string): string {
  const text = readFileSync(path.join(ROOT, file), "utf8");
  const start = text.indexOf(`\n${header}\n`);
  if (start < 0) throw new Error(`${header} not found in ${file}`);
  const body = text.slice(start + header.length + 2);
  const end = body.search(/^\[/m);
  return body.slice(0, end < 0 ? undefined : end);
}

/** Its `key = value` lines, comments and blank lines left out. */
const settings = (tableText: string) =>
  tableText.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).sort();

describe("the edge Worker's configuration", () => {
  it("shares the full Worker's variables, storage, queue and runtime", () => {
    expect(settings(table("wrangler.edge.toml", "[vars]"))).toEqual(settings(table("wrangler.toml", "[vars]")));
    for (const header of ["[[d1_databases]]", "[[kv_namespaces]]", "[[queues.producers]]"]) {
      expect(settings(table("wrangler.edge.toml", header)), header).toEqual(settings(table("wrangler.toml", header)));
    }
    const date = (file: string) => /^compatibility_date = "([^"]+)"/m.exec(readFileSync(path.join(ROOT, file), "utf8"))?.[1];
    expect(date("wrangler.edge.toml")).toBe(date("wrangler.toml"));
    const fullName = /^name = "([^"]+)"/m.exec(readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"))?.[1];
    expect(settings(table("wrangler.edge.toml", "[[services]]"))).toEqual(["binding = \"FULL\"", `service = "${fullName}"`]);
    // The edge neither runs the crons nor consumes the queue: one consumer, one set of jobs.
    const edge = readFileSync(path.join(ROOT, "wrangler.edge.toml"), "utf8");
    expect(edge).not.toMatch(/^\[triggers\]|^\[\[queues\.consumers\]\]|^\[assets\]/m);
  });
});

describe("a split deployment", () => {
  it("forwards operator requests with their method, headers and body, and answers as the full Worker", async () => {
    await createApp(APP); // POST /admin/bootstrap, /admin/auth/signin, /admin/apps: all forwarded
    await putTenant(APP, TENANT);
    const listed = await json("GET", `/admin/apps/${APP}/tenants/${TENANT}`, undefined, await owner());
    expect(listed.status, listed.text).toBe(200);
    const doc = await rawFetch("/openapi.json");
    expect(doc.status).toBe(200);
    expect(await doc.text()).toBe(await (await fromFull("/openapi.json")).text());
    const page = await rawFetch("/console/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toBe((await fromFull("/console/")).headers.get("content-security-policy"));
    // Operator errors are the full Worker's problem documents.
    const denied = await json("GET", "/admin/apps", undefined, bearer("not-a-token"));
    expect(denied.status).toBe(401);
    expect(denied.headers.get("content-type")).toContain("application/problem+json");
  });

  it("answers unknown paths and methods itself, as the route table says", async () => {
    const missing = await json("GET", "/nowhere");
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe("not_found");
    const method = await json("PUT", `${A}/auth/signin`, {});
    expect(method.status).toBe(405);
    expect(method.body.code).toBe("method_not_allowed");
  });

  it("signs end users up and in, introspects, refreshes and serves /auth/me", async () => {
    const key = await apiKey(APP, TENANT);
    const signup = await json("POST", `${A}/auth/signup`, { email: "edge@example.com", password: PASSWORD });
    expect(signup.status, signup.text).toBe(201);
    const signin = await json("POST", `${A}/auth/signin`, { email: "edge@example.com", password: PASSWORD });
    expect(signin.status, signin.text).toBe(200);
    const { access_token, refresh_token } = signin.body.session;
    expect((await introspect(APP, TENANT, key, access_token)).active).toBe(true);
    const me = await json("GET", `${A}/auth/me`, undefined, bearer(access_token));
    expect(me.status, me.text).toBe(200);
    expect(me.body.user.email).toBe("edge@example.com");
    const refreshed = await json("POST", `${A}/auth/refresh`, { refresh_token });
    expect(refreshed.status, refreshed.text).toBe(200);
    // The keys the edge signs with are the ones the full Worker publishes.
    const jwks = await json("GET", `/apps/${APP}/.well-known/jwks.json`);
    const fullJwks = JSON.parse(await (await fromFull(`/apps/${APP}/.well-known/jwks.json`)).text());
    expect(jwks.body).toEqual(fullJwks);
    const kid = JSON.parse(Buffer.from(access_token.split(".")[0], "base64url").toString()).kid;
    expect(jwks.body.keys.map((k: any) => k.kid)).toContain(kid);
  });

  it("refuses a user the full Worker suspended at once (the user's state is in KV, not the edge's caches)", async () => {
    const key = await apiKey(APP, TENANT);
    const signup = await json("POST", `${A}/auth/signup`, { email: "suspended@example.com", password: PASSWORD });
    expect(signup.status, signup.text).toBe(201);
    const token = signup.body.session.access_token;
    expect((await introspect(APP, TENANT, key, token)).active).toBe(true);
    const suspended = await json("POST", `/admin/apps/${APP}/tenants/${TENANT}/users/${signup.body.user.id}/suspend`, { reason: "spec" }, await owner());
    expect(suspended.status, suspended.text).toBe(200);
    expect((await introspect(APP, TENANT, key, token)).active).toBe(false);
    const signin = await json("POST", `${A}/auth/signin`, { email: "suspended@example.com", password: PASSWORD });
    expect(signin.status).toBe(403);
  });

  it("stops accepting a deleted API key within the cache lifetime, as every other isolate does", async () => {
    const t0 = Date.now();
    const created = await json("POST", `/admin/apps/${APP}/tenants/${TENANT}/api-keys`, { name: "short", scopes: ["introspect"] }, await owner());
    expect(created.status, created.text).toBe(201);
    const signup = await json("POST", `${A}/auth/signup`, { email: "cache@example.com", password: PASSWORD }, at(t0));
    const token = signup.body.session.access_token;
    expect((await introspect(APP, TENANT, created.body.key, token, at(t0))).active).toBe(true);
    const deleted = await json("DELETE", `/admin/apps/${APP}/tenants/${TENANT}/api-keys/${created.body.id}`, undefined, await owner());
    expect(deleted.status).toBe(204);
    // The full Worker forgot it at once; the edge isolate's cached copy lives out its 30 s.
    const atFull = await fromFull(`${A}/oauth/introspect`, {
      method: "POST",
      headers: { ...bearer(created.body.key), ...form, ...at(t0 + 1_000) },
      body: `token=${encodeURIComponent(token)}`,
    });
    expect(atFull.status).toBe(401);
    expect((await introspect(APP, TENANT, created.body.key, token, at(t0 + 1_000))).active).toBe(true);
    const after = await json("POST", `${A}/oauth/introspect`, `token=${encodeURIComponent(token)}`, {
      ...bearer(created.body.key),
      ...form,
      ...at(t0 + 31_000),
    });
    expect(after.status, after.text).toBe(401);
  });
});

/** The route table (src/http/routes.rs): each route's id, method and path template. */
function routeTable(): Array<{ id: string; method: string; template: string; atEdge: boolean }> {
  const source = readFileSync(path.join(ROOT, "src/http/routes.rs"), "utf8");
  const macro = source.slice(source.indexOf("macro_rules! edge_routes"), source.indexOf("pub(crate) use edge_routes;", source.indexOf("macro_rules! edge_routes")));
  const edge = new Set([...macro.matchAll(/RouteId::(\w+)/g)].map((m) => m[1]));
  const routes = [...source.matchAll(/\(\s*RouteId::(\w+),\s*"(\w+)",\s*"([^"]+)",?\s*\)/g)].map((m) => ({
    id: m[1],
    method: m[2],
    template: m[3],
    atEdge: edge.has(m[1]),
  }));
  expect(edge.size).toBeGreaterThan(20);
  expect(routes.filter((r) => r.atEdge).length).toBe(edge.size);
  return routes;
}

describe("an edge Worker without its FULL binding (a deployment error)", () => {
  it("answers every edge route itself, and every other one 500 without detail", async () => {
    const edge = await startWorker({ split: "edge-only" });
    try {
      const routes = routeTable();
      expect(routes.length).toBeGreaterThan(90);
      for (const r of routes) {
        const p = r.template.replace(/\{app_id\}|\{tenant_id\}/g, "public").replace(/\{[a-z_]+\}/g, "x");
        const res = await edge.json(r.method, p, r.method === "GET" || r.method === "DELETE" ? undefined : {});
        if (r.atEdge) {
          expect(res.status, `${r.id}: ${r.method} ${p} ${res.text}`).not.toBe(500);
        } else {
          expect(res.status, `${r.id}: ${r.method} ${p}`).toBe(500);
          expect(res.body.code).toBe("internal_error");
          expect(res.text).not.toMatch(/FULL|binding/);
        }
      }
      const signup = await edge.json("POST", "/apps/public/tenants/public/auth/signup", { email: "alone@example.com", password: PASSWORD });
      expect(signup.status, signup.text).toBe(201);
    } finally {
      await edge.dispose();
    }
  });
});

describe("an edge Worker given another KEY_ENCRYPTION_SECRET", () => {
  it("is refused once the full Worker's cron has recorded the deployment's secret", async () => {
    const other = "6f746865722d6b65792d656e6372797074696f6e2d7365637265742d21212121";
    const split = await startWorker({ split: true, edgeBindings: { KEY_ENCRYPTION_SECRET: other } });
    try {
      // Nothing recorded yet (the full Worker has not run): the edge serves.
      const first = await split.json("POST", "/apps/public/tenants/public/auth/signup", { email: "early@example.com", password: PASSWORD });
      expect(first.status, first.text).toBe(201);
      // Requests to the full Worker record nothing; its cron does.
      expect((await split.json("GET", "/admin/apps", undefined, bearer("x"))).status).toBe(401);
      const kv = await split.kv();
      expect(await kv.get("deployment:secret-fingerprint")).toBeNull();
      const full = await split.mf.getWorker(FULL_WORKER_NAME);
      await full.scheduled({ cron: "* * * * *" });
      expect(await kv.get("deployment:secret-fingerprint")).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // The edge kept "nothing recorded" for 10 s; past that it reads the fingerprint again.
      const signup = await split.json(
        "POST",
        "/apps/public/tenants/public/auth/signup",
        { email: "sealed@example.com", password: PASSWORD },
        at(Date.now() + 11_000),
      );
      expect(signup.status).toBe(500);
      expect(signup.body.code).toBe("internal_error");
      expect(signup.text).not.toContain(other);
      expect(signup.text).not.toMatch(/KEY_ENCRYPTION_SECRET|fingerprint/);
      const db = await split.db();
      expect(await db.prepare("SELECT count(*) AS n FROM users WHERE email = ?").bind("sealed@example.com").first("n")).toBe(0);
      // Operators are unaffected: the full Worker's secret is the deployment's.
      expect((await split.json("GET", "/admin/apps", undefined, bearer("x"))).status).toBe(401);
    } finally {
      await split.dispose();
    }
  });
});

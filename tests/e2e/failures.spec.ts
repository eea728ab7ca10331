// Failure injection: what the worker answers when KV or D1 throws.
//
// The worker runs with `faults` (see harness.ts): its FLAGS and DB bindings are wrappers over the
// real KV namespace and D1 database that ask this process, call by call, whether to throw. Each
// test sets `faults.kv` / `faults.d1` to a rule, makes its requests, and checks `faults.injected`
// so that no test passes without its failure having happened. Specs read the real storage behind
// the wrappers through worker().db() / worker().kv().
//
// Required behaviour (API.md): introspection fails closed — any KV failure answers 200 exactly
// {"active": false}, never active: true and never 5xx. A storage binding that is down is
// `503 unavailable` (problem+json, no SQL, stack trace or internal message), and a failed write
// leaves nothing half-written.
import { describe, it, expect, beforeAll, afterEach } from "vitest";
import { useWorker, json, worker, type Faults, type JsonResponse, CLOCK_HEADER } from "./harness";
import { PASSWORD, createApp, putTenant, apiKey, base, bearer } from "./support";

const faults: Faults = {};
useWorker({ faults });

afterEach(() => {
  faults.kv = null;
  faults.d1 = null;
  faults.injected = [];
});

const SHOP = "shop";
const A = base(SHOP, "acme");
let key = "";

beforeAll(async () => {
  await createApp(SHOP);
  await putTenant(SHOP, "acme");
  key = await apiKey(SHOP, "acme");
});

/** The isolate keeps an app's public keys for 5 minutes; this far ahead they are reloaded. */
const KEYRING_STALE_MS = 6 * 60 * 1000;

const at = (ms: number) => ({ [CLOCK_HEADER]: String(ms) });

async function signup(path: string, email: string) {
  const res = await json("POST", `${path}/auth/signup`, { email, password: PASSWORD });
  expect(res.status, res.text).toBe(201);
  return res.body as { user: { id: string }; session: { session_id: string; access_token: string } };
}

function introspect(path: string, apiKey: string, token: string, headers: Record<string, string> = {}) {
  return json("POST", `${path}/oauth/introspect`, `token=${encodeURIComponent(token)}`, {
    ...bearer(apiKey),
    "content-type": "application/x-www-form-urlencoded",
    ...headers,
  });
}

/** Exactly the fail-closed answer: 200, {"active": false} and nothing else, not cached. */
function expectInactive(res: JsonResponse) {
  expect(res.status, res.text).toBe(200);
  expect(res.body).toEqual({ active: false });
  expect(res.headers.get("cache-control")).toBe("no-store");
}

/** 503 unavailable as a problem document that reveals nothing of the cause. */
function expectUnavailable(res: JsonResponse) {
  expect(res.status, res.text).toBe(503);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status: 503, code: "unavailable" });
  expect(typeof res.body.detail).toBe("string");
  // The injected errors carry SQL, key names and a JS stack: none of it may reach the client.
  expect(res.text).not.toMatch(
    /SELECT|INSERT|UPDATE|DELETE|sessions|refresh_tokens|tenant_users|D1_ERROR|D1Error|JsValue|injected|KV_ERROR|rev:|pub:|\bat \S+:\d+|\.rs\b|wasm/i,
  );
}

function injectedKv(): string[] {
  return (faults.injected ?? []).filter((c) => c.binding === "kv").map((c: any) => `${c.op} ${c.key}`);
}

function injectedD1(): string[] {
  return (faults.injected ?? []).filter((c) => c.binding === "d1").map((c: any) => `${c.op}: ${c.sql.join("; ")}`);
}

async function count(sql: string, ...args: unknown[]): Promise<number> {
  const row = await (await worker().db()).prepare(sql).bind(...args).first();
  return Number((row as any).n);
}

const sessionsOf = (userId: string) => count("SELECT count(*) AS n FROM sessions WHERE user_id = ?1", userId);
const allSessions = () => count("SELECT count(*) AS n FROM sessions");
const allRefreshTokens = () => count("SELECT count(*) AS n FROM refresh_tokens");
const usersWithEmail = (email: string) =>
  count("SELECT count(*) AS n FROM users WHERE app_id = ?1 AND email = ?2", SHOP, email);
const tenantUsersWithEmail = (email: string) =>
  count("SELECT count(*) AS n FROM tenant_users WHERE app_id = ?1 AND email = ?2", SHOP, email);

describe("KV failure during introspection fails closed", () => {
  it("answers {active: false} when the API key is found but the user's edge document read throws", async () => {
    const { user, session } = await signup(A, "rev-read@example.com");
    expect((await introspect(A, key, session.access_token)).body.active).toBe(true);

    const reads: string[] = [];
    faults.kv = (call) => {
      reads.push(`${call.op} ${call.key}`);
      return call.key.startsWith("flags:");
    };
    expectInactive(await introspect(A, key, session.access_token));
    // The key was known (the isolate keeps keys it found): the one KV read of a warm
    // introspection is the user's edge document (state and revocations), and it failed.
    expect(reads).toEqual([expect.stringMatching(new RegExp(`^get flags:.*:${user.id}$`))]);
    expect(injectedKv()).toEqual(reads);

    // Nothing sticks: with KV back, the same token is active again.
    faults.kv = null;
    expect((await introspect(A, key, session.access_token)).body.active).toBe(true);
  });

  it("answers {active: false} when every KV call throws", async () => {
    const { session } = await signup(A, "kv-down@example.com");
    expect((await introspect(A, key, session.access_token)).body.active).toBe(true);

    faults.kv = () => true;
    expectInactive(await introspect(A, key, session.access_token));
    // JSON bodies take the same path.
    const viaJson = await json("POST", `${A}/oauth/introspect`, { token: session.access_token }, bearer(key));
    expectInactive(viaJson);
    // The key is known to the isolate: the reads that failed are the token's own.
    expect(injectedKv().length).toBeGreaterThan(0);
    expect(injectedKv().every((c) => /^get flags:/.test(c))).toBe(true);
  });

  it("answers {active: false} when a key this isolate has not seen cannot be read from KV", async () => {
    const { session } = await signup(A, "fresh-key@example.com");
    const fresh = await apiKey(SHOP, "acme");
    faults.kv = (call) => call.key.startsWith("key:");
    expectInactive(await introspect(A, fresh, session.access_token));
    expect(injectedKv()).toEqual([expect.stringMatching(/^get key:[0-9a-f]{64}$/)]);
  });

  it("answers {active: false} when the isolate's public keys are stale and the KV read of them throws", async () => {
    // An app of its own, so that no other test has touched its keyring.
    await createApp("coldkeys");
    await putTenant("coldkeys", "acme");
    const coldKey = await apiKey("coldkeys", "acme");
    const path = base("coldkeys", "acme");
    const { session } = await signup(path, "cold@example.com");
    const later = at(Date.now() + KEYRING_STALE_MS); // the access token (900 s) is still valid
    expect((await introspect(path, coldKey, session.access_token, later)).body.active).toBe(true);

    // A token this isolate has not verified yet (a verified signature is remembered, so the
    // first token no longer needs the keys).
    const keysLater = Date.now() + 2 * KEYRING_STALE_MS;
    const fresh = await json("POST", `${path}/auth/signin`, { email: "cold@example.com", password: PASSWORD }, later);
    expect(fresh.status, fresh.text).toBe(200);
    faults.kv = (call) => call.key.startsWith("pub:");
    expectInactive(await introspect(path, coldKey, fresh.body.session.access_token, at(keysLater)));
    expect(injectedKv()).toContain("get pub:app:coldkeys");
  });
});

describe("D1 failure during sign-in", () => {
  it("answers 503 unavailable and writes no session when the session batch throws", async () => {
    const { user } = await signup(A, "signin-batch@example.com");
    const sessionsBefore = await allSessions();
    const tokensBefore = await allRefreshTokens();

    faults.d1 = (call) => call.op === "batch" && call.sql.some((s) => /^INSERT INTO sessions\b/i.test(s));
    const res = await json("POST", `${A}/auth/signin`, { email: "signin-batch@example.com", password: PASSWORD });
    expectUnavailable(res);
    expect(injectedD1()).toHaveLength(1);
    expect(injectedD1()[0]).toMatch(/INSERT INTO refresh_tokens/);

    expect(await sessionsOf(user.id)).toBe(1); // only the sign-up's
    expect(await allSessions()).toBe(sessionsBefore);
    expect(await allRefreshTokens()).toBe(tokensBefore);

    // With D1 back, the same credentials sign in.
    faults.d1 = null;
    const again = await json("POST", `${A}/auth/signin`, { email: "signin-batch@example.com", password: PASSWORD });
    expect(again.status, again.text).toBe(200);
    expect(await sessionsOf(user.id)).toBe(2);
  });

  it("answers 503 unavailable and writes nothing when every D1 call throws", async () => {
    const { user } = await signup(A, "signin-down@example.com");
    const sessionsBefore = await allSessions();
    const tokensBefore = await allRefreshTokens();
    const failuresBefore = await count("SELECT count(*) AS n FROM signin_failures");

    faults.d1 = () => true;
    for (const password of [PASSWORD, "a wrong password"]) {
      const res = await json("POST", `${A}/auth/signin`, { email: "signin-down@example.com", password });
      expectUnavailable(res);
    }
    expect(injectedD1().length).toBeGreaterThan(0);

    faults.d1 = null;
    expect(await sessionsOf(user.id)).toBe(1);
    expect(await allSessions()).toBe(sessionsBefore);
    expect(await allRefreshTokens()).toBe(tokensBefore);
    expect(await count("SELECT count(*) AS n FROM signin_failures")).toBe(failuresBefore);
  });
});

describe("D1 failure during sign-up", () => {
  it("answers 503 unavailable and writes no user when every D1 call throws", async () => {
    const email = "signup-down@example.com";
    // Pin the clock so the app and tenant stay in the isolate cache: the failure then hits the
    // write itself, not the tenancy lookup.
    const now = at(Date.now());
    const warm = await json("POST", `${A}/auth/signup`, { email: "signup-warm@example.com", password: PASSWORD }, now);
    expect(warm.status, warm.text).toBe(201);

    faults.d1 = () => true;
    const res = await json("POST", `${A}/auth/signup`, { email, password: PASSWORD }, now);
    expectUnavailable(res);
    // The first D1 call of a sign-up counts it against the client address; it failed.
    expect(injectedD1()).toEqual([expect.stringMatching(/^batch: SELECT 1 AS one; INSERT INTO signin_failures\b/)]);

    faults.d1 = null;
    expect(await usersWithEmail(email)).toBe(0);
    expect(await tenantUsersWithEmail(email)).toBe(0);
    // Nothing of the attempt stands in the way of signing up again.
    const again = await json("POST", `${A}/auth/signup`, { email, password: PASSWORD });
    expect(again.status, again.text).toBe(201);
  });

  it("answers 503 unavailable and writes no user when only the session batch throws", async () => {
    const email = "signup-session@example.com";
    faults.d1 = (call) => call.op === "batch" && call.sql.some((s) => /^INSERT INTO sessions\b/i.test(s));
    const res = await json("POST", `${A}/auth/signup`, { email, password: PASSWORD });
    expectUnavailable(res);
    expect(injectedD1()).toHaveLength(1);

    faults.d1 = null;
    // Sign-up is one operation: failing it must not leave a user without a session behind,
    // which would answer the client's retry with 409 email_taken.
    expect(await usersWithEmail(email)).toBe(0);
    expect(await tenantUsersWithEmail(email)).toBe(0);
    const again = await json("POST", `${A}/auth/signup`, { email, password: PASSWORD });
    expect(again.status, again.text).toBe(201);
  });
});

describe("KV failure during sign-in", () => {
  it("writes no session when the public-key read throws while the tokens are signed", async () => {
    // After the session batch, sign-in signs the access token; with the isolate's keyring stale
    // that reloads the public keys from KV. Whatever it answers, a 503 must not have written the
    // session (a session no client holds a refresh token for).
    await createApp("signkeys");
    await putTenant("signkeys", "acme");
    const path = base("signkeys", "acme");
    const { user } = await signup(path, "signkeys@example.com");

    faults.kv = (call) => call.key.startsWith("pub:");
    const res = await json(
      "POST",
      `${path}/auth/signin`,
      { email: "signkeys@example.com", password: PASSWORD },
      at(Date.now() + KEYRING_STALE_MS),
    );
    if (res.status === 200) {
      expect(await sessionsOf(user.id)).toBe(2);
    } else {
      expectUnavailable(res);
      expect(injectedKv()).toContain("get pub:app:signkeys");
      expect(await sessionsOf(user.id)).toBe(1);
    }
  });
});

describe("introspection reads no D1", () => {
  it("answers active:true with every D1 call failing, on a warm isolate and after every cache expired", async () => {
    const { session } = await signup(A, "no-d1@example.com");
    // Warm: app, tenant and keys are in the isolate.
    await introspect(A, key, session.access_token);
    faults.d1 = () => true;
    const warm = await introspect(A, key, session.access_token);
    expect(warm.body.active, warm.text).toBe(true);
    // Past every isolate cache (tenancy 30 s, keys 5 min): everything comes from the KV mirrors.
    const cold = await introspect(A, key, session.access_token, at(Date.now() + KEYRING_STALE_MS));
    expect(cold.body.active, cold.text).toBe(true);
    expect(injectedD1()).toEqual([]);
  });
});

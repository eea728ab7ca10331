// End users of a tenant: sign-up, sign-in, sessions, refresh rotation, introspection.
import { describe, it, expect, beforeAll } from "vitest";
import { useWorker, json, rawFetch, worker } from "./harness";
import { PASSWORD, owner, createApp, putTenant, apiKey, base, bearer, at, decode, encode, introspect } from "./support";

useWorker();

const SHOP = "shop";
const A = base(SHOP, "acme");
const B = base(SHOP, "beta");
let keyA = "";
let keyB = "";

beforeAll(async () => {
  await createApp(SHOP);
  await createApp("other");
  await putTenant(SHOP, "acme");
  await putTenant(SHOP, "beta");
  await putTenant(SHOP, "closed", []);
  await putTenant("other", "acme");
  keyA = await apiKey(SHOP, "acme");
  keyB = await apiKey(SHOP, "beta");
});

async function signup(path: string, email: string, headers: Record<string, string> = {}) {
  const res = await json("POST", `${path}/auth/signup`, { email, password: PASSWORD }, headers);
  expect(res.status, res.text).toBe(201);
  return res.body as { user: any; session: any };
}

describe("the happy path", () => {
  it("signs up, reads /me, refreshes, introspects, signs out", async () => {
    const { user, session } = await signup(A, "happy@example.com");
    expect(user).toMatchObject({ email: "happy@example.com", tenant_id: "acme", status: "active", plan_tier: "free", roles: [] });
    expect(session.token_type).toBe("Bearer");
    expect(session.expires_in).toBe(900);
    expect(session.refresh_token).toMatch(/^tsr_[A-Za-z0-9_-]{43}$/);
    const [header, payload] = session.access_token.split(".").slice(0, 2).map(decode);
    expect(header.alg).toBe("EdDSA");
    expect(header.kid).toBeTruthy();
    expect(payload).toMatchObject({ sub: user.id, app: SHOP, tid: "acme", sid: session.session_id, typ: "access" });
    expect(payload.exp - payload.iat).toBe(900);

    const me = await json("GET", `${A}/auth/me`, undefined, bearer(session.access_token));
    expect(me.status).toBe(200);
    expect(me.body.user.id).toBe(user.id);

    const refreshed = await json("POST", `${A}/auth/refresh`, { refresh_token: session.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.session.refresh_token).not.toBe(session.refresh_token);
    expect(refreshed.body.session.session_id).toBe(session.session_id);

    const active = await introspect(SHOP, "acme", keyA, refreshed.body.session.access_token);
    expect(active).toMatchObject({ active: true, token_type: "access_token", sub: user.id, app_id: SHOP, tenant_id: "acme", sid: session.session_id, status: "active", plan_tier: "free", rate_limit: null, roles: [], permissions: [] });
    expect(active.iss).toBe("https://tessera.test/apps/shop/tenants/acme");

    const out = await json("POST", `${A}/auth/signout`, undefined, bearer(refreshed.body.session.access_token));
    expect(out.status).toBe(204);
    expect(await introspect(SHOP, "acme", keyA, refreshed.body.session.access_token)).toEqual({ active: false });
    expect(await introspect(SHOP, "acme", keyA, session.access_token)).toEqual({ active: false });
    expect((await json("GET", `${A}/auth/me`, undefined, bearer(session.access_token))).status).toBe(401);
    const again = await json("POST", `${A}/auth/refresh`, { refresh_token: refreshed.body.session.refresh_token });
    expect(again.status).toBe(401);
    expect(again.body.code).toBe("invalid_token");
  });

  it("signs in with the same password in any email casing", async () => {
    await signup(A, "casing@example.com");
    const res = await json("POST", `${A}/auth/signin`, { email: "  CASING@Example.com", password: PASSWORD });
    expect(res.status).toBe(200);
    expect(res.body.user.email).toBe("casing@example.com");
  });

  it("answers introspection with no-store and accepts a JSON body too", async () => {
    const { session } = await signup(A, "json-introspect@example.com");
    const res = await json("POST", `${A}/oauth/introspect`, { token: session.access_token }, bearer(keyA));
    expect(res.status).toBe(200);
    expect(res.body.active).toBe(true);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });
});

describe("identities per tenant", () => {
  it("treats the same email in two tenants as two users with two passwords", async () => {
    const a = await signup(A, "twice@example.com");
    const res = await json("POST", `${B}/auth/signup`, { email: "twice@example.com", password: "a different password" });
    expect(res.status).toBe(201);
    expect(res.body.user.id).not.toBe(a.user.id);
    expect((await json("POST", `${B}/auth/signin`, { email: "twice@example.com", password: PASSWORD })).status).toBe(401);
    expect((await json("POST", `${A}/auth/signin`, { email: "twice@example.com", password: PASSWORD })).status).toBe(200);
  });

  it("refuses a second sign-up of one email in one tenant with 409 email_taken", async () => {
    await signup(A, "taken@example.com");
    const res = await json("POST", `${A}/auth/signup`, { email: "TAKEN@example.com", password: "whatever password" });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("email_taken");
  });

  it("refuses tenants without emailpassword with 403 login_method_disabled", async () => {
    const up = await json("POST", `${base(SHOP, "closed")}/auth/signup`, { email: "x@example.com", password: PASSWORD });
    expect(up.status).toBe(403);
    expect(up.body.code).toBe("login_method_disabled");
    const inn = await json("POST", `${base(SHOP, "closed")}/auth/signin`, { email: "x@example.com", password: PASSWORD });
    expect(inn.body.code).toBe("login_method_disabled");
  });

  it("refuses passwords outside 8..128 characters and bad emails with 400", async () => {
    for (const body of [{ email: "p@example.com", password: "1234567" }, { email: "p@example.com", password: "x".repeat(129) }, { email: "not-an-email", password: PASSWORD }]) {
      const res = await json("POST", `${A}/auth/signup`, body);
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });

  it("answers 404 for unknown apps and tenants on every end-user route", async () => {
    for (const path of ["/apps/nope/tenants/acme/auth/signin", "/apps/shop/tenants/nope/auth/signin"]) {
      const res = await json("POST", path, { email: "a@example.com", password: PASSWORD });
      expect(res.status).toBe(404);
      expect(["app_not_found", "tenant_not_found"]).toContain(res.body.code);
    }
  });
});

describe("sign-in", () => {
  it("answers an unknown email and a wrong password with the same status and body", async () => {
    await signup(A, "enum@example.com");
    const wrong = await json("POST", `${A}/auth/signin`, { email: "enum@example.com", password: "wrong password" });
    const unknown = await json("POST", `${A}/auth/signin`, { email: "nobody-here@example.com", password: "wrong password" });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.text).toBe(unknown.text);
    expect(wrong.body.code).toBe("invalid_credentials");
  });

  it("rate limits an account after repeated failures, with Retry-After, and resets on success", async () => {
    await signup(A, "throttle@example.com");
    const t0 = Date.now() + 10_000_000;
    // Its own client address: failures recorded at a future test time must not block others.
    const attempt = (password: string, ms: number) =>
      json("POST", `${A}/auth/signin`, { email: "Throttle@example.com", password }, { "cf-connecting-ip": "198.51.100.1", ...at(ms) });
    for (let i = 0; i < 5; i++) expect((await attempt("wrong password", t0)).status).toBe(401);
    const limited = await attempt(PASSWORD, t0);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe("rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // The right password is refused too while blocked, and no hashing decides it.
    const later = t0 + 1_000 * Number(limited.headers.get("retry-after"));
    expect((await attempt(PASSWORD, later)).status).toBe(200);
    // The success cleared the count: a new failure is a plain 401 again.
    expect((await attempt("wrong password", later)).status).toBe(401);
    expect((await attempt(PASSWORD, later)).status).toBe(200);
  });

  it("rate limits a client address across accounts", async () => {
    const t0 = Date.now() + 20_000_000;
    const ip = { "cf-connecting-ip": "203.0.113.7", ...at(t0) };
    for (let i = 0; i < 20; i++) {
      const res = await json("POST", `${A}/auth/signin`, { email: `spray${i}@example.com`, password: "wrong password" }, ip);
      expect(res.status).toBe(401);
    }
    const blocked = await json("POST", `${A}/auth/signin`, { email: "spray-last@example.com", password: "wrong password" }, ip);
    expect(blocked.status).toBe(429);
    const elsewhere = await json("POST", `${A}/auth/signin`, { email: "spray-last@example.com", password: "wrong password" }, { "cf-connecting-ip": "203.0.113.8", ...at(t0) });
    expect(elsewhere.status).toBe(401);
  });

  it("upgrades a weak stored hash at the next successful sign-in", async () => {
    const { user } = await signup(A, "upgrade@example.com");
    const db = await worker().db();
    const before: any = await db.prepare("SELECT password_hash FROM users WHERE id = ?").bind(user.id).first();
    expect(before.password_hash).toMatch(/^\$pbkdf2-sha256\$i=1000\$/);
    expect(await signInWithWeakHash(user.id)).toBe(true);
  });
});

// The test policy (1,000 iterations) is what the worker uses, so a hash is "weak" only when it
// has fewer: write one with 500 iterations by hand (computed with Node's PBKDF2) and sign in.
async function signInWithWeakHash(userId: string): Promise<boolean> {
  const { pbkdf2Sync, randomBytes } = await import("node:crypto");
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(PASSWORD, salt, 500, 32, "sha256");
  const phc = `$pbkdf2-sha256$i=500$${salt.toString("base64").replace(/=+$/, "")}$${hash.toString("base64").replace(/=+$/, "")}`;
  const db = await worker().db();
  await db.prepare("UPDATE users SET password_hash = ? WHERE id = ?").bind(phc, userId).run();
  const res = await json("POST", `${A}/auth/signin`, { email: "upgrade@example.com", password: PASSWORD });
  expect(res.status, res.text).toBe(200);
  const after: any = await db.prepare("SELECT password_hash FROM users WHERE id = ?").bind(userId).first();
  return after.password_hash.startsWith("$pbkdf2-sha256$i=1000$") && after.password_hash !== phc;
}

describe("refresh rotation", () => {
  it("replays the same successor for the previous token within the grace window", async () => {
    const { session } = await signup(A, "grace@example.com");
    const first = await json("POST", `${A}/auth/refresh`, { refresh_token: session.refresh_token });
    const retry = await json("POST", `${A}/auth/refresh`, { refresh_token: session.refresh_token });
    expect(retry.status).toBe(200);
    expect(retry.body.session.refresh_token).toBe(first.body.session.refresh_token);
    const next = await json("POST", `${A}/auth/refresh`, { refresh_token: first.body.session.refresh_token });
    expect(next.status).toBe(200);
  });

  it("treats an older token as theft: 401 token_reused, session and access tokens revoked", async () => {
    const { session } = await signup(A, "theft@example.com");
    const r1 = (await json("POST", `${A}/auth/refresh`, { refresh_token: session.refresh_token })).body.session;
    const r2 = (await json("POST", `${A}/auth/refresh`, { refresh_token: r1.refresh_token })).body.session;
    const stolen = await json("POST", `${A}/auth/refresh`, { refresh_token: session.refresh_token });
    expect(stolen.status).toBe(401);
    expect(stolen.body.code).toBe("token_reused");
    expect(await introspect(SHOP, "acme", keyA, r2.access_token)).toEqual({ active: false });
    expect((await json("GET", `${A}/auth/me`, undefined, bearer(r2.access_token))).status).toBe(401);
    const legit = await json("POST", `${A}/auth/refresh`, { refresh_token: r2.refresh_token });
    expect(legit.status).toBe(401);
  });

  it("treats the previous token after the grace window as theft", async () => {
    const t0 = Date.now();
    const { session } = await signup(A, "late@example.com", at(t0));
    await json("POST", `${A}/auth/refresh`, { refresh_token: session.refresh_token }, at(t0));
    const late = await json("POST", `${A}/auth/refresh`, { refresh_token: session.refresh_token }, at(t0 + 31_000));
    expect(late.status).toBe(401);
    expect(late.body.code).toBe("token_reused");
  });

  it("gives 20 concurrent refreshes of one token at most one successor and no 5xx", async () => {
    const { session } = await signup(A, "race@example.com");
    const results = await Promise.all(
      Array.from({ length: 20 }, () => json("POST", `${A}/auth/refresh`, { refresh_token: session.refresh_token })),
    );
    for (const r of results) expect(r.status, r.text).toBeLessThan(500);
    const successors = new Set(results.filter((r) => r.status === 200).map((r) => r.body.session.refresh_token));
    expect(successors.size).toBe(1);
    const rows: any = await (await worker().db()).prepare("SELECT COUNT(*) AS n FROM refresh_tokens WHERE session_id = ?").bind(session.session_id).first();
    expect(rows.n).toBe(2);
  });

  it("refuses a refresh past the idle lifetime and past the absolute lifetime", async () => {
    const t0 = Date.now();
    const day = 24 * 3600 * 1000;
    const idle = await signup(A, "idle@example.com", at(t0));
    const res = await json("POST", `${A}/auth/refresh`, { refresh_token: idle.session.refresh_token }, at(t0 + 7 * day));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("invalid_token");

    let { session } = await signup(A, "absolute@example.com", at(t0));
    let now = t0;
    for (let i = 0; i < 4; i++) {
      now += 6 * day;
      const r = await json("POST", `${A}/auth/refresh`, { refresh_token: session.refresh_token }, at(now));
      expect(r.status, `refresh ${i} at day ${(now - t0) / day}`).toBe(200);
      session = r.body.session;
    }
    const end = await json("POST", `${A}/auth/refresh`, { refresh_token: session.refresh_token }, at(t0 + 30 * day));
    expect(end.status).toBe(401);
    expect(end.body.code).toBe("invalid_token");
  });

  it("refuses garbage and access tokens as refresh tokens", async () => {
    const { session } = await signup(A, "garbage@example.com");
    for (const refresh_token of ["", "tsr_x", session.access_token, "tsk_" + session.refresh_token.slice(4)]) {
      const res = await json("POST", `${A}/auth/refresh`, { refresh_token });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("invalid_token");
    }
  });
});

describe("access tokens expire", () => {
  it("is inactive after exp at introspection and /me", async () => {
    const t0 = Date.now();
    const { session } = await signup(A, "expiry@example.com", at(t0));
    expect((await introspect(SHOP, "acme", keyA, session.access_token, at(t0 + 899_000))).active).toBe(true);
    expect(await introspect(SHOP, "acme", keyA, session.access_token, at(t0 + 901_000))).toEqual({ active: false });
    expect((await json("GET", `${A}/auth/me`, undefined, { ...bearer(session.access_token), ...at(t0 + 901_000) })).status).toBe(401);
  });
});

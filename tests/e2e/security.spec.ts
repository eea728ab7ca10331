// Regressions for the security review: throttling under parallel load, scope escalation,
// unbounded bodies, namesake tenants, suspended users at /me, operator sign-in throttling.
import { describe, it, expect, beforeAll } from "vitest";
import { useWorker, json, rawFetch, worker } from "./harness";
import { PASSWORD, owner, createApp, putTenant, apiKey, base, bearer, at, introspect } from "./support";

useWorker();

const A = base("sec", "acme");

beforeAll(async () => {
  await createApp("sec");
  await putTenant("sec", "acme");
});

describe("sign-in throttling", () => {
  it("lets at most the free attempts of a parallel burst through for one account", async () => {
    await json("POST", `${A}/auth/signup`, { email: "burst@example.com", password: PASSWORD });
    const t0 = Date.now() + 40_000_000;
    const burst = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        json("POST", `${A}/auth/signin`, { email: "burst@example.com", password: "wrong password" }, { "cf-connecting-ip": `192.0.2.${i}`, ...at(t0) }),
      ),
    );
    const statuses = burst.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(25);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
  });

  it("does not count successful sign-ins against the client address", async () => {
    await json("POST", `${A}/auth/signup`, { email: "office@example.com", password: PASSWORD });
    const t0 = Date.now() + 50_000_000;
    for (let i = 0; i < 25; i++) {
      const res = await json("POST", `${A}/auth/signin`, { email: "office@example.com", password: PASSWORD }, { "cf-connecting-ip": "198.51.100.99", ...at(t0) });
      expect(res.status, `sign-in ${i}`).toBe(200);
    }
  });

  it("counts IPv6 clients by their /64", async () => {
    const t0 = Date.now() + 60_000_000;
    for (let i = 0; i < 20; i++) {
      const res = await json("POST", `${A}/auth/signin`, { email: `v6-${i}@example.com`, password: "wrong password" }, { "cf-connecting-ip": `2001:db8:aa:bb::${i + 1}`, ...at(t0) });
      expect(res.status).toBe(401);
    }
    const next = await json("POST", `${A}/auth/signin`, { email: "v6-last@example.com", password: "wrong password" }, { "cf-connecting-ip": "2001:db8:aa:bb:ffff::1", ...at(t0) });
    expect(next.status).toBe(429);
  });

  it("throttles operator sign-in too", async () => {
    await owner();
    const t0 = Date.now() + 70_000_000;
    for (let i = 0; i < 5; i++) {
      expect((await json("POST", "/admin/auth/signin", { email: "owner@example.com", password: "wrong password" }, at(t0))).status).toBe(401);
    }
    const blocked = await json("POST", "/admin/auth/signin", { email: "owner@example.com", password: PASSWORD }, at(t0));
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toBeTruthy();
    expect((await json("POST", "/admin/auth/signin", { email: "owner@example.com", password: PASSWORD }, at(t0 + 2_000))).status).toBe(200);
  });
});

describe("API keys cannot escalate", () => {
  it("refuses a key minting a key with scopes it does not hold", async () => {
    const limited = await apiKey("sec", "acme", ["apikeys:write"]);
    const res = await json("POST", "/admin/apps/sec/tenants/acme/api-keys", { name: "bigger", scopes: ["tenants:write"] }, bearer(limited));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe("forbidden");
    const same = await json("POST", "/admin/apps/sec/tenants/acme/api-keys", { name: "same", scopes: ["apikeys:write", "introspect"] }, bearer(limited));
    expect(same.status).toBe(201);
  });
});

describe("request bodies", () => {
  // A body sent in these chunks, with no Content-Length.
  const chunked = (parts: string[]) => {
    const chunks = parts.map((c) => new TextEncoder().encode(c));
    return new ReadableStream({
      pull(controller) {
        const next = chunks.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
  };

  it("refuses a chunked body without Content-Length once it passes 64 KiB", async () => {
    // Four 16 KiB chunks and one byte more: the worker has read everything when it refuses,
    // so the answer cannot race the upload (a larger body may see the connection cut instead).
    const body = chunked([...Array(4).fill("x".repeat(16 * 1024)), "x"]);
    const res = await rawFetch(`${A}/auth/signin`, { method: "POST", body, duplex: "half" } as any);
    expect(res.status).toBe(413);
    expect((await res.json()).code).toBe("payload_too_large");
  });

  // Introspection reads the runtime's request itself (not the worker crate's): the same limits.
  it("reads a chunked introspection body without Content-Length, and refuses one past 64 KiB", async () => {
    const key = await apiKey("sec", "acme", ["introspect"]);
    const signup = await json("POST", `${A}/auth/signup`, { email: "chunked@example.com", password: PASSWORD });
    expect(signup.status).toBe(201);
    const token = encodeURIComponent(signup.body.session.access_token);
    const form = { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${key}` };
    const small = await rawFetch(`${A}/oauth/introspect`, {
      method: "POST",
      headers: form,
      body: chunked(["tok", `en=${token.slice(0, 40)}`, token.slice(40)]),
      duplex: "half",
    } as any);
    expect(small.status).toBe(200);
    expect(await small.json()).toMatchObject({ active: true, sub: signup.body.user.id });

    const large = await rawFetch(`${A}/oauth/introspect`, {
      method: "POST",
      headers: form,
      body: chunked([`token=${token}&pad=`, ...Array(4).fill("x".repeat(16 * 1024))]),
      duplex: "half",
    } as any);
    expect(large.status).toBe(413);
    expect((await large.json()).code).toBe("payload_too_large");

    const declared = await rawFetch(`${A}/oauth/introspect`, {
      method: "POST",
      headers: form,
      body: `token=${token}&pad=${"x".repeat(64 * 1024)}`,
    });
    expect(declared.status).toBe(413);
    expect((await declared.json()).code).toBe("payload_too_large");
  });
});

describe("namesakes and suspended users", () => {
  it("a token of a deleted tenant is inactive at a re-created tenant of the same id", async () => {
    await putTenant("sec", "phoenix");
    const signup = await json("POST", `${base("sec", "phoenix")}/auth/signup`, { email: "old@example.com", password: PASSWORD });
    const t0 = Date.now();
    await json("DELETE", "/admin/apps/sec/tenants/phoenix", undefined, { ...(await owner()), ...at(t0) });
    await json("PUT", "/admin/apps/sec/tenants/phoenix", {}, { ...(await owner()), ...at(t0 + 2_000) });
    const created = await json("POST", "/admin/apps/sec/tenants/phoenix/api-keys", { name: "k", scopes: ["introspect"] }, { ...(await owner()), ...at(t0 + 2_500) });
    const key = created.body.key;
    expect(await introspect("sec", "phoenix", key, signup.body.session.access_token, at(t0 + 3_000))).toEqual({ active: false });
    const me = await json("GET", `${base("sec", "phoenix")}/auth/me`, undefined, { ...bearer(signup.body.session.access_token), ...at(t0 + 3_000) });
    expect(me.status).toBe(401);
  });

  it("a suspended user's token is refused at /me", async () => {
    const signup = await json("POST", `${A}/auth/signup`, { email: "suspend-me@example.com", password: PASSWORD });
    const db = await worker().db();
    await db.prepare("UPDATE tenant_users SET status = 'suspended' WHERE user_id = ?").bind(signup.body.user.id).run();
    const me = await json("GET", `${A}/auth/me`, undefined, bearer(signup.body.session.access_token));
    expect(me.status).toBe(401);
    const signin = await json("POST", `${A}/auth/signin`, { email: "suspend-me@example.com", password: PASSWORD });
    expect(signin.status).toBe(403);
    expect(signin.body.code).toBe("user_suspended");
  });
});

describe("sign-up throttling", () => {
  it("counts sign-ups per client address before hashing: 100 pass, then 429 with Retry-After", async () => {
    await putTenant("sec", "signups");
    const path = base("sec", "signups");
    const t0 = Date.now() + 80_000_000;
    const from = (ip: string) => ({ "cf-connecting-ip": ip, ...at(t0) });
    for (let batch = 0; batch < 10; batch++) {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          json("POST", `${path}/auth/signup`, { email: `many-${batch}-${i}@example.com`, password: PASSWORD }, from("198.51.100.200")),
        ),
      );
      for (const r of results) expect(r.status, r.text).toBe(201);
    }
    const over = await json("POST", `${path}/auth/signup`, { email: "one-too-many@example.com", password: PASSWORD }, from("198.51.100.200"));
    expect(over.status).toBe(429);
    expect(over.body.code).toBe("rate_limited");
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const elsewhere = await json("POST", `${path}/auth/signup`, { email: "one-too-many@example.com", password: PASSWORD }, from("198.51.100.201"));
    expect(elsewhere.status).toBe(201);
  });
});

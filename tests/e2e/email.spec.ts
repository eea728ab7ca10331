// Email delivery through the queue, and the flows that prove an email: verification, password
// reset (end users and operators), passwordless, and an end user's self-service. Messages are
// read from the outbox (the worker consumes its own queue under Miniflare); one app delivers
// by webhook to a receiver on 127.0.0.1 that checks every signature.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { useWorker, json } from "./harness";
import { PASSWORD, owner, createApp, base, bearer, at, activeMember, unique } from "./support";

useWorker();

const APP = "mail";
const T = base(APP, "acme");
const LINK_BASE = "https://app.example/auth";

async function putTenant(app: string, tenant: string, body: unknown) {
  const res = await json("PUT", `/admin/apps/${app}/tenants/${tenant}`, body, await owner());
  expect(res.status, res.text).toBeLessThan(300);
  return res.body.tenant;
}

async function setDelivery(app: string, body: unknown) {
  const res = await json("PUT", `/admin/apps/${app}/email-delivery`, body, await owner());
  expect(res.status, res.text).toBe(200);
  return res.body;
}

/** The outbox messages to `to`, newest first, once there are at least `count` (the queue is asynchronous). */
async function outbox(app: string, to: string, count = 1): Promise<any[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await json("GET", `/admin/apps/${app}/outbox?to=${encodeURIComponent(to)}`, undefined, await owner());
    expect(res.status, res.text).toBe(200);
    if (res.body.items.length >= count) return res.body.items;
    if (Date.now() > deadline) throw new Error(`no message ${count} to ${to} in the outbox of ${app}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const tokenOf = (message: any) => new URL(message.link).searchParams.get("token")!;

// Miniflare sends every request from 127.0.0.1. A test that moves the clock forward gets a
// client address of its own, so the counts it leaves in the future hold no other test back.
let clients = 0;
const client = () => ({ "cf-connecting-ip": `198.51.100.${++clients}` });

async function signup(path: string, email: string) {
  const res = await json("POST", `${path}/auth/signup`, { email, password: PASSWORD });
  expect(res.status, res.text).toBe(201);
  return res.body as { user: any; session: any };
}

beforeAll(async () => {
  await createApp(APP);
  await putTenant(APP, "acme", { login_methods: ["emailpassword", "passwordless"], link_base_url: LINK_BASE });
  await setDelivery(APP, { kind: "outbox" });
});

describe("email delivery settings", () => {
  it("refuses what is not a delivery, shows a webhook's secret once and never again", async () => {
    const app = unique("deliv");
    await createApp(app);
    const put = (body: unknown, headers?: Record<string, string>) =>
      json("PUT", `/admin/apps/${app}/email-delivery`, body, headers);
    expect((await put({ kind: "outbox" })).status).toBe(401);
    const auth = await owner();
    for (const body of [
      { kind: "smtp" },
      { kind: "webhook" },
      { kind: "webhook", url: "http://mail.example/hook" },
      { kind: "webhook", url: "https://user:pw@mail.example/hook" },
      { kind: "outbox", url: "https://mail.example/hook" },
    ]) {
      const res = await put(body, auth);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    const hook = await put({ kind: "webhook", url: "https://mail.example/hook" }, auth);
    expect(hook.status).toBe(200);
    expect(hook.body.delivery).toEqual({ kind: "webhook", url: "https://mail.example/hook" });
    expect(hook.body.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const read = await json("GET", `/admin/apps/${app}/email-delivery`, undefined, auth);
    expect(read.body).toEqual({ delivery: { kind: "webhook", url: "https://mail.example/hook" } });
    expect(read.text).not.toContain(hook.body.secret.slice(6));
    const none = await put({ kind: "none" }, auth);
    expect(none.body).toEqual({ delivery: { kind: "none", url: null } });
  });

  it("answers 409 email_delivery_not_configured for every address alike while the kind is none", async () => {
    const app = unique("silent");
    await createApp(app);
    await putTenant(app, "public", { login_methods: ["emailpassword", "passwordless"], link_base_url: LINK_BASE });
    await signup(base(app, "public"), "known@example.com");
    const answers = [];
    for (const email of ["known@example.com", "unknown@example.com"]) {
      const reset = await json("POST", `${base(app, "public")}/auth/password-reset/send`, { email });
      const start = await json("POST", `${base(app, "public")}/auth/passwordless/start`, { email });
      answers.push([reset.status, reset.body.code, start.status, start.body.code]);
    }
    expect(answers).toEqual([
      [409, "email_delivery_not_configured", 409, "email_delivery_not_configured"],
      [409, "email_delivery_not_configured", 409, "email_delivery_not_configured"],
    ]);
    const outbox = await json("GET", `/admin/apps/${app}/outbox`, undefined, await owner());
    expect(outbox.status).toBe(409);
  });
});

describe("email verification", () => {
  it("sends a link that verifies the email once", async () => {
    const { user, session } = await signup(T, "verify@example.com");
    expect(user).toMatchObject({ email_verified: false, methods: ["emailpassword"] });
    expect((await json("POST", `${T}/auth/email-verification/send`)).status).toBe(401);
    const sent = await json("POST", `${T}/auth/email-verification/send`, undefined, bearer(session.access_token));
    expect([sent.status, sent.body]).toEqual([202, {}]);
    const [message] = await outbox(APP, "verify@example.com");
    expect(message).toMatchObject({ type: "email_verification", to: "verify@example.com", tenant_id: "acme", code: null });
    expect(message.link).toMatch(/^https:\/\/app\.example\/auth\?type=email_verification&token=tsl_[A-Za-z0-9_-]{43}$/);
    const verified = await json("POST", `${T}/auth/email-verification/verify`, { token: tokenOf(message) });
    expect(verified.status, verified.text).toBe(200);
    expect(verified.body.user).toMatchObject({ id: user.id, email_verified: true });
    const again = await json("POST", `${T}/auth/email-verification/verify`, { token: tokenOf(message) });
    expect([again.status, again.body.code]).toEqual([400, "invalid_code"]);
    const me = await json("GET", `${T}/auth/me`, undefined, bearer(session.access_token));
    expect(me.body.user.email_verified).toBe(true);
  });
});

describe("password reset", () => {
  it("answers alike for unknown emails and mails only known ones", async () => {
    await signup(T, "reset-known@example.com");
    const known = await json("POST", `${T}/auth/password-reset/send`, { email: "reset-known@example.com" });
    const unknown = await json("POST", `${T}/auth/password-reset/send`, { email: "reset-unknown@example.com" });
    expect([known.status, known.text]).toEqual([202, "{}"]);
    expect([unknown.status, unknown.text]).toEqual([known.status, known.text]);
    expect([...unknown.headers.keys()].sort()).toEqual([...known.headers.keys()].sort());
    await outbox(APP, "reset-known@example.com");
    // The decoy went through the queue too; it is dropped, never kept.
    const none = await json("GET", `/admin/apps/${APP}/outbox?to=reset-unknown@example.com`, undefined, await owner());
    expect(none.body.items).toEqual([]);
  });

  it("sets a new password once, revokes the sessions and signs nobody in", async () => {
    const { session } = await signup(T, "reset@example.com");
    await json("POST", `${T}/auth/password-reset/send`, { email: "reset@example.com" });
    const [message] = await outbox(APP, "reset@example.com");
    const token = tokenOf(message);
    const short = await json("POST", `${T}/auth/password-reset`, { token, password: "short" });
    expect(short.status).toBe(400);
    const done = await json("POST", `${T}/auth/password-reset`, { token, password: "a brand new password" });
    expect([done.status, done.text]).toEqual([200, "{}"]);
    const again = await json("POST", `${T}/auth/password-reset`, { token, password: "another new password" });
    expect([again.status, again.body.code]).toEqual([400, "invalid_code"]);
    expect((await json("GET", `${T}/auth/me`, undefined, bearer(session.access_token))).status).toBe(401);
    expect((await json("POST", `${T}/auth/refresh`, { refresh_token: session.refresh_token })).status).toBe(401);
    const old = await json("POST", `${T}/auth/signin`, { email: "reset@example.com", password: PASSWORD });
    expect(old.status).toBe(401);
    const signed = await json("POST", `${T}/auth/signin`, { email: "reset@example.com", password: "a brand new password" });
    expect(signed.status).toBe(200);
    expect(signed.body.user.email_verified).toBe(true);
  });

  it("refuses a link after 15 minutes", async () => {
    await signup(T, "late@example.com");
    const now = Date.now();
    const ip = client();
    await json("POST", `${T}/auth/password-reset/send`, { email: "late@example.com" }, { ...ip, ...at(now) });
    const [message] = await outbox(APP, "late@example.com");
    const late = await json("POST", `${T}/auth/password-reset`, { token: tokenOf(message), password: "a brand new password" }, { ...ip, ...at(now + 15 * 60_000) });
    expect([late.status, late.body.code]).toEqual([400, "invalid_code"]);
  });

  it("allows 5 sends per address in 15 minutes, then 429 with Retry-After", async () => {
    const now = Date.now();
    const ip = client();
    for (let i = 0; i < 5; i++) {
      const res = await json("POST", `${T}/auth/password-reset/send`, { email: "flood@example.com" }, { ...ip, ...at(now + i) });
      expect(res.status).toBe(202);
    }
    const refused = await json("POST", `${T}/auth/password-reset/send`, { email: "flood@example.com" }, { ...ip, ...at(now + 5) });
    expect([refused.status, refused.body.code]).toEqual([429, "rate_limited"]);
    expect(refused.headers.get("retry-after")).toBe("900");
    const later = await json("POST", `${T}/auth/password-reset/send`, { email: "flood@example.com" }, { ...ip, ...at(now + 15 * 60_000) });
    expect(later.status).toBe(202);
  });

  it("allows 20 sends per client address in 15 minutes, then 429", async () => {
    const ip = { "cf-connecting-ip": "203.0.113.50" };
    const now = Date.now();
    for (let i = 0; i < 20; i++) {
      const res = await json("POST", `${T}/auth/password-reset/send`, { email: `spray-${i}@example.com` }, { ...ip, ...at(now) });
      expect(res.status).toBe(202);
    }
    const refused = await json("POST", `${T}/auth/password-reset/send`, { email: "spray-20@example.com" }, { ...ip, ...at(now) });
    expect(refused.status).toBe(429);
  });
});

describe("passwordless", () => {
  it("signs a new email up with the code, and a known user in with the link", async () => {
    const start = await json("POST", `${T}/auth/passwordless/start`, { email: "pl@example.com" });
    expect(start.status).toBe(200);
    expect(start.body.expires_in).toBe(900);
    expect(start.body.attempt_id).toMatch(/^[0-9a-f-]{36}$/);
    const [message] = await outbox(APP, "pl@example.com");
    expect(message).toMatchObject({ type: "passwordless", to: "pl@example.com" });
    expect(message.code).toMatch(/^[0-9]{6}$/);
    expect(message.link).toMatch(/^https:\/\/app\.example\/auth\?type=passwordless&token=tsl_/);
    const consumed = await json("POST", `${T}/auth/passwordless/consume`, { attempt_id: start.body.attempt_id, code: message.code });
    expect(consumed.status, consumed.text).toBe(200);
    expect(consumed.body.created).toBe(true);
    expect(consumed.body.user).toMatchObject({ email: "pl@example.com", email_verified: true, methods: ["passwordless"] });
    expect(consumed.body.session.refresh_token).toMatch(/^tsr_/);
    const again = await json("POST", `${T}/auth/passwordless/consume`, { attempt_id: start.body.attempt_id, code: message.code });
    expect([again.status, again.body.code]).toEqual([401, "invalid_code"]);

    await json("POST", `${T}/auth/passwordless/start`, { email: "pl@example.com" });
    const [second] = await outbox(APP, "pl@example.com", 2);
    const byLink = await json("POST", `${T}/auth/passwordless/consume`, { link_token: tokenOf(second) });
    expect(byLink.status, byLink.text).toBe(200);
    expect(byLink.body.created).toBe(false);
    expect(byLink.body.user.id).toBe(consumed.body.user.id);
    const used = await json("POST", `${T}/auth/passwordless/consume`, { link_token: tokenOf(second) });
    expect([used.status, used.body.code]).toEqual([400, "invalid_code"]);
  });

  it("ends an attempt at the fifth wrong code", async () => {
    const now = Date.now();
    const ip = client();
    const start = await json("POST", `${T}/auth/passwordless/start`, { email: "guess@example.com" }, { ...ip, ...at(now) });
    const [message] = await outbox(APP, "guess@example.com");
    const wrong = String((Number(message.code) + 1) % 1_000_000).padStart(6, "0");
    for (let i = 0; i < 5; i++) {
      const res = await json("POST", `${T}/auth/passwordless/consume`, { attempt_id: start.body.attempt_id, code: wrong }, { ...ip, ...at(now + i * 60_000) });
      expect([res.status, res.body.code]).toEqual([401, "invalid_code"]);
    }
    const right = await json("POST", `${T}/auth/passwordless/consume`, { attempt_id: start.body.attempt_id, code: message.code }, { ...ip, ...at(now + 5 * 60_000) });
    expect([right.status, right.body.code]).toEqual([401, "invalid_code"]);
  });

  it("is refused where the tenant does not offer it", async () => {
    await putTenant(APP, "plain", { login_methods: ["emailpassword"], link_base_url: LINK_BASE });
    const res = await json("POST", `${base(APP, "plain")}/auth/passwordless/start`, { email: "x@example.com" });
    expect([res.status, res.body.code]).toEqual([403, "login_method_disabled"]);
    const bad = await json("POST", `${T}/auth/passwordless/consume`, { attempt_id: "not-a-uuid", code: "123456" });
    expect(bad.status).toBe(400);
  });
});

describe("self-service", () => {
  it("changes the password, lists and ends sessions, and leaves the tenant", async () => {
    // A millisecond apart on the test clock, so the sessions' ids (UUIDv7) sort by time.
    const now = Date.now();
    const ip = client();
    const signin = async (ms: number) =>
      (await json("POST", `${T}/auth/signin`, { email: "self@example.com", password: PASSWORD }, { ...ip, ...at(ms) })).body;
    const first = (await json("POST", `${T}/auth/signup`, { email: "self@example.com", password: PASSWORD }, { ...ip, ...at(now) })).body;
    const second = await signin(now + 1);
    const third = await signin(now + 2);
    const other = await signup(T, "other-self@example.com");

    const listed = await json("GET", `${T}/auth/sessions`, undefined, { ...bearer(second.session.access_token), ...at(now + 3) });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((s: any) => [s.session_id, s.current])).toEqual([
      [third.session.session_id, false],
      [second.session.session_id, true],
      [first.session.session_id, false],
    ]);
    expect(listed.body.next_cursor).toBeNull();

    const foreign = await json("DELETE", `${T}/auth/sessions/${other.session.session_id}`, undefined, bearer(second.session.access_token));
    expect([foreign.status, foreign.body.code]).toEqual([404, "not_found"]);
    const ended = await json("DELETE", `${T}/auth/sessions/${third.session.session_id}`, undefined, bearer(second.session.access_token));
    expect(ended.status).toBe(204);
    expect((await json("GET", `${T}/auth/me`, undefined, bearer(third.session.access_token))).status).toBe(401);

    const wrong = await json("POST", `${T}/auth/password`, { current_password: "not my password", new_password: "a brand new password" }, bearer(second.session.access_token));
    expect([wrong.status, wrong.body.code]).toEqual([401, "invalid_credentials"]);
    const changed = await json("POST", `${T}/auth/password`, { current_password: PASSWORD, new_password: "a brand new password" }, bearer(second.session.access_token));
    expect(changed.status).toBe(204);
    expect((await json("GET", `${T}/auth/me`, undefined, bearer(first.session.access_token))).status).toBe(401);
    expect((await json("GET", `${T}/auth/me`, undefined, bearer(second.session.access_token))).status).toBe(200);

    const left = await json("DELETE", `${T}/auth/me`, undefined, bearer(second.session.access_token));
    expect(left.status).toBe(204);
    expect((await json("GET", `${T}/auth/me`, undefined, bearer(second.session.access_token))).status).toBe(401);
    const users = await json("GET", `/admin/apps/${APP}/tenants/acme/users?email=self@example.com`, undefined, await owner());
    expect(users.body.items).toEqual([]);
    // The email is free again: a sign-up makes a new user.
    const again = await signup(T, "self@example.com");
    expect(again.user.id).not.toBe(first.user.id);
  });
});

describe("operator password reset", () => {
  it("resets an operator's password through the public app's delivery and ends its tokens", async () => {
    await setDelivery("public", { kind: "outbox" });
    const member = await activeMember(APP, ["support"]);
    const sent = await json("POST", "/admin/auth/password-reset/send", { email: member.email });
    const unknown = await json("POST", "/admin/auth/password-reset/send", { email: "no-operator@example.com" });
    expect([sent.status, sent.text]).toEqual([202, "{}"]);
    expect([unknown.status, unknown.text]).toEqual([202, "{}"]);
    const [message] = await outbox("public", member.email);
    expect(message).toMatchObject({ type: "operator_password_reset", tenant_id: null });
    expect(message.link.startsWith("http://127.0.0.1:9/console/?type=operator_password_reset&token=tsl_")).toBe(true);
    // Tokens are dated in whole seconds: the reset comes a second after the old token, and
    // the new sign-in a second after the reset (the test clock, not a sleep).
    const now = Date.now();
    const ip = client();
    const done = await json("POST", "/admin/auth/password-reset", { token: tokenOf(message), password: "the operator's new one" }, { ...ip, ...at(now + 1_000) });
    expect([done.status, done.text]).toEqual([200, "{}"]);
    // A support member may read users: its old token can no longer, its new one can.
    const users = `/admin/apps/${APP}/tenants/acme/users`;
    const old = await json("GET", users, undefined, { ...member.auth, ...at(now + 2_000) });
    expect(old.status).toBe(401);
    const stale = await json("POST", "/admin/auth/signin", { email: member.email, password: PASSWORD }, { ...ip, ...at(now + 2_000) });
    expect(stale.status).toBe(401);
    const fresh = await json("POST", "/admin/auth/signin", { email: member.email, password: "the operator's new one" }, { ...ip, ...at(now + 2_000) });
    expect(fresh.status).toBe(200);
    const read = await json("GET", users, undefined, { ...bearer(fresh.body.access_token), ...at(now + 2_000) });
    expect(read.status).toBe(200);
  });
});

// ---------------------------------------------------------------- webhook delivery

interface Received {
  signature: string;
  body: string;
}

describe("webhook delivery", () => {
  const HOOKS = "hooks";
  const received: Received[] = [];
  let answers: number[] = [];
  let server: Server;
  let secret = "";

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        received.push({ signature: String(req.headers["webhook-signature"] ?? ""), body });
        res.statusCode = answers.shift() ?? 200;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    await createApp(HOOKS);
    await putTenant(HOOKS, "public", { login_methods: ["emailpassword", "passwordless"], link_base_url: LINK_BASE });
    secret = (await setDelivery(HOOKS, { kind: "webhook", url: `http://127.0.0.1:${port}/hook` })).secret;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** True when `signature` is `t=…,v1=…` over `body` under the delivery secret. */
  function signed(signature: string, body: string): boolean {
    const parts = Object.fromEntries(signature.split(",").map((p) => p.split("=", 2) as [string, string]));
    const expected = createHmac("sha256", secret).update(`${parts.t}.${body}`).digest();
    const given = Buffer.from(parts.v1 ?? "", "hex");
    return given.length === expected.length && timingSafeEqual(given, expected) && Math.abs(Date.now() / 1000 - Number(parts.t)) < 300;
  }

  async function until(count: number) {
    const deadline = Date.now() + 10_000;
    while (received.length < count) {
      if (Date.now() > deadline) throw new Error(`the receiver got ${received.length} of ${count} posts`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("posts the documented body signed with the delivery secret", async () => {
    received.length = 0;
    const start = await json("POST", `${base(HOOKS, "public")}/auth/passwordless/start`, { email: "hooked@example.com" });
    expect(start.status).toBe(200);
    await until(1);
    const [post] = received;
    expect(signed(post.signature, post.body)).toBe(true);
    expect(signed(post.signature, post.body.replace("hooked", "hacked"))).toBe(false);
    const body = JSON.parse(post.body);
    expect(Object.keys(body).sort()).toEqual(["app_id", "code", "expires_at", "id", "link", "tenant_id", "to", "type"]);
    expect(body).toMatchObject({ type: "passwordless", app_id: HOOKS, tenant_id: "public", to: "hooked@example.com" });
    expect(body.code).toMatch(/^[0-9]{6}$/);
  });

  it("retries a mailer that fails twice, while the HTTP answer was 202 all along", async () => {
    received.length = 0;
    answers = [500, 503];
    await signup(base(HOOKS, "public"), "retry@example.com");
    const sent = await json("POST", `${base(HOOKS, "public")}/auth/password-reset/send`, { email: "retry@example.com" });
    expect([sent.status, sent.text]).toEqual([202, "{}"]);
    await until(3);
    const ids = received.map((r) => JSON.parse(r.body).id);
    expect(new Set(ids).size).toBe(1);
    expect(received.every((r) => signed(r.signature, r.body))).toBe(true);
    const letters = await json("GET", `/admin/apps/${HOOKS}/email-delivery/dead-letters`, undefined, await owner());
    expect(letters.body.items).toEqual([]);
  });

  it("records a message the mailer never takes as a dead letter without its secrets", async () => {
    received.length = 0;
    answers = Array(20).fill(500);
    await signup(base(HOOKS, "public"), "dead@example.com");
    await json("POST", `${base(HOOKS, "public")}/auth/password-reset/send`, { email: "dead@example.com" });
    await until(10);
    const deadline = Date.now() + 10_000;
    let letters: any[] = [];
    while (letters.length === 0 && Date.now() < deadline) {
      letters = (await json("GET", `/admin/apps/${HOOKS}/email-delivery/dead-letters`, undefined, await owner())).body.items;
      if (letters.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ type: "password_reset", to: "dead@example.com", attempts: 10, reason: "the mailer answered 500" });
    expect(JSON.stringify(letters[0])).not.toContain("tsl_");
    answers = [];
  });
});

// Operators completed (issue 16): self-serve sign-up of app owners (OPERATOR_SIGNUP = "open")
// with their email verified through the deployment's delivery before the app can be used for
// more than its settings; the source and the type of memberships; custom operator roles.
import { describe, it, expect, beforeAll } from "vitest";
import { useWorker, json, startWorker } from "./harness";
import {
  PASSWORD, owner, createApp, base, activeMember, inviteMember, patchMember, auditLog, unique, operatorSignin, at,
} from "./support";

useWorker({ bindings: { OPERATOR_SIGNUP: "open" } });

const expectProblem = (res: { status: number; body: any; text: string }, status: number, code: string) => {
  expect(res.status, res.text).toBe(status);
  expect(res.body.code).toBe(code);
};

// Every request of Miniflare comes from 127.0.0.1: a test that counts per client uses its own.
let clients = 0;
const client = () => ({ "cf-connecting-ip": `203.0.113.${++clients}` });

/** The operators' outbox messages (the app `public`'s) to `to`, once there are `count`. */
async function operatorMail(to: string, count = 1): Promise<any[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await json("GET", `/admin/apps/public/outbox?to=${encodeURIComponent(to)}`, undefined, await owner());
    expect(res.status, res.text).toBe(200);
    if (res.body.items.length >= count) return res.body.items;
    if (Date.now() > deadline) throw new Error(`no operator message ${count} to ${to}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const tokenOf = (message: any) => new URL(message.link).searchParams.get("token")!;

function signup(email: string, appId: string, headers: Record<string, string> = client(), password = PASSWORD) {
  return json("POST", "/admin/signup", { email, password, app_id: appId }, headers);
}

beforeAll(async () => {
  const res = await json("PUT", "/admin/apps/public/email-delivery", { kind: "outbox" }, await owner());
  expect(res.status, res.text).toBe(200);
});

describe("operator sign-up", () => {
  it("is not found when the deployment does not open it", async () => {
    const closed = await startWorker();
    try {
      const res = await closed.json("POST", "/admin/signup", { email: "x@example.com", password: PASSWORD, app_id: "x" });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe("not_found");
    } finally {
      await closed.dispose();
    }
  });

  it("makes an app with its public tenant, the caller its owner, waiting for the owner's email", async () => {
    const res = await signup("Dev@Example.com", "devshop");
    expect(res.status, res.text).toBe(201);
    expect(res.body.operator).toMatchObject({ email: "dev@example.com", is_platform_owner: false, email_verified: false });
    expect(res.body.app).toMatchObject({ id: "devshop", status: "pending_verification" });
    const auth = await operatorSignin("dev@example.com");
    const tenants = await json("GET", "/admin/apps/devshop/tenants", undefined, auth);
    expect(tenants.status, tenants.text).toBe(200);
    expect(tenants.body.items.map((t: any) => t.id)).toEqual(["public"]);
    const members = await json("GET", "/admin/apps/devshop/members", undefined, await owner());
    expect(members.body.items).toHaveLength(1);
    expect(members.body.items[0]).toMatchObject({
      email: "dev@example.com", membership_type: "owner", roles: ["admin"], status: "active", source: "signup",
      operator_id: res.body.operator.id,
    });
    expect((await auditLog("devshop")).map((e) => e.action)).toEqual(["app.signup"]);
    const [mail] = await operatorMail("dev@example.com");
    expect(mail.type).toBe("operator_email_verification");
    expect(mail.tenant_id).toBeNull();
    expect(mail.link).toMatch(/^http:\/\/127\.0\.0\.1:9\/console\/\?type=operator_email_verification&token=tsl_/);
  });

  it("offers only the app's settings until the owner's email is verified, then everything", async () => {
    await signup("wait@example.com", "waitshop");
    const auth = await operatorSignin("wait@example.com");
    // GET /admin/me says so, and lists only what is usable (what a client such as the console offers).
    const pending = (await json("GET", "/admin/me", undefined, auth)).body.memberships;
    expect(pending).toEqual([
      { app_id: "waitshop", tenant_id: null, status: "active", roles: ["admin"], permissions: ["tenants:read", "tenants:write"], app_not_verified: true },
    ]);
    // Settings: tenants, login methods, link bases, email delivery.
    expect((await json("PUT", "/admin/apps/waitshop/tenants/acme", { login_methods: ["emailpassword"] }, auth)).status).toBe(201);
    expect((await json("PUT", "/admin/apps/waitshop/email-delivery", { kind: "outbox" }, auth)).status).toBe(200);
    expect((await json("GET", "/admin/apps/waitshop", undefined, auth)).status).toBe(200);
    // Anything else: 403 app_not_verified.
    for (const [method, path, body] of [
      ["GET", "/admin/apps/waitshop/tenants/public/users", undefined],
      ["GET", "/admin/apps/waitshop/members", undefined],
      ["POST", "/admin/apps/waitshop/tenants/public/api-keys", { name: "ci", scopes: ["introspect"] }],
      ["POST", "/admin/apps/waitshop/members", { email: "x@example.com", membership_type: "member", roles: [] }],
      ["GET", "/admin/apps/waitshop/audit", undefined],
    ] as const) {
      expectProblem(await json(method, path, body, auth), 403, "app_not_verified");
    }
    // The end-user plane runs nothing.
    const endUser = await json("POST", `${base("waitshop", "public")}/auth/signup`, { email: "u@example.com", password: PASSWORD });
    expectProblem(endUser, 403, "app_not_verified");
    // The link verifies the email, once; the app is usable at once.
    const [mail] = await operatorMail("wait@example.com");
    const verified = await json("POST", "/admin/auth/email-verification/verify", { token: tokenOf(mail) });
    expect(verified.status, verified.text).toBe(200);
    expect(verified.body.operator).toMatchObject({ email: "wait@example.com", email_verified: true });
    expectProblem(await json("POST", "/admin/auth/email-verification/verify", { token: tokenOf(mail) }), 400, "invalid_code");
    expect((await json("GET", "/admin/apps/waitshop/members", undefined, auth)).status).toBe(200);
    expect((await json("GET", "/admin/apps/waitshop", undefined, auth)).body.app.status).toBe("active");
    const verifiedMe = (await json("GET", "/admin/me", undefined, auth)).body.memberships[0];
    expect([verifiedMe.app_not_verified, verifiedMe.permissions.length]).toEqual([false, 14]);
    const now = await json("POST", `${base("waitshop", "public")}/auth/signup`, { email: "u@example.com", password: PASSWORD });
    expect(now.status, now.text).toBe(201);
  });

  it("sends a new verification link on request, to an operator token only", async () => {
    await signup("again@example.com", "againshop");
    const auth = await operatorSignin("again@example.com");
    const res = await json("POST", "/admin/auth/email-verification/send", undefined, { ...auth, ...client() });
    expect(res.status, res.text).toBe(202);
    const mails = await operatorMail("again@example.com", 2);
    expect(mails[0].id).not.toBe(mails[1].id);
    expectProblem(await json("POST", "/admin/auth/email-verification/send"), 401, "unauthorized");
  });

  it("an existing operator signs up another app only with its password; a verified one's is active at once", async () => {
    await signup("twice@example.com", "first-app");
    const [mail] = await operatorMail("twice@example.com");
    expect((await json("POST", "/admin/auth/email-verification/verify", { token: tokenOf(mail) })).status).toBe(200);
    const wrong = await signup("twice@example.com", "second-app", client(), "not the right password");
    expectProblem(wrong, 401, "invalid_credentials");
    expect((await json("GET", "/admin/apps/second-app", undefined, await owner())).status).toBe(404);
    const right = await signup("twice@example.com", "second-app");
    expect(right.status, right.text).toBe(201);
    expect(right.body.app.status).toBe("active");
    expect(right.body.operator.email_verified).toBe(true);
  });

  it("refuses an app id that exists (409) and bad input (400) before writing anything", async () => {
    expectProblem(await signup("late@example.com", "public"), 409, "conflict");
    expectProblem(await signup("late@example.com", "devshop"), 409, "conflict");
    expectProblem(await json("POST", "/admin/signup", { email: "late@example.com", password: "short", app_id: "x" }, client()), 400, "validation_failed");
    expectProblem(await json("POST", "/admin/signup", { email: "late@example.com", password: PASSWORD, app_id: "Bad_Id" }, client()), 400, "validation_failed");
    expectProblem(await json("POST", "/admin/auth/signin", { email: "late@example.com", password: PASSWORD }), 401, "invalid_credentials");
  });

  it("is throttled like sign-in: wrong passwords for an operator's email get 429 with Retry-After", async () => {
    await signup("target@example.com", "target-app");
    // At one instant (the test clock): the back-off after the 5th failure lasts a second,
    // which a loaded machine could outlast before the 6th attempt.
    const from = { ...client(), ...at(Date.now()) };
    for (let n = 0; n < 5; n++) {
      expectProblem(await signup("target@example.com", `guess-${n}`, from, "a wrong password guess"), 401, "invalid_credentials");
    }
    const blocked = await signup("target@example.com", "guess-5", from, "a wrong password guess");
    expectProblem(blocked, 429, "rate_limited");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("is throttled per client address like end-user sign-up", async () => {
    const from = client();
    for (let n = 0; n < 100; n++) {
      const res = await signup(`bulk${n}@example.com`, `bulk-${n}`, from);
      expect(res.status, res.text).toBe(201);
    }
    expectProblem(await signup("bulk-extra@example.com", "bulk-extra", from), 429, "rate_limited");
    expect((await json("GET", "/admin/apps/bulk-extra", undefined, await owner())).status).toBe(404);
    expect((await signup("bulk-other@example.com", "bulk-other")).status).toBe(201);
  });
});

describe("membership source and type", () => {
  const app = "sources";
  beforeAll(async () => {
    await createApp(app);
  });

  it("shows how each membership was made", async () => {
    const publicMembers = await json("GET", "/admin/apps/public/members", undefined, await owner());
    const bootstrap = publicMembers.body.items.find((m: any) => m.email === "owner@example.com");
    expect(bootstrap).toMatchObject({ source: "bootstrap", membership_type: "owner", roles: ["admin"], status: "active" });
    const invited = await inviteMember(app, `${unique("inv")}@example.com`, ["support"]);
    expect(invited.body.member.source).toBe("invite");
  });

  it("PATCH changes the membership type, by someone holding every permission the membership grants", async () => {
    const role = await json("PUT", `/admin/apps/${app}/operator-roles/team_manager`, { permissions: ["members:write"] }, await owner());
    expect(role.status, role.text).toBe(200);
    const manager = await activeMember(app, ["team_manager"]);
    const admin = await activeMember(app, ["admin"]);
    const before = await auditLog(app);
    expectProblem(await patchMember(app, admin.id, { membership_type: "contractor" }, manager.auth), 403, "forbidden");
    expect(await auditLog(app)).toEqual(before);
    const plain = await inviteMember(app, `${unique("plain")}@example.com`, []);
    const relabelled = await patchMember(app, plain.body.member.id, { membership_type: "contractor" }, manager.auth);
    expect(relabelled.status, relabelled.text).toBe(200);
    expect(relabelled.body.member.membership_type).toBe("contractor");
    const byOwner = await patchMember(app, admin.id, { membership_type: "owner" });
    expect(byOwner.body.member.membership_type).toBe("owner");
    expectProblem(await patchMember(app, admin.id, { membership_type: "god" }), 400, "validation_failed");
    const entry = (await auditLog(app))[0];
    expect(entry.detail.membership_type).toEqual({ from: "member", to: "owner" });
  });
});

describe("custom operator roles", () => {
  const app = "custom";
  beforeAll(async () => {
    await createApp(app);
  });

  it("are defined, listed with the built-in ones, bound like them, and redefined for every binding at once", async () => {
    const put = await json("PUT", `/admin/apps/${app}/operator-roles/viewer`, { permissions: ["users:read", "tenants:read"] }, await owner());
    expect(put.status, put.text).toBe(200);
    expect(put.body.role).toEqual({ name: "viewer", permissions: ["tenants:read", "users:read"], built_in: false });
    const listed = await json("GET", `/admin/apps/${app}/operator-roles`, undefined, await owner());
    expect(listed.body.items.map((r: any) => r.name)).toEqual(["admin", "auditor", "billing_admin", "mcp_admin", "security_admin", "support", "viewer"]);
    expect(listed.body.next_cursor).toBeNull();
    const viewer = await activeMember(app, ["viewer"]);
    expect((await json("GET", `/admin/apps/${app}/tenants`, undefined, viewer.auth)).status).toBe(200);
    expectProblem(await json("GET", `/admin/apps/${app}/audit`, undefined, viewer.auth), 403, "forbidden");
    await json("PUT", `/admin/apps/${app}/operator-roles/viewer`, { permissions: ["users:read", "tenants:read", "audit:read"] }, await owner());
    expect((await json("GET", `/admin/apps/${app}/audit`, undefined, viewer.auth)).status).toBe(200);
  });

  it("refuses built-in names (409), unknown permissions (400), and permissions the caller lacks (403)", async () => {
    for (const name of ["admin", "support"]) {
      expectProblem(await json("PUT", `/admin/apps/${app}/operator-roles/${name}`, { permissions: [] }, await owner()), 409, "conflict");
      expectProblem(await json("DELETE", `/admin/apps/${app}/operator-roles/${name}`, undefined, await owner()), 409, "conflict");
    }
    expectProblem(await json("PUT", `/admin/apps/${app}/operator-roles/x`, { permissions: ["users:everything"] }, await owner()), 400, "validation_failed");
    expectProblem(await json("PUT", `/admin/apps/${app}/operator-roles/Bad`, { permissions: [] }, await owner()), 400, "validation_failed");
    await json("PUT", `/admin/apps/${app}/operator-roles/manager`, { permissions: ["members:write"] }, await owner());
    const manager = await activeMember(app, ["manager"]);
    const before = await auditLog(app);
    expectProblem(await json("PUT", `/admin/apps/${app}/operator-roles/power`, { permissions: ["users:write"] }, manager.auth), 403, "forbidden");
    await json("PUT", `/admin/apps/${app}/operator-roles/writer`, { permissions: ["users:write"] }, await owner());
    const before2 = await auditLog(app);
    expectProblem(await inviteMember(app, `${unique("w")}@example.com`, ["writer"], { as: manager.auth }), 403, "forbidden");
    expect(await auditLog(app)).toEqual(before2);
    expect(before.length).toBeLessThan(before2.length);
    expectProblem(await inviteMember(app, `${unique("g")}@example.com`, ["ghost"]), 422, "unknown_role");
  });

  it("a role in use cannot be deleted until its bindings are gone; an unknown one is 404", async () => {
    await json("PUT", `/admin/apps/${app}/operator-roles/temp`, { permissions: ["users:read"] }, await owner());
    const holder = await activeMember(app, ["temp"]);
    expectProblem(await json("DELETE", `/admin/apps/${app}/operator-roles/temp`, undefined, await owner()), 409, "conflict");
    expect((await patchMember(app, holder.id, { roles: [] })).status).toBe(200);
    const deleted = await json("DELETE", `/admin/apps/${app}/operator-roles/temp`, undefined, await owner());
    expect(deleted.status, deleted.text).toBe(204);
    expectProblem(await json("DELETE", `/admin/apps/${app}/operator-roles/temp`, undefined, await owner()), 404, "not_found");
    expect((await auditLog(app)).filter((e) => e.action === "operator_role.delete" && e.target === "temp")).toHaveLength(1);
  });

  it("a custom role grants nothing outside its app", async () => {
    await createApp("custom-elsewhere");
    const viewer = await activeMember(app, ["viewer"]);
    expectProblem(await json("GET", "/admin/apps/custom-elsewhere/tenants", undefined, viewer.auth), 403, "forbidden");
  });
});

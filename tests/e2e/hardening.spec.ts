// The holes of issue 10 that the lead closed, proven through HTTP: invitations are no password
// oracle, nobody grants what they lack, a re-created tenant's audit starts empty, an operator
// locked out by strangers gets back in (device cookie, root-token unlock), and a blocked client
// adds no counter rows.
import { describe, expect, it } from "vitest";
import { json, useWorker, worker, ROOT_TOKEN } from "./harness";
import { PASSWORD, apiKey, at, auditLog, bearer, createApp, inviteMember, owner, putTenant, unique } from "./support";

useWorker();

// Every throttled attempt of a case happens at one instant (the test clock): the back-off after
// the 5th failure lasts a second, which a loaded machine could outlast between two requests
// (a block that ends mid-case turns an expected 429 into a 200).
const pinned = at(Date.now());
const ip = (n: number) => ({ "CF-Connecting-IP": `198.51.100.${n % 250}`, ...pinned });

describe("invitations", () => {
  it("count a linking attempt like an operator sign-in: the owner's password cannot be guessed through one", async () => {
    await owner();
    const app = unique("inv");
    await createApp(app);
    const invited = await inviteMember(app, "owner@example.com", []);
    expect(invited.status).toBe(201);
    const answers: number[] = [];
    for (let n = 0; n < 8; n++) {
      const res = await json("POST", "/admin/invites/accept", { invite_token: invited.body.invite_token, password: `guess number ${n}` }, ip(n));
      answers.push(res.status);
    }
    expect(answers.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(answers.slice(5)).toEqual([429, 429, 429]);
    const signin = await json("POST", "/admin/auth/signin", { email: "owner@example.com", password: PASSWORD }, ip(99));
    expect(signin.status, "the same counter as sign-in").toBe(429);
    const unlock = await json("POST", "/admin/auth/unlock", { email: "owner@example.com" }, { ...bearer(ROOT_TOKEN), ...pinned });
    expect(unlock.status).toBe(204);
  });

  it("cannot grant a role with a permission the inviter lacks", async () => {
    const app = unique("grant");
    await createApp(app);
    await putTenant(app, "acme");
    const key = bearer(await apiKey(app, "acme", ["members:write"]));
    const admin = await inviteMember(app, `${unique("m")}@example.com`, ["admin"], { tenant: "acme", as: key });
    expect(admin.status).toBe(403);
    expect(admin.body.code).toBe("forbidden");
    const bare = await inviteMember(app, `${unique("m")}@example.com`, [], { tenant: "acme", as: key });
    expect(bare.status).toBe(201);
    const patch = await json("PATCH", `/admin/apps/${app}/members/${bare.body.member.id}`, { roles: ["admin"] }, key);
    expect(patch.status).toBe(403);
  });
});

describe("a re-created tenant", () => {
  it("shows only its own audit entries", async () => {
    const app = unique("ns");
    await createApp(app);
    await putTenant(app, "acme");
    await apiKey(app, "acme");
    expect((await json("DELETE", `/admin/apps/${app}/tenants/acme`, undefined, await owner())).status).toBe(204);
    expect((await auditLog(app, "acme")).map((e) => e.action)).toContain("tenant.delete");
    await putTenant(app, "acme");
    expect((await auditLog(app, "acme")).map((e) => e.action)).toEqual(["tenant.create"]);
  });
});

describe("an operator locked out by strangers", () => {
  it("gets back in from a browser that signed in before, with the device cookie", async () => {
    const app = unique("dev");
    await createApp(app);
    const email = `${unique("locked")}@example.com`;
    const invited = await inviteMember(app, email, ["auditor"]);
    expect((await json("POST", "/admin/invites/accept", { invite_token: invited.body.invite_token, password: PASSWORD })).status).toBe(200);
    const first = await json("POST", "/admin/auth/signin", { email, password: PASSWORD }, ip(1));
    expect(first.status).toBe(200);
    const setCookie = first.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^tessera_device=v1\.[^;]+; Path=\/admin\/auth; Max-Age=7776000; Secure; HttpOnly; SameSite=Strict$/);
    const cookie = setCookie.split(";")[0];
    for (let n = 0; n < 110; n++) {
      await json("POST", "/admin/auth/signin", { email, password: "wrong horse battery" }, ip(100 + n));
    }
    const locked = await json("POST", "/admin/auth/signin", { email, password: PASSWORD }, ip(1));
    expect(locked.status).toBe(429);
    expect(locked.headers.get("retry-after")).toBeTruthy();
    const withCookie = await json("POST", "/admin/auth/signin", { email, password: PASSWORD }, { ...ip(1), cookie });
    expect(withCookie.status, withCookie.text).toBe(200);
    const forged = await json("POST", "/admin/auth/signin", { email, password: PASSWORD }, { ...ip(1), cookie: `${cookie}x` });
    expect(forged.status, "an altered cookie is no device token").toBe(429);
  });

  it("is unlocked by the root token, and only by it", async () => {
    const app = unique("unl");
    await createApp(app);
    const email = `${unique("locked")}@example.com`;
    const invited = await inviteMember(app, email, ["auditor"]);
    await json("POST", "/admin/invites/accept", { invite_token: invited.body.invite_token, password: PASSWORD });
    for (let n = 0; n < 100; n++) {
      await json("POST", "/admin/auth/signin", { email, password: "wrong horse battery" }, ip(n));
    }
    expect((await json("POST", "/admin/auth/signin", { email, password: PASSWORD }, ip(3))).status).toBe(429);
    const refused = await json("POST", "/admin/auth/unlock", { email }, await owner());
    expect(refused.status, "an operator token is not the root token").toBe(401);
    expect((await json("POST", "/admin/auth/unlock", { email }, bearer(ROOT_TOKEN))).status).toBe(204);
    expect((await json("POST", "/admin/auth/signin", { email, password: PASSWORD }, ip(3))).status).toBe(200);
  });
});

describe("sign-in counters", () => {
  it("are not written for the emails a blocked client makes up", async () => {
    // Every attempt at one instant (the test clock): the block after the 20th failure lasts a
    // second, which a loaded machine could outlast between requests.
    const client = { "CF-Connecting-IP": "203.0.113.77", ...at(Date.now()) };
    for (let n = 0; n < 20; n++) {
      await json("POST", "/apps/public/tenants/public/auth/signin", { email: `made-up-${n}@example.com`, password: PASSWORD }, client);
    }
    const db = await worker().db();
    const before = (await db.prepare("SELECT COUNT(*) AS n FROM signin_failures").first()).n;
    for (let n = 20; n < 60; n++) {
      const res = await json("POST", "/apps/public/tenants/public/auth/signin", { email: `made-up-${n}@example.com`, password: PASSWORD }, client);
      expect(res.status).toBe(429);
    }
    const after = (await db.prepare("SELECT COUNT(*) AS n FROM signin_failures").first()).n;
    expect(after).toBe(before);
  });
});

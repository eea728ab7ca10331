// Convergence of the edge view on D1 (issue 10, holes 4 and 9; issue 11's edge_sync): a D1
// change whose KV write — or the D1 read after it — fails is kept (never refused, never undone),
// the D1 paths honour it at once, its document stays pending in `edge_sync`, and one run of the
// cron's sweep brings KV in line, so introspection acts on it — users' edge documents, app
// policies and owners' public keys alike. Two changes to one user within KV's one write per
// second per key are both made and both reach KV.
//
// Every spec checks where the change must show: introspection of a token issued *before* the
// change (active before, inactive or changed after), so it cannot pass when nothing happened.
import { describe, it, expect, beforeAll, afterEach } from "vitest";
import { useWorker, json, worker, type Faults, type JsonResponse } from "./harness";
import { PASSWORD, owner, createApp, putTenant, apiKey, base, bearer, introspect } from "./support";

const faults: Faults = {};
useWorker({ faults });

afterEach(() => {
  faults.kv = null;
  faults.d1 = null;
  faults.injected = [];
});

const APP = "converge";
const A = base(APP, "acme");
const ADMIN = `/admin/apps/${APP}`;
const userAdmin = (id: string) => `${ADMIN}/tenants/acme/users/${id}`;
let key = "";
let n = 0;

beforeAll(async () => {
  await createApp(APP);
  await putTenant(APP, "acme");
  key = await apiKey(APP, "acme");
  const viewer = await json("PUT", `${ADMIN}/roles/viewer`, { permissions: ["docs.read"] }, await owner());
  expect(viewer.status, viewer.text).toBe(200);
}, 120_000);

type Res = JsonResponse;
const admin = async (method: string, path: string, body?: unknown): Promise<Res> => json(method, path, body, await owner());

interface Session {
  access_token: string;
  refresh_token: string;
  session_id: string;
}

async function signup(): Promise<{ id: string; email: string; session: Session }> {
  const email = `conv-${++n}@example.com`;
  const res = await json("POST", `${A}/auth/signup`, { email, password: PASSWORD });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.user.id, email, session: res.body.session };
}

async function signin(email: string, password = PASSWORD): Promise<Session> {
  const res = await json("POST", `${A}/auth/signin`, { email, password });
  expect(res.status, res.text).toBe(200);
  return res.body.session;
}

const active = async (token: string) => (await introspect(APP, "acme", key, token)).active as boolean;
const flagsKey = (id: string) => `flags:${APP}:acme:${id}`;

/** KV writes that were made to throw, as "op key". */
const injectedKv = () => (faults.injected ?? []).filter((c) => c.binding === "kv").map((c: any) => `${c.op} ${c.key}`);

/** `version > synced_version` of a document in `edge_sync` (1: pending). */
async function pending(doc: string): Promise<number | undefined> {
  const row: any = await (await worker().db())
    .prepare("SELECT version > synced_version AS pending FROM edge_sync WHERE doc = ?1")
    .bind(doc)
    .first();
  return row?.pending;
}

/** One run of the every-minute cron trigger of wrangler.toml (the sweep). */
async function sweep() {
  await (await worker().mf.getWorker()).scheduled({ cron: "* * * * *" });
}

/** Fails every KV write of `key` while armed. */
function failPutsOf(key: string) {
  faults.kv = (c) => c.op === "put" && c.key === key;
}

describe("a change whose KV write failed is kept and converges through the sweep", () => {
  it("sign-out: 204, /auth/me refuses at once, introspection refuses after the sweep", async () => {
    const u = await signup();
    expect(await active(u.session.access_token)).toBe(true);
    failPutsOf(flagsKey(u.id));
    const out = await json("POST", `${A}/auth/signout`, undefined, bearer(u.session.access_token));
    expect(out.status, out.text).toBe(204);
    expect(injectedKv()).toContain(`put ${flagsKey(u.id)}`);
    expect((await json("GET", `${A}/auth/me`, undefined, bearer(u.session.access_token))).status).toBe(401);
    faults.kv = null;
    await sweep();
    expect(await pending(flagsKey(u.id))).toBe(0);
    expect(await active(u.session.access_token), "the sweep wrote the revocation").toBe(false);
    const doc: any = await (await worker().kv()).get(flagsKey(u.id), "json");
    expect(JSON.stringify(doc)).toContain(u.session.session_id);
  });

  it("revoke-all: a retry that revokes nothing new still publishes every revocation", async () => {
    const u = await signup();
    failPutsOf(flagsKey(u.id));
    const first = await admin("POST", `${userAdmin(u.id)}/sessions/revoke`);
    expect(first.status, first.text).toBe(200);
    expect(first.body.revoked).toBe(1);
    expect(injectedKv()).toContain(`put ${flagsKey(u.id)}`);
    faults.kv = null;
    const retry = await admin("POST", `${userAdmin(u.id)}/sessions/revoke`);
    expect(retry.status, retry.text).toBe(200);
    expect(retry.body.revoked).toBe(0);
    expect(await active(u.session.access_token), "the retry rewrote the document").toBe(false);
    expect(await pending(flagsKey(u.id))).toBe(0);
  });

  it("a role redefinition whose policy write failed: introspection shows D1's permissions after the sweep", async () => {
    const u = await signup();
    const assigned = await admin("PUT", `${userAdmin(u.id)}/roles`, { roles: ["viewer"] });
    expect(assigned.status, assigned.text).toBe(200);
    expect((await introspect(APP, "acme", key, u.session.access_token)).permissions).toEqual(["docs.read"]);
    failPutsOf(`policy:${APP}`);
    const put = await admin("PUT", `${ADMIN}/roles/viewer`, { permissions: ["docs.read", "docs.list"] });
    expect(put.status, put.text).toBe(200);
    expect(injectedKv()).toContain(`put policy:${APP}`);
    expect(await pending(`policy:${APP}`)).toBe(1);
    faults.kv = null;
    await sweep();
    expect(await pending(`policy:${APP}`)).toBe(0);
    const after = await introspect(APP, "acme", key, u.session.access_token);
    expect([...after.permissions].sort()).toEqual(["docs.list", "docs.read"]);
  });

  it("a suspension whose edge publication failed after the D1 write: answered as made, introspection refuses after the sweep", async () => {
    const u = await signup();
    // The lease (one D1 batch that reads what the document must say) fails after the change
    // committed: the answer is built from what the change wrote, with no read after it.
    let leases = 0;
    faults.d1 = (c) => c.op === "batch" && c.sql.some((q: string) => q.startsWith("INSERT INTO edge_sync (doc, version, synced_version, leases")) && ++leases === 1;
    const res = await admin("POST", `${userAdmin(u.id)}/suspend`, { reason: "spec" });
    faults.d1 = null;
    expect(leases, "the lease was made to fail").toBeGreaterThanOrEqual(1);
    expect(res.status, res.text).toBe(200);
    expect(res.body.user.status).toBe("suspended");
    const row: any = await (await worker().db()).prepare("SELECT status FROM tenant_users WHERE user_id = ?1").bind(u.id).first();
    expect(row.status).toBe("suspended");
    await sweep();
    expect(await active(u.session.access_token)).toBe(false);
    expect(await pending(flagsKey(u.id))).toBe(0);
  });

  it("a password change: the user's other sessions are refused at the edge after the sweep", async () => {
    const u = await signup();
    const other = await signin(u.email);
    failPutsOf(flagsKey(u.id));
    const res = await json(
      "POST",
      `${A}/auth/password`,
      { current_password: PASSWORD, new_password: "a brand new password" },
      bearer(u.session.access_token),
    );
    expect(res.status, res.text).toBe(204);
    expect(injectedKv()).toContain(`put ${flagsKey(u.id)}`);
    faults.kv = null;
    expect(await active(other.access_token), "not yet at the edge").toBe(true);
    await sweep();
    expect(await active(other.access_token)).toBe(false);
    expect(await active(u.session.access_token), "the changing session is kept").toBe(true);
  });

  it("leaving the tenant: every token of the user is refused at the edge after the sweep", async () => {
    const u = await signup();
    failPutsOf(flagsKey(u.id));
    const res = await json("DELETE", `${A}/auth/me`, undefined, bearer(u.session.access_token));
    expect(res.status, res.text).toBe(204);
    expect(injectedKv()).toContain(`put ${flagsKey(u.id)}`);
    faults.kv = null;
    await sweep();
    expect(await active(u.session.access_token)).toBe(false);
    expect(await pending(flagsKey(u.id))).toBe(0);
  });
});

describe("public signing keys converge like every mirrored document", () => {
  it("a rotation whose public-keys write failed: the sweep lists the new key in KV", async () => {
    const doc = `pub:app:${APP}`;
    failPutsOf(doc);
    const res = await admin("POST", `${ADMIN}/signing-keys/rotate`);
    expect(res.status, res.text).toBe(201);
    expect(injectedKv()).toContain(`put ${doc}`);
    expect(await pending(doc), "pending in D1 with the key").toBe(1);
    faults.kv = null;
    await sweep();
    expect(await pending(doc)).toBe(0);
    const copy = await (await worker().kv()).get(doc, "text");
    expect(copy, "the copy lists the rotated-in key before it signs").toContain(res.body.kid);
  });
});

describe("KV's one write per second per key", () => {
  it("two changes to one user within a second are both made, and KV ends on the second", async () => {
    const u = await signup();
    // KV refuses a second write of one key within a second (Cloudflare answers 429): refuse
    // every write of this document after the first, as KV would within the second.
    let puts = 0;
    faults.kv = (c) => c.op === "put" && c.key === flagsKey(u.id) && ++puts > 1;
    const plan = await admin("PUT", `${userAdmin(u.id)}/roles`, { roles: ["viewer"] });
    expect(plan.status, plan.text).toBe(200);
    const suspended = await admin("POST", `${userAdmin(u.id)}/suspend`, { reason: "spec" });
    expect(suspended.status, "the second change is not refused").toBe(200);
    expect(suspended.body.user.status).toBe("suspended");
    expect(injectedKv()).toContain(`put ${flagsKey(u.id)}`);
    faults.kv = null;
    await sweep();
    const doc: any = await (await worker().kv()).get(flagsKey(u.id), "json");
    expect(doc?.status).toBe("suspended");
    expect(doc?.assigned_roles).toEqual(["viewer"]);
    expect(await active(u.session.access_token)).toBe(false);
  });
});

// HOLE (issue 10, hole 4: "Revocation that is not repaired"; also holes 8 and 9) — not in
// `make test` until the fix lands; `make test-security` runs it. RELIABILITY.md lists it.
//
// The half-applied changes the fault sweep (tests/adversarial/faults.spec.ts) found, replayed
// one by one: a request whose D1 change is made but whose KV write (or the read between the
// two) fails. (A billing event in that state already converges when the provider retries it:
// faults.spec.ts checks that in `make test`.) The issue asks that every D1 change KV mirrors converge — "retried until KV
// agrees (for example a pending-sync record swept by the cron and on the next request)". So
// after the faulted request, one more request and one run of the scheduled handler, KV must
// agree with D1 and the edge must act on the change. Today none of them converges.
import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import { startWorker, type Faults, type TestWorker } from "../../e2e/harness";
import { buildWorld, PASSWORD, type World } from "../fixture";
import { snapshot, diff, touchedBy, disagreements } from "../consistency";

const faults: Faults = {};
let w: TestWorker;
let world: World;

beforeAll(async () => {
  w = await startWorker({ faults });
  world = await buildWorld(w);
}, 300_000);

afterAll(async () => {
  await w?.dispose();
});

afterEach(() => {
  faults.kv = null;
  faults.d1 = null;
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
let n = 0;

async function freshUser() {
  const { XA } = world;
  const email = `conv-${++n}-${Date.now().toString(36)}@example.com`;
  const res = await w.json("POST", `${XA.base}/auth/signup`, { email, password: PASSWORD }, { "cf-connecting-ip": `10.77.0.${n}` });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.user.id as string, email, session: res.body.session };
}

/** Fails the `nth` (0-based) storage call whose text matches `pattern`, once. */
function failOnce(binding: "kv" | "d1", pattern: RegExp, nth = 0) {
  let seen = 0;
  let done = false;
  const rule = (text: string) => {
    if (done || !pattern.test(text)) return false;
    if (seen++ < nth) return false;
    done = true;
    return true;
  };
  if (binding === "kv") faults.kv = (c) => rule(`${c.op} ${c.key}`);
  else faults.d1 = (c) => rule(`${c.op} ${c.sql.join("; ")}`);
  return () => done;
}

/** Makes `request` with the fault armed; then one more request and one cron run, faults off. */
async function faultThenSweep(arm: () => () => boolean, request: () => Promise<{ status: number; text: string }>) {
  const db = await w.db();
  const before = await snapshot(db);
  const injected = arm();
  const res = await request();
  faults.kv = null;
  faults.d1 = null;
  expect(injected(), "the fault was injected").toBe(true);
  const changes = diff(before, await snapshot(db));
  // "On the next request": any request; then the cron trigger of wrangler.toml.
  await w.json("GET", `/apps/${world.XA.app}/tenants/${world.XA.tenant}/.well-known/openid-configuration`);
  const worker = await w.mf.getWorker();
  await (worker as any).scheduled({ cron: "17 3 * * *", scheduledTime: new Date() });
  return { res, changes };
}

async function expectAgreement(changes: ReturnType<typeof diff>, kvKeys: string[] = []) {
  const found = await disagreements(await w.db(), await w.kv(), touchedBy(changes, kvKeys), Date.now());
  expect(found, "KV still disagrees with D1 after the next request and the cron").toEqual([]);
}

const introspect = (token: string) =>
  w.json("POST", `${world.XA.base}/oauth/introspect`, { token }, bearer(world.XA.apiKey));

describe("a D1 change whose KV mirror failed converges", () => {
  it("a suspension whose re-read failed after the D1 write: the user's tokens stop introspecting", async () => {
    const { XA, owner } = world;
    const user = await freshUser();
    const { res, changes } = await faultThenSweep(
      () => failOnce("d1", /^first SELECT u\.app_id AS app_id.*FROM tenant_users tu JOIN users u/, 1),
      () => w.json("POST", `/admin/apps/${XA.app}/tenants/${XA.tenant}/users/${user.id}/suspend`, {}, bearer(owner.token)),
    );
    const row: any = await (await w.db()).prepare("SELECT status FROM tenant_users WHERE user_id = ?1").bind(user.id).first();
    if (row.status === "suspended") {
      expect((await introspect(user.session.access_token)).body, `suspended in D1 (the request answered ${res.status})`).toEqual({ active: false });
    }
    await expectAgreement(changes);
  });

  it("a sign-out whose edge-document write failed: the access token stops introspecting", async () => {
    const { XA } = world;
    const user = await freshUser();
    const { changes } = await faultThenSweep(
      () => failOnce("kv", /^put flags:/),
      () => w.json("POST", `${XA.base}/auth/signout`, undefined, bearer(user.session.access_token)),
    );
    expect((await introspect(user.session.access_token)).body, "revoked in D1").toEqual({ active: false });
    await expectAgreement(changes);
  });

  it("a revocation of every session whose edge-document write failed: the access token stops introspecting", async () => {
    const { XA, owner } = world;
    const user = await freshUser();
    const { changes } = await faultThenSweep(
      () => failOnce("kv", /^put flags:/),
      () => w.json("POST", `/admin/apps/${XA.app}/tenants/${XA.tenant}/users/${user.id}/sessions/revoke`, undefined, bearer(owner.token)),
    );
    expect((await introspect(user.session.access_token)).body, "revoked in D1").toEqual({ active: false });
    await expectAgreement(changes);
  });

  it("a plan change whose re-read failed after the D1 write: introspection shows D1's plan", async () => {
    const { XA, X, owner } = world;
    const user = await freshUser();
    const { changes } = await faultThenSweep(
      () => failOnce("d1", /^first SELECT u\.app_id AS app_id.*FROM tenant_users tu JOIN users u/, 1),
      () => w.json("PATCH", `/admin/apps/${XA.app}/tenants/${XA.tenant}/users/${user.id}`, { plan_tier: X.plan }, bearer(owner.token)),
    );
    const row: any = await (await w.db()).prepare("SELECT plan_tier FROM tenant_users WHERE user_id = ?1").bind(user.id).first();
    expect((await introspect(user.session.access_token)).body.plan_tier).toBe(row.plan_tier);
    await expectAgreement(changes);
  });

  it("a role definition whose policy write failed: the policy document says what D1 says", async () => {
    const { X, owner } = world;
    const { changes } = await faultThenSweep(
      () => failOnce("kv", /^put policy:/),
      () => w.json("PUT", `/admin/apps/${X.app}/roles/${X.role}`, { permissions: ["docs:read", `docs:conv-${++n}`] }, bearer(owner.token)),
    );
    await expectAgreement(changes);
  });

  it("a signing-key rotation whose public-key write failed: the new key is published", async () => {
    const { X, owner } = world;
    const { changes } = await faultThenSweep(
      () => failOnce("kv", /^put pub:app:/),
      () => w.json("POST", `/admin/apps/${X.app}/signing-keys/rotate`, undefined, bearer(owner.token)),
    );
    await expectAgreement(changes);
  });
});

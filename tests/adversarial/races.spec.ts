// Races against Miniflare: requests that reach one isolate at the same moment and interleave at
// every storage call.
//
// - 20 concurrent refreshes of one refresh token, many times over: never two successors, no
//   5xx, and the one successor works;
// - a suspension and a sign-in of the same user at once: whichever wins, no usable session
//   survives the suspension (the sign-in's tokens introspect inactive and cannot refresh);
// - the last two app-wide admins removing (or demoting) each other at once, and the owner
//   removing both at once: at least one active app-wide admin always remains;
// - 20 concurrent exchanges of one authorization code: exactly one 200, every other answer
//   invalid_grant — and those are replays, so the winner's tokens end up revoked;
// - 20 concurrent refreshes of one OAuth refresh token: never two successors, no 5xx, and
//   the one successor works;
// - a client disabled while it asks for client_credentials tokens: afterwards none of its
//   tokens, from before or from the race, introspects active;
// - a client's secret rotated while a PATCH renames it and it asks for tokens with its old
//   secret: neither change is lost, and once the rotation answered the old secret gets nothing
//   at the token endpoint nor at introspection, while the new one works.
//
// `make test` runs a few trials of each; `make test-security` the full counts.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startWorker, type TestWorker } from "../e2e/harness";
import {
  basic, buildWorld, clientToken, codeExchange, makeClient, oauthCode, oauthGrant, pageSignIn, authorizationRequest, pkce, tokenRequest,
  CONFIDENTIAL_CLIENT, PASSWORD, type World,
} from "./fixture";
import { FULL, recordFigure } from "./figures";

const TRIALS = {
  refresh: FULL ? 100 : 8,
  suspendSignin: FULL ? 100 : 8,
  lastAdmin: FULL ? 60 : 5,
  code: FULL ? 100 : 8,
  oauthRefresh: FULL ? 100 : 8,
  disable: FULL ? 100 : 8,
  rotate: FULL ? 100 : 8,
};
const CONCURRENT_REFRESHES = 20;

let w: TestWorker;
let world: World;

beforeAll(async () => {
  w = await startWorker();
  world = await buildWorld(w);
}, 300_000);

afterAll(async () => {
  await w?.dispose();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
let n = 0;
const client = () => ({ "cf-connecting-ip": `10.9.${(++n >> 8) & 255}.${n & 255}` });

async function signup() {
  const { XA } = world;
  const email = `race-${++n}-${Date.now().toString(36)}@example.com`;
  const res = await w.json("POST", `${XA.base}/auth/signup`, { email, password: PASSWORD }, client());
  expect(res.status, res.text).toBe(201);
  return { email, id: res.body.user.id as string, session: res.body.session };
}

describe("races", () => {
  it(`gives ${CONCURRENT_REFRESHES} concurrent refreshes of one token exactly one successor, ${TRIALS.refresh} times`, async () => {
    const { XA } = world;
    let requests = 0;
    for (let trial = 0; trial < TRIALS.refresh; trial++) {
      const { session } = await signup();
      const results = await Promise.all(
        Array.from({ length: CONCURRENT_REFRESHES }, () => w.json("POST", `${XA.base}/auth/refresh`, { refresh_token: session.refresh_token })),
      );
      requests += results.length;
      for (const r of results) expect(r.status, `trial ${trial}: ${r.text}`).toBeLessThan(500);
      const ok = results.filter((r) => r.status === 200);
      expect(ok.length, `trial ${trial}: at least one refresh succeeds`).toBeGreaterThan(0);
      const successors = new Set(ok.map((r) => r.body.session.refresh_token));
      expect(successors.size, `trial ${trial}: successors`).toBe(1);
      // The one successor works and the session was not taken for stolen.
      const next = await w.json("POST", `${XA.base}/auth/refresh`, { refresh_token: [...successors][0] });
      expect(next.status, `trial ${trial}: the successor refreshes: ${next.text}`).toBe(200);
      const active = await w.json("POST", `${XA.base}/oauth/introspect`, { token: next.body.session.access_token }, bearer(XA.apiKey));
      expect(active.body.active, `trial ${trial}: the session is alive`).toBe(true);
    }
    recordFigure("races.refresh", { trials: TRIALS.refresh, concurrent: CONCURRENT_REFRESHES, requests });
  }, FULL ? 1_800_000 : 120_000);

  it(`leaves no usable session when a suspension and a sign-in race, ${TRIALS.suspendSignin} times`, async () => {
    const { XA, owner } = world;
    const outcomes: Record<string, number> = {};
    for (let trial = 0; trial < TRIALS.suspendSignin; trial++) {
      const user = await signup();
      const [suspended, signedIn] = await Promise.all([
        w.json("POST", `/admin/apps/${XA.app}/tenants/${XA.tenant}/users/${user.id}/suspend`, {}, bearer(owner.token)),
        w.json("POST", `${XA.base}/auth/signin`, { email: user.email, password: PASSWORD }, client()),
      ]);
      expect(suspended.status, `trial ${trial}: ${suspended.text}`).toBe(200);
      expect([200, 403], `trial ${trial}: ${signedIn.text}`).toContain(signedIn.status);
      const key = `suspend ${suspended.status}, sign-in ${signedIn.status}`;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      // Every session of the user, the sign-up's and the racing sign-in's, is dead.
      const sessions = [user.session, ...(signedIn.status === 200 ? [signedIn.body.session] : [])];
      for (const s of sessions) {
        const introspected = await w.json("POST", `${XA.base}/oauth/introspect`, { token: s.access_token }, bearer(XA.apiKey));
        expect(introspected.body, `trial ${trial}: a token of the suspended user introspects`).toEqual({ active: false });
        const me = await w.json("GET", `${XA.base}/auth/me`, undefined, bearer(s.access_token));
        expect(me.status, `trial ${trial}: /auth/me of a suspended user`).not.toBe(200);
        const refreshed = await w.json("POST", `${XA.base}/auth/refresh`, { refresh_token: s.refresh_token });
        expect(refreshed.status, `trial ${trial}: refresh of a suspended user: ${refreshed.text}`).toBe(403);
      }
    }
    recordFigure("races.suspendSignin", { trials: TRIALS.suspendSignin, outcomes });
  }, FULL ? 1_800_000 : 120_000);

  it(`keeps an active app-wide admin when the last two remove each other, ${TRIALS.lastAdmin} times per way`, async () => {
    const { owner } = world;
    const outcomes: Record<string, number> = {};
    const ways: Array<[string, (a: Admin, b: Admin) => Promise<unknown>]> = [
      ["suspend each other", (a, b) => Promise.all([patch(a.id, { status: "suspended" }, b.token), patch(b.id, { status: "suspended" }, a.token)])],
      ["leave each other", (a, b) => Promise.all([patch(a.id, { status: "left" }, b.token), patch(b.id, { status: "left" }, a.token)])],
      ["demote each other", (a, b) => Promise.all([patch(a.id, { roles: ["support"] }, b.token), patch(b.id, { roles: ["support"] }, a.token)])],
      ["both leave", (a, b) => Promise.all([patch(a.id, { status: "left" }, a.token), patch(b.id, { status: "left" }, b.token)])],
      ["the owner removes both", (a, b) => Promise.all([patch(a.id, { status: "left" }, owner.token), patch(b.id, { status: "suspended" }, owner.token)])],
    ];
    let trials = 0;
    for (const [way, race] of ways) {
      for (let trial = 0; trial < TRIALS.lastAdmin; trial++) {
        trials++;
        app = `race-${++n}`;
        expect((await w.json("POST", "/admin/apps", { id: app }, bearer(owner.token))).status).toBe(201);
        const a = await admin();
        const b = await admin();
        const results = (await race(a, b)) as Array<{ status: number; text: string }>;
        for (const r of results) expect(r.status, `${way}, trial ${trial}: ${r.text}`).toBeLessThan(500);
        const members = await w.json("GET", `/admin/apps/${app}/members`, undefined, bearer(owner.token));
        const admins = members.body.items.filter((m: any) => m.status === "active" && m.tenant_id === null && m.roles.includes("admin"));
        expect(admins.length, `${way}, trial ${trial}: active app-wide admins after ${results.map((r) => r.status)}`).toBeGreaterThanOrEqual(1);
        const key = `${way}: ${results.map((r) => r.status).sort().join(" ")}`;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
      }
    }
    recordFigure("races.lastAdmin", { trials, outcomes });
  }, FULL ? 1_800_000 : 120_000);
});

describe("races at the OAuth server", () => {
  /** A new user of the home tenant, signed in at its authorization pages. */
  async function signedIn() {
    const { XA } = world;
    const user = await signup();
    return pageSignIn(w, world.csrf, XA.base, authorizationRequest(XA.oauth.publicClient, pkce().challenge), user.email, client());
  }

  it(`gives ${CONCURRENT_REFRESHES} concurrent exchanges of one code exactly one 200, and revokes its tokens for the replays, ${TRIALS.code} times`, async () => {
    const { XA } = world;
    const client_id = XA.oauth.publicClient;
    let requests = 0;
    for (let trial = 0; trial < TRIALS.code; trial++) {
      const { code, verifier } = await oauthCode(w, world.csrf, XA.base, client_id, await signedIn(), client());
      const results = await Promise.all(
        Array.from({ length: CONCURRENT_REFRESHES }, () => tokenRequest(w, XA.base, codeExchange(client_id, code, verifier))),
      );
      requests += results.length;
      const ok = results.filter((r) => r.status === 200);
      expect(ok.length, `trial ${trial}: exactly one exchange succeeds: ${results.map((r) => r.status)}`).toBe(1);
      for (const r of results.filter((r) => r.status !== 200)) {
        expect(r.status, `trial ${trial}: ${r.text}`).toBe(400);
        expect(r.body.error, `trial ${trial}: ${r.text}`).toBe("invalid_grant");
      }
      // The others were replays of a used code: what its one use gave is revoked.
      const won = ok[0].body;
      const introspected = await w.json("POST", `${XA.base}/oauth/introspect`, { token: won.access_token }, bearer(XA.apiKey));
      expect(introspected.body, `trial ${trial}: the winner's access token after the replays`).toEqual({ active: false });
      const refreshed = await tokenRequest(w, XA.base, { grant_type: "refresh_token", refresh_token: won.refresh_token, client_id });
      expect(refreshed.status, `trial ${trial}: the winner's refresh token after the replays: ${refreshed.text}`).toBe(400);
      expect(refreshed.body.error).toBe("invalid_grant");
    }
    recordFigure("races.code", { trials: TRIALS.code, concurrent: CONCURRENT_REFRESHES, requests });
  }, FULL ? 1_800_000 : 120_000);

  it(`gives ${CONCURRENT_REFRESHES} concurrent refreshes of one OAuth refresh token exactly one successor, ${TRIALS.oauthRefresh} times`, async () => {
    const { XA } = world;
    const client_id = XA.oauth.publicClient;
    let requests = 0;
    for (let trial = 0; trial < TRIALS.oauthRefresh; trial++) {
      const grant = await oauthGrant(w, world.csrf, XA.base, client_id, await signedIn(), client());
      const results = await Promise.all(
        Array.from({ length: CONCURRENT_REFRESHES }, () => tokenRequest(w, XA.base, { grant_type: "refresh_token", refresh_token: grant.refreshToken, client_id })),
      );
      requests += results.length;
      for (const r of results) expect(r.status, `trial ${trial}: ${r.text}`).toBeLessThan(500);
      const ok = results.filter((r) => r.status === 200);
      expect(ok.length, `trial ${trial}: at least one refresh succeeds`).toBeGreaterThan(0);
      const successors = new Set(ok.map((r) => r.body.refresh_token));
      expect(successors.size, `trial ${trial}: successors`).toBe(1);
      // The one successor works and the grant was not taken for stolen.
      const next = await tokenRequest(w, XA.base, { grant_type: "refresh_token", refresh_token: [...successors][0], client_id });
      expect(next.status, `trial ${trial}: the successor refreshes: ${next.text}`).toBe(200);
      const active = await w.json("POST", `${XA.base}/oauth/introspect`, { token: next.body.access_token }, bearer(XA.apiKey));
      expect(active.body.active, `trial ${trial}: the grant is alive`).toBe(true);
    }
    recordFigure("races.oauthRefresh", { trials: TRIALS.oauthRefresh, concurrent: CONCURRENT_REFRESHES, requests });
  }, FULL ? 1_800_000 : 120_000);

  it(`leaves no client_credentials token of a client disabled while it asks for tokens active, ${TRIALS.disable} times`, async () => {
    const { XA, owner } = world;
    const outcomes: Record<string, number> = {};
    for (let trial = 0; trial < TRIALS.disable; trial++) {
      const made = await makeClient(w, owner.token, XA.app, XA.tenant, CONFIDENTIAL_CLIENT(`race-${++n}`));
      const before = await clientToken(w, XA.base, made.id, made.secret);
      const [disabled, ...issued] = await Promise.all([
        w.json("PATCH", `/admin/apps/${XA.app}/tenants/${XA.tenant}/clients/${made.id}`, { status: "disabled" }, bearer(owner.token)),
        ...Array.from({ length: 4 }, () => tokenRequest(w, XA.base, { grant_type: "client_credentials" }, basic(made.id, made.secret))),
      ]);
      expect(disabled.status, `trial ${trial}: ${disabled.text}`).toBe(200);
      const key = `issued ${issued.filter((r) => r.status === 200).length} of ${issued.length}`;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      for (const r of issued) expect([200, 401], `trial ${trial}: ${r.text}`).toContain(r.status);
      for (const token of [before, ...issued.filter((r) => r.status === 200).map((r) => r.body.access_token)]) {
        const introspected = await w.json("POST", `${XA.base}/oauth/introspect`, { token }, bearer(XA.apiKey));
        expect(introspected.body, `trial ${trial}: a token of the disabled client`).toEqual({ active: false });
      }
    }
    recordFigure("races.disable", { trials: TRIALS.disable, outcomes });
  }, FULL ? 1_800_000 : 120_000);

  it(`loses neither a secret rotation nor a PATCH of the same client, and the old secret stops with the rotation, ${TRIALS.rotate} times`, async () => {
    const { XA, owner } = world;
    const admin = `/admin/apps/${XA.app}/tenants/${XA.tenant}/clients`;
    const outcomes: Record<string, number> = {};
    for (let trial = 0; trial < TRIALS.rotate; trial++) {
      const made = await makeClient(w, owner.token, XA.app, XA.tenant, CONFIDENTIAL_CLIENT(`race-${++n}`));
      const name = `renamed-${n}`;
      const [rotated, renamed, ...issued] = await Promise.all([
        w.json("POST", `${admin}/${made.id}/secret`, undefined, bearer(owner.token)),
        w.json("PATCH", `${admin}/${made.id}`, { name }, bearer(owner.token)),
        ...Array.from({ length: 4 }, () => tokenRequest(w, XA.base, { grant_type: "client_credentials" }, basic(made.id, made.secret))),
      ]);
      expect(rotated.status, `trial ${trial}: ${rotated.text}`).toBe(200);
      expect(renamed.status, `trial ${trial}: ${renamed.text}`).toBe(200);
      for (const r of issued) expect([200, 401], `trial ${trial}: ${r.text}`).toContain(r.status);
      const key = `old secret issued ${issued.filter((r) => r.status === 200).length} of ${issued.length} during the race`;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      const now = await w.json("GET", `${admin}/${made.id}`, undefined, bearer(owner.token));
      expect(now.body.client.name, `trial ${trial}: the PATCH is not lost`).toBe(name);
      const old = await tokenRequest(w, XA.base, { grant_type: "client_credentials" }, basic(made.id, made.secret));
      expect(old.status, `trial ${trial}: the old secret after the rotation`).toBe(401);
      // What the old secret got during the race is cut with the rotation.
      for (const r of issued.filter((r) => r.status === 200)) {
        const seen = await w.json("POST", `${XA.base}/oauth/introspect`, { token: r.body.access_token }, bearer(XA.apiKey));
        expect(seen.body, `trial ${trial}: a token of the old secret`).toEqual({ active: false });
      }
      // Past the cut's few seconds of margin (the test clock), the new secret's tokens live.
      const later = { "X-Tessera-Test-Now-Ms": String(Date.now() + 6_000) };
      const fresh = await tokenRequest(w, XA.base, { grant_type: "client_credentials" }, { ...basic(made.id, rotated.body.client_secret), ...later });
      expect(fresh.status, `trial ${trial}: ${fresh.text}`).toBe(200);
      const asOld = await w.json("POST", `${XA.base}/oauth/introspect`, { token: fresh.body.access_token }, { ...basic(made.id, made.secret), ...later });
      expect(asOld.status, `trial ${trial}: the old secret at introspection`).toBe(401);
      const asNew = await w.json("POST", `${XA.base}/oauth/introspect`, { token: fresh.body.access_token }, { ...basic(made.id, rotated.body.client_secret), ...later });
      expect(asNew.body.active, `trial ${trial}: ${asNew.text}`).toBe(true);
    }
    recordFigure("races.rotate", { trials: TRIALS.rotate, outcomes });
  }, FULL ? 1_800_000 : 120_000);
});

interface Admin {
  id: string;
  token: string;
}

let app = "";

function patch(id: string, body: unknown, token: string) {
  return w.json("PATCH", `/admin/apps/${app}/members/${id}`, body, bearer(token));
}

async function admin(): Promise<Admin> {
  const email = `admin-${++n}@example.com`;
  const invited = await w.json("POST", `/admin/apps/${app}/members`, { email, membership_type: "admin", roles: ["admin"], tenant_id: null }, bearer(world.owner.token));
  expect(invited.status, invited.text).toBe(201);
  const accepted = await w.json("POST", "/admin/invites/accept", { invite_token: invited.body.invite_token, password: PASSWORD });
  expect(accepted.status, accepted.text).toBe(200);
  const signin = await w.json("POST", "/admin/auth/signin", { email, password: PASSWORD });
  expect(signin.status, signin.text).toBe(200);
  return { id: invited.body.member.id, token: signin.body.access_token };
}

// Fault injection at every KV and D1 call site: for every operation of /openapi.json, record
// the storage calls its request makes (the harness wraps the bindings, tests/e2e/harness.ts
// `faults`), then make each of those calls fail in turn, on a fresh request each time.
//
// After every faulted request:
// - fail-open answers fail the test: any 500, a 5xx that is not 503 `unavailable` or that
//   leaks internals, introspection answering anything but `{"active": false}`, and a 2xx for a
//   change that is not in D1;
// - half-applied changes fail it too: D1 changed although the answer was an error, or KV
//   disagreeing with D1 for what the request touched (tests/adversarial/consistency.ts) once
//   the every-minute cron (`edge::sweep`) has run — a KV write that failed is pending in D1
//   (`edge_sync`) and must have converged by then. The findings are also written to
//   target/adversarial/faults.json.
// A deletion (app, tenant, user, erasure) that began before the fault is judged after it is
// finished: its design is one atomic first step (the target gone for every reader), then
// resumable steps, continued by repeating the DELETE or by the cron. The sweep repeats it (a
// user's, which answers 204 while it waits a day for the user's tokens to expire, is finished
// by the cron run past that wait), and a deletion that then does not finish, or leaves KV
// disagreeing with D1, is half-applied. At the end, one more sweep past every lease's timeout
// must close every document left pending.
//
// `make test` fails each recorded call of every operation once, as the platform owner, with
// the isolate's caches warm; `make test-security` also repeats every tenant-level /admin
// operation with the tenant's API key (another principal, found through KV key documents) and
// every operation with cold caches (the test clock moved past every cache lifetime), whose
// requests make the reads that warm caches otherwise answer.
//
// Some operations are swept in several shapes, each a request of its own (SHAPES): the token
// endpoint's grants (and a code's replay, which answers invalid_grant and must revoke what
// the code's first use gave), the authorization pages' two forms, and introspection and
// revocation of OAuth tokens beside the tenant's own.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startWorker, ROOT_TOKEN, CLOCK_HEADER, type Faults, type JsonResponse, type TestWorker } from "../e2e/harness";
import {
  tokenAt,
  authorizationRequest, basic, buildWorld, clientToken, codeExchange, codeOf, emailedOne, formOf, lastMessage, makeClient, manual, oauthCode,
  oauthGrant, pageCookies, pageSignIn, pagesThirdPartyFlow, pkce, signWebhook, thirdPartyFlow, tokenRequest, CONFIDENTIAL_CLIENT, FORM, OAUTH_REDIRECT, OAUTH_SETTINGS, PASSWORD,
  PROVIDER_BODY, type World,
} from "./fixture";
import { startGithub, type Github } from "../e2e/idp";
import { operations, build, managesClients, takesTenant, type Operation, type Place, type BuiltRequest } from "./operations";
import { snapshot, diff, touchedBy, disagreements } from "./consistency";
import { FULL, recordFigure } from "./figures";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const faults: Faults = {};
let w: TestWorker;
let world: World;
let doc: any;
/** The provider the third-party flows sign in at (tests/e2e/idp.ts). */
let github: Github;

beforeAll(async () => {
  github = await startGithub();
  // Operator sign-up exists only where the deployment opens it.
  w = await startWorker({ faults, bindings: { OPERATOR_SIGNUP: "open" } });
  world = await buildWorld(w);
  doc = (await w.json("GET", "/openapi.json")).body;
}, 300_000);

afterAll(async () => {
  await w?.dispose();
  await github?.stop();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let counter = 0;
/** A name no other attempt uses; normalised away when call sites are compared. */
const fresh = () => `fz${(++counter).toString(36)}`;
/**
 * A client address no other request uses: sign-ups are throttled per client address (100 an
 * hour), and the sweep signs up hundreds of users from one process.
 */
const client = () => ({ "cf-connecting-ip": `10.${(counter >> 16) & 255}.${(counter >> 8) & 255}.${++counter & 255}` });

async function must(res: Promise<JsonResponse>, what: string): Promise<any> {
  const r = await res;
  if (r.status >= 300) throw new Error(`set-up ${what}: ${r.status} ${r.text}`);
  return r.body;
}

/**
 * How the sweep makes its requests: as the platform owner; with the tenant's API key (another
 * principal, found through other calls); or "cold" — as the owner, but with the worker's clock
 * (the test build's X-Tessera-Test-Now-Ms) moved on by more than every isolate cache's
 * lifetime before each request under test, so the calls that warm caches answer otherwise
 * (app, tenant, policy, API-key and public-key reads) are made, and failed, too.
 */
type Variant = "operator" | "api key" | "cold";

/** The worker's clock for the cold variant (null: real time). */
let clockMs: number | null = null;
/** Longer than the isolate's caches keep anything (public keys: 5 minutes). */
const PAST_EVERY_CACHE_MS = 6 * 60_000;

let d1: any;
/** The worker's D1, one proxy for the whole sweep (consistency.ts prepares its reads once per database). */
const database = async () => (d1 ??= await w.db());

/** The header that sets the worker's clock to the sweep's (none at real time). */
const clock = (): Record<string, string> => {
  latestClock = Math.max(latestClock, clockMs ?? Date.now());
  return clockMs === null ? {} : { [CLOCK_HEADER]: String(clockMs) };
};

/** `w.json` at the sweep's clock (redirects are answers: never followed). */
function j(method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
  return manual(w, method, p, body, { ...headers, ...clock() });
}

/**
 * The operations swept in several shapes (a request of its own each; "" is the plain one):
 * the token endpoint's grants and a code's replay, the two forms of the authorization pages,
 * and introspection and revocation of a grant's and a client's tokens beside a session's.
 */
const SHAPES: Record<string, string[]> = {
  token: ["client_credentials", "authorization_code", "code replay", "refresh_token"],
  authorizeSubmit: ["consent", "signin"],
  introspect: ["", "oauth grant", "client_credentials"],
  revoke: ["", "oauth grant", "client_credentials"],
};
const shapesOf = (op: Operation) => SHAPES[op.id] ?? [""];
const labelOf = (op: Operation, shape: string) => (shape ? `${op.id} [${shape}]` : op.id);

/**
 * What a request of `op` in `shape` answers when it did what it was asked: a 2xx, but a
 * browser's redirect with a code (or, signed in, back to the request) at the authorization
 * endpoint, and invalid_grant for a code's replay.
 */
function succeeded(op: Operation, shape: string, res: JsonResponse): boolean {
  if (op.id === "authorize" || op.id === "authorizeSubmit") return codeOf(res) !== null || (shape === "signin" && res.status === 303);
  if (op.id === "authorizeCallback") return res.status === 303 && (res.headers.get("location") ?? "").includes("/oauth/authorize?");
  if (shape === "code replay") return res.status === 400 && res.body?.error === "invalid_grant";
  return res.status >= 200 && res.status < 300;
}

/**
 * A fresh, valid request of `op` at the home tenant (xa/ta), with the resources it acts on
 * made for it alone, so that the same request can be made again and again.
 */
async function prepare(op: Operation, variant: Variant, shape: string): Promise<BuiltRequest> {
  const { XA, X } = world;
  // Operator tokens live 15 minutes: the cold variant's clock outruns the fixture's.
  const owner = variant === "cold"
    ? { ...world.owner, token: (await must(j("POST", "/admin/auth/signin", { email: world.owner.email, password: PASSWORD }), "owner sign-in")).access_token as string }
    : world.owner;
  const owned = bearer(owner.token);
  const needs = (name: string) => op.pathParams.includes(name);
  const signup = async (tenant = XA.tenant) => {
    const email = `${fresh()}@example.com`;
    const body = await must(j("POST", `/apps/${XA.app}/tenants/${tenant}/auth/signup`, { email, password: PASSWORD }, client()), "signup");
    return { id: body.user.id as string, email, access: body.session.access_token as string, refresh: body.session.refresh_token as string };
  };
  const needsUser = needs("user_id") || op.schemes.includes("accessToken") || NEEDS_USER.includes(op.id) ||
    ["authorize", "authorizeSubmit", "patchClient", "deleteClient"].includes(op.id) || (op.id === "token" && shape !== "client_credentials");
  const user = needsUser ? await signup() : null;
  const place: Place = {
    app: XA.app,
    tenant: takesTenant(op, doc) ? XA.tenant : null,
    userId: user?.id ?? XA.target.id,
    outsiderId: op.id === "associateUser" ? (await signup("public")).id : X.outsiderId,
    memberId: needs("member_id")
      ? (await must(j("POST", `/admin/apps/${X.app}/members`, { email: `${fresh()}@example.com`, membership_type: "member", roles: ["auditor"] }, owned), "invite")).member.id
      : X.targetMemberId,
    keyId: needs("key_id")
      ? (await must(j("POST", `/admin/apps/${XA.app}/tenants/${XA.tenant}/api-keys`, { name: fresh(), scopes: ["introspect"] }, owned), "key")).id
      : XA.targetKeyId,
    // A second session of the user, to end with the first one's token.
    sessionId: needs("session_id")
      ? (await must(j("POST", `${XA.base}/auth/signin`, { email: user!.email, password: PASSWORD }, client()), "second session")).session.session_id
      : XA.user.sessionId,
    // A fresh operator role to define or delete (it is defined below for the deletion).
    role: op.id === "putOperatorRole" || op.id === "deleteOperatorRole" ? fresh() : X.role,
    plan: X.plan,
    // A provider of its own, at the GitHub-shaped server (flows sign in there).
    providerId: needs("provider_id")
      ? (await must(j("PUT", `/admin/apps/${XA.app}/tenants/${XA.tenant}/providers/${fresh()}`, PROVIDER_BODY(github.url), owned), "provider")).provider.id
      : XA.providerId,
    deletionId: X.deletionId,
    clientId: XA.oauth.publicClient,
    oauth: {
      request: authorizationRequest(XA.oauth.publicClient, pkce().challenge),
      csrf: world.csrf,
      signIn: null,
      confidential: XA.oauth.confidential,
    },
  };
  // The OAuth server: the user signed in at the authorization pages, a client of its own to
  // change or delete (holding a client_credentials token and a grant of the user), a fresh
  // confidential client whose first client_credentials token writes its KV document.
  const at = () => ({ ...clock(), ...client() });
  if (user && (["authorize", "authorizeSubmit", "patchClient", "deleteClient"].includes(op.id) || (op.id === "token" && shape !== "client_credentials") || shape === "oauth grant")) {
    place.oauth.signIn = await pageSignIn(w, world.csrf, XA.base, place.oauth.request, user.email, at());
  }
  if (op.id === "authorize") await oauthCode(w, world.csrf, XA.base, XA.oauth.publicClient, place.oauth.signIn!, at());
  if (op.id === "patchClient" || op.id === "deleteClient" || op.id === "rotateClientSecret" || shape === "client_credentials") {
    const made = await makeClient(w, owner.token, XA.app, XA.tenant, CONFIDENTIAL_CLIENT(fresh()), clock());
    place.clientId = made.id;
    place.oauth.confidential = made;
  }
  const oauthHeld = { grant: null as null | { accessToken: string; refreshToken: string }, clientToken: "" };
  if (op.id === "patchClient" || op.id === "deleteClient" || op.id === "rotateClientSecret" || (shape === "client_credentials" && op.id !== "token")) {
    oauthHeld.clientToken = await clientToken(w, XA.base, place.oauth.confidential.id, place.oauth.confidential.secret, at());
  }
  if (op.id === "patchClient" || op.id === "deleteClient") {
    const { id, secret } = place.oauth.confidential;
    const { code, verifier } = await oauthCode(w, world.csrf, XA.base, id, place.oauth.signIn!, at());
    const exchanged = await tokenRequest(w, XA.base, { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: OAUTH_REDIRECT }, { ...at(), ...basic(id, secret) });
    if (exchanged.status !== 200) throw new Error(`set-up grant of ${id}: ${exchanged.status} ${exchanged.text}`);
  }
  if (shape === "oauth grant" || shape === "refresh_token") oauthHeld.grant = await oauthGrant(w, world.csrf, XA.base, XA.oauth.publicClient, place.oauth.signIn!, at());
  if (op.id === "deleteOperatorRole") await must(j("PUT", `/admin/apps/${X.app}/operator-roles/${place.role}`, { permissions: ["audit:read"] }, owned), "operator role");
  // A fresh app to delete.
  // Dynamic registration: the home tenant accepts it (its other settings unchanged).
  if (op.id === "registerClient") {
    await must(j("PUT", `/admin/apps/${XA.app}/tenants/${XA.tenant}/oauth`, { ...OAUTH_SETTINGS, registration: "open" }, owned), "registration open");
  }
  if (op.id === "deleteApp") {
    place.app = fresh();
    await must(j("POST", "/admin/apps", { id: place.app }, owned), "app");
  }
  // A fresh tenant to create or delete (an API key reaches only its own tenant: it updates it).
  if (op.id === "deleteTenant" || (op.id === "putTenant" && variant !== "api key")) {
    place.tenant = fresh();
    if (op.id === "deleteTenant") await must(j("PUT", `/admin/apps/${XA.app}/tenants/${place.tenant}`, { login_methods: ["emailpassword"] }, owned), "tenant");
  }
  // Unsuspending an active user changes nothing but the audit log: suspend it first, so that
  // a 2xx must show in D1.
  if (op.id === "unsuspendUser") await must(j("POST", `/admin/apps/${XA.app}/tenants/${XA.tenant}/users/${place.userId}/suspend`, {}, owned), "suspend");
  const req = build(doc, op, place);
  req.headers = { ...req.headers, ...client() };
  switch (op.id) {
    case "signup":
      req.body = { email: `${fresh()}@example.com`, password: PASSWORD };
      break;
    case "signin":
      req.body = { email: user!.email, password: PASSWORD };
      break;
    case "refresh":
      req.body = { refresh_token: user!.refresh };
      break;
    case "introspect":
    case "revoke":
      req.body = { token: shape === "oauth grant" ? oauthHeld.grant!.accessToken : shape === "client_credentials" ? oauthHeld.clientToken : user!.access };
      break;
    case "patchClient":
      // Disabling: the client's KV document goes first, then its grants.
      req.body = { status: "disabled" };
      break;
    case "authorizeSubmit":
      if (shape === "signin") {
        req.body = formOf({ csrf: tokenAt(world.csrf, `/apps/${place.app}/tenants/${place.tenant}`), request: place.oauth.request, step: "signin", email: user!.email, password: PASSWORD });
        req.headers = { ...req.headers, ...pageCookies(world.csrf) };
      }
      break;
    case "token": {
      const form = { ...client(), ...FORM };
      if (shape === "authorization_code" || shape === "code replay") {
        const { code, verifier } = await oauthCode(w, world.csrf, XA.base, XA.oauth.publicClient, place.oauth.signIn!, at());
        req.body = formOf(codeExchange(XA.oauth.publicClient, code, verifier));
        req.headers = form;
        if (shape === "code replay") {
          const first = await j("POST", `${XA.base}/oauth/token`, req.body, req.headers);
          if (first.status !== 200) throw new Error(`set-up code exchange: ${first.status} ${first.text}`);
        }
      }
      if (shape === "refresh_token") {
        req.body = formOf({ grant_type: "refresh_token", refresh_token: oauthHeld.grant!.refreshToken, client_id: XA.oauth.publicClient });
        req.headers = form;
      }
      break;
    }
    case "operatorSignin":
      req.body = { email: owner.email, password: PASSWORD };
      break;
    case "createApp":
      req.body = { id: fresh() };
      break;
    case "acceptInvite": {
      const invited = await must(j("POST", `/admin/apps/${X.app}/members`, { email: `${fresh()}@example.com`, membership_type: "member", roles: ["auditor"] }, owned), "invite");
      req.body = { invite_token: invited.invite_token, password: PASSWORD };
      break;
    }
    case "sendPasswordReset":
    case "passwordlessStart":
      req.body = { email: user!.email };
      break;
    case "verifyEmail":
    case "resetPassword":
    case "passwordlessConsume": {
      const purpose = ({ verifyEmail: "verify", resetPassword: "reset", passwordlessConsume: "passwordless" } as const)[op.id];
      const { token } = await emailedOne(w, owner.token, XA.app, XA.base, user!.email, user!.access, purpose, { ...clock(), ...client() });
      req.body = op.id === "verifyEmail" ? { token } : op.id === "resetPassword" ? { token, password: PASSWORD } : { link_token: token };
      break;
    }
    case "sendOperatorPasswordReset":
    case "resetOperatorPassword": {
      // An operator of its own: a reset ends the operator's tokens (never the owner's).
      const email = `${fresh()}@example.com`;
      const invited = await must(j("POST", `/admin/apps/${X.app}/members`, { email, membership_type: "member", roles: ["auditor"] }, owned), "invite");
      await must(j("POST", "/admin/invites/accept", { invite_token: invited.invite_token, password: PASSWORD }, client()), "accept");
      req.body = { email };
      if (op.id === "resetOperatorPassword") {
        await must(j("POST", "/admin/auth/password-reset/send", { email }, client()), "operator reset");
        const message = await lastMessage(w, owner.token, "public", email, "operator_password_reset", new Set(), clock());
        req.body = { token: new URL(message.link).searchParams.get("token"), password: PASSWORD };
      }
      break;
    }
    case "operatorUnlock":
      req.body = { email: owner.email };
      break;
    case "billingWebhook": {
      // The sweep of rotateWebhookSecret rotated it (also where it then answered an error).
      const { secret } = await must(j("POST", `/admin/apps/${X.app}/webhook-secret`, undefined, owned), "webhook secret");
      const raw = JSON.stringify(req.body);
      req.body = raw;
      // Signed at the time the request under test will carry (the cold variant moves it on).
      const sentAt = clockMs === null ? Date.now() : clockMs + (variant === "cold" ? PAST_EVERY_CACHE_MS : 0);
      req.headers["webhook-signature"] = await signWebhook(secret, raw, Math.floor(sentAt / 1000));
      break;
    }
  }
  // A self-signed-up operator: its verification link, or its token to ask for one.
  let signedUp: string | undefined;
  if (op.id === "sendOperatorEmailVerification" || op.id === "verifyOperatorEmail") {
    const email = `${fresh()}@example.com`;
    await must(j("POST", "/admin/signup", { email, password: PASSWORD, app_id: fresh() }, client()), "operator sign-up");
    if (op.id === "verifyOperatorEmail") {
      const message = await lastMessage(w, owner.token, "public", email, "operator_email_verification", new Set(), clock());
      req.body = { token: new URL(message.link).searchParams.get("token") };
    } else {
      signedUp = (await must(j("POST", "/admin/auth/signin", { email, password: PASSWORD }, client()), "operator sign-in")).access_token;
    }
  }
  switch (op.id) {
    case "operatorSignup":
      req.body = { email: `${fresh()}@example.com`, password: PASSWORD, app_id: fresh() };
      break;
    case "thirdPartyCallback": {
      // A flow started at the provider and come back from it, with a GitHub user of its own.
      req.body = await thirdPartyFlow(w, github, XA.base, place.providerId, { ...clock(), ...client() });
      break;
    }
    case "authorizeCallback": {
      // A third-party sign-in of the pages, come back from the provider to this browser.
      const provider = (await must(j("PUT", `/admin/apps/${XA.app}/tenants/${XA.tenant}/providers/${fresh()}`, PROVIDER_BODY(github.url), owned), "provider")).provider.id;
      const flow = await pagesThirdPartyFlow(w, github, world.csrf, XA.base, place.oauth.request, provider, { ...clock(), ...client() });
      req.path = `${XA.base}/oauth/callback?${flow.query}`;
      req.headers = { ...req.headers, cookie: flow.cookie };
      break;
    }
  }
  if (signedUp) req.headers = { ...req.headers, ...bearer(signedUp) };
  else if (op.schemes.includes("rootToken")) req.headers = { ...req.headers, ...bearer(ROOT_TOKEN) };
  else if (op.schemes.includes("accessToken")) req.headers = { ...req.headers, ...bearer(user!.access) };
  else if (op.id === "introspect" || op.id === "revoke") req.headers = { ...req.headers, ...bearer(XA.apiKey) };
  // The token endpoint's client authenticates itself (build() or the shape above).
  else if (op.id === "token") req.headers = { ...req.headers };
  else if (op.schemes.length > 0) req.headers = { ...req.headers, ...bearer(variant === "api key" ? XA.apiKey : owner.token) };
  return req;
}

/** One storage call, as the wrappers report it. */
interface Call {
  binding: "kv" | "d1";
  op: string;
  /** The KV key or the SQL, with per-attempt names and ids normalised away. */
  site: string;
  key?: string;
}

const normalise = (s: string) =>
  s
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>")
    .replace(/\b[0-9a-f]{64}\b/g, "<sha256>")
    .replace(/\btsc_[A-Za-z0-9_-]{22}/g, "<client>")
    .replace(/fz[0-9a-z]+/g, "<fresh>");

function toCall(raw: any): Call {
  return raw.binding === "kv"
    ? { binding: "kv", op: raw.op, site: normalise(`${raw.op} ${raw.key}`), key: raw.key }
    : { binding: "d1", op: raw.op, site: normalise(`${raw.op} ${raw.sql.join("; ")}`) };
}

/** Arms `target` to record every storage call and to fail the `nth` call of `fail.site` (once). */
function arm(target: Faults, fail?: { site: string; nth: number }) {
  const calls: Call[] = [];
  const seen = new Map<string, number>();
  const state: { injected?: Call } = {};
  const rule = (raw: any) => {
    const call = toCall(raw);
    calls.push(call);
    const n = seen.get(call.site) ?? 0;
    seen.set(call.site, n + 1);
    if (fail && !state.injected && call.site === fail.site && n === fail.nth) {
      state.injected = call;
      return true;
    }
    return false;
  };
  target.kv = (c) => rule({ binding: "kv", ...c });
  target.d1 = (c) => rule({ binding: "d1", ...c });
  return {
    calls,
    injected: () => state.injected,
    disarm: () => {
      target.kv = null;
      target.d1 = null;
    },
  };
}

/** Makes the request with every call recorded and (optionally) the `nth` call of `site` failing. */
async function run(req: BuiltRequest, fail?: { site: string; nth: number }) {
  const armed = arm(faults, fail);
  try {
    const res = await j(req.method, req.path, req.body, req.headers);
    return { res, calls: armed.calls, injected: armed.injected() };
  } finally {
    armed.disarm();
  }
}

/** The operations that act on a user of their own, made for each request (beyond `user_id` and bearer access tokens). */
const NEEDS_USER = ["introspect", "revoke", "refresh", "signin", "billingWebhook", "sendPasswordReset", "passwordlessStart", "verifyEmail", "resetPassword", "passwordlessConsume"];

/**
 * Operations whose success is a change in D1 (a 2xx must be backed by one). Not: reads,
 * introspection and operator sign-in, and the root token's unlock, whose one change is to the
 * throttle's counters (which every answer may change).
 */
const changes = (op: Operation, shape: string) =>
  op.method !== "GET" && !["introspect", "operatorSignin", "operatorUnlock"].includes(op.id) &&
  // client_credentials writes KV only; the pages' sign-in only a cookie (and the throttle's counts).
  !(op.id === "token" && shape === "client_credentials") && !(op.id === "authorizeSubmit" && shape === "signin");

/**
 * Tables whose rows an answer other than 2xx may still change: the sign-in throttle counts
 * every attempt, and the email throttle every send, before anything else; and the queue
 * consumer writes the outbox (and dead letters) when it delivers the messages of earlier
 * requests, which it may do while the request under test runs. (A message is queued, not
 * written to D1, by the request itself: the D1 comparison never judged queued messages.)
 */
const ANY_ANSWER_MAY_CHANGE = new Set(["signin_failures", "email_send_counts", "email_outbox", "email_dead_letters", "edge_sync"]);
// (`edge_sync` is bookkeeping, not state: which KV documents may not say what D1 holds. Any
// request may take and give back leases on it — the isolate retries its earlier requests'
// documents after them — and the KV documents themselves are judged against D1 below.)

/**
 * What an error answer of one operation may still have changed, by design. A third-party
 * callback's state is single use: it is consumed before anything else, so a failure after
 * that cannot be replayed with the same state (the user starts again at `start`).
 */
const MAY_CHANGE_ON_ERROR: Record<string, string[]> = { thirdPartyCallback: ["thirdparty_flows"], authorizeCallback: ["thirdparty_flows"] };

/** One run of the every-minute cron trigger (`edge::sweep`), at the sweep's clock. */
async function sweepKv() {
  await cronAt("* * * * *", 0);
}

const DAY_MS = 86_400_000;
/** The latest clock any request of the sweep carried (the cold variant moves it on). */
let latestClock = 0;

/** One run of the cron trigger `cron`, `laterMs` after the sweep's clock. */
async function cronAt(cron: string, laterMs: number) {
  const worker = await w.mf.getWorker();
  await worker.scheduled({ cron, scheduledTime: new Date((clockMs ?? Date.now()) + laterMs) });
}

const LEAKS = /SELECT|INSERT|UPDATE|DELETE FROM|D1_ERROR|D1Error|JsValue|injected|KV_ERROR|rev:|pub:|flags:|\bat \S+:\d+|\.rs\b|wasm|panicked/i;

interface Finding {
  op: string;
  variant: Variant;
  fault: string;
  status: number;
  kind: "fail-open" | "half-applied (D1)" | "D1 and KV disagree" | "not reached";
  detail: string;
}

const findings: Finding[] = [];
const reported = new Set<string>();
const timing = { prepare: 0, snapshot: 0, request: 0, check: 0 };
let injectedCount = 0;
/** Faulted deletions that began, answered an error, and finished when repeated. */
let resumedCount = 0;
/** User deletions that answered while waiting for the user's tokens, finished by the cron. */
let waitedCount = 0;
let attemptCount = 0;
const sites = new Set<string>();
/** Faults planned and injected per operation (and shape). */
const perLabel = new Map<string, { attempts: number; injected: number; ms: number }>();

/** A fresh request of `op`; in the cold variant, made once every cache of its set-up is stale. */
async function prepareAndRun(op: Operation, variant: Variant, shape: string, fail?: { site: string; nth: number }, before?: (req: BuiltRequest) => Promise<void>) {
  clockMs = variant === "cold" ? (clockMs ?? Date.now()) + PAST_EVERY_CACHE_MS : null;
  const req = await prepare(op, variant, shape);
  if (variant === "cold") clockMs! += PAST_EVERY_CACHE_MS;
  await before?.(req);
  return { ...(await run(req, fail)), req };
}

/**
 * A deletion that began and then met the fault (the target is gone for every reader, its
 * rows go in resumable steps): the same DELETE repeated without faults continues it, as a
 * client or the cron would. Its answers until it is done (204), at most ten.
 */
async function resume(req: BuiltRequest): Promise<number[]> {
  const answers: number[] = [];
  for (let n = 0; n < 10; n++) {
    const res = await j(req.method, req.path, req.body, req.headers);
    answers.push(res.status);
    if (res.status !== 202) break;
  }
  return answers;
}

async function sweep(op: Operation, variant: Variant, shape: string) {
  const label = labelOf(op, shape);
  const started = Date.now();
  // Warm the isolate's caches with one request, then record the calls of a second one.
  await prepareAndRun(op, variant, shape);
  const reference = await prepareAndRun(op, variant, shape);
  expect(succeeded(op, shape, reference.res), `${label} (${variant}) must succeed without faults: ${reference.res.status} ${reference.res.text}`).toBe(true);
  const occurrences = new Map<string, number>();
  const plan = reference.calls.map((c) => {
    const nth = occurrences.get(c.site) ?? 0;
    occurrences.set(c.site, nth + 1);
    return { site: c.site, nth };
  });
  const counts = perLabel.get(label) ?? { attempts: 0, injected: 0, ms: 0 };
  perLabel.set(label, counts);
  for (const fault of plan) {
    attemptCount++;
    counts.attempts++;
    if (process.env.TESSERA_FAULTS_LOG) console.log(`fault: ${op.id} (${variant}) ${fault.site} #${fault.nth + 1}`);
    let t0 = Date.now();
    const db = await database();
    let before: Awaited<ReturnType<typeof snapshot>> | undefined;
    const { res, calls, injected, req } = await prepareAndRun(op, variant, shape, fault, async () => {
      timing.prepare += Date.now() - t0;
      t0 = Date.now();
      before = await snapshot(db);
      timing.snapshot += Date.now() - t0;
      t0 = Date.now();
    });
    timing.request += Date.now() - t0;
    const site = `${fault.site}${fault.nth > 0 ? ` (#${fault.nth + 1})` : ""}`;
    const note = (kind: Finding["kind"], detail: string) =>
      findings.push({ op: label, variant, fault: site, status: res.status, kind, detail });
    if (!injected) {
      note("not reached", "the call was not made this time (a cache answered)");
      continue;
    }
    injectedCount++;
    counts.injected++;
    sites.add(`${label} ${injected.site}`);
    t0 = Date.now();
    let after = await snapshot(db);
    const ok = succeeded(op, shape, res);
    // A deletion that began is not half-applied if repeating it finishes it: then D1 and KV
    // are judged once it is done.
    const begun = !ok && op.method === "DELETE" && diff(before!, after).some((c) => c.table === "deletions" && c.kind === "added");
    let resumed: number[] | undefined;
    if (begun) {
      resumed = await resume(req);
      after = await snapshot(db);
      if (resumed.at(-1) === 204) resumedCount++;
      else note("half-applied (D1)", `answered ${res.status}; the deletion it began, repeated, answered ${resumed.join(", ")}`);
    }
    // A user's deletion answers 204 while it waits for the user's access tokens to expire;
    // the cron finishes it then (its edge documents withdrawn). Run the cron past the wait
    // and judge D1 and KV after that: a deletion it does not finish is half-applied.
    const waiting = diff(before!, after).filter((c) => c.table === "deletions" && c.kind === "added" && c.after?.state === "running");
    if (waiting.length > 0) {
      await cronAt("*/30 * * * *", DAY_MS + 60_000);
      after = await snapshot(db);
      waitedCount += waiting.length;
      for (const d of waiting) {
        const state = after.deletions?.get(d.key) ? JSON.parse(after.deletions.get(d.key)!).state : "gone";
        if (state !== "done") note("half-applied (D1)", `answered ${res.status}; its deletion ${d.after.id} was ${state} after the cron ran past the wait`);
      }
    }
    const changed = diff(before!, after);
    const real = changed.filter((c) => !ANY_ANSWER_MAY_CHANGE.has(c.table) && !(MAY_CHANGE_ON_ERROR[op.id] ?? []).includes(c.table));
    // The audit log may record what an error answer did and undid (a `user.revert` entry).
    const state = real.filter((c) => c.table !== "audit_log");
    if (res.status >= 500 && (res.status !== 503 || res.body?.code !== "unavailable")) note("fail-open", `answered ${res.status}: ${res.text.slice(0, 200)}`);
    if (res.status >= 500 && LEAKS.test(res.text)) note("fail-open", `the answer leaks internals: ${res.text.slice(0, 200)}`);
    if (op.id === "introspect" && JSON.stringify(res.body) !== JSON.stringify({ active: false })) note("fail-open", `introspection answered ${res.status} ${res.text.slice(0, 200)} with a storage call failing`);
    if (ok && changes(op, shape) && state.length === 0) note("fail-open", `answered ${res.status} but D1 did not change`);
    if (!ok && !begun && state.length > 0) {
      note("half-applied (D1)", `answered ${res.status} ${res.body?.code ?? ""} but D1 changed: ${real.map((c) => `${c.kind} ${c.table}`).join(", ")}`);
    }
    // KV is judged after the sweep (the every-minute cron): what a failed KV write left
    // pending must have converged by then.
    await sweepKv();
    const written = calls.filter((c) => c.binding === "kv" && (c.op === "put" || c.op === "delete") && c !== injected).map((c) => c.key!);
    const disagree = await disagreements(db, await w.kv(), touchedBy(changed, written), Date.now());
    // Each disagreement once: a view left stale by one request stays stale for the next ones.
    for (const d of disagree.filter((d) => !reported.has(d))) {
      reported.add(d);
      note("D1 and KV disagree", `after ${res.status}: ${d}`);
    }
    timing.check += Date.now() - t0;
  }
  counts.ms += Date.now() - started;
}

describe("a half-applied billing event", () => {
  it("converges when the provider retries it: the replay rewrites the flags from D1", async () => {
    const { XA, X, owner } = world;
    const email = `${fresh()}@example.com`;
    const signup = await must(w.json("POST", `${XA.base}/auth/signup`, { email, password: PASSWORD }, client()), "signup");
    const { secret } = await must(w.json("POST", `/admin/apps/${X.app}/webhook-secret`, undefined, bearer(owner.token)), "secret");
    const raw = JSON.stringify({ event_id: `evt-${fresh()}`, type: "plan.updated", tenant_id: XA.tenant, user_id: signup.user.id, plan_tier: X.plan });
    const send = async () => w.json("POST", `/apps/${X.app}/webhooks/billing`, raw, { "webhook-signature": await signWebhook(secret, raw) });
    let failed = false;
    faults.kv = (c) => !failed && c.op === "put" && c.key.startsWith("flags:") && (failed = true);
    const first = await send();
    faults.kv = null;
    expect(failed, "the flags write was made to fail").toBe(true);
    // The change is D1's and answered as made; the edge document is pending (edge_sync), not
    // undone: the isolate's retry, the sweep or, here, the replay rewrites it from D1.
    expect(first.status, first.text).toBe(200);
    const introspect = () => w.json("POST", `${XA.base}/oauth/introspect`, { token: signup.session.access_token }, bearer(XA.apiKey));
    const retried = await send();
    expect(retried.status, retried.text).toBe(200);
    expect((await introspect()).body.plan_tier).toBe(X.plan);
  });
});

describe("fault injection at every KV and D1 call site", () => {
  it("answers no request fail-open when any one storage call fails", async () => {
    // Health, the document and the console's files make no storage call; bootstrap is below.
    const ops = operations(doc).filter((o) => !["health", "openapi", "consoleRedirect", "console", "consoleAsset", "bootstrap"].includes(o.id));
    const variants = (op: Operation): Variant[] =>
      FULL && op.schemes.includes("apiKey") && op.pathParams.includes("tenant_id") && !["introspect", "revoke", "deleteTenant"].includes(op.id) ? ["operator", "api key"] : ["operator"];
    const swept: string[] = [];
    for (const op of ops) {
      for (const variant of variants(op)) {
        for (const shape of shapesOf(op)) {
          await sweep(op, variant, shape);
          swept.push(`${labelOf(op, shape)} (${variant})`);
        }
      }
    }
    // Cold caches last: from here on the worker's clock only moves forward.
    if (FULL) {
      for (const op of ops) {
        for (const shape of shapesOf(op)) {
          await sweep(op, "cold", shape);
          swept.push(`${labelOf(op, shape)} (cold)`);
        }
      }
      clockMs = null;
    }
    // Every document the sweep left pending closes at the next run of the cron once the
    // leases of writers that failed have timed out (a minute after the last request's).
    await (await w.mf.getWorker()).scheduled({ cron: "* * * * *", scheduledTime: new Date(Math.max(latestClock, Date.now()) + 2 * 60_000) });
    const open = ((await (await database()).prepare("SELECT doc, version, synced_version, leases FROM edge_sync WHERE version > synced_version").all()).results as any[]);
    if (open.length > 0) findings.push({ op: "(all)", variant: "operator", fault: "none", status: 0, kind: "D1 and KV disagree", detail: `documents still pending after a sweep past every lease's timeout: ${JSON.stringify(open)}` });
    // Bootstrap can succeed once per database: it gets a fresh worker per fault (below).
    swept.push(...(await sweepBootstrap()));

    const byKind = (k: Finding["kind"]) => findings.filter((f) => f.kind === k);
    const report = { attempts: attemptCount, injected: injectedCount, sites: sites.size, operations: swept.length, resumedDeletions: resumedCount, waitedDeletions: waitedCount, findings };
    mkdirSync(path.join(ROOT, "target", "adversarial"), { recursive: true });
    writeFileSync(path.join(ROOT, "target", "adversarial", `faults${FULL ? "-full" : ""}.json`), JSON.stringify(report, null, 2));
    recordFigure("faults", {
      operations: swept.length,
      attempts: attemptCount,
      injected: injectedCount,
      callSites: sites.size,
      failOpen: byKind("fail-open").length,
      halfAppliedD1: byKind("half-applied (D1)").length,
      resumedDeletions: resumedCount,
      waitedDeletions: waitedCount,
      kvDisagreements: byKind("D1 and KV disagree").length,
      notReached: byKind("not reached").length,
    });
    // The OAuth server's share: its operations, and OAuth tokens at introspection and revocation.
    const oauthOps = new Set(ops.filter((o) => managesClients(o) || /\/oauth\/(authorize|token)$|oauth-authorization-server|openid-configuration\/apps/.test(o.path)).map((o) => o.id));
    const isOAuth = (label: string) => oauthOps.has(label.split(" ")[0]) || /\[(oauth grant|client_credentials)\]/.test(label);
    const oauthFindings = (k: Finding["kind"]) => byKind(k).filter((f) => isOAuth(f.op)).length;
    const oauthLabels = [...perLabel].filter(([label]) => isOAuth(label));
    recordFigure("faults.oauth", {
      operations: oauthLabels.length,
      attempts: oauthLabels.reduce((n, [, c]) => n + c.attempts, 0),
      injected: oauthLabels.reduce((n, [, c]) => n + c.injected, 0),
      failOpen: oauthFindings("fail-open"),
      halfAppliedD1: oauthFindings("half-applied (D1)"),
      kvDisagreements: oauthFindings("D1 and KV disagree"),
      notReached: oauthFindings("not reached"),
      seconds: Math.round(oauthLabels.reduce((n, [, c]) => n + c.ms, 0) / 1000),
      byOperation: Object.fromEntries(oauthLabels),
    });
    const summary = (list: Finding[]) => list.map((f) => `${f.op} (${f.variant}) with ${f.fault} failing → ${f.status}: ${f.detail}`).join("\n");
    const halfApplied = [...byKind("half-applied (D1)"), ...byKind("D1 and KV disagree")];
    if (process.env.TESSERA_FAULTS_LOG) console.log("timing (ms)", timing);
    expect(injectedCount, "faults were injected").toBeGreaterThan(100);
    expect(byKind("fail-open"), `fail-open answers:\n${summary(byKind("fail-open"))}`).toEqual([]);
    expect(halfApplied, `half-applied changes (details in target/adversarial/faults${FULL ? "-full" : ""}.json):\n${summary(halfApplied)}`).toEqual([]);
  }, FULL ? 3_600_000 : 900_000);
});

/** Bootstrap's sweep: one fresh worker per fault (the owner can be created only once). */
async function sweepBootstrap(): Promise<string[]> {
  const body = { email: "owner@example.com", password: PASSWORD };
  const local: Faults = {};
  const record = async (fail?: { site: string; nth: number }) => {
    const worker = await startWorker({ faults: local });
    try {
      const before = await snapshot(await worker.db());
      const armed = arm(local, fail);
      const res = await worker.json("POST", "/admin/bootstrap", body, bearer(ROOT_TOKEN));
      armed.disarm();
      const { calls } = armed;
      const injected = armed.injected();
      const changed = diff(before, await snapshot(await worker.db()));
      // A bootstrap that failed must leave the deployment bootstrappable.
      const retry = fail ? await worker.json("POST", "/admin/bootstrap", body, bearer(ROOT_TOKEN)) : undefined;
      return { res, calls, injected, changed, retry };
    } finally {
      await worker.dispose();
    }
  };
  const reference = await record();
  expect(reference.res.status, reference.res.text).toBe(201);
  const occurrences = new Map<string, number>();
  for (const c of reference.calls) {
    const nth = occurrences.get(c.site) ?? 0;
    occurrences.set(c.site, nth + 1);
    attemptCount++;
    const { res, injected, changed, retry } = await record({ site: c.site, nth });
    if (!injected) {
      findings.push({ op: "bootstrap", variant: "operator", fault: c.site, status: res.status, kind: "not reached", detail: "" });
      continue;
    }
    injectedCount++;
    sites.add(`bootstrap ${c.site}`);
    const note = (kind: Finding["kind"], detail: string) => findings.push({ op: "bootstrap", variant: "operator", fault: c.site, status: res.status, kind, detail });
    if (res.status >= 500 && (res.status !== 503 || LEAKS.test(res.text))) note("fail-open", `answered ${res.status}: ${res.text.slice(0, 200)}`);
    if (res.status === 201 && changed.length === 0) note("fail-open", "answered 201 but D1 did not change");
    if (res.status !== 201 && changed.length > 0) note("half-applied (D1)", `answered ${res.status} but D1 changed: ${changed.map((x) => `${x.kind} ${x.table}`).join(", ")}`);
    if (res.status !== 201 && retry && retry.status !== 201) note("half-applied (D1)", `the failed bootstrap left the deployment unable to bootstrap: ${retry.status} ${retry.text.slice(0, 200)}`);
  }
  return ["bootstrap (root token)"];
}

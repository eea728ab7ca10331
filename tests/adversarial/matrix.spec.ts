// The tenant matrix: every credential of tenant A presented at tenant B, and of app X at app Y,
// at every operation of /openapi.json that takes an app or a tenant — 0 accepted.
//
// The operations come from the document the worker serves (tests/adversarial/operations.ts),
// so a new endpoint is in the matrix the moment it is documented. Each credential goes where
// a credential of its kind can go:
// - as `Authorization: Bearer` at every operation whose `security` asks for one;
// - as the token of an RFC 7662/7009 request, presented by the target tenant's own API key
//   (introspection must answer inactive; revocation must leave the source's session alone);
// - as the refresh token of a refresh;
// - an end user's email and password at the target's sign-in;
// - the emailed link tokens (password reset, email verification, passwordless) and the
//   passwordless code at the target's operations that take one in their body;
// - a billing event signed with the source app's webhook secret at the target app;
// - at the tenant's OAuth authorization server: the source's OAuth tokens (a grant's access
//   and refresh tokens, a client_credentials token) wherever a credential goes, and as the
//   refresh token of the token endpoint; the source's clients at the authorization endpoint,
//   its forms and the token endpoint (client_secret_basic and client_secret_post, a code of
//   theirs exchanged); the source's sign-in cookie of the authorization pages and its user's
//   password on them; and the source's client ids in the path of the target's management
//   operations, presented by the target's own operator.
// (The device token of sign-in has its own test below: it only shows while an account is
// locked out.)
//
// A negative test must fail when nothing is refused, so every operation also gets a control:
// the same request at the credential's own place, which some credential must get accepted
// (otherwise the request itself is malformed and the refusals prove nothing). And at the end
// every source credential must still work at home: a refusal must not be bought by, say,
// revoking the session of a token presented in the wrong place.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startWorker, CLOCK_HEADER, type TestWorker, type JsonResponse } from "../e2e/harness";
import { startGithub, type Github } from "../e2e/idp";
import {
  authorizationRequest, basic, buildWorld, clientToken, codeExchange, codeOf, emailedOne, formOf, makeClient, manual, oauthCode, pageCookies, pkce,
  pagesThirdPartyFlow, signWebhook, thirdPartyFlow, tokenRequest, CONFIDENTIAL_CLIENT, FORM, PASSWORD, PROVIDER_BODY, type World, type TenantWorld, type AppWorld, type Emailed,
} from "./fixture";
import { operations, build, managesClients, takesApp, takesTenant, unique, type Operation, type Place } from "./operations";
import { recordFigure } from "./figures";

let w: TestWorker;
let world: World;
let doc: any;
let ops: Operation[];
/** The provider every tenant's third-party flows sign in at (tests/e2e/idp.ts). */
let github: Github;

beforeAll(async () => {
  github = await startGithub();
  w = await startWorker();
  world = await buildWorld(w, github);
  doc = (await w.json("GET", "/openapi.json")).body;
  ops = operations(doc).filter(takesApp);
}, 300_000);

afterAll(async () => {
  await w?.dispose();
  await github?.stop();
});

type Kind =
  | "access token"
  | "refresh token"
  | "operator token"
  | "api key"
  | "invite token"
  | "password-reset link token"
  | "email-verification link token"
  | "passwordless link token"
  | "third-party access token"
  | "third-party refresh token"
  | "oauth access token"
  | "oauth refresh token"
  | "client_credentials token";

/** The operations that take an emailed link token in their body, and how. */
const LINK_BODIES: Record<string, (token: string) => Record<string, unknown>> = {
  verifyEmail: (token) => ({ token }),
  resetPassword: (token) => ({ token, password: PASSWORD }),
  passwordlessConsume: (token) => ({ link_token: token }),
};

const emailedKinds = (e: Emailed): Partial<Record<Kind, string>> => ({
  "password-reset link token": e.reset,
  "email-verification link token": e.verify,
  "passwordless link token": e.passwordlessLink,
});

interface Source {
  label: string;
  app: AppWorld;
  /** The tenant of the credentials; null for an app-wide operator or invitation. */
  tenant: TenantWorld | null;
  credentials: Partial<Record<Kind, string>>;
}

interface Target {
  label: string;
  app: AppWorld;
  /** The tenant requests name (a tenant of `app`). */
  tenant: TenantWorld;
}

const tenantSource = (t: TenantWorld, app: AppWorld): Source => ({
  label: `${t.app}/${t.tenant}`,
  app,
  tenant: t,
  credentials: {
    "access token": t.user.accessToken,
    "refresh token": t.user.refreshToken,
    "operator token": t.member.token,
    "api key": t.apiKey,
    "invite token": t.inviteToken,
    ...emailedKinds(t.emailed),
    // The session of a user signed in through the tenant's provider goes where the others go.
    "third-party access token": t.thirdParty!.accessToken,
    "third-party refresh token": t.thirdParty!.refreshToken,
    // The tenant's OAuth server's tokens go where the others go.
    "oauth access token": t.oauth.grant.accessToken,
    "oauth refresh token": t.oauth.grant.refreshToken,
    "client_credentials token": t.oauth.clientToken,
  },
});

const appSource = (a: AppWorld): Source => ({
  label: `${a.app} (app-wide)`,
  app: a,
  tenant: null,
  credentials: { "operator token": a.admin.token, "invite token": a.inviteToken },
});

function placeOf(target: Target, op: Operation, appWideTenant: boolean): Place {
  return {
    app: target.app.app,
    // An app-wide operation that takes no tenant acts on every tenant of the app (B's included).
    tenant: op.pathParams.includes("tenant_id") || appWideTenant ? target.tenant.tenant : null,
    userId: target.tenant.target.id,
    outsiderId: target.app.outsiderId,
    memberId: target.app.targetMemberId,
    keyId: target.tenant.targetKeyId,
    sessionId: target.tenant.user.sessionId,
    role: target.app.role,
    plan: target.app.plan,
    providerId: target.tenant.providerId,
    deletionId: target.app.deletionId,
    // A secret rotation acts on a confidential client (a public one has no secret: 409).
    clientId: op.id === "rotateClientSecret" ? target.tenant.oauth.confidential.id : target.tenant.oauth.publicClient,
    oauth: {
      request: authorizationRequest(target.tenant.oauth.publicClient, pkce().challenge),
      csrf: world.csrf,
      signIn: target.tenant.oauth.signIn,
      confidential: target.tenant.oauth.confidential,
    },
  };
}

/** True when the authorization endpoint let the browser on: a page past sign-in, or a code. */
const pastSignIn = (res: JsonResponse) =>
  codeOf(res) !== null || res.status === 303 || (res.status === 200 && /name="step" value="consent"/.test(res.text));

/** One attempt: what was presented where, and whether the worker accepted it. */
interface Attempt {
  op: string;
  pair: string;
  kind: string;
  placement: string;
  status: number;
  accepted: boolean;
  text: string;
}

const attempts: Attempt[] = [];

let clients = 0;
/**
 * A client address no other request uses: what a client gets wrong is counted per address
 * (sign-in, emailed codes and links), and a refusal must be the boundary's, not the
 * throttle's after the matrix's own many failures.
 */
const client = () => ({ "cf-connecting-ip": `10.77.${(++clients >> 8) & 255}.${clients & 255}` });

async function send(req: { method: string; path: string; body?: unknown; headers: Record<string, string> }): Promise<JsonResponse> {
  // Redirects are answers here (the authorization endpoint's): never followed.
  return manual(w, req.method, req.path, req.body, { ...client(), ...req.headers });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Every attempt of one source at one target, for one operation. */
async function attack(op: Operation, source: Source, target: Target, pair: string): Promise<void> {
  const appWide = !op.pathParams.includes("tenant_id");
  const place = placeOf(target, op, takesTenant(op, doc));
  const record = (kind: string, placement: string, res: JsonResponse, accepted: boolean) =>
    attempts.push({ op: op.id, pair, kind, placement, status: res.status, accepted, text: res.text.slice(0, 300) });

  for (const [kind, credential] of Object.entries(source.credentials) as [Kind, string][]) {
    if (op.schemes.length > 0) {
      const req = build(doc, op, place);
      if (op.id === "introspect" || op.id === "revoke") {
        // The token asked about is the target's own: only the client credential is foreign.
        req.body = { token: target.tenant.user.accessToken };
      }
      const res = await send({ ...req, headers: { ...req.headers, ...bearer(credential) } });
      record(kind, "bearer", res, res.status >= 200 && res.status < 300);
    }
    if (op.id === "introspect" && !appWide) {
      const res = await send({ ...build(doc, op, place), body: { token: credential }, headers: bearer(target.tenant.apiKey) });
      record(kind, "token (introspected by the target's key)", res, res.status !== 200 || res.body?.active !== false);
    }
    if (op.id === "revoke" && !appWide) {
      // Accepted means: the source's session is gone. Checked for every source at the end
      // (`every source credential still works at home`); here the answer must be RFC 7009's.
      const res = await send({ ...build(doc, op, place), body: { token: credential }, headers: bearer(target.tenant.apiKey) });
      record(kind, "token (revoked by the target's key)", res, res.status !== 200 || JSON.stringify(res.body) !== "{}");
    }
    if (op.id === "refresh") {
      const res = await send({ ...build(doc, op, place), body: { refresh_token: credential } });
      record(kind, "refresh_token", res, res.status === 200);
    }
    if (op.id === "token") {
      // As the refresh token of the target's own public client.
      const res = await send({ ...build(doc, op, place), headers: FORM, body: formOf({ grant_type: "refresh_token", refresh_token: credential, client_id: target.tenant.oauth.publicClient }) });
      record(kind, "refresh_token of the target's client", res, res.status === 200);
    }
    // Every link token at every operation that takes one (its own purpose and the others').
    if (LINK_BODIES[op.id] && kind.endsWith("link token")) {
      const res = await send({ ...build(doc, op, place), body: LINK_BODIES[op.id](credential) });
      record(kind, "link token in the body", res, res.status >= 200 && res.status < 300);
    }
  }
  if (op.id === "passwordlessConsume" && source.tenant) {
    const res = await send({ ...build(doc, op, place), body: source.tenant.emailed.passwordlessCode });
    record("passwordless code", "attempt_id and code", res, res.status >= 200 && res.status < 300);
  }
  if (op.id === "thirdPartyCallback" && source.tenant) {
    // A flow of the source's provider, come back from the provider, finished at the target.
    const flow = await thirdPartyFlow(w, github, source.tenant.base, source.tenant.providerId, client());
    const res = await send({ ...build(doc, op, place), body: flow });
    record("third-party state", "code and state", res, res.status >= 200 && res.status < 300);
  }
  if (op.id === "authorizeCallback" && source.tenant) {
    // A third-party sign-in of the source's pages, come back from the provider, finished at
    // the target's callback by the browser that holds its cookie.
    const request = authorizationRequest(source.tenant.oauth.publicClient, pkce().challenge);
    const flow = await pagesThirdPartyFlow(w, github, world.csrf, source.tenant.base, request, source.tenant.providerId, client());
    const res = await send({ ...build(doc, op, place), path: `${build(doc, op, place).path}?${flow.query}`, headers: { cookie: flow.cookie } });
    record("third-party state", "code and state with the pages' flow cookie", res, res.status === 303);
  }
  if (source.tenant) await attackOAuth(op, source.tenant, target, place, record);
  if (op.id === "signin" && source.tenant) {
    const res = await send({ ...build(doc, op, place), body: { email: source.tenant.user.email, password: PASSWORD } });
    record("password", "email and password", res, res.status === 200);
  }
  if (op.id === "billingWebhook" && source.app.app !== target.app.app) {
    const req = build(doc, op, place);
    const raw = JSON.stringify(req.body);
    const res = await send({ ...req, body: raw, headers: { "webhook-signature": await signWebhook(source.app.webhookSecret, raw) } });
    record("webhook signature", "Webhook-Signature", res, res.status >= 200 && res.status < 300);
  }
}

/**
 * What the source tenant's OAuth server hands out, at the target's: its clients, codes, sign-in
 * cookie, its user's password on the pages, and its client ids in the target's paths.
 */
async function attackOAuth(op: Operation, source: TenantWorld, target: Target, place: Place, record: (kind: string, placement: string, res: JsonResponse, accepted: boolean) => void) {
  const theirs = source.oauth;
  const request = authorizationRequest(theirs.publicClient, pkce().challenge);
  if (op.id === "authorize") {
    // The source's client named in an authorization request at the target (a sign-in page,
    // a consent page or a redirect would all mean the client is known there).
    const res = await send({ ...build(doc, op, { ...place, oauth: { ...place.oauth, request, signIn: null } }) });
    record("oauth client", "client_id of the authorization request", res, res.status !== 400);
    const cookie = await send({ ...build(doc, op, { ...place, oauth: { ...place.oauth, signIn: theirs.signIn } }) });
    record("oauth sign-in cookie", "tessera_oauth_session", cookie, pastSignIn(cookie));
  }
  if (op.id === "authorizeSubmit") {
    const client = await send({ ...build(doc, op, { ...place, oauth: { ...place.oauth, request } }) });
    record("oauth client", "client_id of the form's request", client, client.status !== 400);
    const cookie = await send({ ...build(doc, op, { ...place, oauth: { ...place.oauth, signIn: theirs.signIn } }) });
    record("oauth sign-in cookie", "tessera_oauth_session at consent", cookie, pastSignIn(cookie));
    const req = build(doc, op, { ...place, oauth: { ...place.oauth, signIn: null } });
    const password = await send({ ...req, body: formOf({ csrf: world.csrf.tokens[`/apps/${place.app}/tenants/${place.tenant}`] ?? "", request: place.oauth.request, step: "signin", email: source.user.email, password: PASSWORD }) });
    record("password", "email and password on the sign-in page", password, pastSignIn(password));
  }
  if (op.id === "token") {
    const req = build(doc, op, place);
    const viaBasic = await send({ ...req, headers: { ...FORM, ...basic(theirs.confidential.id, theirs.confidential.secret) } });
    record("oauth client secret", "client_secret_basic", viaBasic, viaBasic.status === 200);
    const viaPost = await send({ ...req, headers: FORM, body: formOf({ grant_type: "client_credentials", client_id: theirs.confidential.id, client_secret: theirs.confidential.secret }) });
    record("oauth client secret", "client_secret_post", viaPost, viaPost.status === 200);
    // A code of the source's, fresh, exchanged at the target by its own client and by the target's.
    for (const [who, clientId] of [["its client", theirs.publicClient], ["the target's client", target.tenant.oauth.publicClient]]) {
      const { code, verifier } = await oauthCode(w, world.csrf, source.base, theirs.publicClient, theirs.signIn, client());
      const res = await send({ ...req, headers: FORM, body: formOf(codeExchange(clientId, code, verifier)) });
      record("authorization code", `code with ${who}`, res, res.status === 200);
    }
    // The source's refresh token with the source's own client (the target's is tried above).
    const refreshed = await send({ ...req, headers: FORM, body: formOf({ grant_type: "refresh_token", refresh_token: theirs.grant.refreshToken, client_id: theirs.publicClient }) });
    record("oauth refresh token", "refresh_token of its client", refreshed, refreshed.status === 200);
  }
  if (op.pathParams.includes("client_id")) {
    // The source's client, named in the target's path, by the target's own operator.
    const req = build(doc, op, { ...place, clientId: theirs.publicClient });
    const res = await send({ ...req, headers: { ...req.headers, ...bearer(target.tenant.member.token) } });
    record("oauth client id", "path, with the target's operator", res, res.status >= 200 && res.status < 300);
  }
}

describe("the tenant matrix", () => {
  it("accepts no credential of tenant A at tenant B, nor of app X at app Y, at any operation", async () => {
    const { X, Y, XA, XB, YA } = world;
    const pairs: Array<{ pair: string; source: Source; target: Target }> = [
      { pair: "tenant A → tenant B", source: tenantSource(XA, X), target: { label: "xa/tb", app: X, tenant: XB } },
      { pair: "tenant B → tenant A", source: tenantSource(XB, X), target: { label: "xa/ta", app: X, tenant: XA } },
      { pair: "app X → app Y (same tenant id)", source: tenantSource(XA, X), target: { label: "ya/ta", app: Y, tenant: YA } },
      { pair: "app X → app Y (another tenant)", source: tenantSource(XB, X), target: { label: "ya/ta", app: Y, tenant: YA } },
      { pair: "app Y → app X", source: tenantSource(YA, Y), target: { label: "xa/ta", app: X, tenant: XA } },
      { pair: "app-wide X → app Y", source: appSource(X), target: { label: "ya/ta", app: Y, tenant: YA } },
    ];
    for (const op of ops) {
      for (const { pair, source, target } of pairs) {
        // Within one app, an app-wide credential reaches every tenant by design: only the
        // tenant-scoped sources are tested across tenants.
        if (source.tenant === null && source.app.app === target.app.app) continue;
        await attack(op, source, target, pair);
      }
    }
    const accepted = attempts.filter((a) => a.accepted);
    const byOp = new Set(attempts.map((a) => a.op));
    // The OAuth server's share: its operations, and its credentials wherever they went.
    const oauthOps = new Set(ops.filter((o) => managesClients(o) || /\/oauth|oauth-authorization-server/.test(o.path)).map((o) => o.id));
    const oauth = attempts.filter((a) => oauthOps.has(a.op) || /oauth|client/.test(a.kind));
    recordFigure("matrix", {
      operations: byOp.size,
      attempts: attempts.length,
      accepted: accepted.length,
      kinds: [...new Set(attempts.map((a) => a.kind))],
      pairs: pairs.map((p) => p.pair),
      oauth: {
        operations: [...oauthOps].filter((id) => byOp.has(id)).length,
        attempts: oauth.length,
        accepted: oauth.filter((a) => a.accepted).length,
        kinds: [...new Set(oauth.map((a) => a.kind))],
      },
    });
    expect(accepted, `accepted across a boundary:\n${accepted.map((a) => `${a.op} ${a.pair} ${a.kind} (${a.placement}) → ${a.status} ${a.text}`).join("\n")}`).toEqual([]);
    // Every operation that names an app was tried, with something.
    expect([...byOp].sort()).toEqual(ops.map((o) => o.id).filter((id) => attempts.some((a) => a.op === id)).sort());
    const untried = ops.filter((o) => !byOp.has(o.id)).map((o) => o.id);
    // Only the operations that take no credential of any kind may go untried.
    expect(untried.sort()).toEqual(["jwks", "oauthMetadata", "oauthMetadataOidc", "openidConfiguration", "passwordlessStart", "registerClient", "sendPasswordReset", "signup", "thirdPartyStart"]);
  }, 600_000);

  it("accepts the same requests at the credential's own place (the refusals are about the boundary)", async () => {
    const { X, XA, owner } = world;
    const notAccepted: string[] = [];
    const acceptedKinds = new Map<string, number>();
    for (const op of ops) {
      if (!attempts.some((a) => a.op === op.id)) continue;
      // A throwaway end user for each control: sign-out, revocation, refresh, leaving the
      // tenant and the emailed tokens use up what they are given.
      const email = `${unique("control")}@example.com`;
      const fresh = await w.json("POST", `${XA.base}/auth/signup`, { email, password: PASSWORD }, { "cf-connecting-ip": `192.0.2.${1 + (acceptedKinds.size % 200)}` });
      expect(fresh.status, fresh.text).toBe(201);
      const home: Target = { label: "xa/ta", app: X, tenant: XA };
      let place = { ...placeOf(home, op, takesTenant(op, doc)), sessionId: fresh.body.session.session_id };
      // What the deletions delete is made for them: a spare tenant, app or provider, the
      // control's own user; an operator role to delete is defined first.
      if (op.id === "deleteTenant") {
        const spare = unique("spare");
        const put = await w.json("PUT", `/admin/apps/${X.app}/tenants/${spare}`, { login_methods: ["emailpassword"] }, bearer(owner.token));
        expect(put.status, put.text).toBe(201);
        place = { ...place, tenant: spare };
      }
      if (op.id === "deleteApp") {
        const spare = unique("spare");
        const made = await w.json("POST", "/admin/apps", { id: spare }, bearer(owner.token));
        expect(made.status, made.text).toBe(201);
        place = { ...place, app: spare };
      }
      // A provider of its own to configure: the tenant's own points at the GitHub-shaped server.
      if (op.id === "putProvider") place = { ...place, providerId: unique("spare") };
      if (op.id === "deleteProvider") {
        const spare = unique("spare");
        const put = await w.json("PUT", `/admin/apps/${X.app}/tenants/${XA.tenant}/providers/${spare}`, PROVIDER_BODY(), bearer(owner.token));
        expect(put.status, put.text).toBe(201);
        place = { ...place, providerId: spare };
      }
      if (op.id === "deleteOperatorRole") {
        const put = await w.json("PUT", `/admin/apps/${X.app}/operator-roles/${place.role}`, { permissions: ["audit:read"] }, bearer(owner.token));
        expect(put.status, put.text).toBeLessThan(300);
      }
      if (op.id === "eraseUser" || op.id === "deleteTenantUser") place = { ...place, userId: fresh.body.user.id };
      // A client of its own to delete.
      // (and one to rotate the secret of: the fixture's confidential client keeps its own).
      if (op.id === "deleteClient" || op.id === "rotateClientSecret") place = { ...place, clientId: (await makeClient(w, owner.token, X.app, XA.tenant, CONFIDENTIAL_CLIENT(unique("spare")))).id };
      const candidates: Array<[string, () => Promise<JsonResponse>]> = [];
      const req = () => build(doc, op, place);
      const withBearer = (token: string) => async () => {
        const r = req();
        if (op.id === "introspect" || op.id === "revoke") r.body = { token: fresh.body.session.access_token };
        return send({ ...r, headers: bearer(token) });
      };
      if (op.schemes.length > 0) {
        candidates.push(["api key", withBearer(XA.apiKey)]);
        candidates.push(["operator token", withBearer(XA.member.token)]);
        candidates.push(["operator token (app-wide)", withBearer(X.admin.token)]);
        candidates.push(["access token", withBearer(fresh.body.session.access_token)]);
        candidates.push(["platform owner", withBearer(owner.token)]);
      }
      if (op.id === "refresh") candidates.push(["refresh token", () => send({ ...req(), body: { refresh_token: fresh.body.session.refresh_token } })]);
      if (op.id === "thirdPartyCallback") candidates.push(["third-party state", async () => send({ ...req(), body: await thirdPartyFlow(w, github, XA.base, XA.providerId, client()) })]);
      if (op.id === "authorizeCallback") {
        candidates.push(["third-party state", async () => {
          const flow = await pagesThirdPartyFlow(w, github, world.csrf, XA.base, authorizationRequest(XA.oauth.publicClient, pkce().challenge), XA.providerId, client());
          return send({ ...req(), path: `${req().path}?${flow.query}`, headers: { cookie: flow.cookie } });
        }]);
      }
      if (op.id === "signin") candidates.push(["password", () => send({ ...req(), body: { email: XA.user.email, password: PASSWORD } })]);
      // The authorization endpoint: the home user's sign-in cookie (a code: the user consented).
      if (op.id === "authorize" || op.id === "authorizeSubmit") candidates.push(["oauth sign-in cookie", () => send(req())]);
      if (op.id === "token") candidates.push(["oauth client secret", () => send(req())]);
      if (LINK_BODIES[op.id]) {
        const purpose = ({ verifyEmail: "verify", resetPassword: "reset", passwordlessConsume: "passwordless" } as const)[op.id as "verifyEmail"];
        const own = await emailedOne(w, owner.token, X.app, XA.base, email, fresh.body.session.access_token, purpose);
        candidates.push([`${op.id} link token`, () => send({ ...req(), body: LINK_BODIES[op.id](own.token) })]);
      }
      if (op.id === "billingWebhook") {
        candidates.push(["webhook signature", async () => {
          const r = req();
          const raw = JSON.stringify(r.body);
          return send({ ...r, body: raw, headers: { "webhook-signature": await signWebhook(X.webhookSecret, raw) } });
        }]);
      }
      let ok = false;
      for (const [kind, attempt] of candidates) {
        const res = await attempt();
        // The authorization endpoint answers a browser with a redirect carrying the code.
        // A sign-in at the pages' callback: back to the authorization request.
        const signedIn = op.id === "authorizeCallback" && res.status === 303;
        if ((res.status >= 200 && res.status < 300) || codeOf(res) !== null || signedIn) {
          ok = true;
          acceptedKinds.set(kind, (acceptedKinds.get(kind) ?? 0) + 1);
          if (op.id === "rotateWebhookSecret") X.webhookSecret = res.body.secret;
          break;
        }
      }
      if (!ok) notAccepted.push(op.id);
    }
    recordFigure("matrix.controls", Object.fromEntries(acceptedKinds));
    expect(notAccepted, "operations whose request is refused even at home: the matrix's request for them is wrong").toEqual([]);
  }, 600_000);

  it("refuses the OAuth management operations to an operator and an API key of the tenant without clients:*", async () => {
    const { X, XA, owner } = world;
    // An operator of the tenant whose role (support) holds no clients:*, and a key with other scopes.
    const email = `${unique("support")}@example.com`;
    const invited = await w.json("POST", `/admin/apps/${X.app}/members`, { email, membership_type: "member", roles: ["support"], tenant_id: XA.tenant }, bearer(owner.token));
    expect(invited.status, invited.text).toBe(201);
    const accepted = await w.json("POST", "/admin/invites/accept", { invite_token: invited.body.invite_token, password: PASSWORD });
    expect(accepted.status, accepted.text).toBe(200);
    const signedIn = await w.json("POST", "/admin/auth/signin", { email, password: PASSWORD });
    expect(signedIn.status, signedIn.text).toBe(200);
    const key = await w.json("POST", `/admin/apps/${X.app}/tenants/${XA.tenant}/api-keys`, { name: unique("key"), scopes: ["tenants:read", "tenants:write", "users:read", "introspect"] }, bearer(owner.token));
    expect(key.status, key.text).toBe(201);
    const managing = ops.filter(managesClients);
    expect(managing.length, "the document names the operations that need clients:*").toBeGreaterThanOrEqual(7);
    const tried: Attempt[] = [];
    for (const op of managing) {
      for (const [kind, token] of [["operator without clients:*", signedIn.body.access_token], ["api key without clients:*", key.body.key]]) {
        let place = placeOf({ label: "xa/ta", app: X, tenant: XA }, op, takesTenant(op, doc));
        if (op.id === "deleteClient" || op.id === "rotateClientSecret") place = { ...place, clientId: (await makeClient(w, owner.token, X.app, XA.tenant, CONFIDENTIAL_CLIENT(unique("spare")))).id };
        const req = build(doc, op, place);
        const res = await send({ ...req, headers: { ...req.headers, ...bearer(token) } });
        tried.push({ op: op.id, pair: "xa/ta → xa/ta", kind, placement: "bearer", status: res.status, accepted: res.status !== 403, text: res.text.slice(0, 300) });
      }
    }
    attempts.push(...tried);
    recordFigure("matrix.clientsPermission", { operations: managing.length, attempts: tried.length, accepted: tried.filter((a) => a.accepted).length });
    const through = tried.filter((a) => a.accepted);
    expect(through, `not refused with 403:\n${through.map((a) => `${a.op} ${a.kind} → ${a.status} ${a.text}`).join("\n")}`).toEqual([]);
  });

  it("leaves every source credential working at home", async () => {
    const { X, Y, XA, XB, YA } = world;
    for (const t of [XA, XB, YA]) {
      const me = await w.json("GET", `${t.base}/auth/me`, undefined, bearer(t.user.accessToken));
      expect(me.status, `${t.base} access token: ${me.text}`).toBe(200);
      const active = await w.json("POST", `${t.base}/oauth/introspect`, { token: t.user.accessToken }, bearer(t.apiKey));
      expect(active.body?.active, `${t.base} introspection`).toBe(true);
      const keys = await w.json("GET", `/admin/apps/${t.app}/tenants/${t.tenant}/api-keys`, undefined, bearer(t.apiKey));
      expect(keys.status, `${t.base} api key: ${keys.text}`).toBe(200);
      const tenant = await w.json("GET", `/admin/apps/${t.app}/tenants/${t.tenant}`, undefined, bearer(t.member.token));
      expect(tenant.status, `${t.base} member: ${tenant.text}`).toBe(200);
      const refreshed = await w.json("POST", `${t.base}/auth/refresh`, { refresh_token: t.user.refreshToken });
      expect(refreshed.status, `${t.base} refresh token: ${refreshed.text}`).toBe(200);
      const third = await w.json("GET", `${t.base}/auth/me`, undefined, bearer(t.thirdParty!.accessToken));
      expect(third.status, `${t.base} third-party access token: ${third.text}`).toBe(200);
      const thirdRefreshed = await w.json("POST", `${t.base}/auth/refresh`, { refresh_token: t.thirdParty!.refreshToken });
      expect(thirdRefreshed.status, `${t.base} third-party refresh token: ${thirdRefreshed.text}`).toBe(200);
      // The tenant's OAuth server: the grant's and the client's tokens, its clients, the sign-in cookie.
      for (const [what, token] of [["oauth access token", t.oauth.grant.accessToken], ["client_credentials token", t.oauth.clientToken]]) {
        const introspected = await w.json("POST", `${t.base}/oauth/introspect`, { token }, bearer(t.apiKey));
        expect(introspected.body?.active, `${t.base} ${what}: ${introspected.text}`).toBe(true);
      }
      const oauthRefreshed = await tokenRequest(w, t.base, { grant_type: "refresh_token", refresh_token: t.oauth.grant.refreshToken, client_id: t.oauth.publicClient });
      expect(oauthRefreshed.status, `${t.base} oauth refresh token: ${oauthRefreshed.text}`).toBe(200);
      expect(await clientToken(w, t.base, t.oauth.confidential.id, t.oauth.confidential.secret), `${t.base} client secret`).toBeTruthy();
      const { code, verifier } = await oauthCode(w, world.csrf, t.base, t.oauth.publicClient, t.oauth.signIn);
      const exchanged = await tokenRequest(w, t.base, codeExchange(t.oauth.publicClient, code, verifier));
      expect(exchanged.status, `${t.base} sign-in cookie and its code: ${exchanged.text}`).toBe(200);
    }
    for (const a of [X, Y]) {
      const members = await w.json("GET", `/admin/apps/${a.app}/members`, undefined, bearer(a.admin.token));
      expect(members.status, `${a.app} admin: ${members.text}`).toBe(200);
    }
    // The emailed credentials last (a password reset ends the user's sessions).
    for (const t of [XA, XB, YA]) {
      const verified = await w.json("POST", `${t.base}/auth/email-verification/verify`, { token: t.emailed.verify }, client());
      expect(verified.status, `${t.base} email-verification link: ${verified.text}`).toBe(200);
      const code = await w.json("POST", `${t.base}/auth/passwordless/consume`, t.emailed.passwordlessCode, client());
      expect(code.status, `${t.base} passwordless code: ${code.text}`).toBe(200);
      const reset = await w.json("POST", `${t.base}/auth/password-reset`, { token: t.emailed.reset, password: PASSWORD }, client());
      expect(reset.status, `${t.base} password-reset link: ${reset.text}`).toBe(200);
    }
  });

  it("lets no device token of the same email elsewhere through a locked-out account", async () => {
    // Anyone can sign up with a victim's email where sign-up is open, and so earn a device
    // token for that email there; at the victim's locked-out account it must count for nothing.
    const email = `${unique("victim")}@example.com`;
    const deviceOf = (res: JsonResponse) => /tessera_device=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")?.[1];
    const places = ["/apps/xa/tenants/ta", "/apps/xa/tenants/tb", "/apps/ya/tenants/ta"];
    const devices: Record<string, string> = {};
    for (const base of places) {
      const res = await w.json("POST", `${base}/auth/signup`, { email, password: PASSWORD }, { "cf-connecting-ip": "192.0.2.250" });
      expect(res.status, res.text).toBe(201);
      const device = deviceOf(res);
      expect(device, `${base}: a device cookie`).toBeTruthy();
      devices[base] = device!;
    }
    const victim = places[0];
    // Someone who knows only the email, from many addresses (as tests/e2e/hardening.spec.ts).
    // At one instant of the test clock: the lock-out's first blocks are short, and a loaded
    // machine can outlast one between the failures and the sign-ins (as hardening.spec.ts).
    const instant = { [CLOCK_HEADER]: String(Date.now()) };
    for (let n = 0; n < 110; n++) {
      await w.json("POST", `${victim}/auth/signin`, { email, password: "wrong horse battery" }, { "cf-connecting-ip": `198.51.100.${n}`, ...instant });
    }
    const signin = (device?: string) =>
      w.json("POST", `${victim}/auth/signin`, { email, password: PASSWORD }, {
        "cf-connecting-ip": "203.0.113.7",
        ...instant,
        ...(device ? { cookie: `tessera_device=${device}` } : {}),
      });
    const locked = await signin();
    expect(locked.status, `the account is locked out: ${locked.text}`).toBe(429);
    for (const base of places.slice(1)) {
      const res = await signin(devices[base]);
      attempts.push({ op: "signin", pair: `${base} → ${victim}`, kind: "device token", placement: "tessera_device cookie", status: res.status, accepted: res.status !== 429, text: res.text.slice(0, 300) });
      expect(res.status, `a device token of ${base} at ${victim}: ${res.text}`).toBe(429);
    }
    const own = await signin(devices[victim]);
    expect(own.status, `the control: the account's own device token lets it in: ${own.text}`).toBe(200);
    recordFigure("matrix.devices", { tried: places.length - 1, accepted: 0 });
  });

  it("lists to each credential only the apps it belongs to", async () => {
    const { X, Y, XA, YA } = world;
    for (const [label, token, app] of [
      ["app-wide admin of X", X.admin.token, X.app],
      ["app-wide admin of Y", Y.admin.token, Y.app],
      ["tenant member of X", XA.member.token, X.app],
      ["api key of Y", YA.apiKey, Y.app],
    ] as const) {
      const res = await w.json("GET", "/admin/apps", undefined, bearer(token));
      if (res.status !== 200) continue; // refusing to list is fine too
      const ids = res.body.items.map((a: any) => a.id);
      expect(ids, label).toEqual([app]);
    }
  });
});

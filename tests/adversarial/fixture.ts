// The adversarial suite's world: two apps, tenants of the same name in both, and in every
// tenant one credential of each kind, plus separate "target" resources (users, members, keys)
// that requests act on — so that a request never suspends, deletes or signs out the very
// credential the next request presents.
//
//   app X (`xa`): tenants `ta`, `tb` (and `public`)
//   app Y (`ya`): tenant `ta` (the same id as X's, so that only the app tells them apart)
//
// Both apps deliver email to their outbox (read back through `GET …/outbox`), and `ta`/`tb`
// allow passwordless sign-in, so every tenant also holds the emailed credentials: a password
// reset link, an email-verification link, and a passwordless link and code. Every tenant also
// allows third-party sign-in, returning to THIRDPARTY_REDIRECT, with a GitHub-shaped provider
// `gh` (PROVIDER_BODY: configuring one fetches nothing); each app has a finished deletion (of a
// spare tenant) whose progress `GET …/deletions/{id}` reads.
//
// Every tenant is also an OAuth authorization server (OAUTH_SETTINGS) with a public client and
// a confidential one (every grant, client_secret_basic); its `user` has signed in at the
// authorization pages (the sign-in cookie), consented to the public client once (so that an
// authorization request of it goes straight back with a code: `oauthCode`), and holds a grant
// of it; the confidential client holds a client_credentials token.
//
// Used by the schemathesis run (which reads it as JSON), the tenant matrix, the fault sweep and
// the races. Everything is made through the HTTP API, as a client would.
import { createHash, randomBytes } from "node:crypto";
import { ISSUER_ORIGIN, ROOT_TOKEN, type JsonResponse, type TestWorker } from "../e2e/harness";
import { browse, type Github } from "../e2e/idp";

export const PASSWORD = "correct horse battery";

/** The credentials and targets of one tenant. */
export interface TenantWorld {
  app: string;
  tenant: string;
  /** `/apps/{app}/tenants/{tenant}` */
  base: string;
  /** An end user of the tenant and its session (the credential). */
  user: { id: string; email: string; accessToken: string; refreshToken: string; sessionId: string };
  /** Another end user, that requests may suspend, re-plan, sign out… (never a credential). */
  target: { id: string; email: string };
  /** An API key of the tenant with every scope. */
  apiKey: string;
  /** A second API key, that requests may delete. */
  targetKeyId: string;
  /** An operator whose only membership is `admin` of this tenant. */
  member: { id: string; email: string; token: string };
  /** A pending invitation to this tenant (`admin`). */
  inviteToken: string;
  /** Unused emailed credentials of `user` (single-use: what consumes one must fetch another). */
  emailed: Emailed;
  /** The tenant's third-party provider (`gh`, of PROVIDER_BODY). */
  providerId: string;
  /**
   * The session of a user signed in through the provider (when the world was built with a
   * GitHub-shaped server to sign in at: `buildWorld(w, github)`).
   */
  thirdParty?: { accessToken: string; refreshToken: string; sessionId: string };
  /** The tenant's OAuth authorization server: its clients and what `user` holds there. */
  oauth: OAuthWorld;
}

/** A tenant's OAuth clients, and the OAuth credentials of its `user` and clients. */
export interface OAuthWorld {
  /** A public client (authorization_code and refresh_token), returning to OAUTH_REDIRECT. */
  publicClient: string;
  /** A confidential client with every grant, authenticating with client_secret_basic. */
  confidential: { id: string; secret: string };
  /**
   * The sign-in cookie (`tessera_oauth_session`, 15 minutes) of `user` at the tenant's
   * authorization pages. `user` consented to the public client for every OAUTH_SCOPES.
   */
  signIn: string;
  /** A grant of the public client to `user`: its access and refresh tokens. */
  grant: { accessToken: string; refreshToken: string };
  /** A client_credentials access token of the confidential client. */
  clientToken: string;
}

/** The emailed credentials of one user of one tenant, each unused. */
export interface Emailed {
  /** The token of a password-reset link. */
  reset: string;
  /** The token of an email-verification link. */
  verify: string;
  /** The token of a passwordless sign-in link. */
  passwordlessLink: string;
  /** A passwordless attempt and its code (the same attempt as the link). */
  passwordlessCode: { attempt_id: string; code: string };
}

/** The credentials and targets of one app. */
export interface AppWorld {
  app: string;
  /** An operator whose only membership is app-wide `admin` of this app. */
  admin: { id: string; email: string; token: string };
  /** An app-wide member that requests may patch (never a credential). */
  targetMemberId: string;
  /** A pending app-wide invitation (`admin`). */
  inviteToken: string;
  /** The billing webhook secret. */
  webhookSecret: string;
  /** An end-user role and a plan that exist. */
  role: string;
  plan: string;
  /** A user of the app's `public` tenant only: what `associate` brings into another tenant. */
  outsiderId: string;
  /** A finished deletion of the app (of a spare tenant). */
  deletionId: string;
}

export interface World {
  owner: { email: string; token: string };
  X: AppWorld;
  Y: AppWorld;
  /** Tenant `ta` of app X. */
  XA: TenantWorld;
  /** Tenant `tb` of app X. */
  XB: TenantWorld;
  /** Tenant `ta` of app Y. */
  YA: TenantWorld;
  /** A CSRF cookie of the authorization pages and its forms' token at each tenant (a MAC of
   * the cookie bound to the tenant). */
  csrf: Csrf;
}

/** The authorization pages' CSRF cookie (`tessera_oauth_csrf`) and the token its forms carry
 * at each tenant's pages (by the tenant's base path): the token is bound to the tenant. */
export interface Csrf {
  cookie: string;
  tokens: Record<string, string>;
}

/** The CSRF token of `csrf`'s cookie at the pages of `base` (read from a page there before). */
export function tokenAt(csrf: Csrf, base: string): string {
  const token = csrf.tokens[base];
  if (!token) throw new Error(`fixture: no CSRF token read at ${base}'s pages yet`);
  return token;
}

/** Where a tenant's emailed links point (any https page will do: the token is what matters). */
export const LINK_BASE = "https://app.example/auth";

/** Where a tenant's third-party flows return to. */
export const THIRDPARTY_REDIRECT = "https://app.example/callback";

/**
 * The settings of the world's tenants: passwords, passwordless (links to LINK_BASE) and
 * third-party sign-in (back to THIRDPARTY_REDIRECT).
 */
export const TENANT_SETTINGS = {
  login_methods: ["emailpassword", "passwordless", "thirdparty"],
  link_base_url: LINK_BASE,
  redirect_uris: [THIRDPARTY_REDIRECT],
};

/** The OAuth settings of the world's tenants: two scopes, access tokens of 10 minutes. */
export const OAUTH_SETTINGS = {
  registration: "off",
  client_id_metadata_documents: false,
  scopes: { "docs:read": "Read your documents", "docs:write": "Change your documents" },
  access_token_ttl_seconds: 600,
};
export const OAUTH_SCOPES = Object.keys(OAUTH_SETTINGS.scopes);

/** Where the world's OAuth clients return to (a native app's loopback redirect, RFC 8252). */
export const OAUTH_REDIRECT = "http://127.0.0.1:33418/callback";

/** A confidential client of the world's shape (what `POST …/clients` takes). */
export const CONFIDENTIAL_CLIENT = (name = "confidential") => ({
  name,
  type: "confidential",
  redirect_uris: [OAUTH_REDIRECT],
  grant_types: ["authorization_code", "refresh_token", "client_credentials"],
  scopes: OAUTH_SCOPES,
});

/** A public client of the world's shape. */
export const PUBLIC_CLIENT = (name = "public") => ({ name, type: "public", redirect_uris: [OAUTH_REDIRECT], scopes: OAUTH_SCOPES });

/**
 * A GitHub-shaped provider at `url` (GitHub Enterprise Server's layout: its endpoints follow
 * from the URL, so configuring it fetches nothing; the fault sweep points it at
 * tests/e2e/idp.ts's `startGithub()`).
 */
export const PROVIDER_BODY = (url = "https://github.example") => ({
  kind: "github",
  enterprise_url: url,
  client_id: "tessera",
  client_secret: "tessera-client-secret-for-tests",
});

let counter = 0;
const fresh = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}@example.com`;

async function must(w: TestWorker, what: string, method: string, path: string, body: unknown, auth?: string, expected = [200, 201]) {
  const res = await w.json(method, path, body, auth ? { authorization: `Bearer ${auth}` } : {});
  if (!expected.includes(res.status)) throw new Error(`fixture: ${what}: ${res.status} ${res.text}`);
  return res.body;
}

async function operator(w: TestWorker, owner: string, app: string, tenant: string | null) {
  const email = fresh(tenant ? `op-${app}-${tenant}` : `admin-${app}`);
  const invited = await must(w, `invite ${email}`, "POST", `/admin/apps/${app}/members`,
    { email, membership_type: "admin", roles: ["admin"], tenant_id: tenant }, owner);
  await must(w, `accept ${email}`, "POST", "/admin/invites/accept", { invite_token: invited.invite_token, password: PASSWORD });
  const signin = await must(w, `sign in ${email}`, "POST", "/admin/auth/signin", { email, password: PASSWORD });
  return { id: invited.member.id as string, email, token: signin.access_token as string };
}

async function invite(w: TestWorker, owner: string, app: string, tenant: string | null): Promise<string> {
  const email = fresh(`invitee-${app}-${tenant ?? "app"}`);
  const invited = await must(w, `invite ${email}`, "POST", `/admin/apps/${app}/members`,
    { email, membership_type: "member", roles: ["admin"], tenant_id: tenant }, owner);
  return invited.invite_token;
}

/** The newest outbox message of `app` to `to` of `type` not in `seen`, once the queue has delivered it. */
export async function lastMessage(w: TestWorker, owner: string, app: string, to: string, type: string, seen = new Set<string>(), headers: Record<string, string> = {}): Promise<any> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await w.json("GET", `/admin/apps/${app}/outbox?to=${encodeURIComponent(to)}`, undefined, { ...headers, authorization: `Bearer ${owner}` });
    if (res.status !== 200) throw new Error(`fixture: outbox of ${app}: ${res.status} ${res.text}`);
    const found = res.body.items.find((m: any) => m.type === type && !seen.has(m.id));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`fixture: no ${type} message to ${to} in the outbox of ${app}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const linkToken = (message: any) => new URL(message.link).searchParams.get("token")!;

/** Which emailed credential to ask for. */
export type Purpose = "reset" | "verify" | "passwordless";

/**
 * A fresh emailed credential of the user `email` (signed in as `accessToken`) at `base` of
 * `app`: asked for through the API and read back from the app's outbox. `headers` go with
 * every request (the fault sweep's clock).
 */
export async function emailedOne(w: TestWorker, owner: string, app: string, base: string, email: string, accessToken: string, purpose: Purpose, headers: Record<string, string> = {}) {
  const outbox = await w.json("GET", `/admin/apps/${app}/outbox?to=${encodeURIComponent(email)}`, undefined, { ...headers, authorization: `Bearer ${owner}` });
  const seen = new Set<string>((outbox.body?.items ?? []).map((m: any) => m.id));
  const post = async (what: string, path: string, body: unknown, auth?: string) => {
    const res = await w.json("POST", `${base}${path}`, body, { ...headers, ...(auth ? { authorization: `Bearer ${auth}` } : {}) });
    if (res.status !== 200 && res.status !== 202) throw new Error(`fixture: ${what} for ${email}: ${res.status} ${res.text}`);
    return res.body;
  };
  switch (purpose) {
    case "reset":
      await post("password reset", "/auth/password-reset/send", { email });
      return { token: linkToken(await lastMessage(w, owner, app, email, "password_reset", seen, headers)) };
    case "verify":
      await post("email verification", "/auth/email-verification/send", undefined, accessToken);
      return { token: linkToken(await lastMessage(w, owner, app, email, "email_verification", seen, headers)) };
    case "passwordless": {
      // One attempt, whose message carries both its link and its code.
      const started = await post("passwordless start", "/auth/passwordless/start", { email });
      const message = await lastMessage(w, owner, app, email, "passwordless", seen, headers);
      return { token: linkToken(message), code: { attempt_id: started.attempt_id as string, code: message.code as string } };
    }
  }
}

/** Every emailed credential of a user (see `emailedOne`). */
export async function emailed(w: TestWorker, owner: string, app: string, base: string, email: string, accessToken: string): Promise<Emailed> {
  const one = (purpose: Purpose) => emailedOne(w, owner, app, base, email, accessToken, purpose);
  const reset = await one("reset");
  const verify = await one("verify");
  const passwordless = await one("passwordless");
  return { reset: reset.token, verify: verify.token, passwordlessLink: passwordless.token, passwordlessCode: passwordless.code! };
}

let githubUsers = 0;

/**
 * A third-party flow at `base`'s provider, started and come back from `github` as a GitHub user
 * of its own: the code and state its callback takes.
 */
export async function thirdPartyFlow(w: TestWorker, github: Github, base: string, provider: string, headers: Record<string, string> = {}) {
  const res = await w.json("POST", `${base}/auth/thirdparty/${provider}/start`, { redirect_uri: THIRDPARTY_REDIRECT }, headers);
  if (res.status !== 200) throw new Error(`fixture: third-party start at ${base}: ${res.status} ${res.text}`);
  const id = 1_000_000 + ++githubUsers;
  github.users.set(id, { id, login: `gh-${id}`, emails: [{ email: `gh-${id}@example.com`, primary: true, verified: true }] });
  github.loginAs(id);
  const back = await browse(res.body.authorization_url);
  return { code: back.code, state: back.state };
}

/**
 * `w.json` without following redirects: the authorization endpoint answers 302/303, and a
 * followed redirect would leave for the client's redirect URI.
 */
export async function manual(w: TestWorker, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const h: Record<string, string> = { accept: "application/json", ...headers };
  const init: RequestInit = { method, headers: h, redirect: "manual" };
  if (body !== undefined) {
    if (!Object.keys(h).some((k) => k.toLowerCase() === "content-type")) h["content-type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const res = await w.fetch(p, init);
  const text = await res.text();
  let parsed: any = null;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** An application/x-www-form-urlencoded body and its content type. */
export const FORM = { "content-type": "application/x-www-form-urlencoded" };
export const formOf = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

/** client_secret_basic: the client id and secret, each form-encoded first (RFC 6749 §2.3.1). */
export const basic = (id: string, secret: string) =>
  ({ authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}` });

/** A PKCE verifier and its S256 challenge. */
export function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/** An authorization request (its query string) of `client`, bound to the PKCE `challenge`. */
export function authorizationRequest(client: string, challenge: string, scope = OAUTH_SCOPES.join(" ")): string {
  return formOf({ response_type: "code", client_id: client, redirect_uri: OAUTH_REDIRECT, code_challenge: challenge, code_challenge_method: "S256", state: "adversarial", scope });
}

/** The Cookie header of a browser at the authorization pages. */
export const pageCookies = (csrf: Csrf, signIn?: string) =>
  ({ cookie: [`tessera_oauth_csrf=${csrf.cookie}`, ...(signIn ? [`tessera_oauth_session=${signIn}`] : [])].join("; ") });

const setCookie = (res: JsonResponse, name: string) =>
  res.headers.getSetCookie().map((line) => line.split(";")[0]).find((pair) => pair.startsWith(`${name}=`))?.slice(name.length + 1);

/** A CSRF cookie and its token, as the sign-in page of an authorization request hands them out. */
export async function csrfPair(w: TestWorker, base: string, request: string, headers: Record<string, string> = {}): Promise<Csrf> {
  const res = await manual(w, "GET", `${base}/oauth/authorize?${request}`, undefined, headers);
  const cookie = setCookie(res, "tessera_oauth_csrf");
  const token = /name="csrf" value="([^"]*)"/.exec(res.text)?.[1];
  if (res.status !== 200 || !cookie || !token) throw new Error(`fixture: the sign-in page at ${base}: ${res.status} ${res.text.slice(0, 300)}`);
  return { cookie, tokens: { [base]: token } };
}

/** Reads `csrf`'s token at `base`'s pages (from the sign-in page of `request`) unless known. */
export async function csrfAt(w: TestWorker, csrf: Csrf, base: string, request: string, headers: Record<string, string> = {}) {
  if (csrf.tokens[base]) return;
  const res = await manual(w, "GET", `${base}/oauth/authorize?${request}`, undefined, { ...headers, ...pageCookies(csrf) });
  const token = /name="csrf" value="([^"]*)"/.exec(res.text)?.[1];
  if (res.status !== 200 || !token) throw new Error(`fixture: the sign-in page at ${base}: ${res.status} ${res.text.slice(0, 300)}`);
  csrf.tokens[base] = token;
}

/** Signs `email` in at `base`'s authorization pages: the sign-in cookie. */
export async function pageSignIn(w: TestWorker, csrf: Csrf, base: string, request: string, email: string, headers: Record<string, string> = {}): Promise<string> {
  await csrfAt(w, csrf, base, request, headers);
  const res = await manual(w, "POST", `${base}/oauth/authorize`, formOf({ csrf: tokenAt(csrf, base), request, step: "signin", email, password: PASSWORD }), { ...headers, ...FORM, ...pageCookies(csrf) });
  const signIn = setCookie(res, "tessera_oauth_session");
  if (res.status !== 303 || !signIn) throw new Error(`fixture: signing in ${email} at ${base}'s pages: ${res.status} ${res.text.slice(0, 300)}`);
  return signIn;
}

/**
 * A third-party sign-in of `base`'s authorization pages with the tenant's `provider`, come back
 * from `github` as a GitHub user of its own: the query of its callback and the browser's
 * cookies (the pages' CSRF cookie and the flow's).
 */
export async function pagesThirdPartyFlow(w: TestWorker, github: Github, csrf: Csrf, base: string, request: string, provider: string, headers: Record<string, string> = {}) {
  await csrfAt(w, csrf, base, request, headers);
  const res = await manual(w, "POST", `${base}/oauth/authorize`, formOf({ csrf: tokenAt(csrf, base), request, step: "thirdparty", provider }), { ...headers, ...FORM, ...pageCookies(csrf) });
  const flow = setCookie(res, "tessera_oauth_flow");
  const location = res.headers.get("location");
  if (res.status !== 303 || !flow || !location) throw new Error(`fixture: third-party sign-in at ${base}'s pages: ${res.status} ${res.text.slice(0, 300)}`);
  const id = 1_000_000 + ++githubUsers;
  github.users.set(id, { id, login: `gh-${id}`, emails: [{ email: `gh-${id}@example.com`, primary: true, verified: true }] });
  github.loginAs(id);
  const back = await browse(location, `${ISSUER_ORIGIN}${base}/oauth/callback`);
  return {
    query: new URLSearchParams({ code: back.code, state: back.state }).toString(),
    cookie: `${pageCookies(csrf).cookie}; tessera_oauth_flow=${flow}`,
  };
}

/** The code of a redirect back to the client (null: none). */
export const codeOf = (res: JsonResponse) => {
  const location = res.headers.get("location");
  return res.status === 302 && location ? new URL(location).searchParams.get("code") : null;
};

/**
 * A fresh authorization code of `client` for the user signed in as `signIn` at `base`: the
 * authorization request goes straight back with one where the user consented before, and
 * through the consent page (approved) otherwise. With its PKCE verifier.
 */
export async function oauthCode(w: TestWorker, csrf: Csrf, base: string, client: string, signIn: string, headers: Record<string, string> = {}) {
  const { verifier, challenge } = pkce();
  const request = authorizationRequest(client, challenge);
  let res = await manual(w, "GET", `${base}/oauth/authorize?${request}`, undefined, { ...headers, ...pageCookies(csrf, signIn) });
  if (res.status === 200) {
    res = await manual(w, "POST", `${base}/oauth/authorize`, formOf({ csrf: tokenAt(csrf, base), request, step: "consent", decision: "approve" }), { ...headers, ...FORM, ...pageCookies(csrf, signIn) });
  }
  const code = codeOf(res);
  if (!code) throw new Error(`fixture: no code of ${client} at ${base}: ${res.status} ${res.headers.get("location")} ${res.text.slice(0, 300)}`);
  return { code, verifier };
}

/** The token endpoint's form of a public client's code exchange. */
export const codeExchange = (client: string, code: string, verifier: string) =>
  ({ grant_type: "authorization_code", client_id: client, code, code_verifier: verifier, redirect_uri: OAUTH_REDIRECT });

/** A POST to `base`'s token endpoint. */
export const tokenRequest = (w: TestWorker, base: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  manual(w, "POST", `${base}/oauth/token`, formOf(fields), { ...headers, ...FORM });

/** A whole grant of the public `client` to the user signed in as `signIn`: its tokens. */
export async function oauthGrant(w: TestWorker, csrf: Csrf, base: string, client: string, signIn: string, headers: Record<string, string> = {}) {
  const { code, verifier } = await oauthCode(w, csrf, base, client, signIn, headers);
  const res = await tokenRequest(w, base, codeExchange(client, code, verifier), headers);
  if (res.status !== 200) throw new Error(`fixture: exchanging a code of ${client} at ${base}: ${res.status} ${res.text}`);
  return { accessToken: res.body.access_token as string, refreshToken: res.body.refresh_token as string };
}

/** A client_credentials access token of the confidential client `id`. */
export async function clientToken(w: TestWorker, base: string, id: string, secret: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await tokenRequest(w, base, { grant_type: "client_credentials" }, { ...headers, ...basic(id, secret) });
  if (res.status !== 200) throw new Error(`fixture: client_credentials of ${id} at ${base}: ${res.status} ${res.text}`);
  return res.body.access_token;
}

/** Makes an OAuth client at `app`/`tenant` as `owner`: its id and secret (null: public). */
export async function makeClient(w: TestWorker, owner: string, app: string, tenant: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await w.json("POST", `/admin/apps/${app}/tenants/${tenant}/clients`, body, { ...headers, authorization: `Bearer ${owner}` });
  if (res.status !== 201) throw new Error(`fixture: client at ${app}/${tenant}: ${res.status} ${res.text}`);
  return { id: res.body.client.client_id as string, secret: res.body.client_secret as string };
}

async function oauthWorld(w: TestWorker, owner: string, app: string, tenant: string, base: string, email: string, csrf: Csrf): Promise<OAuthWorld> {
  await must(w, `oauth settings of ${app}/${tenant}`, "PUT", `/admin/apps/${app}/tenants/${tenant}/oauth`, OAUTH_SETTINGS, owner);
  const publicClient = (await makeClient(w, owner, app, tenant, PUBLIC_CLIENT())).id;
  const confidential = await makeClient(w, owner, app, tenant, CONFIDENTIAL_CLIENT());
  const signIn = await pageSignIn(w, csrf, base, authorizationRequest(publicClient, pkce().challenge), email);
  return {
    publicClient,
    confidential,
    signIn,
    grant: await oauthGrant(w, csrf, base, publicClient, signIn),
    clientToken: await clientToken(w, base, confidential.id, confidential.secret),
  };
}

async function tenantWorld(w: TestWorker, owner: string, app: string, tenant: string, csrf: Csrf, github?: Github): Promise<TenantWorld> {
  const base = `/apps/${app}/tenants/${tenant}`;
  const email = fresh(`user-${app}-${tenant}`);
  const signup = await must(w, `sign up ${email}`, "POST", `${base}/auth/signup`, { email, password: PASSWORD });
  const targetEmail = fresh(`target-${app}-${tenant}`);
  const target = await must(w, `sign up ${targetEmail}`, "POST", `${base}/auth/signup`, { email: targetEmail, password: PASSWORD });
  const scopes = ["tenants:read", "tenants:write", "members:read", "members:write", "users:read", "users:suspend",
    "users:plan", "users:write", "roles:write", "apikeys:write", "webhooks:write", "audit:read", "clients:read", "clients:write", "introspect"];
  const key = await must(w, "api key", "POST", `/admin/apps/${app}/tenants/${tenant}/api-keys`, { name: "fixture", scopes }, owner);
  const targetKey = await must(w, "target key", "POST", `/admin/apps/${app}/tenants/${tenant}/api-keys`, { name: "target", scopes: ["introspect"] }, owner);
  return {
    app,
    tenant,
    base,
    user: {
      id: signup.user.id,
      email,
      accessToken: signup.session.access_token,
      refreshToken: signup.session.refresh_token,
      sessionId: signup.session.session_id,
    },
    target: { id: target.user.id, email: targetEmail },
    apiKey: key.key,
    targetKeyId: targetKey.id,
    member: await operator(w, owner, app, tenant),
    inviteToken: await invite(w, owner, app, tenant),
    emailed: await emailed(w, owner, app, base, email, signup.session.access_token),
    providerId: (await must(w, "provider", "PUT", `/admin/apps/${app}/tenants/${tenant}/providers/gh`, PROVIDER_BODY(github?.url), owner)).provider.id,
    thirdParty: github ? await thirdPartySession(w, github, base) : undefined,
    oauth: await oauthWorld(w, owner, app, tenant, base, email, csrf),
  };
}

async function thirdPartySession(w: TestWorker, github: Github, base: string) {
  const flow = await thirdPartyFlow(w, github, base, "gh");
  const signedIn = await must(w, `third-party sign-in at ${base}`, "POST", `${base}/auth/thirdparty/gh/callback`, flow);
  return { accessToken: signedIn.session.access_token, refreshToken: signedIn.session.refresh_token, sessionId: signedIn.session.session_id };
}

/** The id of the newest deletion of `app` (a DELETE that finishes at once answers 204, without it). */
export async function newestDeletion(w: TestWorker, app: string): Promise<string> {
  const row: any = await (await w.db()).prepare("SELECT id FROM deletions WHERE app_id = ?1 ORDER BY id DESC LIMIT 1").bind(app).first();
  if (!row) throw new Error(`fixture: no deletion of ${app}`);
  return row.id;
}

async function appWorld(w: TestWorker, owner: string, app: string): Promise<AppWorld> {
  await must(w, `app ${app}`, "POST", "/admin/apps", { id: app }, owner, [201, 409]);
  await must(w, `email delivery of ${app}`, "PUT", `/admin/apps/${app}/email-delivery`, { kind: "outbox" }, owner);
  await must(w, "role", "PUT", `/admin/apps/${app}/roles/editor`, { permissions: ["docs:read", "docs:write"] }, owner);
  await must(w, "plan", "PUT", `/admin/apps/${app}/plans/pro`, { roles: ["editor"], rate_limit: 600 }, owner);
  const secret = await must(w, "webhook secret", "POST", `/admin/apps/${app}/webhook-secret`, undefined, owner);
  const target = await operator(w, owner, app, null);
  const outsiderEmail = fresh(`outsider-${app}`);
  const outsider = await must(w, `sign up ${outsiderEmail}`, "POST", `/apps/${app}/tenants/public/auth/signup`, { email: outsiderEmail, password: PASSWORD });
  await must(w, "spare tenant", "PUT", `/admin/apps/${app}/tenants/spare`, { login_methods: ["emailpassword"] }, owner);
  await must(w, "deletion of the spare tenant", "DELETE", `/admin/apps/${app}/tenants/spare`, undefined, owner, [202, 204]);
  return {
    app,
    admin: await operator(w, owner, app, null),
    targetMemberId: target.id,
    inviteToken: await invite(w, owner, app, null),
    webhookSecret: secret.secret,
    role: "editor",
    plan: "pro",
    outsiderId: outsider.user.id,
    deletionId: await newestDeletion(w, app),
  };
}

/**
 * Bootstraps the platform owner and builds the world through the API. With `github` (a
 * GitHub-shaped server, tests/e2e/idp.ts), the tenants' providers point at it and each tenant
 * holds a third-party session too.
 */
export async function buildWorld(w: TestWorker, github?: Github): Promise<World> {
  const owner = { email: "owner@example.com", token: "" };
  await must(w, "bootstrap", "POST", "/admin/bootstrap", { email: owner.email, password: PASSWORD }, ROOT_TOKEN, [201, 409]);
  owner.token = (await must(w, "owner sign-in", "POST", "/admin/auth/signin", { email: owner.email, password: PASSWORD })).access_token;
  // Operators' emails (password resets) go through the public app's delivery.
  await must(w, "email delivery of public", "PUT", "/admin/apps/public/email-delivery", { kind: "outbox" }, owner.token);
  const X = await appWorld(w, owner.token, "xa");
  const Y = await appWorld(w, owner.token, "ya");
  for (const [app, tenant] of [["xa", "ta"], ["xa", "tb"], ["ya", "ta"]]) {
    await must(w, `tenant ${app}/${tenant}`, "PUT", `/admin/apps/${app}/tenants/${tenant}`, TENANT_SETTINGS, owner.token);
  }
  // One CSRF cookie for every tenant's pages (its token, a MAC bound to the tenant, is read at
  // each tenant's sign-in page as the fixture first signs someone in there).
  await must(w, "oauth settings of xa/ta", "PUT", "/admin/apps/xa/tenants/ta/oauth", OAUTH_SETTINGS, owner.token);
  const first = await makeClient(w, owner.token, "xa", "ta", PUBLIC_CLIENT("csrf"));
  const csrf = await csrfPair(w, "/apps/xa/tenants/ta", authorizationRequest(first.id, pkce().challenge));
  return {
    owner,
    X,
    Y,
    XA: await tenantWorld(w, owner.token, "xa", "ta", csrf, github),
    XB: await tenantWorld(w, owner.token, "xa", "tb", csrf, github),
    YA: await tenantWorld(w, owner.token, "ya", "ta", csrf, github),
    csrf,
  };
}

/** `t=<now>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as the billing provider signs. */
export async function signWebhook(secret: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  const { createHmac } = await import("node:crypto");
  const mac = createHmac("sha256", secret).update(`${nowSeconds}.${body}`).digest("hex");
  return `t=${nowSeconds},v1=${mac}`;
}

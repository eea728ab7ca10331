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
// Used by the schemathesis run (which reads it as JSON), the tenant matrix, the fault sweep and
// the races. Everything is made through the HTTP API, as a client would.
import { ROOT_TOKEN, type TestWorker } from "../e2e/harness";
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

async function tenantWorld(w: TestWorker, owner: string, app: string, tenant: string, github?: Github): Promise<TenantWorld> {
  const base = `/apps/${app}/tenants/${tenant}`;
  const email = fresh(`user-${app}-${tenant}`);
  const signup = await must(w, `sign up ${email}`, "POST", `${base}/auth/signup`, { email, password: PASSWORD });
  const targetEmail = fresh(`target-${app}-${tenant}`);
  const target = await must(w, `sign up ${targetEmail}`, "POST", `${base}/auth/signup`, { email: targetEmail, password: PASSWORD });
  const scopes = ["tenants:read", "tenants:write", "members:read", "members:write", "users:read", "users:suspend",
    "users:plan", "users:write", "roles:write", "apikeys:write", "webhooks:write", "audit:read", "introspect"];
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
  return {
    owner,
    X,
    Y,
    XA: await tenantWorld(w, owner.token, "xa", "ta", github),
    XB: await tenantWorld(w, owner.token, "xa", "tb", github),
    YA: await tenantWorld(w, owner.token, "ya", "ta", github),
  };
}

/** `t=<now>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as the billing provider signs. */
export async function signWebhook(secret: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  const { createHmac } = await import("node:crypto");
  const mac = createHmac("sha256", secret).update(`${nowSeconds}.${body}`).digest("hex");
  return `t=${nowSeconds},v1=${mac}`;
}

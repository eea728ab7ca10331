// The adversarial suite's world: two apps, tenants of the same name in both, and in every
// tenant one credential of each kind, plus separate "target" resources (users, members, keys)
// that requests act on — so that a request never suspends, deletes or signs out the very
// credential the next request presents.
//
//   app X (`xa`): tenants `ta`, `tb` (and `public`)
//   app Y (`ya`): tenant `ta` (the same id as X's, so that only the app tells them apart)
//
// Used by the schemathesis run (which reads it as JSON), the tenant matrix, the fault sweep and
// the races. Everything is made through the HTTP API, as a client would.
import { ROOT_TOKEN, type TestWorker } from "../e2e/harness";

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

async function tenantWorld(w: TestWorker, owner: string, app: string, tenant: string): Promise<TenantWorld> {
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
  };
}

async function appWorld(w: TestWorker, owner: string, app: string): Promise<AppWorld> {
  await must(w, `app ${app}`, "POST", "/admin/apps", { id: app }, owner, [201, 409]);
  await must(w, "role", "PUT", `/admin/apps/${app}/roles/editor`, { permissions: ["docs:read", "docs:write"] }, owner);
  await must(w, "plan", "PUT", `/admin/apps/${app}/plans/pro`, { roles: ["editor"], rate_limit: 600 }, owner);
  const secret = await must(w, "webhook secret", "POST", `/admin/apps/${app}/webhook-secret`, undefined, owner);
  const target = await operator(w, owner, app, null);
  const outsiderEmail = fresh(`outsider-${app}`);
  const outsider = await must(w, `sign up ${outsiderEmail}`, "POST", `/apps/${app}/tenants/public/auth/signup`, { email: outsiderEmail, password: PASSWORD });
  return {
    app,
    admin: await operator(w, owner, app, null),
    targetMemberId: target.id,
    inviteToken: await invite(w, owner, app, null),
    webhookSecret: secret.secret,
    role: "editor",
    plan: "pro",
    outsiderId: outsider.user.id,
  };
}

/** Bootstraps the platform owner and builds the world through the API. */
export async function buildWorld(w: TestWorker): Promise<World> {
  const owner = { email: "owner@example.com", token: "" };
  await must(w, "bootstrap", "POST", "/admin/bootstrap", { email: owner.email, password: PASSWORD }, ROOT_TOKEN, [201, 409]);
  owner.token = (await must(w, "owner sign-in", "POST", "/admin/auth/signin", { email: owner.email, password: PASSWORD })).access_token;
  const X = await appWorld(w, owner.token, "xa");
  const Y = await appWorld(w, owner.token, "ya");
  for (const [app, tenant] of [["xa", "ta"], ["xa", "tb"], ["ya", "ta"]]) {
    await must(w, `tenant ${app}/${tenant}`, "PUT", `/admin/apps/${app}/tenants/${tenant}`, { login_methods: ["emailpassword"] }, owner.token);
  }
  return {
    owner,
    X,
    Y,
    XA: await tenantWorld(w, owner.token, "xa", "ta"),
    XB: await tenantWorld(w, owner.token, "xa", "tb"),
    YA: await tenantWorld(w, owner.token, "ya", "ta"),
  };
}

/** `t=<now>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as the billing provider signs. */
export async function signWebhook(secret: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  const { createHmac } = await import("node:crypto");
  const mac = createHmac("sha256", secret).update(`${nowSeconds}.${body}`).digest("hex");
  return `t=${nowSeconds},v1=${mac}`;
}

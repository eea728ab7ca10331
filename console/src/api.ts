// The console's only way out: `/admin` on this origin (the CSP allows nothing else). The
// operator token lives in this module's memory and nowhere else — not in localStorage,
// sessionStorage or a cookie — so a reload signs out and no other page can read it. The
// device cookie that `/admin/auth/signin` sets is HttpOnly; the browser sends it by itself.

import type { Me } from "./access";
import { ApiError, networkProblem, problemOf } from "./problem";
import { queryString } from "./paging";

let token: string | null = null;
const signedOutListeners = new Set<(reason: string) => void>();

/** Keeps the operator token for the calls that follow (memory only). */
export function setToken(value: string): void {
  token = value;
}

/** Forgets the token (sign-out). */
export function clearToken(): void {
  token = null;
}

export function hasToken(): boolean {
  return token !== null;
}

/** Called when the API stops accepting the token (expired, or the membership ended). */
export function onSignedOut(listener: (reason: string) => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

type Query = Record<string, string | number | null | undefined>;

/** One call. Answers the parsed JSON (undefined for 204); throws ApiError with the problem. */
export async function call<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const sentToken = token;
  if (sentToken) headers.Authorization = `Bearer ${sentToken}`;
  const init: RequestInit = { method, headers, credentials: "same-origin", cache: "no-store", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(path + (query ? queryString(query) : ""), init);
  } catch {
    throw new ApiError(networkProblem());
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const problem = problemOf(response.status, parsed, response.headers.get("Retry-After"));
    // The token we sent is no longer good: the session is over, whatever page asked.
    if (response.status === 401 && sentToken && sentToken === token) {
      token = null;
      for (const listener of signedOutListeners) listener(problem.detail);
    }
    throw new ApiError(problem);
  }
  if (parsed === null) throw new ApiError({ status: response.status, code: "bad_response", detail: "The server's answer was not JSON." });
  return parsed as T;
}

/** One path segment of an API URL: never empty, `.` or `..`, which fetch would resolve into
 * another path (ids come from the location hash, which anyone's link may set). */
export function seg(value: string): string {
  if (value === "" || value === "." || value === "..") throw new Error(`not an id: "${value}"`);
  return encodeURIComponent(value);
}

// ---------------------------------------------------------------- bodies (API.md, openapi.json)

export interface PageOf<T> {
  items: T[];
  next_cursor: string | null;
}

export interface App {
  id: string;
  settings: Record<string, unknown>;
  /** `pending_verification` while an app made by operator sign-up waits for its owner's email. */
  status: "active" | "pending_verification";
  created_at: string;
}

export interface Tenant {
  id: string;
  app_id: string;
  login_methods: string[];
  link_base_url: string | null;
  /** Where a third-party sign-in may return (exact match). */
  redirect_uris: string[];
  created_at: string;
  updated_at: string;
}

export interface Member {
  id: string;
  app_id: string;
  email: string;
  operator_id: string | null;
  tenant_id: string | null;
  membership_type: string;
  roles: string[];
  status: "invited" | "active" | "suspended" | "left";
  /** How the membership came to be. */
  source: "bootstrap" | "invite" | "signup" | "scim";
  invite_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface User {
  id: string;
  email: string;
  tenant_id: string;
  status: "active" | "suspended";
  plan_tier: string;
  roles: string[];
  permissions: string[];
  rate_limit: number | null;
  email_verified: boolean;
  methods: string[];
  created_at: string;
  assigned_roles: string[];
  rate_limit_override: number | null;
}

export interface ApiKey {
  id: string;
  app_id: string;
  tenant_id: string;
  name: string;
  scopes: string[];
  created_at: string;
}

export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  target: string;
  tenant_id: string | null;
  detail: unknown;
}

export interface Delivery {
  kind: "none" | "outbox" | "webhook";
  url: string | null;
}

/** An identity provider of a tenant, as listed: never its client secret. */
export interface Provider {
  id: string;
  app_id: string;
  tenant_id: string;
  kind: "oidc" | "github";
  issuer: string;
  client_id: string;
  scopes: string[];
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string | null;
  userinfo_endpoint: string | null;
  created_at: string;
  updated_at: string;
}

export interface ProviderPut {
  kind: "oidc" | "github";
  client_id: string;
  /** Omitted on a change: the stored one is kept. */
  client_secret?: string;
  issuer?: string;
  enterprise_url?: string;
  scopes?: string[];
}

/** A tenant's OAuth authorization server settings (`GET/PUT …/oauth`). */
export interface OAuthSettings {
  /** Dynamic client registration (RFC 7591): not at all, at once, or as pending clients a member approves. */
  registration: "off" | "open" | "approval";
  /** Client ID Metadata Documents: the API refuses `true` for now (not built yet). */
  client_id_metadata_documents: boolean;
  /** Scope name → the words the consent page shows. */
  scopes: Record<string, string>;
  access_token_ttl_seconds: number;
}

export type GrantType = "authorization_code" | "refresh_token" | "client_credentials";

/** An OAuth client of a tenant, as listed: never its secret. */
export interface OAuthClient {
  client_id: string;
  name: string;
  type: "public" | "confidential";
  redirect_uris: string[];
  grant_types: GrantType[];
  scopes: string[];
  token_endpoint_auth_method: "none" | "client_secret_basic" | "client_secret_post";
  /** `pending`: registered while the tenant's registration is `approval`, until a member sets it active. */
  status: "active" | "disabled" | "pending";
  created_at: string;
  updated_at: string;
}

export interface OAuthClientPost {
  name: string;
  type: "public" | "confidential";
  redirect_uris: string[];
  grant_types: GrantType[];
  scopes: string[];
  token_endpoint_auth_method?: "client_secret_basic" | "client_secret_post";
}

/** An operator role of an app: a built-in one, or one the app defines. */
export interface OperatorRole {
  name: string;
  permissions: string[];
  built_in: boolean;
}

/** A deletion too big for its request, and how far it got (never naming the user). */
export interface Deletion {
  id: string;
  kind: "app" | "tenant" | "user";
  app_id: string;
  tenant_id: string | null;
  state: "running" | "done";
  progress: { phase: string | null; phases_done: number; phases_total: number; rows_deleted: number };
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** A `DELETE` of an app, tenant or user: done at once (204: undefined), or under way (202). */
export type DeletionStarted = { deletion: Deletion } | undefined;

export interface EndUserRole {
  name: string;
  permissions: string[];
}

// ---------------------------------------------------------------- calls

export const admin = {
  signin: (email: string, password: string) =>
    call<{ access_token: string; expires_in: number }>("POST", "/admin/auth/signin", { email, password }),
  me: () => call<Me>("GET", "/admin/me"),
  sendPasswordReset: (email: string) => call<object>("POST", "/admin/auth/password-reset/send", { email }),
  resetPassword: (token: string, password: string) =>
    call<object>("POST", "/admin/auth/password-reset", { token, password }),
  signup: (email: string, password: string, app_id: string) =>
    call<{ operator: Me["operator"]; app: App }>("POST", "/admin/signup", { email, password, app_id }),
  sendVerification: () => call<object>("POST", "/admin/auth/email-verification/send"),
  verifyEmail: (token: string) => call<{ operator: Me["operator"] }>("POST", "/admin/auth/email-verification/verify", { token }),
  acceptInvite: (invite_token: string, password: string) =>
    call<{ member: Member }>("POST", "/admin/invites/accept", { invite_token, password }),

  apps: (q: Query) => call<PageOf<App>>("GET", "/admin/apps", undefined, q),
  createApp: (id: string) => call<{ app: App }>("POST", "/admin/apps", { id }),
  deleteApp: (app: string) => call<DeletionStarted>("DELETE", `/admin/apps/${seg(app)}`),
  deletion: (app: string, id: string) => call<{ deletion: Deletion }>("GET", `/admin/apps/${seg(app)}/deletions/${seg(id)}`),

  tenants: (app: string, q: Query) => call<PageOf<Tenant>>("GET", `/admin/apps/${seg(app)}/tenants`, undefined, q),
  tenant: (app: string, tenant: string) =>
    call<{ tenant: Tenant }>("GET", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}`),
  putTenant: (
    app: string,
    tenant: string,
    body: { login_methods?: string[]; link_base_url?: string | null; redirect_uris?: string[] },
  ) => call<{ tenant: Tenant }>("PUT", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}`, body),
  deleteTenant: (app: string, tenant: string) =>
    call<DeletionStarted>("DELETE", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}`),

  providers: (app: string, tenant: string, q: Query) =>
    call<PageOf<Provider>>("GET", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/providers`, undefined, q),
  putProvider: (app: string, tenant: string, id: string, body: ProviderPut) =>
    call<{ provider: Provider }>("PUT", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/providers/${seg(id)}`, body),
  deleteProvider: (app: string, tenant: string, id: string) =>
    call<void>("DELETE", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/providers/${seg(id)}`),

  delivery: (app: string) => call<{ delivery: Delivery }>("GET", `/admin/apps/${seg(app)}/email-delivery`),
  putDelivery: (app: string, body: { kind: string; url?: string }) =>
    call<{ delivery: Delivery; secret?: string }>("PUT", `/admin/apps/${seg(app)}/email-delivery`, body),

  members: (app: string, q: Query) => call<PageOf<Member>>("GET", `/admin/apps/${seg(app)}/members`, undefined, q),
  invite: (app: string, body: { email: string; membership_type: string; roles: string[]; tenant_id: string | null }) =>
    call<{ member: Member; invite_token: string }>("POST", `/admin/apps/${seg(app)}/members`, body),
  patchMember: (app: string, id: string, body: { status?: string; roles?: string[]; membership_type?: string }) =>
    call<{ member: Member }>("PATCH", `/admin/apps/${seg(app)}/members/${seg(id)}`, body),
  operatorRoles: (app: string, q: Query) =>
    call<PageOf<OperatorRole>>("GET", `/admin/apps/${seg(app)}/operator-roles`, undefined, q),
  putOperatorRole: (app: string, name: string, permissions: string[]) =>
    call<{ role: OperatorRole }>("PUT", `/admin/apps/${seg(app)}/operator-roles/${seg(name)}`, { permissions }),
  deleteOperatorRole: (app: string, name: string) =>
    call<void>("DELETE", `/admin/apps/${seg(app)}/operator-roles/${seg(name)}`),

  users: (app: string, tenant: string, q: Query) =>
    call<PageOf<User>>("GET", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/users`, undefined, q),
  createUser: (app: string, tenant: string, body: { email: string; password?: string }) =>
    call<{ user: User }>("POST", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/users`, body),
  user: (app: string, tenant: string, id: string) =>
    call<{ user: User }>("GET", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/users/${seg(id)}`),
  suspend: (app: string, tenant: string, id: string, reason: string | null) =>
    call<{ user: User }>(
      "POST",
      `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/users/${seg(id)}/suspend`,
      reason ? { reason } : {},
    ),
  unsuspend: (app: string, tenant: string, id: string) =>
    call<{ user: User }>("POST", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/users/${seg(id)}/unsuspend`),
  patchUser: (app: string, tenant: string, id: string, body: { plan_tier?: string; rate_limit_override?: number | null }) =>
    call<{ user: User }>("PATCH", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/users/${seg(id)}`, body),
  putUserRoles: (app: string, tenant: string, id: string, roles: string[]) =>
    call<{ user: User }>("PUT", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/users/${seg(id)}/roles`, { roles }),
  revokeSessions: (app: string, tenant: string, id: string) =>
    call<{ revoked: number }>("POST", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/users/${seg(id)}/sessions/revoke`),
  metadata: (app: string, id: string) =>
    call<{ metadata: Record<string, unknown> }>("GET", `/admin/apps/${seg(app)}/users/${seg(id)}/metadata`),
  patchMetadata: (app: string, id: string, patch: Record<string, unknown>) =>
    call<{ metadata: Record<string, unknown> }>("PATCH", `/admin/apps/${seg(app)}/users/${seg(id)}/metadata`, patch),
  deleteUser: (app: string, tenant: string, id: string) =>
    call<DeletionStarted>("DELETE", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/users/${seg(id)}`),
  eraseUser: (app: string, id: string) => call<DeletionStarted>("DELETE", `/admin/apps/${seg(app)}/users/${seg(id)}`),
  roles: (app: string, q: Query) => call<PageOf<EndUserRole>>("GET", `/admin/apps/${seg(app)}/roles`, undefined, q),

  apiKeys: (app: string, tenant: string, q: Query) =>
    call<PageOf<ApiKey>>("GET", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/api-keys`, undefined, q),
  createApiKey: (app: string, tenant: string, body: { name: string; scopes: string[] }) =>
    call<ApiKey & { key: string }>("POST", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/api-keys`, body),
  deleteApiKey: (app: string, tenant: string, id: string) =>
    call<void>("DELETE", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/api-keys/${seg(id)}`),

  oauthSettings: (app: string, tenant: string) =>
    call<{ oauth: OAuthSettings }>("GET", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/oauth`),
  putOAuthSettings: (app: string, tenant: string, body: OAuthSettings) =>
    call<{ oauth: OAuthSettings }>("PUT", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/oauth`, body),
  clients: (app: string, tenant: string, q: Query) =>
    call<PageOf<OAuthClient>>("GET", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/clients`, undefined, q),
  createClient: (app: string, tenant: string, body: OAuthClientPost) =>
    call<{ client: OAuthClient; client_secret: string | null }>("POST", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/clients`, body),
  patchClient: (app: string, tenant: string, id: string, body: { status?: "active" | "disabled" }) =>
    call<{ client: OAuthClient }>("PATCH", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/clients/${seg(id)}`, body),
  deleteClient: (app: string, tenant: string, id: string) =>
    call<void>("DELETE", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/clients/${seg(id)}`),
  rotateClientSecret: (app: string, tenant: string, id: string) =>
    call<{ client: OAuthClient; client_secret: string }>("POST", `/admin/apps/${seg(app)}/tenants/${seg(tenant)}/clients/${seg(id)}/secret`),

  audit: (app: string, q: Query) => call<PageOf<AuditEntry>>("GET", `/admin/apps/${seg(app)}/audit`, undefined, q),
};

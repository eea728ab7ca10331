// Helpers shared by the end-user specs: operator set-up, tenants, API keys, JWT surgery.
import { json, ROOT_TOKEN, CLOCK_HEADER } from "./harness";

export const PASSWORD = "correct horse battery";

/** Bootstraps the platform owner once per worker and returns operator auth headers. */
let ownerToken: string | undefined;
export async function owner(): Promise<Record<string, string>> {
  if (!ownerToken) {
    const creds = { email: "owner@example.com", password: PASSWORD };
    const boot = await json("POST", "/admin/bootstrap", creds, { authorization: `Bearer ${ROOT_TOKEN}` });
    if (boot.status !== 201 && boot.status !== 409) throw new Error(`bootstrap: ${boot.status} ${boot.text}`);
    const signin = await json("POST", "/admin/auth/signin", creds);
    ownerToken = signin.body.access_token;
  }
  return { authorization: `Bearer ${ownerToken}` };
}

export async function createApp(id: string) {
  const res = await json("POST", "/admin/apps", { id }, await owner());
  if (res.status !== 201) throw new Error(`create app ${id}: ${res.status} ${res.text}`);
}

export async function putTenant(app: string, tenant: string, loginMethods = ["emailpassword"]) {
  const res = await json("PUT", `/admin/apps/${app}/tenants/${tenant}`, { login_methods: loginMethods }, await owner());
  if (res.status >= 300) throw new Error(`put tenant: ${res.status} ${res.text}`);
}

export async function apiKey(app: string, tenant: string, scopes = ["introspect"]): Promise<string> {
  const res = await json("POST", `/admin/apps/${app}/tenants/${tenant}/api-keys`, { name: "backend", scopes }, await owner());
  if (res.status !== 201) throw new Error(`api key: ${res.status} ${res.text}`);
  return res.body.key;
}

export const base = (app: string, tenant: string) => `/apps/${app}/tenants/${tenant}`;

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export const at = (ms: number) => ({ [CLOCK_HEADER]: String(ms) });

export function decode(part: string): any {
  return JSON.parse(Buffer.from(part, "base64url").toString());
}

export function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** Introspects `token` at app/tenant with `key`; returns the parsed body. */
export async function introspect(app: string, tenant: string, key: string, token: string, headers: Record<string, string> = {}) {
  const res = await json("POST", `${base(app, tenant)}/oauth/introspect`, `token=${encodeURIComponent(token)}`, {
    ...bearer(key),
    "content-type": "application/x-www-form-urlencoded",
    ...headers,
  });
  if (res.status !== 200) throw new Error(`introspect: ${res.status} ${res.text}`);
  return res.body;
}

// ---------------------------------------------------------------- operators (members.spec.ts)

let sequence = 0;
/** A name no other call of this worker has used, e.g. unique("t") → "t-7". */
export const unique = (prefix: string) => `${prefix}-${++sequence}`;

export interface InviteOptions {
  /** null or absent: the whole app. */
  tenant?: string | null;
  membershipType?: string;
  /** Who invites (default: the platform owner). */
  as?: Record<string, string>;
  headers?: Record<string, string>;
}

/** POST /admin/apps/{app}/members; returns the raw response. */
export async function inviteMember(app: string, email: string, roles: string[], opts: InviteOptions = {}) {
  const body = { email, membership_type: opts.membershipType ?? "member", roles, tenant_id: opts.tenant ?? null };
  return json("POST", `/admin/apps/${app}/members`, body, { ...(opts.as ?? (await owner())), ...(opts.headers ?? {}) });
}

/** POST /admin/invites/accept; returns the raw response. */
export function acceptInvite(inviteToken: string, password = PASSWORD, headers: Record<string, string> = {}) {
  return json("POST", "/admin/invites/accept", { invite_token: inviteToken, password }, headers);
}

/** Signs an operator in; returns its auth headers (throws unless 200). */
export async function operatorSignin(email: string, password = PASSWORD): Promise<Record<string, string>> {
  const res = await json("POST", "/admin/auth/signin", { email, password });
  if (res.status !== 200) throw new Error(`operator signin ${email}: ${res.status} ${res.text}`);
  return bearer(res.body.access_token);
}

export interface ActiveMember {
  /** The membership id. */
  id: string;
  operatorId: string;
  email: string;
  /** Authorization header of a fresh operator token. */
  auth: Record<string, string>;
}

/** Invites (as the owner unless opts.as), accepts and signs in a member; throws on any failure. */
export async function activeMember(app: string, roles: string[], opts: InviteOptions & { email?: string } = {}): Promise<ActiveMember> {
  const email = opts.email ?? `${unique("op")}@example.com`;
  const invited = await inviteMember(app, email, roles, opts);
  if (invited.status !== 201) throw new Error(`invite ${email}: ${invited.status} ${invited.text}`);
  const accepted = await acceptInvite(invited.body.invite_token);
  if (accepted.status !== 200) throw new Error(`accept ${email}: ${accepted.status} ${accepted.text}`);
  return { id: invited.body.member.id, operatorId: accepted.body.member.operator_id, email, auth: await operatorSignin(email) };
}

/** PATCH /admin/apps/{app}/members/{id} (as the owner unless `as`); returns the raw response. */
export async function patchMember(app: string, id: string, body: unknown, as?: Record<string, string>) {
  return json("PATCH", `/admin/apps/${app}/members/${id}`, body, as ?? (await owner()));
}

/** Every audit entry of an app (newest first), read by the owner page by page. */
export async function auditLog(app: string, tenant?: string): Promise<any[]> {
  const entries: any[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ limit: "200" });
    if (tenant) q.set("tenant_id", tenant);
    if (cursor) q.set("cursor", cursor);
    const res = await json("GET", `/admin/apps/${app}/audit?${q}`, undefined, await owner());
    if (res.status !== 200) throw new Error(`audit ${app}: ${res.status} ${res.text}`);
    entries.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor);
  return entries;
}

/** The operator id (the `sub`) inside operator auth headers. */
export const operatorIdOf = (auth: Record<string, string>) => decode(auth.authorization.slice(7).split(".")[1]).sub as string;

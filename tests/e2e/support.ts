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

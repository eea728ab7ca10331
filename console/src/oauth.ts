// The pure part of a tenant's OAuth settings and clients: the settings' form (scopes as
// name → description rows, the access tokens' lifetime) and a client's POST body, checked
// with the API's own rules (`domain::oauth`) so the operator reads what is wrong before
// sending; which status change each client is offered; pending clients first. Tested without
// a browser. The API checks everything again.

import type { GrantType, OAuthClient, OAuthClientPost, OAuthSettings } from "./api";
import { ApiError } from "./problem";
import { urisOf } from "./thirdparty";

/** Most scopes a tenant may define (`MAX_SCOPES`). */
export const MAX_SCOPES = 50;
/** Longest scope description (`MAX_SCOPE_DESCRIPTION_CHARS`). */
export const MAX_SCOPE_DESCRIPTION = 200;
/** Bounds of an OAuth access token's lifetime, seconds (`ACCESS_TTL_BOUNDS`). */
export const TTL_BOUNDS = [60, 86_400] as const;
/** Most redirect URIs of a client. */
export const MAX_REDIRECT_URIS = 20;

export const REGISTRATION_OPTIONS = [
  { value: "off", label: "Off — only members register clients" },
  { value: "open", label: "Open — a client that registers itself is usable at once" },
  { value: "approval", label: "Approval — a client that registers itself waits for a member" },
] as const;

export const GRANT_TYPES: readonly { value: GrantType; label: string }[] = [
  { value: "authorization_code", label: "authorization_code — a user signs in and consents" },
  { value: "refresh_token", label: "refresh_token — new access tokens without the user" },
  { value: "client_credentials", label: "client_credentials — the client on its own behalf (confidential only)" },
];

/** One line of the scopes' editor. */
export interface ScopeRow {
  name: string;
  description: string;
}

/** The rows of the settings' scopes, in the API's order (names sorted). */
export function scopeRows(scopes: Record<string, string>): ScopeRow[] {
  return Object.entries(scopes).map(([name, description]) => ({ name, description }));
}

/** An RFC 6749 scope token: `%x21 / %x23-5B / %x5D-7E`, at most 100 characters. */
export function isScopeToken(name: string): boolean {
  return /^[\x21\x23-\x5b\x5d-\x7e]{1,100}$/.test(name);
}

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

/** The value checked, or the failure an action shows (as the API's own `validation_failed` would be, but nothing was sent). */
export function valueOf<T>(checked: Checked<T>): T {
  if (!checked.ok) throw new ApiError({ status: 0, code: "validation_failed", detail: checked.error });
  return checked.value;
}

/** The scopes of the rows as the API takes them (blank rows left out, names trimmed), or what is wrong. */
export function scopesOf(rows: readonly ScopeRow[]): Checked<Record<string, string>> {
  const scopes: Record<string, string> = {};
  for (const row of rows) {
    const name = row.name.trim();
    const description = row.description.trim();
    if (name === "" && description === "") continue;
    if (name === "") return { ok: false, error: `The scope described as "${description}" needs a name.` };
    if (!isScopeToken(name))
      return { ok: false, error: `"${name}" is not a scope name: printable ASCII without spaces, quotes or backslashes, at most 100 characters.` };
    if (Object.hasOwn(scopes, name)) return { ok: false, error: `The scope ${name} is listed twice.` };
    if ([...description].length > MAX_SCOPE_DESCRIPTION)
      return { ok: false, error: `The description of ${name} is longer than ${MAX_SCOPE_DESCRIPTION} characters.` };
    // Rust's char::is_control: C0, DEL and C1.
    if (/[\u0000-\u001f\u007f-\u009f]/.test(description)) return { ok: false, error: `The description of ${name} holds a control character.` };
    scopes[name] = description;
  }
  if (Object.keys(scopes).length > MAX_SCOPES) return { ok: false, error: `A tenant offers at most ${MAX_SCOPES} scopes.` };
  return { ok: true, value: scopes };
}

/** The access tokens' lifetime as typed (whole seconds within the API's bounds), or what is wrong. */
export function ttlOf(text: string): Checked<number> {
  const t = text.trim();
  const [min, max] = TTL_BOUNDS;
  if (!/^\d+$/.test(t) || Number(t) < min || Number(t) > max)
    return { ok: false, error: `The access token lifetime is whole seconds from ${min} to ${max}.` };
  return { ok: true, value: Number(t) };
}

/** A lifetime in words ("15 minutes", "1 hour 30 minutes", "45 seconds"). */
export function lifetimeWords(seconds: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const parts = [h ? plural(h, "hour") : "", m ? plural(m, "minute") : "", s ? plural(s, "second") : ""].filter(Boolean);
  return parts.join(" ") || plural(0, "second");
}

/** The settings' PUT body from the form. */
export function settingsBody(form: {
  registration: OAuthSettings["registration"];
  documents: boolean;
  rows: readonly ScopeRow[];
  ttl: string;
}): Checked<OAuthSettings> {
  const scopes = scopesOf(form.rows);
  if (!scopes.ok) return scopes;
  const ttl = ttlOf(form.ttl);
  if (!ttl.ok) return ttl;
  return {
    ok: true,
    value: {
      registration: form.registration,
      client_id_metadata_documents: form.documents,
      scopes: scopes.value,
      access_token_ttl_seconds: ttl.value,
    },
  };
}

/** A new client's form. */
export interface ClientForm {
  name: string;
  type: "public" | "confidential";
  /** One per line. */
  redirectUris: string;
  grantTypes: readonly GrantType[];
  scopes: readonly string[];
  authMethod: "client_secret_basic" | "client_secret_post";
}

/** The grants a client of this type may use (a public client never client_credentials). */
export function grantOptions(type: ClientForm["type"]) {
  return GRANT_TYPES.map((g) =>
    type === "public" && g.value === "client_credentials"
      ? { ...g, disabled: true, title: "A public client has no secret, so it cannot act on its own behalf" }
      : g,
  );
}

/**
 * The client's POST body from the form, or what is wrong: a name, at least one grant, at most
 * 20 redirect URIs and one at least for the code grant, no client_credentials for a public
 * client (dropped if it was ticked before the type changed), scopes among the tenant's.
 */
export function clientBody(form: ClientForm, offered: readonly string[]): Checked<OAuthClientPost> {
  const name = form.name.trim();
  if (name === "") return { ok: false, error: "The client needs a name (the consent page shows it)." };
  const grant_types = GRANT_TYPES.map((g) => g.value).filter(
    (g) => form.grantTypes.includes(g) && !(form.type === "public" && g === "client_credentials"),
  );
  if (grant_types.length === 0) return { ok: false, error: "Choose at least one grant type." };
  const redirect_uris = urisOf(form.redirectUris);
  if (redirect_uris.length > MAX_REDIRECT_URIS) return { ok: false, error: `A client has at most ${MAX_REDIRECT_URIS} redirect URIs.` };
  if (grant_types.includes("authorization_code") && redirect_uris.length === 0)
    return { ok: false, error: "The authorization_code grant needs at least one redirect URI." };
  const scopes = offered.filter((s) => form.scopes.includes(s));
  const body: OAuthClientPost = { name, type: form.type, redirect_uris, grant_types, scopes };
  if (form.type === "confidential") body.token_endpoint_auth_method = form.authMethod;
  return { ok: true, value: body };
}

/** The status change a client is offered: approve a pending one, disable an active one, enable a disabled one. */
export function statusChange(status: OAuthClient["status"]): { label: string; to: "active" | "disabled" } {
  switch (status) {
    case "pending":
      return { label: "Approve", to: "active" };
    case "active":
      return { label: "Disable", to: "disabled" };
    case "disabled":
      return { label: "Enable", to: "active" };
  }
}

/** The clients of a page with the pending ones first (otherwise in the API's order). */
export function pendingFirst<T extends { status: string }>(items: readonly T[]): T[] {
  return [...items.filter((c) => c.status === "pending"), ...items.filter((c) => c.status !== "pending")];
}

/** Words for the pending clients of the page shown, or null when there are none. */
export function pendingNote(items: readonly { status: string }[]): string | null {
  const n = items.filter((c) => c.status === "pending").length;
  if (n === 0) return null;
  return n === 1
    ? "1 client on this page registered itself and waits for approval: it cannot be used until a member approves it."
    : `${n} clients on this page registered themselves and wait for approval: they cannot be used until a member approves them.`;
}

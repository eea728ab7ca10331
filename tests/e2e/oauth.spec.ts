// The OAuth 2.1 authorization server of a tenant, through HTTP only: settings and clients
// through /admin, the metadata at its three discovery URLs, and the authorization-code flow
// driven by a certified client (the npm `openid-client`, v6) — discovery, PKCE, the `resource`
// indicator, the code exchange, refresh rotation with reuse detection, client authentication
// with client_secret_basic and client_secret_post, client_credentials — plus the refusals:
// a wrong verifier, a replayed code, a foreign redirect URI, a missing PKCE challenge, a
// client of another tenant, a consent without its CSRF token, an OAuth token at /auth/me.
//
// The tenant's issuer is https://tessera.test/apps/oa/tenants/acme (ISSUER_ORIGIN is the
// public origin of every issuer; see harness.ts): openid-client talks to that issuer, and its
// requests are dispatched to the worker (`viaWorker`, its customFetch), as every spec's are,
// so it needs no allowInsecureRequests. The sign-in and consent pages are driven with plain
// requests: `Browser` keeps the cookies itself (they are `Secure`; the dispatched requests
// are not https, so no cookie store would send them back) and reads the forms' hidden fields
// with a regex.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as client from "openid-client";
import { useWorker, json, rawFetch, ISSUER_ORIGIN } from "./harness";
import { owner, createApp, putTenant, apiKey, base, bearer, decode, introspect, activeMember, at, PASSWORD } from "./support";
import { startOidcProvider, browse, type OidcProvider, CLIENT_ID as IDP_CLIENT_ID, CLIENT_SECRET as IDP_CLIENT_SECRET } from "./idp";

useWorker();

const APP = "oa";
const TENANT = "acme";
const OTHER = "beta";
const B = base(APP, TENANT);
const ISSUER = `${ISSUER_ORIGIN}${B}`;
const OTHER_ISSUER = `${ISSUER_ORIGIN}${base(APP, OTHER)}`;
const ADMIN = `/admin/apps/${APP}/tenants/${TENANT}`;
const OTHER_ADMIN = `/admin/apps/${APP}/tenants/${OTHER}`;

const SCOPES = { "mcp:tools": "Use tools", "files:read": "Read files" };
const SETTINGS = { registration: "off", client_id_metadata_documents: false, scopes: SCOPES, access_token_ttl_seconds: 600 };
/** The MCP server the public client asks tokens for (RFC 8707). */
const RESOURCE = "https://mcp.example/mcp";
/** A native app's loopback redirect (RFC 8252) and a web app's. */
const LOOPBACK_REDIRECT = "http://127.0.0.1:33418/callback";
const WEB_REDIRECT = "https://app.example/oauth/callback";
/** A name the pages must escape. */
const PUBLIC_NAME = "Inspector <b>bold</b> & co";

interface Created {
  status: number;
  text: string;
  client: any;
  secret: string | null;
}

let key = "";
let settingsPut: { status: number; body: any };
let publicClient: Created;
let confidential: Created;
let postClient: Created;

async function createClient(body: Record<string, unknown>, admin = ADMIN): Promise<Created> {
  const res = await json("POST", `${admin}/clients`, body, await owner());
  if (res.status !== 201) throw new Error(`create client: ${res.status} ${res.text}`);
  return { status: res.status, text: res.text, client: res.body.client, secret: res.body.client_secret };
}

beforeAll(async () => {
  await createApp(APP);
  await putTenant(APP, TENANT);
  await putTenant(APP, OTHER);
  key = await apiKey(APP, TENANT);
  const put = await json("PUT", `${ADMIN}/oauth`, SETTINGS, await owner());
  settingsPut = { status: put.status, body: put.body };
  if (put.status !== 200) throw new Error(`put oauth settings: ${put.status} ${put.text}`);
  publicClient = await createClient({
    name: PUBLIC_NAME, type: "public", redirect_uris: [LOOPBACK_REDIRECT], scopes: ["mcp:tools", "files:read"],
  });
  confidential = await createClient({
    name: "Web app", type: "confidential", redirect_uris: [WEB_REDIRECT],
    grant_types: ["authorization_code", "refresh_token", "client_credentials"], scopes: ["mcp:tools", "files:read"],
  });
  postClient = await createClient({
    name: "Backend job", type: "confidential", redirect_uris: [WEB_REDIRECT], grant_types: ["client_credentials"],
    scopes: ["files:read"], token_endpoint_auth_method: "client_secret_post",
  });
});

// ---------------------------------------------------------------- helpers

/** The worker's path of a URL of the public origin (what the dispatched request names). */
function workerPath(url: string | URL): string {
  const u = new URL(url, ISSUER_ORIGIN);
  if (u.origin !== ISSUER_ORIGIN) throw new Error(`${u.href} is not the worker's`);
  return u.pathname + u.search;
}

/** openid-client's fetch: every request it makes goes to the worker. */
const viaWorker: client.CustomFetch = (url, options) => rawFetch(workerPath(url), options as RequestInit);

/** An openid-client configuration for a client, from the issuer's metadata. */
function configFor(clientId: string, auth: client.ClientAuth, algorithm: "oidc" | "oauth2" = "oidc", issuer = ISSUER) {
  return client.discovery(new URL(issuer), clientId, undefined, auth, { algorithm, [client.customFetch]: viaWorker });
}

let people = 0;
/** A new end user of `tenantBase`, signed up from an address of its own. */
async function endUser(tenantBase = B) {
  const n = ++people;
  const email = `oauth-user-${n}@example.com`;
  const res = await json("POST", `${tenantBase}/auth/signup`, { email, password: PASSWORD }, { "cf-connecting-ip": `198.51.100.${n}` });
  if (res.status !== 201) throw new Error(`signup: ${res.status} ${res.text}`);
  return { id: res.body.user.id as string, email, n };
}
type EndUser = Awaited<ReturnType<typeof endUser>>;

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
function unescapeHtml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] === "#") return String.fromCodePoint(ref[1].toLowerCase() === "x" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10));
    return ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/g)) {
    out[m[1].toLowerCase()] = unescapeHtml(m[2] ?? m[3] ?? m[4]);
  }
  return out;
}

/** The page's form: its action (absolute) and its hidden fields (csrf, request, step). */
function form(page: Page, step?: string): { action: string; fields: Record<string, string> } {
  // The page's forms, each to its </form>; the first, or the one of `step`.
  const forms = page.html.match(/<form\b[\s\S]*?<\/form>/gi) ?? [];
  const html = step === undefined ? forms[0] : forms.find((f) => f.includes(`name="step" value="${step}"`));
  const tag = html && /<form\b[^>]*>/i.exec(html);
  if (!html || !tag) throw new Error(`${page.url}: no form${step ? ` of step ${step}` : ""} in ${page.status} ${page.html.slice(0, 300)}`);
  const fields: Record<string, string> = {};
  for (const input of html.match(/<input\b[^>]*>/gi) ?? []) {
    const a = attributes(input);
    if (a.name && a.type?.toLowerCase() === "hidden") fields[a.name] = a.value ?? "";
  }
  return { action: new URL(attributes(tag[0]).action ?? "", page.url).href, fields };
}

interface Page {
  /** The absolute URL (public origin) the request named. */
  url: string;
  status: number;
  headers: Headers;
  location: string | null;
  html: string;
}

/**
 * A browser of the sign-in and consent pages at one client address: a cookie jar (names and
 * values only, sent back by hand) and no automatic redirects.
 */
class Browser {
  readonly jar = new Map<string, string>();
  /** Every Set-Cookie line received. */
  readonly setCookies: string[] = [];
  private readonly ip: string;

  constructor() {
    this.ip = `203.0.113.${++people}`;
  }

  private remember(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      this.setCookies.push(line);
      const pair = line.split(";")[0];
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === "" || /;\s*max-age=0\s*(;|$)/i.test(line)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    return { "cf-connecting-ip": this.ip, ...(cookie ? { cookie } : {}), ...extra };
  }

  private async page(url: string, res: Response): Promise<Page> {
    this.remember(res);
    return { url, status: res.status, headers: res.headers, location: res.headers.get("location"), html: await res.text() };
  }

  async get(url: string | URL): Promise<Page> {
    const href = new URL(url, ISSUER_ORIGIN).href;
    return this.page(href, await rawFetch(workerPath(href), { redirect: "manual", headers: this.headers() }));
  }

  async post(url: string, fields: Record<string, string>): Promise<Page> {
    const res = await rawFetch(workerPath(url), {
      method: "POST",
      redirect: "manual",
      // What a browser sends with a same-origin form post.
      headers: this.headers({ "content-type": "application/x-www-form-urlencoded", origin: ISSUER_ORIGIN }),
      body: new URLSearchParams(fields).toString(),
    });
    return this.page(url, res);
  }
}

interface Drive {
  /** Where the worker finally sent the browser (the client's redirect URI and its parameters). */
  back: URL;
  /** Every page answered on the way, in order. */
  pages: Page[];
}

/**
 * Follows an authorization request the way a user would: signs in as `user` on the sign-in
 * page, answers the consent page with `decision`, follows the worker's own redirects, and
 * stops at the first redirect elsewhere (the client's) — or at the consent page when
 * `stopAtConsent` (then `back` is undefined).
 */
async function drive(browser: Browser, start: string | URL, user: EndUser, decision = "approve", stopAtConsent = false): Promise<Drive> {
  const pages: Page[] = [];
  let page = await browser.get(start);
  for (let hops = 0; hops < 8; hops++) {
    pages.push(page);
    if (page.status === 302 || page.status === 303) {
      if (!page.location) throw new Error(`${page.url}: ${page.status} without Location`);
      const next = new URL(page.location, page.url);
      if (next.origin !== ISSUER_ORIGIN) return { back: next, pages };
      page = await browser.get(next);
      continue;
    }
    if (page.status !== 200) throw new Error(`${page.url}: ${page.status} ${page.html.slice(0, 300)}`);
    const { action, fields } = form(page);
    if (fields.step === "signin") {
      page = await browser.post(action, { csrf: fields.csrf, request: fields.request, step: "signin", email: user.email, password: PASSWORD });
    } else if (fields.step === "consent") {
      if (stopAtConsent) return { back: undefined as unknown as URL, pages };
      page = await browser.post(action, { csrf: fields.csrf, request: fields.request, step: "consent", decision });
    } else {
      throw new Error(`${page.url}: a form of no known step: ${JSON.stringify(fields)}`);
    }
  }
  throw new Error(`no way out of the pages after ${pages.length} answers`);
}

interface Flow {
  verifier: string;
  state: string;
  url: URL;
}

/** An authorization request of `config` with PKCE (S256) and a state. */
async function authorizationRequest(config: client.Configuration, params: Record<string, string>): Promise<Flow> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    ...params,
  });
  return { verifier, state, url };
}

/** A whole grant: the request, the pages, the code exchanged by openid-client. */
async function grant(config: client.Configuration, user: EndUser, params: Record<string, string>, browser = new Browser()) {
  const flow = await authorizationRequest(config, params);
  const { back, pages } = await drive(browser, flow.url, user);
  const tokens = await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
  return { flow, back, pages, tokens, browser };
}

/** The RFC 6749 error of a refused openid-client call: its status, `error` and challenge. */
async function refused(call: Promise<unknown>): Promise<{ status: number; error: string; challenge?: string }> {
  try {
    await call;
  } catch (e) {
    if (e instanceof client.ResponseBodyError) return { status: e.status, error: e.error };
    if (e instanceof client.WWWAuthenticateChallengeError) {
      const body = await e.response.json();
      return { status: e.status, error: body.error, challenge: e.cause[0]?.scheme };
    }
    throw e;
  }
  throw new Error("the call was expected to be refused");
}

/** A raw form POST to a token endpoint. */
async function tokenRequest(issuerBase: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return json("POST", `${issuerBase}/oauth/token`, new URLSearchParams(fields).toString(), {
    "content-type": "application/x-www-form-urlencoded",
    ...headers,
  });
}

/** client_secret_basic credentials, form-encoded first as RFC 6749 §2.3.1 says. */
const basic = (id: string, secret: string) =>
  ({ authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}` });

const claims = (jwt: string) => jwt.split(".").slice(0, 2).map(decode) as [any, any];

const publicConfig = () => configFor(publicClient.client.client_id, client.None(), "oauth2");
const publicParams = { redirect_uri: LOOPBACK_REDIRECT, scope: "mcp:tools", resource: RESOURCE };

// ---------------------------------------------------------------- management

describe("OAuth settings and clients through /admin", () => {
  it("start from the defaults, and are set with PUT", async () => {
    const defaults = await json("GET", `${OTHER_ADMIN}/oauth`, undefined, await owner());
    expect(defaults.status, defaults.text).toBe(200);
    expect(defaults.body.oauth).toEqual({ registration: "off", client_id_metadata_documents: false, scopes: {}, access_token_ttl_seconds: 900 });
    expect(settingsPut.status).toBe(200);
    expect(settingsPut.body.oauth).toEqual(SETTINGS);
    const read = await json("GET", `${ADMIN}/oauth`, undefined, await owner());
    expect(read.status).toBe(200);
    expect(read.body.oauth).toEqual(SETTINGS);
  });

  it("make a public client without a secret and a confidential one whose secret is shown once", async () => {
    expect(publicClient.status).toBe(201);
    expect(publicClient.secret).toBeNull();
    expect(publicClient.client).toMatchObject({
      name: PUBLIC_NAME, type: "public", redirect_uris: [LOOPBACK_REDIRECT], token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"], status: "active",
    });
    expect([...publicClient.client.scopes].sort()).toEqual(["files:read", "mcp:tools"]);
    expect(publicClient.client.client_id).toMatch(/^tsc_[A-Za-z0-9_-]{22}$/);
    expect(publicClient.client.created_at).toBeTruthy();
    expect(publicClient.client.updated_at).toBeTruthy();

    expect(confidential.secret).toMatch(/^tss_[A-Za-z0-9_-]+$/);
    expect(confidential.client).toMatchObject({ type: "confidential", token_endpoint_auth_method: "client_secret_basic", status: "active" });
    expect([...confidential.client.grant_types].sort()).toEqual(["authorization_code", "client_credentials", "refresh_token"]);
    expect(postClient.client.token_endpoint_auth_method).toBe("client_secret_post");
    expect(confidential.client.client_id).not.toBe(publicClient.client.client_id);

    const one = await json("GET", `${ADMIN}/clients/${confidential.client.client_id}`, undefined, await owner());
    expect(one.status).toBe(200);
    expect(one.body.client).toEqual(confidential.client);
    expect(one.text).not.toContain(confidential.secret!);
    const list = await json("GET", `${ADMIN}/clients`, undefined, await owner());
    expect(list.status).toBe(200);
    expect(list.body.next_cursor).toBeNull();
    expect(list.body.items.map((c: any) => c.client_id)).toEqual(expect.arrayContaining(
      [publicClient.client.client_id, confidential.client.client_id, postClient.client.client_id]));
    expect(list.text).not.toContain(confidential.secret!);
    expect(list.text).not.toContain(postClient.secret!);
    // A tenant's clients are its own.
    const elsewhere = await json("GET", `${OTHER_ADMIN}/clients/${confidential.client.client_id}`, undefined, await owner());
    expect(elsewhere.status).toBe(404);
  });

  it("refuse a scope the tenant does not offer with 400 validation_failed", async () => {
    const res = await json("POST", `${ADMIN}/clients`, {
      name: "Greedy", type: "public", redirect_uris: [LOOPBACK_REDIRECT], scopes: ["admin:everything"],
    }, await owner());
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
  });

  it("need clients:read to read them and clients:write to change them", async () => {
    const support = await activeMember(APP, ["support"]);
    for (const path of [`${ADMIN}/clients`, `${ADMIN}/clients/${publicClient.client.client_id}`, `${ADMIN}/oauth`]) {
      const res = await json("GET", path, undefined, support.auth);
      expect(res.status, path).toBe(403);
      expect(res.body.code).toBe("forbidden");
    }
    const create = await json("POST", `${ADMIN}/clients`, { name: "x", type: "public", redirect_uris: [LOOPBACK_REDIRECT] }, support.auth);
    expect(create.status).toBe(403);
    const put = await json("PUT", `${ADMIN}/oauth`, SETTINGS, support.auth);
    expect(put.status).toBe(403);
  });

  it("are run by the mcp_admin role, which reads no users", async () => {
    const mcp = await activeMember(APP, ["mcp_admin"]);
    const list = await json("GET", `${ADMIN}/clients`, undefined, mcp.auth);
    expect(list.status, list.text).toBe(200);
    expect(list.text).not.toContain(confidential.secret!);
    const made = await json("POST", `${ADMIN}/clients`, { name: "By mcp_admin", type: "public", redirect_uris: [LOOPBACK_REDIRECT] }, mcp.auth);
    expect(made.status, made.text).toBe(201);
    expect((await json("DELETE", `${ADMIN}/clients/${made.body.client.client_id}`, undefined, mcp.auth)).status).toBe(204);
    expect((await json("GET", `${ADMIN}/users`, undefined, mcp.auth)).status).toBe(403);
  });
});

// ---------------------------------------------------------------- metadata

describe("the authorization server metadata", () => {
  const urls = [
    `/.well-known/oauth-authorization-server/apps/${APP}/tenants/${TENANT}`,
    `/.well-known/openid-configuration/apps/${APP}/tenants/${TENANT}`,
    `${B}/.well-known/openid-configuration`,
  ];

  it("is one document at the three discovery URLs", async () => {
    const answers = await Promise.all(urls.map((u) => json("GET", u)));
    for (const [i, res] of answers.entries()) {
      expect(res.status, urls[i]).toBe(200);
      expect(res.headers.get("content-type"), urls[i]).toMatch(/^application\/json/);
      expect(res.headers.get("cache-control"), urls[i]).toMatch(/public/);
      expect(res.headers.get("cache-control"), urls[i]).toMatch(/max-age=\d+/);
      expect(res.body, urls[i]).toEqual(answers[0].body);
    }
    const doc = answers[0].body;
    expect(doc).toMatchObject({
      issuer: ISSUER,
      authorization_endpoint: `${ISSUER}/oauth/authorize`,
      token_endpoint: `${ISSUER}/oauth/token`,
      jwks_uri: `${ISSUER_ORIGIN}/apps/${APP}/.well-known/jwks.json`,
      introspection_endpoint: `${ISSUER}/oauth/introspect`,
      revocation_endpoint: `${ISSUER}/oauth/revoke`,
      response_types_supported: ["code"],
      response_modes_supported: ["query"],
      grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
      introspection_endpoint_auth_methods_supported: ["bearer", "client_secret_basic", "private_key_jwt"],
      revocation_endpoint_auth_methods_supported: ["bearer", "client_secret_basic", "private_key_jwt"],
      client_id_metadata_document_supported: false,
      authorization_response_iss_parameter_supported: true,
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["EdDSA"],
    });
    expect([...doc.scopes_supported].sort()).toEqual(["files:read", "mcp:tools"]);
    // Registration is off.
    expect(doc).not.toHaveProperty("registration_endpoint");
  });

  it("names each tenant's own issuer and scopes, and is a 404 for an unknown tenant", async () => {
    const other = await json("GET", `/.well-known/oauth-authorization-server/apps/${APP}/tenants/${OTHER}`);
    expect(other.status).toBe(200);
    expect(other.body.issuer).toBe(OTHER_ISSUER);
    expect(other.body.scopes_supported).toEqual([]);
    for (const u of [`/.well-known/oauth-authorization-server/apps/${APP}/tenants/nope`, `/.well-known/openid-configuration/apps/${APP}/tenants/nope`]) {
      const res = await json("GET", u);
      expect(res.status, u).toBe(404);
      expect(res.body.code).toBe("tenant_not_found");
    }
  });
});

// ---------------------------------------------------------------- the code flow

describe("the authorization code flow, driven by openid-client", () => {
  it("signs in, asks consent, and gives a public client PKCE-bound tokens for the resource that rotate", async () => {
    const user = await endUser();
    const config = await publicConfig();
    expect(config.serverMetadata().issuer).toBe(ISSUER);
    const flow = await authorizationRequest(config, publicParams);
    expect(flow.url.href.startsWith(`${ISSUER}/oauth/authorize?`)).toBe(true);
    expect(flow.url.searchParams.get("client_id")).toBe(publicClient.client.client_id);

    const browser = new Browser();
    const { back, pages } = await drive(browser, flow.url, user);

    // The sign-in page: a form posting back to the authorize endpoint, and a CSRF cookie.
    const signin = pages[0];
    expect(signin.status).toBe(200);
    expect(signin.headers.get("content-type")).toMatch(/^text\/html/);
    expect(signin.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
    const signinForm = form(signin);
    expect(signinForm.action).toBe(`${ISSUER}/oauth/authorize`);
    expect(signinForm.fields.step).toBe("signin");
    expect(signinForm.fields.csrf).toBeTruthy();
    expect(new URLSearchParams(signinForm.fields.request).get("client_id")).toBe(publicClient.client.client_id);
    const csrfCookie = browser.setCookies.find((c) => c.startsWith("tessera_oauth_csrf="))!;
    expect(csrfCookie).toBeTruthy();
    for (const attribute of [`Path=${B}/oauth`, "Secure", "HttpOnly", "SameSite=Lax"]) {
      expect(csrfCookie.toLowerCase()).toContain(attribute.toLowerCase());
    }

    // Signing in: 303 back to the request, with the sign-in cookie.
    expect(pages[1].status).toBe(303);
    expect(pages[1].location!.startsWith(`${ISSUER}/oauth/authorize?`)).toBe(true);
    const sessionCookie = browser.setCookies.find((c) => c.startsWith("tessera_oauth_session="))!;
    expect(sessionCookie).toBeTruthy();
    for (const attribute of [`Path=${B}/oauth`, "Secure", "HttpOnly", "SameSite=Lax"]) {
      expect(sessionCookie.toLowerCase()).toContain(attribute.toLowerCase());
    }

    // The consent page names the client (escaped), the redirect host and the scope.
    const consent = pages[2];
    expect(consent.status).toBe(200);
    expect(form(consent).fields.step).toBe("consent");
    expect(consent.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
    expect(consent.html).toContain("Inspector");
    expect(consent.html).not.toContain("<b>bold</b>");
    expect(consent.html).toContain("127.0.0.1");
    expect(consent.html.includes("mcp:tools") || consent.html.includes("Use tools")).toBe(true);

    // Approval: back to the client with the code, the state and the issuer.
    expect(pages[3].status).toBe(302);
    expect(`${back.origin}${back.pathname}`).toBe(LOOPBACK_REDIRECT);
    expect(back.searchParams.get("state")).toBe(flow.state);
    expect(back.searchParams.get("iss")).toBe(ISSUER);
    expect(back.searchParams.get("code")).toBeTruthy();

    const tokens = await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
    expect(tokens.token_type).toBe("bearer");
    expect(tokens.expires_in).toBe(600);
    expect(tokens.scope).toBe("mcp:tools");
    expect(tokens.refresh_token).toBeTruthy();
    const [header, payload] = claims(tokens.access_token);
    expect(header).toMatchObject({ typ: "at+jwt", alg: "EdDSA" });
    expect(header.kid).toBeTruthy();
    expect(payload).toMatchObject({
      iss: ISSUER, sub: user.id, aud: RESOURCE, client_id: publicClient.client.client_id, scope: "mcp:tools", app: APP, tid: TENANT,
    });
    expect(payload.sid).toBeTruthy();
    expect(payload.jti).toBeTruthy();
    expect(payload.exp - payload.iat).toBe(600);

    const active = await introspect(APP, TENANT, key, tokens.access_token);
    expect(active).toMatchObject({ active: true, sub: user.id, client_id: publicClient.client.client_id, scope: "mcp:tools", aud: RESOURCE });

    // Refresh twice: each answer a new pair of the same grant.
    const first = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(first.refresh_token).toBeTruthy();
    expect(first.refresh_token).not.toBe(tokens.refresh_token);
    expect(first.scope).toBe("mcp:tools");
    expect(claims(first.access_token)[1]).toMatchObject({ sub: user.id, aud: RESOURCE, sid: payload.sid });
    const second = await client.refreshTokenGrant(config, first.refresh_token!);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await introspect(APP, TENANT, key, second.access_token)).active).toBe(true);

    // The first refresh token again is theft: refused, and the whole grant with it.
    const reused = await refused(client.refreshTokenGrant(config, tokens.refresh_token!));
    expect(reused).toMatchObject({ status: 400, error: "invalid_grant" });
    const current = await refused(client.refreshTokenGrant(config, second.refresh_token!));
    expect(current).toMatchObject({ status: 400, error: "invalid_grant" });
    expect(await introspect(APP, TENANT, key, second.access_token)).toEqual({ active: false });
  });

  it("revokes a grant's access token at /oauth/revoke: it introspects inactive, its refresh token is refused", async () => {
    const config = await publicConfig();
    const { tokens } = await grant(config, await endUser(), publicParams);
    expect((await introspect(APP, TENANT, key, tokens.access_token)).active).toBe(true);
    const res = await json("POST", `${B}/oauth/revoke`, `token=${encodeURIComponent(tokens.access_token)}`, {
      ...bearer(key), "content-type": "application/x-www-form-urlencoded",
    });
    expect(res.status).toBe(200);
    expect(await introspect(APP, TENANT, key, tokens.access_token)).toEqual({ active: false });
    expect(await refused(client.refreshTokenGrant(config, tokens.refresh_token!))).toMatchObject({ status: 400, error: "invalid_grant" });
  });

  it("asks a signed-in user for consent again, without the sign-in page, and a denial is access_denied", async () => {
    const user = await endUser();
    const config = await publicConfig();
    const browser = new Browser();
    const firstFlow = await authorizationRequest(config, { ...publicParams, scope: "files:read" });
    const { back: denied, pages } = await drive(browser, firstFlow.url, user, "deny");
    expect(pages[pages.length - 1].status).toBe(302);
    expect(`${denied.origin}${denied.pathname}`).toBe(LOOPBACK_REDIRECT);
    expect(denied.searchParams.get("error")).toBe("access_denied");
    expect(denied.searchParams.get("state")).toBe(firstFlow.state);
    expect(denied.searchParams.get("iss")).toBe(ISSUER);
    expect(denied.searchParams.get("code")).toBeNull();
    // Signed in already: straight to the consent page.
    const again = await authorizationRequest(config, { ...publicParams, scope: "files:read" });
    const page = await browser.get(again.url);
    expect(page.status).toBe(200);
    expect(form(page).fields.step).toBe("consent");
  });

  it("answers a wrong password with the sign-in page again, 401, and no sign-in cookie", async () => {
    const user = await endUser();
    const config = await publicConfig();
    const flow = await authorizationRequest(config, publicParams);
    const browser = new Browser();
    const signin = await browser.get(flow.url);
    const { action, fields } = form(signin);
    const wrong = await browser.post(action, { ...fields, step: "signin", email: user.email, password: "not the password" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("content-type")).toMatch(/^text\/html/);
    expect(form(wrong).fields.step).toBe("signin");
    expect(browser.jar.has("tessera_oauth_session")).toBe(false);
  });
});

// ---------------------------------------------------------------- confidential clients

describe("confidential clients", () => {
  it("exchange a code with client_secret_basic; without a resource the audience is the issuer", async () => {
    const config = await configFor(confidential.client.client_id, client.ClientSecretBasic(confidential.secret!));
    const user = await endUser();
    const { tokens } = await grant(config, user, { redirect_uri: WEB_REDIRECT, scope: "mcp:tools files:read" });
    const payload = claims(tokens.access_token)[1];
    expect(payload).toMatchObject({ sub: user.id, aud: ISSUER, client_id: confidential.client.client_id });
    expect(payload.scope.split(" ").sort()).toEqual(["files:read", "mcp:tools"]);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect((await introspect(APP, TENANT, key, refreshed.access_token))).toMatchObject({ active: true, sub: user.id, aud: ISSUER });
  });

  it("get client_credentials tokens whose subject is the client, with client_secret_basic and client_secret_post", async () => {
    const basicConfig = await configFor(confidential.client.client_id, client.ClientSecretBasic(confidential.secret!));
    const viaBasic = await client.clientCredentialsGrant(basicConfig, { scope: "files:read" });
    expect(viaBasic.refresh_token).toBeUndefined();
    expect(viaBasic.scope).toBe("files:read");
    const payload = claims(viaBasic.access_token)[1];
    expect(payload).toMatchObject({ sub: confidential.client.client_id, client_id: confidential.client.client_id, scope: "files:read", aud: ISSUER });
    expect(payload.sid).toBeUndefined();
    expect(await introspect(APP, TENANT, key, viaBasic.access_token)).toMatchObject({
      active: true, sub: confidential.client.client_id, client_id: confidential.client.client_id, scope: "files:read",
    });

    const postConfig = await configFor(postClient.client.client_id, client.ClientSecretPost(postClient.secret!), "oauth2");
    const viaPost = await client.clientCredentialsGrant(postConfig);
    expect(claims(viaPost.access_token)[1].sub).toBe(postClient.client.client_id);
    expect((await introspect(APP, TENANT, key, viaPost.access_token)).active).toBe(true);

    // The raw answer: JSON, never cached.
    const raw = await tokenRequest(B, { grant_type: "client_credentials", client_id: postClient.client.client_id, client_secret: postClient.secret! });
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-type")).toMatch(/^application\/json/);
    expect(raw.headers.get("cache-control")).toBe("no-store");
    expect(raw.body).toMatchObject({ token_type: "Bearer", expires_in: 600 });
  });

  it("refuse a wrong secret with 401 invalid_client (with a Basic challenge when Basic was tried)", async () => {
    const wrongBasic = await tokenRequest(B, { grant_type: "client_credentials" }, basic(confidential.client.client_id, "tss_wrong"));
    expect(wrongBasic.status).toBe(401);
    expect(wrongBasic.body.error).toBe("invalid_client");
    expect(wrongBasic.headers.get("www-authenticate")).toMatch(/^Basic/i);
    expect(wrongBasic.headers.get("cache-control")).toBe("no-store");
    const wrongPost = await tokenRequest(B, { grant_type: "client_credentials", client_id: postClient.client.client_id, client_secret: "tss_wrong" });
    expect(wrongPost.status).toBe(401);
    expect(wrongPost.body.error).toBe("invalid_client");
    const unsupported = await tokenRequest(B, { grant_type: "password", username: "a", password: "b" }, basic(confidential.client.client_id, confidential.secret!));
    expect(unsupported.status).toBe(400);
    expect(unsupported.body.error).toBe("unsupported_grant_type");
  });

  it("once disabled, get invalid_client at the token endpoint and the error page at authorize", async () => {
    const made = await createClient({
      name: "Soon disabled", type: "confidential", redirect_uris: [WEB_REDIRECT],
      grant_types: ["authorization_code", "client_credentials"], scopes: ["files:read"],
    });
    const config = await configFor(made.client.client_id, client.ClientSecretBasic(made.secret!));
    expect((await client.clientCredentialsGrant(config)).access_token).toBeTruthy();
    const patched = await json("PATCH", `${ADMIN}/clients/${made.client.client_id}`, { status: "disabled" }, await owner());
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.client.status).toBe("disabled");
    expect(await refused(client.clientCredentialsGrant(config))).toMatchObject({ status: 401, error: "invalid_client" });
    const flow = await authorizationRequest(config, { redirect_uri: WEB_REDIRECT, scope: "files:read" });
    const page = await new Browser().get(flow.url);
    expect(page.status).toBe(400);
    expect(page.location).toBeNull();
    // Enabled again, it works again.
    expect((await json("PATCH", `${ADMIN}/clients/${made.client.client_id}`, { status: "active" }, await owner())).status).toBe(200);
    expect((await client.clientCredentialsGrant(config)).access_token).toBeTruthy();
  });

  it("once deleted, are gone with their grants", async () => {
    const made = await createClient({ name: "Short-lived", type: "public", redirect_uris: [LOOPBACK_REDIRECT], scopes: ["mcp:tools"] });
    const config = await configFor(made.client.client_id, client.None());
    const { tokens } = await grant(config, await endUser(), { redirect_uri: LOOPBACK_REDIRECT, scope: "mcp:tools" });
    expect((await introspect(APP, TENANT, key, tokens.access_token)).active).toBe(true);
    expect((await json("DELETE", `${ADMIN}/clients/${made.client.client_id}`, undefined, await owner())).status).toBe(204);
    expect((await json("GET", `${ADMIN}/clients/${made.client.client_id}`, undefined, await owner())).status).toBe(404);
    expect(await introspect(APP, TENANT, key, tokens.access_token)).toEqual({ active: false });
    const refresh = await refused(client.refreshTokenGrant(config, tokens.refresh_token!));
    expect(["invalid_client", "invalid_grant"]).toContain(refresh.error);
  });
});

describe("a confidential client's secret rotation", () => {
  const introspectAs = async (id: string, secret: string, token: string, extra: Record<string, string> = {}) =>
    json("POST", `${B}/oauth/introspect`, new URLSearchParams({ token }).toString(), {
      "content-type": "application/x-www-form-urlencoded",
      ...basic(id, secret),
      ...extra,
    });

  it("answers the new secret once; the old one stops at once at the token endpoint and at introspection", async () => {
    const made = await createClient({
      name: "Rotated", type: "confidential", redirect_uris: [WEB_REDIRECT], grant_types: ["client_credentials"], scopes: ["files:read"],
    });
    const id = made.client.client_id;
    const old = made.secret!;
    const before = await tokenRequest(B, { grant_type: "client_credentials" }, basic(id, old));
    expect(before.status, before.text).toBe(200);
    expect((await introspectAs(id, old, before.body.access_token)).body).toMatchObject({ active: true, client_id: id });

    const rotated = await json("POST", `${ADMIN}/clients/${id}/secret`, undefined, await owner());
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.client).toMatchObject({ client_id: id, type: "confidential", status: "active" });
    const fresh: string = rotated.body.client_secret;
    expect(fresh).toMatch(/^tss_[A-Za-z0-9_-]+$/);
    expect(fresh).not.toBe(old);
    // Shown once: reading the client never shows it.
    const read = await json("GET", `${ADMIN}/clients/${id}`, undefined, await owner());
    expect(read.text).not.toContain(fresh);

    const refusedOld = await tokenRequest(B, { grant_type: "client_credentials" }, basic(id, old));
    expect(refusedOld.status).toBe(401);
    expect(refusedOld.body.error).toBe("invalid_client");
    const oldAtIntrospection = await introspectAs(id, old, before.body.access_token);
    expect(oldAtIntrospection.status).toBe(401);
    expect(oldAtIntrospection.body.code).toBe("invalid_client");
    const revokeWithOld = await json("POST", `${B}/oauth/revoke`, new URLSearchParams({ token: before.body.access_token }).toString(), {
      "content-type": "application/x-www-form-urlencoded", ...basic(id, old),
    });
    expect(revokeWithOld.status).toBe(401);

    // The rotation cut the tokens the old secret got (a few seconds ahead): past that margin
    // (the test clock), the new secret's tokens live, and the one from before stays cut.
    const later = at(Date.now() + 6_000);
    const after = await tokenRequest(B, { grant_type: "client_credentials" }, { ...basic(id, fresh), ...later });
    expect(after.status, after.text).toBe(200);
    expect((await introspectAs(id, fresh, after.body.access_token, later)).body).toMatchObject({ active: true, client_id: id });
    expect(await introspect(APP, TENANT, key, before.body.access_token)).toEqual({ active: false });

    const audit = await json("GET", `/admin/apps/${APP}/audit?limit=200`, undefined, await owner());
    const entry = audit.body.items.find((e: any) => e.action === "client.secret_rotate" && e.target === id);
    expect(entry, audit.text).toBeTruthy();
    expect(JSON.stringify(entry)).not.toContain("tss_");
  });

  it("is a 409 conflict for a public client, a 404 for an unknown or foreign one, and needs clients:write", async () => {
    const pub = await json("POST", `${ADMIN}/clients/${publicClient.client.client_id}/secret`, undefined, await owner());
    expect(pub.status, pub.text).toBe(409);
    expect(pub.body.code).toBe("conflict");
    expect(pub.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const unknown = await json("POST", `${ADMIN}/clients/tsc_AAAAAAAAAAAAAAAAAAAAAA/secret`, undefined, await owner());
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe("client_not_found");
    const foreign = await json("POST", `${OTHER_ADMIN}/clients/${confidential.client.client_id}/secret`, undefined, await owner());
    expect(foreign.status).toBe(404);
    const anonymous = await json("POST", `${ADMIN}/clients/${confidential.client.client_id}/secret`);
    expect(anonymous.status).toBe(401);
    // The fixture's confidential client still works with its secret.
    const still = await tokenRequest(B, { grant_type: "client_credentials" }, basic(confidential.client.client_id, confidential.secret!));
    expect(still.status).toBe(200);
  });
});

describe("concurrent changes of a client", () => {
  it("lose neither of two PATCHes sent at once", async () => {
    const made = await createClient({
      name: "Twice changed", type: "confidential", redirect_uris: [WEB_REDIRECT], grant_types: ["client_credentials"], scopes: ["mcp:tools", "files:read"],
    });
    const path = `${ADMIN}/clients/${made.client.client_id}`;
    const token = await owner();
    const [renamed, narrowed] = await Promise.all([
      json("PATCH", path, { name: "Renamed" }, token),
      json("PATCH", path, { scopes: ["files:read"] }, token),
    ]);
    expect([renamed.status, narrowed.status], `${renamed.text} ${narrowed.text}`).toEqual([200, 200]);
    const now = await json("GET", path, undefined, token);
    expect(now.body.client).toMatchObject({ name: "Renamed", scopes: ["files:read"] });
  });
});

// ---------------------------------------------------------------- private_key_jwt clients

const subtle = globalThis.crypto.subtle;
const b64u = (bytes: ArrayBuffer | Uint8Array | string) =>
  Buffer.from(typeof bytes === "string" ? bytes : new Uint8Array(bytes)).toString("base64url");

/** A WebCrypto signing key pair and its public JWK (named `kid`), of ES256 or RS256. */
async function signingKey(alg: "ES256" | "RS256", kid: string) {
  const params = alg === "ES256"
    ? { name: "ECDSA", namedCurve: "P-256" }
    : { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
  const pair = (await subtle.generateKey(params, true, ["sign", "verify"])) as CryptoKeyPair;
  const { kty, crv, x, y, n, e } = await subtle.exportKey("jwk", pair.publicKey);
  return { alg, kid, privateKey: pair.privateKey, jwk: { kty, crv, x, y, n, e, kid, use: "sig" } };
}
type SigningKey = Awaited<ReturnType<typeof signingKey>>;

/** A client assertion signed by hand (what openid-client does, to replay and alter it). */
async function assertion(key: SigningKey, clientId: string, claims: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  const body = { iss: clientId, sub: clientId, aud: ISSUER, iat: now, exp: now + 60, jti: b64u(globalThis.crypto.getRandomValues(new Uint8Array(16))), ...claims };
  const input = `${b64u(JSON.stringify({ alg: key.alg, kid: key.kid }))}.${b64u(JSON.stringify(body))}`;
  const algorithm = key.alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "RSASSA-PKCS1-v1_5" };
  return `${input}.${b64u(await subtle.sign(algorithm, key.privateKey, new TextEncoder().encode(input)))}`;
}

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

describe("private_key_jwt clients", () => {
  let es: SigningKey;
  let jwtClient: Created;
  beforeAll(async () => {
    es = await signingKey("ES256", "es-1");
    jwtClient = await createClient({
      name: "Signed backend", type: "confidential", redirect_uris: [WEB_REDIRECT], token_endpoint_auth_method: "private_key_jwt",
      grant_types: ["authorization_code", "refresh_token", "client_credentials"], scopes: ["mcp:tools", "files:read"],
      jwks: { keys: [es.jwk] },
    });
  });

  it("are registered with public keys and no secret, and the metadata offers the method", async () => {
    expect(jwtClient.secret).toBeNull();
    expect(jwtClient.client.token_endpoint_auth_method).toBe("private_key_jwt");
    expect(jwtClient.client.jwks.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", kid: "es-1" });
    const meta = await json("GET", `/.well-known/oauth-authorization-server${B}`);
    expect(meta.body.token_endpoint_auth_methods_supported).toContain("private_key_jwt");
    expect(meta.body.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(["ES256", "RS256", "EdDSA"]));
    const priv = await subtle.exportKey("jwk", es.privateKey);
    const refusedKey = await json("POST", `${ADMIN}/clients`, {
      name: "Leaky", type: "confidential", token_endpoint_auth_method: "private_key_jwt", grant_types: ["client_credentials"], jwks: { keys: [priv] },
    }, await owner());
    expect(refusedKey.status, "a private key is refused").toBe(400);
    expect(refusedKey.text).not.toContain(priv.d!);
  });

  it("get client_credentials and code-grant tokens through openid-client's PrivateKeyJwt (ES256 through WebCrypto)", async () => {
    const config = await configFor(jwtClient.client.client_id, client.PrivateKeyJwt({ key: es.privateKey, kid: es.kid }));
    const machine = await client.clientCredentialsGrant(config, { scope: "files:read" });
    expect(claims(machine.access_token)[1]).toMatchObject({ sub: jwtClient.client.client_id, scope: "files:read" });
    expect((await introspect(APP, TENANT, key, machine.access_token)).active).toBe(true);
    const user = await endUser();
    const { tokens } = await grant(config, user, { redirect_uri: WEB_REDIRECT, scope: "mcp:tools" });
    expect(claims(tokens.access_token)[1]).toMatchObject({ sub: user.id, client_id: jwtClient.client.client_id });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect((await introspect(APP, TENANT, key, refreshed.access_token)).active).toBe(true);
  });

  it("refuse a replayed, foreign-audience, overlong or unsigned assertion, and a secret beside it", async () => {
    const id = jwtClient.client.client_id;
    const once = await assertion(es, id);
    const form = (a: string) => ({ grant_type: "client_credentials", client_assertion_type: JWT_BEARER, client_assertion: a });
    expect((await tokenRequest(B, form(once))).status).toBe(200);
    const replay = await tokenRequest(B, form(once));
    expect(replay.status).toBe(401);
    expect(replay.body.error).toBe("invalid_client");
    const now = Math.floor(Date.now() / 1000);
    for (const [why, a] of [
      ["another tenant's audience", await assertion(es, id, { aud: OTHER_ISSUER })],
      ["valid for an hour", await assertion(es, id, { exp: now + 3600 })],
      ["expired", await assertion(es, id, { exp: now - 120 })],
      ["alg none", `${b64u(JSON.stringify({ alg: "none" }))}.${(await assertion(es, id)).split(".")[1]}.`],
      ["another client's key", await assertion(await signingKey("ES256", "es-1"), id)],
    ] as const) {
      const res = await tokenRequest(B, form(a));
      expect(res.status, why).toBe(401);
      expect(res.body.error, why).toBe("invalid_client");
    }
    const both = await tokenRequest(B, { ...form(await assertion(es, id)), client_id: id, client_secret: "tss_x" });
    expect(both.status).toBe(400);
    expect(both.body.error).toBe("invalid_request");
    // The same client presented at the other tenant is nobody there.
    const elsewhere = await tokenRequest(base(APP, OTHER), form(await assertion(es, id, { aud: OTHER_ISSUER })));
    expect(elsewhere.status).toBe(401);
  });

  it("introspect and revoke their own tokens with an assertion in the body, used once", async () => {
    const id = jwtClient.client.client_id;
    const issued = await tokenRequest(B, { grant_type: "client_credentials", client_assertion_type: JWT_BEARER, client_assertion: await assertion(es, id) });
    expect(issued.status, issued.text).toBe(200);
    const own = issued.body.access_token;
    const asClient = async (endpoint: string, token: string, a?: string) =>
      json("POST", `${B}/oauth/${endpoint}`, new URLSearchParams({ token, client_assertion_type: JWT_BEARER, client_assertion: a ?? (await assertion(es, id)) }).toString(), { "content-type": "application/x-www-form-urlencoded" });
    const once = await assertion(es, id);
    const seen = await asClient("introspect", own, once);
    expect(seen.status, seen.text).toBe(200);
    expect(seen.body).toMatchObject({ active: true, client_id: id });
    const replayed = await asClient("introspect", own, once);
    expect(replayed.status).toBe(401);
    const withKeyToo = await json("POST", `${B}/oauth/introspect`, { token: own, client_assertion_type: JWT_BEARER, client_assertion: await assertion(es, id) }, bearer(key));
    expect(withKeyToo.status, "one way to authenticate").toBe(401);
    expect((await asClient("revoke", own)).status).toBe(200);
    expect((await asClient("introspect", own)).body).toEqual({ active: false });
  });

  it("rotate keys whole with a PATCH: the old key is refused at once, the new one (RS256) works", async () => {
    const made = await createClient({
      name: "Rotating", type: "confidential", token_endpoint_auth_method: "private_key_jwt",
      grant_types: ["client_credentials"], scopes: ["files:read"], jwks: { keys: [es.jwk] },
    });
    const id = made.client.client_id;
    const oldConfig = await configFor(id, client.PrivateKeyJwt({ key: es.privateKey, kid: es.kid }));
    expect((await client.clientCredentialsGrant(oldConfig)).access_token).toBeTruthy();
    const rs = await signingKey("RS256", "rs-2");
    const patched = await json("PATCH", `${ADMIN}/clients/${id}`, { jwks: { keys: [rs.jwk] } }, await owner());
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.client.jwks.keys.map((k: any) => k.kid)).toEqual(["rs-2"]);
    expect(await refused(client.clientCredentialsGrant(oldConfig))).toMatchObject({ status: 401, error: "invalid_client" });
    const newConfig = await configFor(id, client.PrivateKeyJwt({ key: rs.privateKey, kid: rs.kid }));
    expect((await client.clientCredentialsGrant(newConfig)).access_token).toBeTruthy();
    const onSecretClient = await json("PATCH", `${ADMIN}/clients/${confidential.client.client_id}`, { jwks: { keys: [rs.jwk] } }, await owner());
    expect(onSecretClient.status).toBe(400);
  });
});

// ---------------------------------------------------------------- passwordless at the pages

describe("the sign-in page of a tenant with passwordless sign-in", () => {
  const PL = "pl";
  const PB = base(APP, PL);
  const LINK_BASE = "https://app.example/auth";
  let plClient: Created;
  beforeAll(async () => {
    const put = await json("PUT", `/admin/apps/${APP}/tenants/${PL}`, { login_methods: ["emailpassword", "passwordless"], link_base_url: LINK_BASE }, await owner());
    if (put.status >= 300) throw new Error(`put tenant: ${put.status} ${put.text}`);
    const delivery = await json("PUT", `/admin/apps/${APP}/email-delivery`, { kind: "outbox" }, await owner());
    if (delivery.status !== 200) throw new Error(`delivery: ${delivery.status} ${delivery.text}`);
    const settings = await json("PUT", `/admin/apps/${APP}/tenants/${PL}/oauth`, SETTINGS, await owner());
    if (settings.status !== 200) throw new Error(`settings: ${settings.status} ${settings.text}`);
    plClient = await createClient({ name: "Code client", type: "public", redirect_uris: [LOOPBACK_REDIRECT], scopes: ["mcp:tools"] }, `/admin/apps/${APP}/tenants/${PL}`);
  });

  /** The newest outbox message to `to` (the queue is asynchronous: polled, bounded). */
  async function mailTo(to: string): Promise<any> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const res = await json("GET", `/admin/apps/${APP}/outbox?to=${encodeURIComponent(to)}`, undefined, await owner());
      if (res.status !== 200) throw new Error(`outbox: ${res.status} ${res.text}`);
      if (res.body.items.length > 0) return res.body.items[0];
      if (Date.now() > deadline) throw new Error(`no message to ${to}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("signs a new address up with an emailed code, then consents: the flow completes and the user exists in the tenant", async () => {
    const issuer = `${ISSUER_ORIGIN}${PB}`;
    const config = await configFor(plClient.client.client_id, client.None(), "oauth2", issuer);
    const flow = await authorizationRequest(config, { redirect_uri: LOOPBACK_REDIRECT, scope: "mcp:tools" });
    const browser = new Browser();
    const signin = await browser.get(flow.url);
    expect(signin.status).toBe(200);
    expect(signin.html).toContain("Email me a code");
    const email = `coded-${Date.now()}@example.com`;
    const start = form(signin, "passwordless");
    const codePage = await browser.post(start.action, { ...start.fields, email });
    expect(codePage.status, codePage.html.slice(0, 300)).toBe(200);
    expect(codePage.headers.get("content-security-policy")).toContain("default-src 'none'");
    const message = await mailTo(email);
    expect(message).toMatchObject({ type: "passwordless", to: email });
    const entry = form(codePage, "code");
    const wrong = String((Number(message.code) + 1) % 1_000_000).padStart(6, "0");
    const refusedCode = await browser.post(entry.action, { ...entry.fields, code: wrong });
    expect(refusedCode.status).toBe(401);
    expect(browser.jar.has("tessera_oauth_session")).toBe(false);
    const signedIn = await browser.post(entry.action, { ...entry.fields, code: message.code });
    expect(signedIn.status).toBe(303);
    expect(browser.jar.has("tessera_oauth_session")).toBe(true);
    const consent = await browser.get(new URL(signedIn.location!, signedIn.url));
    expect(consent.status).toBe(200);
    expect(consent.html).toContain(email);
    const decision = form(consent, "consent");
    const back = await browser.post(decision.action, { ...decision.fields, decision: "approve" });
    expect(back.status).toBe(302);
    const tokens = await client.authorizationCodeGrant(config, new URL(back.location!), { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
    const plKey = await apiKey(APP, PL);
    const found = await introspect(APP, PL, plKey, tokens.access_token);
    expect(found).toMatchObject({ active: true, client_id: plClient.client.client_id, status: "active", plan_tier: "free" });
    // The user exists in the tenant now, signed up by its emailed code.
    const users = await json("GET", `/admin/apps/${APP}/tenants/${PL}/users?email=${encodeURIComponent(email)}`, undefined, await owner());
    expect(users.status, users.text).toBe(200);
    expect(users.body.items.map((u: any) => u.email)).toEqual([email]);
  });

  it("is not offered where the tenant has no passwordless sign-in, and a posted step is refused", async () => {
    const config = await publicConfig();
    const flow = await authorizationRequest(config, publicParams);
    const browser = new Browser();
    const signin = await browser.get(flow.url);
    expect(signin.html).not.toContain("Email me a code");
    const { action, fields } = form(signin, "signin");
    const refusedStart = await browser.post(action, { ...fields, step: "passwordless", email: "someone@example.com" });
    expect(refusedStart.status).toBe(403);
  });
});

// ---------------------------------------------------------------- third-party sign-in at the pages

describe("the sign-in page of a tenant with an identity provider", () => {
  const TP = "tpp";
  const TB = base(APP, TP);
  const TISSUER = `${ISSUER_ORIGIN}${TB}`;
  const CALLBACK = `${TISSUER}/oauth/callback`;
  let idp: OidcProvider;
  let tpClient: Created;
  beforeAll(async () => {
    idp = await startOidcProvider([CALLBACK]);
    const put = await json("PUT", `/admin/apps/${APP}/tenants/${TP}`, { login_methods: ["emailpassword", "thirdparty"] }, await owner());
    if (put.status >= 300) throw new Error(`put tenant: ${put.status} ${put.text}`);
    const provider = await json("PUT", `/admin/apps/${APP}/tenants/${TP}/providers/idp`, { kind: "oidc", issuer: idp.issuer, client_id: IDP_CLIENT_ID, client_secret: IDP_CLIENT_SECRET }, await owner());
    if (provider.status !== 201) throw new Error(`provider: ${provider.status} ${provider.text}`);
    const settings = await json("PUT", `/admin/apps/${APP}/tenants/${TP}/oauth`, SETTINGS, await owner());
    if (settings.status !== 200) throw new Error(`settings: ${settings.status} ${settings.text}`);
    tpClient = await createClient({ name: "Federated client", type: "public", redirect_uris: [LOOPBACK_REDIRECT], scopes: ["mcp:tools"] }, `/admin/apps/${APP}/tenants/${TP}`);
  });
  afterAll(async () => {
    await idp?.stop();
  });

  it("signs a new person up through the provider and back to consent; the client gets tokens of that user", async () => {
    const config = await configFor(tpClient.client.client_id, client.None(), "oauth2", TISSUER);
    // A long request (an MCP server's resource): the flow cookie that carries it is well over
    // 512 characters.
    const resource = `https://mcp.example/${"servers/".repeat(40)}mcp`;
    const flow = await authorizationRequest(config, { redirect_uri: LOOPBACK_REDIRECT, scope: "mcp:tools", resource });
    const browser = new Browser();
    const signin = await browser.get(flow.url);
    expect(signin.status).toBe(200);
    expect(signin.html).toContain("Continue with idp");
    expect(signin.headers.get("content-security-policy")).toContain(new URL(idp.issuer).origin);
    const choice = form(signin, "thirdparty");
    const away = await browser.post(choice.action, { ...choice.fields, provider: "idp" });
    expect(away.status, away.html.slice(0, 300)).toBe(303);
    expect(away.location!.startsWith(`${idp.issuer}/`)).toBe(true);
    expect(browser.jar.get("tessera_oauth_flow")!.length).toBeGreaterThan(512);
    const who = `fed-${Date.now()}`;
    idp.accounts.set(who, { email: `${who}@example.com`, email_verified: true });
    idp.loginAs(who);
    const back = await browse(away.location!, CALLBACK);
    // Another browser (no flow cookie) cannot use what the provider handed back.
    const stranger = await new Browser().get(`${CALLBACK}?code=${encodeURIComponent(back.code)}&state=${encodeURIComponent(back.state)}`);
    expect(stranger.status).toBe(400);
    expect(stranger.location).toBeNull();
    const signedIn = await browser.get(`${CALLBACK}?code=${encodeURIComponent(back.code)}&state=${encodeURIComponent(back.state)}`);
    expect(signedIn.status, signedIn.html.slice(0, 300)).toBe(303);
    expect(browser.jar.has("tessera_oauth_session")).toBe(true);
    expect(browser.jar.has("tessera_oauth_flow"), "the flow cookie is cleared").toBe(false);
    const consent = await browser.get(new URL(signedIn.location!, signedIn.url));
    expect(consent.html).toContain(`${who}@example.com`);
    const decision = form(consent, "consent");
    const toClient = await browser.post(decision.action, { ...decision.fields, decision: "approve" });
    expect(toClient.status).toBe(302);
    const tokens = await client.authorizationCodeGrant(config, new URL(toClient.location!), { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
    const found = await introspect(APP, TP, await apiKey(APP, TP), tokens.access_token);
    expect(found).toMatchObject({ active: true, client_id: tpClient.client.client_id, status: "active" });
    // Replayed, the provider's answer signs nobody in.
    const replay = await browser.get(`${CALLBACK}?code=${encodeURIComponent(back.code)}&state=${encodeURIComponent(back.state)}`);
    expect(replay.status).toBe(400);
  });
});

// ---------------------------------------------------------------- refusals

describe("refusals", () => {
  it("refuse a code with a wrong code_verifier: invalid_grant", async () => {
    const config = await publicConfig();
    const flow = await authorizationRequest(config, publicParams);
    const { back } = await drive(new Browser(), flow.url, await endUser());
    const res = await refused(client.authorizationCodeGrant(config, back, { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: flow.state }));
    expect(res).toMatchObject({ status: 400, error: "invalid_grant" });
  });

  it("refuse a code used twice, and revoke what its first use gave", async () => {
    const config = await publicConfig();
    const { flow, back, tokens } = await grant(config, await endUser(), publicParams);
    expect((await introspect(APP, TENANT, key, tokens.access_token)).active).toBe(true);
    const replay = await refused(client.authorizationCodeGrant(config, back, { pkceCodeVerifier: flow.verifier, expectedState: flow.state }));
    expect(replay).toMatchObject({ status: 400, error: "invalid_grant" });
    expect(await introspect(APP, TENANT, key, tokens.access_token)).toEqual({ active: false });
    expect(await refused(client.refreshTokenGrant(config, tokens.refresh_token!))).toMatchObject({ error: "invalid_grant" });
  });

  it("answer a redirect_uri the client did not register with an HTML 400 page, never a redirect", async () => {
    const config = await publicConfig();
    const flow = await authorizationRequest(config, { ...publicParams, redirect_uri: "https://evil.example/callback" });
    const page = await new Browser().get(flow.url);
    expect(page.status).toBe(400);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.location).toBeNull();
    // An unknown client alike.
    const unknown = new URL(flow.url);
    unknown.searchParams.set("client_id", "tsc_AAAAAAAAAAAAAAAAAAAAAA");
    unknown.searchParams.set("redirect_uri", LOOPBACK_REDIRECT);
    const none = await new Browser().get(unknown);
    expect(none.status).toBe(400);
    expect(none.location).toBeNull();
  });

  it("send a request without code_challenge back to the client: invalid_request with state and iss", async () => {
    const config = await publicConfig();
    const url = client.buildAuthorizationUrl(config, { ...publicParams, state: "s-123" });
    expect(url.searchParams.has("code_challenge")).toBe(false);
    const page = await new Browser().get(url);
    expect(page.status).toBe(302);
    const back = new URL(page.location!);
    expect(`${back.origin}${back.pathname}`).toBe(LOOPBACK_REDIRECT);
    expect(back.searchParams.get("error")).toBe("invalid_request");
    expect(back.searchParams.get("state")).toBe("s-123");
    expect(back.searchParams.get("iss")).toBe(ISSUER);
    expect(back.searchParams.get("code")).toBeNull();
  });

  it("know a client only at its own tenant", async () => {
    // At tenant beta, acme's public client is unknown: the error page.
    const other = await configFor(publicClient.client.client_id, client.None(), "oauth2", OTHER_ISSUER);
    const flow = await authorizationRequest(other, publicParams);
    expect(flow.url.href.startsWith(`${OTHER_ISSUER}/oauth/authorize?`)).toBe(true);
    const page = await new Browser().get(flow.url);
    expect(page.status).toBe(400);
    expect(page.location).toBeNull();
    // And at beta's token endpoint, acme's clients are invalid_client.
    const confidentialThere = await configFor(confidential.client.client_id, client.ClientSecretBasic(confidential.secret!), "oidc", OTHER_ISSUER);
    expect(await refused(client.clientCredentialsGrant(confidentialThere))).toMatchObject({ status: 401, error: "invalid_client" });
    const publicThere = await tokenRequest(base(APP, OTHER), {
      grant_type: "authorization_code", client_id: publicClient.client.client_id, code: "tsa_not-a-code",
      redirect_uri: LOOPBACK_REDIRECT, code_verifier: client.randomPKCECodeVerifier(),
    });
    expect(publicThere.status).toBe(401);
    expect(publicThere.body.error).toBe("invalid_client");
  });

  it("refuse a consent post without its CSRF token (403, no redirect) and one with another's", async () => {
    const config = await publicConfig();
    const flow = await authorizationRequest(config, publicParams);
    const browser = new Browser();
    const { pages } = await drive(browser, flow.url, await endUser(), "approve", true);
    const consent = pages[pages.length - 1];
    const { action, fields } = form(consent);
    const without = await browser.post(action, { request: fields.request, step: "consent", decision: "approve" });
    expect(without.status).toBe(403);
    expect(without.location).toBeNull();
    expect(without.headers.get("content-type")).toMatch(/^text\/html/);
    // The token of another browser (another CSRF cookie) is no better.
    const stranger = new Browser();
    const strangerPage = await stranger.get(flow.url);
    const foreign = form(strangerPage).fields.csrf;
    expect(foreign).toBeTruthy();
    const mixed = await browser.post(action, { csrf: foreign, request: fields.request, step: "consent", decision: "approve" });
    expect(mixed.status).toBe(403);
    expect(mixed.location).toBeNull();
    // Nothing happened: the right token still approves, once.
    const right = await browser.post(action, { csrf: fields.csrf, request: fields.request, step: "consent", decision: "approve" });
    expect(right.status).toBe(302);
    expect(new URL(right.location!).searchParams.get("code")).toBeTruthy();
  });

  it("never take an OAuth grant's access token at /auth/me", async () => {
    const { tokens } = await grant(await publicConfig(), await endUser(), publicParams);
    expect((await introspect(APP, TENANT, key, tokens.access_token)).active).toBe(true);
    const me = await json("GET", `${B}/auth/me`, undefined, bearer(tokens.access_token));
    expect(me.status).toBe(401);
    expect(me.body.code).toBe("invalid_token");
  });
});

// ---------------------------------------------------------------- registration and grants

describe("dynamic client registration (RFC 7591)", () => {
  const OPEN = "reg-open";
  const APPROVAL = "reg-approval";
  const register = (tenant: string, body: unknown, ip = "192.0.2.10") =>
    json("POST", `${base(APP, tenant)}/oauth/register`, body, { "cf-connecting-ip": ip });
  const native = { redirect_uris: [LOOPBACK_REDIRECT], token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"], client_name: "MCP client", scope: "mcp:tools" };

  beforeAll(async () => {
    for (const [tenant, registration] of [[OPEN, "open"], [APPROVAL, "approval"]]) {
      await putTenant(APP, tenant);
      const put = await json("PUT", `/admin/apps/${APP}/tenants/${tenant}/oauth`, { ...SETTINGS, registration }, await owner());
      if (put.status !== 200) throw new Error(`settings: ${put.status} ${put.text}`);
    }
  });

  it("is refused where the tenant does not accept it, and advertised where it does", async () => {
    const off = await register(TENANT, native);
    expect(off.status).toBe(403);
    expect(off.body.error).toBe("access_denied");
    const meta = await json("GET", `/.well-known/oauth-authorization-server${base(APP, OPEN)}`);
    expect(meta.body.registration_endpoint).toBe(`${ISSUER_ORIGIN}${base(APP, OPEN)}/oauth/register`);
    const none = await json("GET", `/.well-known/oauth-authorization-server${B}`);
    expect(none.body.registration_endpoint).toBeUndefined();
  });

  it("makes a usable public client under open, which completes the code flow", async () => {
    const made = await register(OPEN, native);
    expect(made.status, made.text).toBe(201);
    expect(made.body).toMatchObject({ client_name: "MCP client", token_endpoint_auth_method: "none", redirect_uris: [LOOPBACK_REDIRECT], scope: "mcp:tools", status: "active" });
    expect(made.body.client_secret).toBeUndefined();
    const user = await endUser(base(APP, OPEN));
    const config = await configFor(made.body.client_id, client.None(), "oauth2", `${ISSUER_ORIGIN}${base(APP, OPEN)}`);
    const { tokens } = await grant(config, user, { redirect_uri: LOOPBACK_REDIRECT, scope: "mcp:tools" });
    expect(claims(tokens.access_token)[1]).toMatchObject({ sub: user.id, client_id: made.body.client_id, scope: "mcp:tools" });
    const audit = await json("GET", `/admin/apps/${APP}/audit?limit=200`, undefined, await owner());
    expect(audit.body.items.some((e: any) => e.action === "client.register" && e.actor === "registration:dynamic" && e.target === made.body.client_id)).toBe(true);
  });

  it("gives a confidential client its secret once, and never client_credentials", async () => {
    const cc = await register(OPEN, { redirect_uris: [WEB_REDIRECT], grant_types: ["client_credentials"], scope: "files:read" });
    expect(cc.status).toBe(400);
    expect(cc.body.error).toBe("invalid_client_metadata");
    const made = await register(OPEN, { redirect_uris: [WEB_REDIRECT], grant_types: ["authorization_code", "refresh_token"], scope: "files:read" });
    expect(made.status, made.text).toBe(201);
    expect(made.body.token_endpoint_auth_method).toBe("client_secret_basic");
    expect(made.body.client_secret).toMatch(/^tss_/);
    expect(made.body.client_secret_expires_at).toBe(0);
    // The secret authenticates the client: a made-up code is refused as a grant, not the client.
    const code = await tokenRequest(base(APP, OPEN), { grant_type: "authorization_code", code: "tsa_" + "A".repeat(43), redirect_uri: WEB_REDIRECT, code_verifier: "v".repeat(43) }, basic(made.body.client_id, made.body.client_secret));
    expect(code.body.error).toBe("invalid_grant");
    const wrong = await tokenRequest(base(APP, OPEN), { grant_type: "authorization_code", code: "tsa_" + "A".repeat(43) }, basic(made.body.client_id, "tss_" + "B".repeat(43)));
    expect(wrong.body.error).toBe("invalid_client");
  });

  it("keeps a client registered under approval pending until a member approves it", async () => {
    const made = await register(APPROVAL, native);
    expect(made.status, made.text).toBe(201);
    expect(made.body.status).toBe("pending");
    const config = await configFor(made.body.client_id, client.None(), "oauth2", `${ISSUER_ORIGIN}${base(APP, APPROVAL)}`);
    const flow = await authorizationRequest(config, { redirect_uri: LOOPBACK_REDIRECT, scope: "mcp:tools" });
    const pending = await new Browser().get(flow.url);
    expect(pending.status).toBe(400);
    expect(pending.location).toBeNull();
    const approved = await json("PATCH", `/admin/apps/${APP}/tenants/${APPROVAL}/clients/${made.body.client_id}`, { status: "active" }, await owner());
    expect(approved.status, approved.text).toBe(200);
    const page = await new Browser().get(flow.url);
    expect(page.status).toBe(200);
    expect(form(page).fields.step).toBe("signin");
  });

  it("refuses bad metadata with RFC 7591 errors", async () => {
    const badUri = await register(OPEN, { ...native, redirect_uris: ["ftp://x.example/cb"] });
    expect(badUri.status).toBe(400);
    expect(badUri.body.error).toBe("invalid_redirect_uri");
    const implicit = await register(OPEN, { ...native, response_types: ["token"] });
    expect(implicit.status).toBe(400);
    expect(implicit.body.error).toBe("invalid_client_metadata");
    const scope = await register(OPEN, { ...native, scope: "admin:all" });
    expect(scope.status).toBe(400);
    expect(scope.body.error).toBe("invalid_client_metadata");
    const notJson = await json("POST", `${base(APP, OPEN)}/oauth/register`, "nope", { "content-type": "application/json" });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toBe("invalid_client_metadata");
  });
});

describe("an end user's grants", () => {
  it("lists the clients the user consented to, and revokes one with everything it holds", async () => {
    const user = await endUser();
    const config = await publicConfig();
    const { tokens } = await grant(config, user, publicParams);
    const signin = await json("POST", `${B}/auth/signin`, { email: user.email, password: PASSWORD }, { "cf-connecting-ip": `198.51.100.${user.n}` });
    expect(signin.status, signin.text).toBe(200);
    const own = bearer(signin.body.session.access_token);
    const listed = await json("GET", `${B}/auth/grants`, undefined, own);
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.items).toEqual([
      expect.objectContaining({ client_id: publicClient.client.client_id, client_name: PUBLIC_NAME, scopes: ["mcp:tools"] }),
    ]);
    const withOAuthToken = await json("GET", `${B}/auth/grants`, undefined, bearer(tokens.access_token));
    expect(withOAuthToken.status).toBe(401);
    const revoked = await json("DELETE", `${B}/auth/grants/${publicClient.client.client_id}`, undefined, own);
    expect(revoked.status, revoked.text).toBe(204);
    expect((await introspect(APP, TENANT, key, tokens.access_token)).active).toBe(false);
    const refreshed = await refused(client.refreshTokenGrant(config, tokens.refresh_token!));
    expect(refreshed.error).toBe("invalid_grant");
    const again = await json("DELETE", `${B}/auth/grants/${publicClient.client.client_id}`, undefined, own);
    expect(again.status, "idempotent").toBe(204);
    expect((await json("GET", `${B}/auth/grants`, undefined, own)).body.items).toEqual([]);
  });
});

describe("a confidential client at introspection", () => {
  it("sees and revokes its own tokens only, with HTTP Basic", async () => {
    const introspectAs = async (id: string, secret: string, token: string) =>
      json("POST", `${B}/oauth/introspect`, new URLSearchParams({ token }).toString(), {
        "content-type": "application/x-www-form-urlencoded",
        ...basic(id, secret),
      });
    const own = await tokenRequest(B, { grant_type: "client_credentials" }, basic(confidential.client.client_id, confidential.secret!));
    const other = await tokenRequest(B, { grant_type: "client_credentials" });
    expect(own.status, own.text).toBe(200);
    expect(other.status).toBe(401);
    const post = await json("POST", `${B}/oauth/token`, new URLSearchParams({ grant_type: "client_credentials", client_id: postClient.client.client_id, client_secret: postClient.secret! }).toString(), { "content-type": "application/x-www-form-urlencoded" });
    expect(post.status, post.text).toBe(200);
    const mine = await introspectAs(confidential.client.client_id, confidential.secret!, own.body.access_token);
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ active: true, client_id: confidential.client.client_id });
    const theirs = await introspectAs(confidential.client.client_id, confidential.secret!, post.body.access_token);
    expect(theirs.body).toEqual({ active: false });
    const wrong = await introspectAs(confidential.client.client_id, "tss_" + "A".repeat(43), own.body.access_token);
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe("invalid_client");
  });
});

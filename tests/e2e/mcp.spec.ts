// An MCP client nobody here wrote — the official TypeScript SDK (@modelcontextprotocol/sdk),
// its own OAuth machinery (`auth()` inside `StreamableHTTPClientTransport`) — gets into an MCP
// server whose authorization server is a Tessera tenant, and stays in when its access token
// expires.
//
// The MCP server is a fixture of this file, run in-process: the SDK's server side (`McpServer`
// over `WebStandardStreamableHTTPServerTransport`, stateless, JSON answers) behind a guard that
// does what an MCP server of the MCP authorization spec does: it publishes its RFC 9728
// protected resource metadata naming the tenant as its authorization server, answers `401`
// with `WWW-Authenticate: Bearer resource_metadata=…` without a valid token, and validates a
// token by asking Tessera's `/oauth/introspect` with a tenant API key (scope `introspect`),
// admitting it only when active, for its own audience (`aud`, from RFC 8707 `resource`) and
// with the `mcp:tools` scope.
//
// Nothing listens: the SDK takes a custom `fetch`, and `route` sends each request either to the
// fixture (origin https://mcp.example) or to the worker (origin ISSUER_ORIGIN, dispatched like
// every spec's requests), adding the harness clock header to the worker's. The client's
// redirect URI is a loopback one (RFC 8252) that nothing needs to serve either: the provider's
// `redirectToAuthorization` drives Tessera's sign-in and consent pages with plain requests
// (keeping their cookies itself, as oauth.spec.ts's Browser does) and reads the code from the
// consent's redirect.
//
// The story: 401 → protected resource metadata → authorization server metadata → dynamic
// registration → PKCE authorization (pages) → code exchange → initialize and a tool call;
// then the clock moves past the 60 s access token lifetime (the tenant's
// `access_token_ttl_seconds`), the server's introspection says inactive, and the SDK refreshes
// on its own (a rotated refresh token) and the same call succeeds — without the user.
import { beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";
import { useWorker, json, rawFetch, ISSUER_ORIGIN, CLOCK_HEADER } from "./harness";
import { owner, createApp, putTenant, apiKey, base, decode, PASSWORD } from "./support";

useWorker();

const APP = "mcp";
const TENANT = "acme";
const B = base(APP, TENANT);
const ISSUER = `${ISSUER_ORIGIN}${B}`;
const ADMIN = `/admin/apps/${APP}/tenants/${TENANT}`;
/** The tenant's settings: open registration, one scope, access tokens of 60 s (the minimum). */
const TTL_SECONDS = 60;
const SETTINGS = {
  registration: "open",
  client_id_metadata_documents: false,
  scopes: { "mcp:tools": "Use the MCP server's tools" },
  access_token_ttl_seconds: TTL_SECONDS,
};

/** The MCP server fixture: its origin, its endpoint (= its RFC 8707 resource) and metadata. */
const MCP_ORIGIN = "https://mcp.example";
const MCP_URL = `${MCP_ORIGIN}/mcp`;
/** RFC 9728 §3.1: the well-known name inserted before the resource's path. */
const PRM_URL = `${MCP_ORIGIN}/.well-known/oauth-protected-resource/mcp`;
/** The MCP client's loopback redirect (RFC 8252 §7.3); nothing listens there. */
const REDIRECT = "http://127.0.0.1:33419/callback";
const CLIENT_NAME = "SDK test client";
const USER = { email: "mcp-user@example.com", password: PASSWORD };

/** The worker's clock for every request this spec makes to it (ms since the epoch). */
let now = Date.now();
let introspectionKey = "";
let userId = "";

beforeAll(async () => {
  await createApp(APP);
  await putTenant(APP, TENANT);
  introspectionKey = await apiKey(APP, TENANT, ["introspect"]);
  const put = await json("PUT", `${ADMIN}/oauth`, SETTINGS, await owner());
  if (put.status !== 200) throw new Error(`oauth settings: ${put.status} ${put.text}`);
  const signup = await json("POST", `${B}/auth/signup`, USER, { "cf-connecting-ip": "198.51.100.40" });
  if (signup.status !== 201) throw new Error(`signup: ${signup.status} ${signup.text}`);
  userId = signup.body.user.id;
  now = Date.now();
});

// ---------------------------------------------------------------- the routed fetch

interface Seen {
  method: string;
  /** origin + path (no query). */
  url: string;
  status: number;
  /** The form fields of a token request (the SDK's own). */
  form?: Record<string, string>;
}
/** Every request the SDK (client side) made, in order, with its answer's status. */
const seen: Seen[] = [];

function toUrl(input: string | URL | Request): URL {
  return new URL(typeof input === "string" || input instanceof URL ? input : input.url);
}

/** The worker, at the clock `now`, from an address of its own. */
function toWorker(url: URL, init: RequestInit = {}): Promise<Response> {
  if (url.origin !== ISSUER_ORIGIN) throw new Error(`${url.href} is not the worker's`);
  const headers = new Headers(init.headers);
  headers.set(CLOCK_HEADER, String(now));
  headers.set("cf-connecting-ip", "203.0.113.40");
  return rawFetch(url.pathname + url.search, { ...init, headers });
}

/** The SDK's fetch: the MCP server fixture or the worker, by origin; nothing else exists. */
async function route(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const url = toUrl(input);
  let res: Response;
  if (url.origin === MCP_ORIGIN) res = await mcpServer(new Request(url, init));
  else if (url.origin === ISSUER_ORIGIN) res = await toWorker(url, init);
  else throw new TypeError(`no route to ${url.href}`);
  const entry: Seen = { method: init.method ?? "GET", url: `${url.origin}${url.pathname}`, status: res.status };
  if (url.pathname.endsWith("/oauth/token") && init.body instanceof URLSearchParams) {
    entry.form = Object.fromEntries(init.body);
  }
  seen.push(entry);
  return res;
}

// ---------------------------------------------------------------- the MCP server fixture

interface Verdict {
  /** The token presented (absent: none). */
  token?: string;
  accepted: boolean;
  /** Why it was refused. */
  reason?: string;
}
/** What the fixture's guard decided, request by request. */
const verdicts: Verdict[] = [];

/** RFC 6750 §3: the challenge, naming the protected resource metadata (RFC 9728 §5.1). */
function challenge(error?: string): Response {
  const params = [`resource_metadata="${PRM_URL}"`, `scope="mcp:tools"`];
  if (error) params.push(`error="${error}"`);
  return new Response(JSON.stringify({ error: error ?? "unauthorized" }), {
    status: 401,
    headers: { "content-type": "application/json", "www-authenticate": `Bearer ${params.join(", ")}` },
  });
}

/** The bearer token of `req`, checked at Tessera's introspection endpoint with the API key. */
async function authenticate(req: Request): Promise<AuthInfo | Verdict> {
  const token = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "")?.[1];
  if (!token) return { accepted: false, reason: "no token" };
  const res = await toWorker(new URL(`${ISSUER}/oauth/introspect`), {
    method: "POST",
    headers: { authorization: `Bearer ${introspectionKey}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }).toString(),
  });
  if (res.status !== 200) throw new Error(`introspection: ${res.status} ${await res.text()}`);
  const info: any = await res.json();
  const scopes = typeof info.scope === "string" ? info.scope.split(" ") : [];
  const audiences = Array.isArray(info.aud) ? info.aud : [info.aud];
  if (info.active !== true) return { token, accepted: false, reason: "inactive" };
  if (!audiences.includes(MCP_URL)) return { token, accepted: false, reason: `audience ${info.aud}` };
  if (!scopes.includes("mcp:tools")) return { token, accepted: false, reason: `scope ${info.scope}` };
  return { token, clientId: info.client_id, scopes, expiresAt: info.exp, resource: new URL(MCP_URL), extra: { sub: info.sub } };
}

/** The MCP server: metadata, the guard, then the SDK's server side (one per request, stateless). */
async function mcpServer(req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (url.pathname === new URL(PRM_URL).pathname) {
    if (req.method !== "GET") return new Response(null, { status: 405 });
    return Response.json({
      resource: MCP_URL,
      authorization_servers: [ISSUER],
      scopes_supported: ["mcp:tools"],
      bearer_methods_supported: ["header"],
      resource_name: "Tessera's test MCP server",
    });
  }
  if (url.pathname !== "/mcp") return new Response("not found", { status: 404 });
  const auth = await authenticate(req);
  if (!("clientId" in auth)) {
    verdicts.push(auth);
    return challenge(auth.token ? "invalid_token" : undefined);
  }
  verdicts.push({ token: auth.token, accepted: true });
  // No standalone SSE stream is offered (the spec lets a server answer 405 to GET).
  if (req.method !== "POST") return new Response(null, { status: 405, headers: { allow: "POST" } });
  const server = new McpServer({ name: "tessera-test-mcp", version: "1.0.0" });
  server.registerTool("whoami", { description: "Who the access token speaks for" }, async (extra) => ({
    content: [{
      type: "text" as const,
      text: JSON.stringify({ sub: extra.authInfo?.extra?.sub, client_id: extra.authInfo?.clientId, scopes: extra.authInfo?.scopes }),
    }],
  }));
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  const res = await transport.handleRequest(req, { authInfo: auth });
  await server.close();
  return res;
}

// ---------------------------------------------------------------- the pages, as a user

/** The hidden fields and action of the page's form. */
function form(html: string, pageUrl: string): { action: string; fields: Record<string, string> } {
  const unescape = (s: string) =>
    s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  const tag = /<form\b[^>]*\baction="([^"]*)"/i.exec(html);
  if (!tag) throw new Error(`${pageUrl}: no form in ${html.slice(0, 300)}`);
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]!] = unescape(m[2]!);
  return { action: new URL(unescape(tag[1]!), pageUrl).href, fields };
}

/** What the user saw on the way through the pages. */
const pagesSeen: { step: string; html: string }[] = [];

/**
 * Follows an authorization URL as the user would: signs in, allows, and returns where the
 * worker sends the browser back (the client's redirect URI with its parameters).
 */
async function actAsUser(start: URL): Promise<URL> {
  const jar = new Map<string, string>();
  const send = async (url: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (jar.size) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await toWorker(new URL(url), { ...init, headers, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      jar.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    return res;
  };
  let url = start.href;
  let res = await send(url);
  for (let hops = 0; hops < 6; hops++) {
    if (res.status === 302 || res.status === 303) {
      const next = new URL(res.headers.get("location")!, url);
      if (next.origin !== ISSUER_ORIGIN) return next;
      url = next.href;
      res = await send(url);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${html.slice(0, 300)}`);
    const { action, fields } = form(html, url);
    pagesSeen.push({ step: fields.step ?? "?", html });
    const answer =
      fields.step === "signin" ? { ...fields, email: USER.email, password: USER.password } : { ...fields, decision: "approve" };
    res = await send(action, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(answer).toString(),
    });
    url = action;
  }
  throw new Error("no way out of the pages");
}

// ---------------------------------------------------------------- the client's provider

/** The MCP client's OAuth state, in memory; `redirectToAuthorization` plays the user. */
class TestProvider implements OAuthClientProvider {
  client?: OAuthClientInformationMixed;
  current?: OAuthTokens;
  /** Every token set the SDK saved, in order. */
  readonly saved: OAuthTokens[] = [];
  readonly authorizationUrls: URL[] = [];
  /** What came back to the redirect URI. */
  readonly callbacks: URL[] = [];
  private verifier?: string;
  private lastState?: string;

  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: CLIENT_NAME,
      redirect_uris: [REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  state() {
    this.lastState = crypto.randomUUID();
    return this.lastState;
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.current;
  }
  saveTokens(tokens: OAuthTokens) {
    this.current = tokens;
    this.saved.push(tokens);
  }
  async redirectToAuthorization(url: URL) {
    this.authorizationUrls.push(url);
    const back = await actAsUser(url);
    if (back.searchParams.get("state") !== this.lastState) throw new Error(`state mismatch in ${back.href}`);
    this.callbacks.push(back);
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    if (!this.verifier) throw new Error("no code verifier saved");
    return this.verifier;
  }
  /** The code of the last callback. */
  code(): string {
    const code = this.callbacks.at(-1)?.searchParams.get("code");
    if (!code) throw new Error(`no code in ${this.callbacks.at(-1)?.href}`);
    return code;
  }
}

const claims = (jwt: string) => jwt.split(".").slice(0, 2).map(decode) as [any, any];
const index = (method: string, url: string, from = 0) => seen.findIndex((s, i) => i >= from && s.method === method && s.url === url);

// ---------------------------------------------------------------- the story

describe("the MCP TypeScript SDK against a tenant's authorization server", () => {
  const provider = new TestProvider();
  let client: Client;
  let transport: StreamableHTTPClientTransport;

  const connect = async () => {
    transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: route });
    client = new Client({ name: "tessera-e2e", version: "1.0.0" });
    await client.connect(transport);
  };

  it("is sent to the tenant by the server's 401 and resource metadata, registers, and brings a code back", async () => {
    // The first connection: no token → 401 → the SDK's auth() ends in redirectToAuthorization.
    await expect(connect()).rejects.toBeInstanceOf(UnauthorizedError);
    expect(verdicts[0]).toEqual({ accepted: false, reason: "no token" });

    // The SDK found its way by itself, in this order.
    const first = index("POST", MCP_URL);
    const prm = index("GET", PRM_URL, first);
    const asMeta = index("GET", `${ISSUER_ORIGIN}/.well-known/oauth-authorization-server${B}`, prm);
    const register = index("POST", `${ISSUER}/oauth/register`, asMeta);
    expect(seen[first]!.status).toBe(401);
    expect([prm, asMeta, register].every((i) => i > first), JSON.stringify(seen)).toBe(true);
    expect(seen[prm]!.status).toBe(200);
    expect(seen[asMeta]!.status).toBe(200);
    expect(seen[register]!.status).toBe(201);

    // Registered dynamically: a public client, active under open registration.
    expect(provider.client?.client_id).toMatch(/^tsc_/);
    expect(provider.client).not.toHaveProperty("client_secret");
    const registered = await json("GET", `${ADMIN}/clients/${provider.client!.client_id}`, undefined, await owner());
    expect(registered.status, registered.text).toBe(200);
    expect(registered.body.client).toMatchObject({
      name: CLIENT_NAME, type: "public", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none", status: "active", scopes: ["mcp:tools"],
    });

    // The authorization request: PKCE S256, the scope and the resource from the metadata.
    expect(provider.authorizationUrls).toHaveLength(1);
    const request = provider.authorizationUrls[0]!;
    expect(`${request.origin}${request.pathname}`).toBe(`${ISSUER}/oauth/authorize`);
    expect(Object.fromEntries(request.searchParams)).toMatchObject({
      response_type: "code", client_id: provider.client!.client_id, redirect_uri: REDIRECT,
      code_challenge_method: "S256", scope: "mcp:tools", resource: MCP_URL,
    });
    expect(request.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // The user signed in and allowed it on Tessera's pages, which named the client and the scope.
    expect(pagesSeen.map((p) => p.step)).toEqual(["signin", "consent"]);
    expect(pagesSeen[1]!.html).toContain(CLIENT_NAME);
    expect(pagesSeen[1]!.html).toContain("Use the MCP server&#39;s tools");
    expect(pagesSeen[1]!.html).toContain("127.0.0.1:33419");
    const back = provider.callbacks[0]!;
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(back.searchParams.get("iss")).toBe(ISSUER);
    expect(provider.tokens()).toBeUndefined();
  });

  it("exchanges the code with its verifier for a token of the MCP server's audience, and calls a tool", async () => {
    await transport.finishAuth(provider.code());
    const exchange = seen.filter((s) => s.form?.grant_type === "authorization_code");
    expect(exchange).toHaveLength(1);
    expect(exchange[0]!.status).toBe(200);
    expect(exchange[0]!.form).toMatchObject({ client_id: provider.client!.client_id, redirect_uri: REDIRECT, resource: MCP_URL });
    expect(exchange[0]!.form!.code_verifier).toMatch(/^[A-Za-z0-9._~-]{43,128}$/);

    const tokens = provider.tokens()!;
    expect(tokens).toMatchObject({ token_type: "Bearer", expires_in: TTL_SECONDS, scope: "mcp:tools" });
    expect(tokens.refresh_token).toBeTruthy();
    const [header, payload] = claims(tokens.access_token);
    expect(header).toMatchObject({ typ: "at+jwt", alg: "EdDSA" });
    expect(payload).toMatchObject({ iss: ISSUER, sub: userId, aud: MCP_URL, client_id: provider.client!.client_id, scope: "mcp:tools" });
    expect(payload.exp - payload.iat).toBe(TTL_SECONDS);

    await connect();
    const result = await client.callTool({ name: "whoami" });
    expect(JSON.parse((result.content as any)[0].text)).toEqual({ sub: userId, client_id: provider.client!.client_id, scopes: ["mcp:tools"] });
    expect(verdicts.at(-1)).toEqual({ token: tokens.access_token, accepted: true });
    // After initialization the SDK opens its optional GET stream in the background; the server
    // offers none (405). Waited for here, so no request of this token is still under way when
    // the clock moves on.
    await expect.poll(() => seen.some((s) => s.method === "GET" && s.url === MCP_URL && s.status === 405), { timeout: 5_000 }).toBe(true);
  });

  it("refreshes by itself when the access token expires, with a rotated refresh token, and the call succeeds", async () => {
    const before = provider.tokens()!;
    const authorizations = provider.authorizationUrls.length;
    const mark = seen.length;
    now += (TTL_SECONDS + 1) * 1000;

    const result = await client.callTool({ name: "whoami" });
    expect(JSON.parse((result.content as any)[0].text).sub).toBe(userId);

    // The old token was refused as expired, the SDK refreshed, and the new token was taken.
    const refused = verdicts.findIndex((v) => v.token === before.access_token && !v.accepted);
    expect(verdicts[refused]).toEqual({ token: before.access_token, accepted: false, reason: "inactive" });
    const refreshes = seen.slice(mark).filter((s) => s.form?.grant_type === "refresh_token");
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]!.status).toBe(200);
    expect(refreshes[0]!.form).toMatchObject({ refresh_token: before.refresh_token, client_id: provider.client!.client_id, resource: MCP_URL });
    const after = provider.tokens()!;
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.refresh_token).toBeTruthy();
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect(claims(after.access_token)[1]).toMatchObject({ aud: MCP_URL, sub: userId, iat: Math.floor(now / 1000) });
    expect(verdicts.at(-1)).toEqual({ token: after.access_token, accepted: true });
    // No new registration and no new visit to the pages: the user was not asked again.
    expect(provider.authorizationUrls).toHaveLength(authorizations);
    expect(seen.slice(mark).some((s) => s.url.endsWith("/oauth/register") || s.url.endsWith("/oauth/authorize"))).toBe(false);
    await client.close();
  });

  it("takes a token of the tenant only for its own audience", async () => {
    // A machine client of the tenant (client_credentials, RFC 8707 resource as audience): its
    // tokens are active at introspection whatever their audience; the server takes its own only.
    const made = await json("POST", `${ADMIN}/clients`, {
      name: "Machine", type: "confidential", redirect_uris: [REDIRECT], grant_types: ["client_credentials"], scopes: ["mcp:tools"],
    }, await owner());
    expect(made.status, made.text).toBe(201);
    const basic = `Basic ${Buffer.from(`${made.body.client.client_id}:${made.body.client_secret}`).toString("base64")}`;
    const tokenFor = async (resource?: string) => {
      const fields: Record<string, string> = { grant_type: "client_credentials", scope: "mcp:tools" };
      if (resource) fields.resource = resource;
      const res = await toWorker(new URL(`${ISSUER}/oauth/token`), {
        method: "POST",
        headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(fields).toString(),
      });
      const body: any = await res.json();
      if (res.status !== 200) throw new Error(`client_credentials: ${res.status} ${JSON.stringify(body)}`);
      return body.access_token as string;
    };
    const call = (token: string) =>
      route(MCP_URL, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "whoami", arguments: {} } }),
      });

    for (const [resource, audience] of [["https://elsewhere.example/mcp", "https://elsewhere.example/mcp"], [undefined, ISSUER]] as const) {
      const token = await tokenFor(resource);
      expect(claims(token)[1].aud).toBe(audience);
      const res = await call(token);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${PRM_URL}", scope="mcp:tools", error="invalid_token"`);
      expect(verdicts.at(-1)).toEqual({ token, accepted: false, reason: `audience ${audience}` });
    }
    const own = await tokenFor(MCP_URL);
    const res = await call(own);
    expect(res.status).toBe(200);
    const answer: any = await res.json();
    expect(JSON.parse(answer.result.content[0].text)).toEqual({ sub: made.body.client.client_id, client_id: made.body.client.client_id, scopes: ["mcp:tools"] });
  });
});

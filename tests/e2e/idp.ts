// Identity providers for the third-party sign-in specs, on 127.0.0.1 in the test process.
//
// - `startOidcProvider()`: the npm package `oidc-provider` (a certified OpenID provider) with
//   RS256 keys of its own, two confidential clients (`tessera` and `other`, both with the
//   spec's redirect URI), accounts the spec defines, PKCE required, and an interaction handler
//   that finishes login and consent at once for the account the spec names (`loginAs`) — the
//   "browser" is `browse()`, which follows the provider's redirects with a cookie jar until the
//   provider sends it to the redirect URI. `swapNextIdToken` makes the token endpoint hand out
//   another (real, provider-signed) ID token once: how an ID token of another audience arrives.
// - `startGithub()`: a small GitHub-shaped server (authorize, access_token, the user and
//   user/emails APIs under /api/v3, as a GitHub Enterprise Server has them) that checks the
//   client, the code, the redirect URI and the PKCE verifier like GitHub does.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
// @ts-expect-error: oidc-provider ships no type declarations.
import Provider from "oidc-provider";

export const REDIRECT_URI = "https://app.example/callback";
export const CLIENT_ID = "tessera";
export const CLIENT_SECRET = "tessera-client-secret-for-tests";
export const OTHER_CLIENT_ID = "other";
export const OTHER_CLIENT_SECRET = "other-client-secret-for-tests";

export interface Account {
  email: string;
  email_verified: boolean;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export interface OidcProvider {
  issuer: string;
  accounts: Map<string, Account>;
  /** The account the next interaction logs in (and consents for). */
  loginAs(accountId: string): void;
  /** The next token answer carries this ID token instead of its own. */
  swapNextIdToken(idToken: string): void;
  /** Requests the provider answered, as "METHOD /path". */
  requests: string[];
  stop(): Promise<void>;
}

/** An OpenID provider on 127.0.0.1 whose clients may return to REDIRECT_URI and `redirects`. */
export async function startOidcProvider(redirects: string[] = []): Promise<OidcProvider> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, res) => res.end();
  const server = createServer((req, res) => handler(req, res));
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = new Map<string, Account>();
  const requests: string[] = [];
  let current = "";
  let swap: string | null = null;
  const signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const provider = new Provider(issuer, {
    clients: [
      { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [REDIRECT_URI, ...redirects], token_endpoint_auth_method: "client_secret_basic" },
      { client_id: OTHER_CLIENT_ID, client_secret: OTHER_CLIENT_SECRET, redirect_uris: [REDIRECT_URI, ...redirects], token_endpoint_auth_method: "client_secret_basic" },
    ],
    jwks: { keys: [{ ...signingKey, kid: "rsa-1", alg: "RS256", use: "sig" }] },
    cookies: { keys: [randomBytes(16).toString("hex")] },
    claims: { openid: ["sub"], email: ["email", "email_verified"] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx: unknown, id: string) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
  });
  // The interaction (login, then consent) finishes at once for the account the spec named.
  provider.use(async (ctx: any, next: () => Promise<void>) => {
    requests.push(`${ctx.method} ${ctx.path}`);
    const interaction = /^\/interaction\/([^/]+)$/.exec(ctx.path);
    if (ctx.method !== "GET" || !interaction) {
      await next();
      if (ctx.path === "/token" && swap && ctx.body?.id_token) {
        ctx.body = { ...ctx.body, id_token: swap };
        swap = null;
      }
      return;
    }
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result: any;
    if (details.prompt.name === "login") {
      result = { login: { accountId: current } };
    } else {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      result = { consent: { grantId: await grant.save() } };
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });
  handler = provider.callback();
  return {
    issuer,
    accounts,
    loginAs: (id) => {
      current = id;
    },
    swapNextIdToken: (token) => {
      swap = token;
    },
    requests,
    stop: () => close(server),
  };
}

/** What the provider handed the redirect URI. */
export interface Redirected {
  code: string;
  state: string;
  iss: string | null;
}

/**
 * The browser: opens `url` and follows redirects (keeping cookies) until one leads to the
 * redirect URI; returns the code and state it carries.
 */
export async function browse(url: string, until = REDIRECT_URI): Promise<Redirected> {
  const jar = new Map<string, string>();
  let next = url;
  for (let hop = 0; hop < 12; hop++) {
    if (next.startsWith(until)) {
      const query = new URL(next).searchParams;
      const code = query.get("code");
      if (!code) throw new Error(`the provider answered ${next}`);
      return { code, state: query.get("state") ?? "", iss: query.get("iss") };
    }
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(next, { redirect: "manual", headers: cookie ? { cookie } : {} });
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(";");
      const eq = pair.indexOf("=");
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const location = res.headers.get("location");
    if (!location) throw new Error(`no redirect from ${next}: ${res.status} ${await res.text()}`);
    next = new URL(location, next).toString();
  }
  throw new Error("too many redirects");
}

// ---------------------------------------------------------------- GitHub-shaped

export interface GithubUser {
  id: number;
  login: string;
  emails: Array<{ email: string; primary: boolean; verified: boolean }>;
}

export interface Github {
  /** The web origin (the provider's `enterprise_url`). */
  url: string;
  users: Map<number, GithubUser>;
  loginAs(id: number): void;
  /** Requests answered, as "METHOD /path". */
  requests: string[];
  stop(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text;
}

export async function startGithub(): Promise<Github> {
  const users = new Map<number, GithubUser>();
  const requests: string[] = [];
  const codes = new Map<string, { user: number; redirect: string; challenge: string; client: string }>();
  const tokens = new Map<string, number>();
  let current = 0;
  const json = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    requests.push(`${req.method} ${url.pathname}`);
    if (req.method === "GET" && url.pathname === "/login/oauth/authorize") {
      const q = url.searchParams;
      if (q.get("code_challenge_method") !== "S256") return json(res, 400, { error: "pkce" });
      const code = randomBytes(10).toString("hex");
      codes.set(code, { user: current, redirect: q.get("redirect_uri")!, challenge: q.get("code_challenge")!, client: q.get("client_id")! });
      const to = new URL(q.get("redirect_uri")!);
      to.searchParams.set("code", code);
      to.searchParams.set("state", q.get("state")!);
      res.writeHead(302, { location: to.toString() });
      return res.end();
    }
    if (req.method === "POST" && url.pathname === "/login/oauth/access_token") {
      const form = new URLSearchParams(await body(req));
      const grant = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      const verifier = form.get("code_verifier") ?? "";
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      // GitHub answers a refused code with 200 and an error.
      if (
        !grant || form.get("client_id") !== CLIENT_ID || form.get("client_secret") !== CLIENT_SECRET ||
        grant.client !== CLIENT_ID || grant.redirect !== form.get("redirect_uri") || grant.challenge !== challenge
      ) {
        return json(res, 200, { error: "bad_verification_code", error_description: "The code passed is incorrect or expired." });
      }
      const token = `gho_${randomBytes(12).toString("hex")}`;
      tokens.set(token, grant.user);
      return json(res, 200, { access_token: token, token_type: "bearer", scope: "read:user,user:email" });
    }
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    const user = auth ? users.get(tokens.get(auth[1]) ?? -1) : undefined;
    if (req.method === "GET" && (url.pathname === "/api/v3/user" || url.pathname === "/api/v3/user/emails")) {
      if (!user) return json(res, 401, { message: "Requires authentication" });
      if (!req.headers["user-agent"]) return json(res, 403, { message: "User-Agent required" });
      return url.pathname.endsWith("/emails") ? json(res, 200, user.emails) : json(res, 200, { id: user.id, login: user.login });
    }
    json(res, 404, { message: "Not Found" });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    users,
    loginAs: (id) => {
      current = id;
    },
    requests,
    stop: () => close(server),
  };
}

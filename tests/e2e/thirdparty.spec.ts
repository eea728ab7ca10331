// Third-party sign-in through HTTP, against a real OpenID provider (the npm `oidc-provider`,
// RS256, PKCE required, on 127.0.0.1) and a GitHub-shaped server: providers configured through
// /admin, the whole flow (start, the provider's login and consent, callback, session), the
// linking rules, and every refusal — reused, expired and foreign states, a wrong nonce, an ID
// token of another audience, provider failures that leak nothing.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { useWorker, json, CLOCK_HEADER } from "./harness";
import { owner, createApp, base, bearer, activeMember, auditLog, PASSWORD } from "./support";
import {
  startOidcProvider, startGithub, browse, type OidcProvider, type Github,
  REDIRECT_URI, CLIENT_ID, CLIENT_SECRET, OTHER_CLIENT_ID, OTHER_CLIENT_SECRET,
} from "./idp";

useWorker();

const APP = "tp";
const TENANT = "acme";
const B = base(APP, TENANT);
const ADMIN = `/admin/apps/${APP}/tenants/${TENANT}`;
let idp: OidcProvider;
let github: Github;

beforeAll(async () => {
  [idp, github] = await Promise.all([startOidcProvider(), startGithub()]);
  await createApp(APP);
  const tenant = await json("PUT", ADMIN, {
    login_methods: ["emailpassword", "thirdparty"],
    redirect_uris: [REDIRECT_URI, "http://127.0.0.1:5173/cb"],
  }, await owner());
  expect(tenant.status).toBe(201);
  expect(tenant.body.tenant.redirect_uris).toEqual([REDIRECT_URI, "http://127.0.0.1:5173/cb"]);
  const oidc = await putProvider("idp", { kind: "oidc", issuer: idp.issuer, client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
  expect(oidc.status).toBe(201);
  const gh = await putProvider("github", { kind: "github", enterprise_url: github.url, client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
  expect(gh.status).toBe(201);
});

afterAll(async () => {
  await Promise.all([idp?.stop(), github?.stop()]);
});

// Miniflare sends every request from 127.0.0.1, and starts and callbacks are counted per client
// address: each test gets an address of its own, so the failures one test provokes (or leaves
// in the future, with the clock moved) hold no other test back.
let clients = 0;
let client: Record<string, string> = {};
beforeEach(() => {
  client = { "cf-connecting-ip": `198.51.100.${++clients}` };
});

async function putProvider(id: string, body: unknown, as?: Record<string, string>) {
  return json("PUT", `${ADMIN}/providers/${id}`, body, as ?? (await owner()));
}

function account(id: string, email: string, verified = true) {
  idp.accounts.set(id, { email, email_verified: verified });
  return id;
}

async function start(provider = "idp", redirect = REDIRECT_URI, headers: Record<string, string> = {}) {
  const res = await json("POST", `${B}/auth/thirdparty/${provider}/start`, { redirect_uri: redirect }, { ...client, ...headers });
  expect(res.status, res.text).toBe(200);
  return res.body as { authorization_url: string; state: string };
}

function callback(provider: string, code: string, state: string, headers: Record<string, string> = {}) {
  return json("POST", `${B}/auth/thirdparty/${provider}/callback`, { code, state }, { ...client, ...headers });
}

/** The whole flow for `who` at the OpenID provider: start, login and consent, callback. */
async function signInAtIdp(who: string) {
  const started = await start();
  idp.loginAs(who);
  const back = await browse(started.authorization_url);
  expect(back.state).toBe(started.state);
  return callback("idp", back.code, back.state);
}

describe("providers through /admin", () => {
  it("are configured from the issuer's discovery document and never show their secret", async () => {
    const res = await json("GET", `${ADMIN}/providers/idp`, undefined, await owner());
    expect(res.status).toBe(200);
    expect(res.body.provider).toMatchObject({
      id: "idp", kind: "oidc", issuer: idp.issuer, client_id: CLIENT_ID,
      scopes: ["openid", "email", "profile"],
      token_endpoint: `${idp.issuer}/token`, jwks_uri: `${idp.issuer}/jwks`,
    });
    expect(res.text).not.toContain(CLIENT_SECRET);
    const list = await json("GET", `${ADMIN}/providers`, undefined, await owner());
    expect(list.body.items.map((p: any) => p.id)).toEqual(["github", "idp"]);
    expect(list.text).not.toContain(CLIENT_SECRET);
    const row = await (await import("./harness")).worker().db();
    const stored = await row.prepare("SELECT client_secret FROM thirdparty_providers WHERE id = 'idp'").first();
    expect(stored.client_secret).not.toContain(CLIENT_SECRET);
    const audit = await auditLog(APP, TENANT);
    const puts = audit.filter((e) => e.action === "provider.put");
    expect(puts.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(audit)).not.toContain(CLIENT_SECRET);
  });

  it("are replaced with 200, need tenants:write to change and tenants:read to read", async () => {
    const again = await putProvider("idp", { kind: "oidc", issuer: idp.issuer, client_id: CLIENT_ID });
    expect(again.status).toBe(200);
    const support = await activeMember(APP, ["support"]);
    expect((await json("GET", `${ADMIN}/providers/idp`, undefined, support.auth)).status).toBe(200);
    const denied = await putProvider("idp", { kind: "oidc", issuer: idp.issuer, client_id: "x", client_secret: "y" }, support.auth);
    expect(denied.status).toBe(403);
    expect((await json("DELETE", `${ADMIN}/providers/idp`, undefined, support.auth)).status).toBe(403);
  });

  it("whose issuer is no OpenID provider are a 502 provider_error that leaks nothing", async () => {
    const res = await putProvider("broken", { kind: "oidc", issuer: github.url, client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe("provider_error");
    expect(res.text).not.toContain(CLIENT_SECRET);
    expect(res.text).not.toContain("Not Found");
    const plain = await putProvider("plain", { kind: "oidc", issuer: "http://idp.example", client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
    expect(plain.status).toBe(400);
    const created = await putProvider("gone", { kind: "github", client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
    expect(created.status).toBe(201);
    expect((await json("DELETE", `${ADMIN}/providers/gone`, undefined, await owner())).status).toBe(204);
    expect((await json("GET", `${ADMIN}/providers/gone`, undefined, await owner())).status).toBe(404);
    const actions = (await auditLog(APP, TENANT)).map((e) => e.action);
    expect(actions).toContain("provider.delete");
  });
});

describe("signing in with an OpenID provider", () => {
  it("signs a new user up, and a second sign-in finds the same user", async () => {
    const who = account("alice", "alice@example.com");
    const first = await signInAtIdp(who);
    expect(first.status, first.text).toBe(200);
    expect(first.body.created).toBe(true);
    expect(first.body.user).toMatchObject({ email: "alice@example.com", email_verified: true, methods: ["thirdparty:idp"] });
    expect(first.headers.get("set-cookie")).toContain("tessera_device=");
    const me = await json("GET", `${B}/auth/me`, undefined, bearer(first.body.session.access_token));
    expect(me.status).toBe(200);
    expect(me.body.user.id).toBe(first.body.user.id);
    const second = await signInAtIdp(who);
    expect(second.status).toBe(200);
    expect(second.body.created).toBe(false);
    expect(second.body.user.id).toBe(first.body.user.id);
    const refreshed = await json("POST", `${B}/auth/refresh`, { refresh_token: second.body.session.refresh_token });
    expect(refreshed.status).toBe(200);
    // The provider was asked for its keys and, since the ID token carries no email, UserInfo.
    expect(idp.requests).toContain("GET /jwks");
    expect(idp.requests).toContain("GET /me");
  });

  it("refuses a state used once already", async () => {
    const started = await start();
    idp.loginAs(account("bob", "bob@example.com"));
    const back = await browse(started.authorization_url);
    expect((await callback("idp", back.code, back.state)).status).toBe(200);
    const again = await browse(started.authorization_url);
    const reused = await callback("idp", again.code, started.state);
    expect(reused.status).toBe(400);
    expect(reused.body.code).toBe("invalid_code");
  });

  it("refuses a state past its 10 minutes, before calling the provider", async () => {
    const now = Date.now();
    const started = await start("idp", REDIRECT_URI, { [CLOCK_HEADER]: String(now) });
    idp.loginAs(account("carol", "carol@example.com"));
    const back = await browse(started.authorization_url);
    const tokenCalls = idp.requests.filter((r) => r === "POST /token").length;
    const late = await callback("idp", back.code, back.state, { [CLOCK_HEADER]: String(now + 10 * 60 * 1000 + 1) });
    expect(late.status).toBe(400);
    expect(late.body.code).toBe("invalid_code");
    expect(idp.requests.filter((r) => r === "POST /token").length).toBe(tokenCalls);
  });

  it("refuses a state made for another provider", async () => {
    const started = await start("idp");
    idp.loginAs(account("dave", "dave@example.com"));
    const back = await browse(started.authorization_url);
    const res = await callback("github", back.code, back.state);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_code");
  });

  it("refuses an ID token with another nonce", async () => {
    const started = await start();
    const url = new URL(started.authorization_url);
    expect(url.searchParams.get("nonce")).toBeTruthy();
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    url.searchParams.set("nonce", "a-nonce-the-flow-never-made");
    idp.loginAs(account("erin", "erin@example.com"));
    const back = await browse(url.toString());
    const res = await callback("idp", back.code, back.state);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe("provider_error");
  });

  it("refuses an ID token of another audience", async () => {
    const started = await start();
    const nonce = new URL(started.authorization_url).searchParams.get("nonce")!;
    idp.loginAs(account("frank", "frank@example.com"));
    // A real ID token of the provider, with the flow's very nonce, for the client `other`.
    const verifier = "v".repeat(43);
    const { createHash } = await import("node:crypto");
    const other = new URL(`${idp.issuer}/auth`);
    for (const [k, v] of Object.entries({
      response_type: "code", client_id: OTHER_CLIENT_ID, redirect_uri: REDIRECT_URI, scope: "openid email",
      state: "s", nonce, code_challenge: createHash("sha256").update(verifier).digest("base64url"), code_challenge_method: "S256",
    })) other.searchParams.set(k, v);
    const got = await browse(other.toString());
    const token = await fetch(`${idp.issuer}/token`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${OTHER_CLIENT_ID}:${OTHER_CLIENT_SECRET}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ grant_type: "authorization_code", code: got.code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
    });
    const otherToken = (await token.json()).id_token as string;
    expect(JSON.parse(Buffer.from(otherToken.split(".")[1], "base64url").toString()).aud).toBe(OTHER_CLIENT_ID);
    idp.swapNextIdToken(otherToken);
    const back = await browse(started.authorization_url);
    const res = await callback("idp", back.code, back.state);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe("provider_error");
    expect(res.text).not.toContain(otherToken);
  });

  it("answers a code the provider refuses with a provider_error that carries none of its answer", async () => {
    const started = await start();
    const res = await callback("idp", "not-a-code-of-the-provider", started.state);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe("provider_error");
    expect(res.text).not.toContain("invalid_grant");
    expect(res.text).not.toContain(CLIENT_SECRET);
  });

  it("refuses a redirect_uri off the tenant's list, and a tenant without thirdparty", async () => {
    const off = await json("POST", `${B}/auth/thirdparty/idp/start`, { redirect_uri: "https://app.example/callback/" });
    expect(off.status).toBe(400);
    expect(off.body.code).toBe("validation_failed");
    const unknown = await json("POST", `${B}/auth/thirdparty/nope/start`, { redirect_uri: REDIRECT_URI });
    expect(unknown.status).toBe(404);
    const put = await json("PUT", `/admin/apps/${APP}/tenants/plain`, { login_methods: ["emailpassword"], redirect_uris: [REDIRECT_URI] }, await owner());
    expect(put.status).toBe(201);
    const disabled = await json("POST", `${base(APP, "plain")}/auth/thirdparty/idp/start`, { redirect_uri: REDIRECT_URI });
    expect(disabled.status).toBe(403);
    expect(disabled.body.code).toBe("login_method_disabled");
    const bad = await json("PUT", ADMIN, { redirect_uris: ["http://app.example/cb"] }, await owner());
    expect(bad.status).toBe(400);
  });
});

describe("linking by email", () => {
  it("takes over an account whose email was never verified: its password and sessions end", async () => {
    const squatter = await json("POST", `${B}/auth/signup`, { email: "grace@example.com", password: PASSWORD });
    expect(squatter.status).toBe(201);
    const res = await signInAtIdp(account("grace", "grace@example.com"));
    expect(res.status, res.text).toBe(200);
    expect(res.body.created).toBe(false);
    expect(res.body.user.id).toBe(squatter.body.user.id);
    expect(res.body.user.methods).toEqual(["thirdparty:idp"]);
    expect(res.body.user.email_verified).toBe(true);
    const password = await json("POST", `${B}/auth/signin`, { email: "grace@example.com", password: PASSWORD });
    expect(password.status).toBe(401);
    const old = await json("POST", `${B}/auth/refresh`, { refresh_token: squatter.body.session.refresh_token });
    expect(old.status).toBe(401);
    const oldMe = await json("GET", `${B}/auth/me`, undefined, bearer(squatter.body.session.access_token));
    expect(oldMe.status).toBe(401);
  });

  it("links a verified account to a second provider and keeps both methods", async () => {
    // heidi is verified (her first link made her so); GitHub asserts the same email verified.
    const first = await signInAtIdp(account("heidi", "heidi@example.com"));
    expect(first.status).toBe(200);
    github.users.set(101, { id: 101, login: "heidi", emails: [{ email: "heidi@example.com", primary: true, verified: true }] });
    github.loginAs(101);
    const started = await start("github");
    expect(started.authorization_url.startsWith(`${github.url}/login/oauth/authorize?`)).toBe(true);
    const back = await browse(started.authorization_url);
    const linked = await callback("github", back.code, back.state);
    expect(linked.status, linked.text).toBe(200);
    expect(linked.body.user.id).toBe(first.body.user.id);
    expect(linked.body.user.methods).toEqual(["thirdparty:github", "thirdparty:idp"]);
    expect(github.requests).toContain("GET /api/v3/user/emails");
  });

  it("refuses to link an email the provider did not verify, and to sign up with one", async () => {
    await json("POST", `${B}/auth/signup`, { email: "ivan@example.com", password: PASSWORD });
    const taken = await signInAtIdp(account("ivan", "ivan@example.com", false));
    expect(taken.status).toBe(409);
    expect(taken.body.code).toBe("email_taken");
    const fresh = await signInAtIdp(account("judy", "judy@example.com", false));
    expect(fresh.status).toBe(403);
    expect(fresh.body.code).toBe("email_not_verified");
    const still = await json("POST", `${B}/auth/signin`, { email: "ivan@example.com", password: PASSWORD });
    expect(still.status).toBe(200);
  });
});

describe("signing in with GitHub", () => {
  it("signs up by the primary verified email and finds the user again by its id", async () => {
    github.users.set(202, { id: 202, login: "kim", emails: [
      { email: "kim-old@example.com", primary: false, verified: true },
      { email: "kim@example.com", primary: true, verified: true },
    ] });
    github.loginAs(202);
    const once = async () => {
      const started = await start("github");
      const back = await browse(started.authorization_url);
      return callback("github", back.code, back.state);
    };
    const first = await once();
    expect(first.status, first.text).toBe(200);
    expect(first.body.created).toBe(true);
    expect(first.body.user.email).toBe("kim@example.com");
    const again = await once();
    expect(again.body.created).toBe(false);
    expect(again.body.user.id).toBe(first.body.user.id);
  });
});

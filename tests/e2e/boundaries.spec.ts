// Strict boundaries: tenants, apps, operator vs end-user tokens, JWT attacks, API keys.
import { describe, it, expect, beforeAll } from "vitest";
import { useWorker, json, worker } from "./harness";
import { PASSWORD, owner, createApp, putTenant, apiKey, base, bearer, at, decode, encode, introspect } from "./support";
import { generateKeyPairSync, sign as edSign, createHmac } from "node:crypto";

useWorker();

const A = base("shop", "acme");
const B = base("shop", "beta");
const X = base("other", "acme");
let keyA = "";
let keyB = "";
let keyX = "";
let tokenA = "";
let refreshA = "";

beforeAll(async () => {
  await createApp("shop");
  await createApp("other");
  await putTenant("shop", "acme");
  await putTenant("shop", "beta");
  await putTenant("other", "acme");
  keyA = await apiKey("shop", "acme");
  keyB = await apiKey("shop", "beta");
  keyX = await apiKey("other", "acme");
  const res = await json("POST", `${A}/auth/signup`, { email: "bound@example.com", password: PASSWORD });
  tokenA = res.body.session.access_token;
  refreshA = res.body.session.refresh_token;
});

function forge(token: string, change: (header: any, payload: any) => void, signature?: string): string {
  const [h, p, s] = token.split(".");
  const header = decode(h);
  const payload = decode(p);
  change(header, payload);
  return [encode(header), encode(payload), signature ?? s].join(".");
}

describe("tenant and app isolation", () => {
  it("a token of tenant A is inactive at tenant B and at another app", async () => {
    expect((await introspect("shop", "acme", keyA, tokenA)).active).toBe(true);
    expect(await introspect("shop", "beta", keyB, tokenA)).toEqual({ active: false });
    expect(await introspect("other", "acme", keyX, tokenA)).toEqual({ active: false });
  });

  it("a token of tenant A is refused by every authenticated endpoint of B and of another app", async () => {
    for (const place of [B, X]) {
      expect((await json("GET", `${place}/auth/me`, undefined, bearer(tokenA))).status).toBe(401);
      expect((await json("POST", `${place}/auth/signout`, undefined, bearer(tokenA))).status).toBe(401);
      expect((await json("POST", `${place}/auth/refresh`, { refresh_token: refreshA })).status).toBe(401);
    }
    // Nothing above touched A's session.
    expect((await json("GET", `${A}/auth/me`, undefined, bearer(tokenA))).status).toBe(200);
  });

  it("revocation at tenant B cannot revoke a session of tenant A", async () => {
    const res = await json("POST", `${B}/oauth/revoke`, { token: refreshA }, bearer(keyB));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    expect((await introspect("shop", "acme", keyA, tokenA)).active).toBe(true);
  });

  it("an API key introspects only at its own tenant and only with the introspect scope", async () => {
    const wrongTenant = await json("POST", `${A}/oauth/introspect`, { token: tokenA }, bearer(keyB));
    expect(wrongTenant.status).toBe(401);
    expect(wrongTenant.body.code).toBe("invalid_client");
    const noScope = await apiKey("shop", "acme", ["tenants:read"]);
    expect((await json("POST", `${A}/oauth/introspect`, { token: tokenA }, bearer(noScope))).status).toBe(401);
    expect((await json("POST", `${A}/oauth/introspect`, { token: tokenA })).status).toBe(401);
    expect((await json("POST", `${A}/oauth/introspect`, { token: tokenA }, bearer(tokenA))).status).toBe(401);
  });

  it("a deleted API key stops introspecting at once", async () => {
    const res = await json("POST", "/admin/apps/shop/tenants/acme/api-keys", { name: "short-lived", scopes: ["introspect"] }, await owner());
    expect((await introspect("shop", "acme", res.body.key, tokenA)).active).toBe(true);
    await json("DELETE", `/admin/apps/shop/tenants/acme/api-keys/${res.body.id}`, undefined, await owner());
    expect((await json("POST", `${A}/oauth/introspect`, { token: tokenA }, bearer(res.body.key))).status).toBe(401);
  });
});

describe("operator and end-user tokens never cross", () => {
  it("an operator token is refused on end-user endpoints and inactive at introspection", async () => {
    const op = (await owner()).authorization.slice(7);
    expect((await json("GET", `${A}/auth/me`, undefined, bearer(op))).status).toBe(401);
    expect((await json("POST", `${A}/auth/signout`, undefined, bearer(op))).status).toBe(401);
    expect(await introspect("shop", "acme", keyA, op)).toEqual({ active: false });
  });

  it("an end-user token is refused on /admin", async () => {
    const res = await json("GET", "/admin/apps", undefined, bearer(tokenA));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("unauthorized");
  });

  it("an operator's email may also be an end user's, and they share nothing", async () => {
    const signup = await json("POST", `${A}/auth/signup`, { email: "owner@example.com", password: "an end-user password" });
    expect(signup.status).toBe(201);
    const asOperator = await json("POST", "/admin/auth/signin", { email: "owner@example.com", password: "an end-user password" });
    expect(asOperator.status).toBe(401);
  });
});

describe("JWT attacks", () => {
  const inactive = async (token: string) => {
    expect(await introspect("shop", "acme", keyA, token)).toEqual({ active: false });
    expect((await json("GET", `${A}/auth/me`, undefined, bearer(token))).status).toBe(401);
  };

  it("refuses alg none", async () => {
    await inactive(forge(tokenA, (h) => (h.alg = "none"), ""));
  });

  it("refuses another algorithm signed with the public key as an HMAC secret", async () => {
    const jwks = await json("GET", "/apps/shop/.well-known/jwks.json");
    const x = jwks.body.keys[0].x;
    const unsigned = forge(tokenA, (h) => (h.alg = "HS256")).split(".").slice(0, 2).join(".");
    const mac = createHmac("sha256", Buffer.from(x, "base64url")).update(unsigned).digest("base64url");
    await inactive(`${unsigned}.${mac}`);
  });

  it("refuses an unknown kid and a token signed by a key of ours not in this app", async () => {
    await inactive(forge(tokenA, (h) => (h.kid = "not-a-key")));
    const { privateKey } = generateKeyPairSync("ed25519");
    const unsigned = forge(tokenA, () => {}).split(".").slice(0, 2).join(".");
    const sig = edSign(null, Buffer.from(unsigned), privateKey).toString("base64url");
    await inactive(`${unsigned}.${sig}`);
  });

  it("refuses a tampered payload", async () => {
    await inactive(forge(tokenA, (_, p) => (p.sub = "00000000-0000-7000-8000-000000000000")));
    await inactive(forge(tokenA, (_, p) => (p.tid = "beta")));
  });

  it("refuses a token without exp or past exp", async () => {
    await inactive(forge(tokenA, (_, p) => delete p.exp));
    const t = decode(tokenA.split(".")[1]);
    expect(await introspect("shop", "acme", keyA, tokenA, at(t.exp * 1000 + 1))).toEqual({ active: false });
  });

  it("never accepts a refresh token as an access token", async () => {
    await inactive(refreshA);
    await inactive("garbage");
  });
});

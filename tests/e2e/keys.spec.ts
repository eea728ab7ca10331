// Signing keys per app: JWKS, discovery, rotation with overlap, app settings.
import { describe, it, expect, beforeAll } from "vitest";
import { useWorker, json } from "./harness";
import { PASSWORD, owner, createApp, putTenant, apiKey, base, at, decode, introspect } from "./support";

useWorker();

const A = base("keys", "public");
let key = "";

beforeAll(async () => {
  await createApp("keys");
  key = await apiKey("keys", "public");
});

const kidOf = (token: string) => decode(token.split(".")[0]).kid;

describe("signing keys", () => {
  it("signs each app's tokens with its own key, published in its JWKS", async () => {
    const t0 = Date.now();
    const res = await json("POST", `${A}/auth/signup`, { email: "k@example.com", password: PASSWORD }, at(t0));
    const jwks = await json("GET", "/apps/keys/.well-known/jwks.json", undefined, at(t0));
    expect(jwks.body.keys.map((k: any) => k.kid)).toEqual([kidOf(res.body.session.access_token)]);
    const publicJwks = await json("GET", "/apps/public/.well-known/jwks.json", undefined, at(t0));
    expect(publicJwks.body.keys.map((k: any) => k.kid)).not.toContain(kidOf(res.body.session.access_token));
  });

  it("rotates with overlap: the new key is published first, signs once every cache in front of verifiers has seen it, the old one verifies until its tokens expire", async () => {
    const t0 = Date.now() + 1_000;
    const before = await json("POST", `${A}/auth/signin`, { email: "k@example.com", password: PASSWORD }, at(t0));
    const oldKid = kidOf(before.body.session.access_token);
    const rotated = await json("POST", "/admin/apps/keys/signing-keys/rotate", undefined, { ...(await owner()), ...at(t0) });
    expect(rotated.status).toBe(201);
    const newKid = rotated.body.kid;
    expect(newKid).not.toBe(oldKid);

    const published = await json("GET", "/apps/keys/.well-known/jwks.json", undefined, at(t0));
    expect(published.body.keys.map((k: any) => k.kid).sort()).toEqual([oldKid, newKid].sort());
    expect(published.headers.get("cache-control")).toBe("public, max-age=300");

    // Published for the JWKS max-age (300 s), the isolates' key rings (300 s) and KV's
    // propagation and read cache (120 s) before it signs.
    const lead = 720_000;
    expect(Date.parse(rotated.body.activates_at)).toBe(t0 + lead);
    const during = await json("POST", `${A}/auth/signin`, { email: "k@example.com", password: PASSWORD }, at(t0 + lead - 1_000));
    expect(kidOf(during.body.session.access_token)).toBe(oldKid);

    const t1 = t0 + lead;
    const after = await json("POST", `${A}/auth/signin`, { email: "k@example.com", password: PASSWORD }, at(t1));
    expect(kidOf(after.body.session.access_token)).toBe(newKid);
    // The last token of the old key still verifies until it expires.
    expect((await introspect("keys", "public", key, during.body.session.access_token, at(t1 + 1_000))).active).toBe(true);
    const gone = await json("GET", "/apps/keys/.well-known/jwks.json", undefined, at(t1 + 900_000));
    expect(gone.body.keys.map((k: any) => k.kid)).toEqual([newKid]);
  });

  it("points the tenant's discovery document at the app's JWKS", async () => {
    const doc = await json("GET", `${A}/.well-known/openid-configuration`);
    expect(doc.body.jwks_uri).toBe("https://tessera.test/apps/keys/.well-known/jwks.json");
    expect(doc.body.revocation_endpoint).toBe(`https://tessera.test${A}/oauth/revoke`);
  });
});

describe("app settings", () => {
  it("shortens access tokens through PATCH /admin/apps/{id}", async () => {
    await createApp("short");
    const patch = await json("PATCH", "/admin/apps/short", { settings: { access_token_ttl_seconds: 60 } }, await owner());
    expect(patch.status).toBe(200);
    expect(patch.body.app.settings.access_token_ttl_seconds).toBe(60);
    expect(patch.body.app.settings.session_idle_ttl_seconds).toBe(604800);
    const res = await json("POST", `${base("short", "public")}/auth/signup`, { email: "s@example.com", password: PASSWORD });
    expect(res.body.session.expires_in).toBe(60);
  });

  it("refuses settings out of range, unknown settings and weak hashing", async () => {
    for (const settings of [{ access_token_ttl_seconds: 5 }, { password_iterations: 1000 }, { colour: "blue" }, { refresh_grace_seconds: "x" }]) {
      const res = await json("PATCH", "/admin/apps/short", { settings }, await owner());
      expect(res.status, JSON.stringify(settings)).toBe(400);
    }
    const read = await json("GET", "/admin/apps/short", undefined, await owner());
    expect(read.body.app.settings.access_token_ttl_seconds).toBe(60);
  });

  it("keeps settings and rotation to the platform owner", async () => {
    await putTenant("short", "public");
    const k = await apiKey("short", "public", ["tenants:write", "tenants:read"]);
    const auth = { authorization: `Bearer ${k}` };
    expect((await json("PATCH", "/admin/apps/short", { settings: {} }, auth)).status).toBe(403);
    expect((await json("POST", "/admin/apps/short/signing-keys/rotate", undefined, auth)).status).toBe(403);
  });
});

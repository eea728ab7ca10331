// The deployed build (build/, without the `test-hooks` feature) ignores the test-only
// variables: a deployment cannot be told to take its clock from a request header, to hash
// passwords cheaply, to panic on request or to name its wasm instance, whatever its variables
// say.
import { describe, expect, it } from "vitest";
import { CLOCK_HEADER, json, useWorker, worker } from "./harness";

useWorker({
  build: "deploy",
  bindings: { TESSERA_TEST_CLOCK: "header", TESSERA_TEST_PBKDF2_ITERATIONS: "1" },
});

const A = "/apps/public/tenants/public";
const PASSWORD = "correct horse battery";

describe("the deployed build", () => {
  it("takes no clock from a request header", async () => {
    const past = Date.UTC(2001, 0, 1);
    const res = await json("POST", `${A}/auth/signup`, { email: "clock@example.com", password: PASSWORD }, { [CLOCK_HEADER]: String(past) });
    expect(res.status, res.text).toBe(201);
    const claims = JSON.parse(Buffer.from(res.body.session.access_token.split(".")[1], "base64url").toString());
    const now = Date.now() / 1000;
    expect(Math.abs(claims.iat - now)).toBeLessThan(120);
    expect(new Date(res.body.user.created_at).getTime()).toBeGreaterThan(past + 365 * 24 * 3600 * 1000);
  });

  it("does not panic on the test build's panic header", async () => {
    const res = await json("GET", "/apps/public/.well-known/jwks.json", undefined, { "X-Tessera-Test-Panic": "1" });
    expect(res.status, res.text).toBe(200);
    expect(res.body.keys.length).toBeGreaterThan(0);
    expect(res.headers.get("X-Tessera-Test-Instance")).toBeNull();
  });

  it("hashes passwords at the production cost", async () => {
    await json("POST", `${A}/auth/signup`, { email: "cost@example.com", password: PASSWORD });
    const db = await worker().db();
    const row = await db.prepare("SELECT password_hash FROM users WHERE email = ?").bind("cost@example.com").first();
    expect(row.password_hash).toMatch(/^\$pbkdf2-sha512\$i=210000\$/);
  });
});

// An implanted hash (issue 10, the adversarial suite: "an implanted hash with i=1 must be
// refused outside tests"). A hash written into D1 with a cost under the production floor of
// 100,000 iterations (an attacker with D1 write access, a restored backup, a test database
// copied into production) must not sign anyone in through the deployed build — end users and
// operators — even with the right password. The native side: tests/service/signin.rs and
// operators.rs, `…_under_the_production_floor_is_never_trusted`.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { pbkdf2Sync } from "node:crypto";
import { startWorker, ROOT_TOKEN, type TestWorker } from "../e2e/harness";

const PASSWORD = "correct horse battery";
let w: TestWorker;

beforeAll(async () => {
  // The deployed build: production hashing cost, no test hooks (whatever the variables say).
  w = await startWorker({ build: "deploy" });
}, 300_000);

afterAll(async () => {
  await w?.dispose();
});

/** `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>` of PASSWORD, as an attacker with D1 write access would write it. */
function weakHash(iterations: number, salt = Buffer.from("0123456789abcdef")): string {
  const hash = pbkdf2Sync(PASSWORD, salt, iterations, 32, "sha256");
  const b64 = (b: Buffer) => b.toString("base64").replace(/=+$/, "");
  return `$pbkdf2-sha256$i=${iterations}$${b64(salt)}$${b64(hash)}`;
}

describe("an implanted weak hash outside tests", () => {
  it("does not sign an end user in", async () => {
    const email = "implanted@example.com";
    const signup = await w.json("POST", "/apps/public/tenants/public/auth/signup", { email, password: PASSWORD });
    expect(signup.status, signup.text).toBe(201);
    for (const implanted of [weakHash(1), weakHash(1000), weakHash(99_999), weakHash(1, Buffer.from("x"))]) {
      await (await w.db()).prepare("UPDATE users SET password_hash = ?1 WHERE email = ?2").bind(implanted, email).run();
      const res = await w.json("POST", "/apps/public/tenants/public/auth/signin", { email, password: PASSWORD });
      expect(res.status, `${implanted.split("$").slice(0, 3).join("$")}: ${res.text}`).not.toBe(200);
      expect(res.status, "a refused hash is no server error").toBeLessThan(500);
    }
  });

  it("does not sign an operator in", async () => {
    const email = "owner@example.com";
    const boot = await w.json("POST", "/admin/bootstrap", { email, password: PASSWORD }, { authorization: `Bearer ${ROOT_TOKEN}` });
    expect(boot.status, boot.text).toBe(201);
    await (await w.db()).prepare("UPDATE operators SET password_hash = ?1 WHERE email = ?2").bind(weakHash(1), email).run();
    const res = await w.json("POST", "/admin/auth/signin", { email, password: PASSWORD });
    expect(res.status, res.text).not.toBe(200);
    expect(res.status).toBeLessThan(500);
  });

  it("signs in with a hash of the production cost (the control: the refusals above are about the cost)", async () => {
    const email = "control@example.com";
    expect((await w.json("POST", "/apps/public/tenants/public/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const row: any = await (await w.db()).prepare("SELECT password_hash FROM users WHERE email = ?1").bind(email).first();
    expect(row.password_hash).toMatch(/^\$pbkdf2-sha512\$i=210000\$/);
    const res = await w.json("POST", "/apps/public/tenants/public/auth/signin", { email, password: PASSWORD });
    expect(res.status, res.text).toBe(200);
  });
});

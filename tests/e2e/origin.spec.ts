// The issuer comes from ISSUER_ORIGIN, never from the request's Host; a deployment without a
// valid ISSUER_ORIGIN refuses to issue anything rather than guess.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, useWorker, worker, type TestWorker } from "./harness";

useWorker();

describe("the issuer origin", () => {
  it("is the configured one whatever Host the request names", async () => {
    for (const host of ["http://tessera.test", "http://evil.example", "https://attacker.example:8443"]) {
      const res = await worker().fetch(`${host}/apps/public/tenants/public/.well-known/openid-configuration`);
      const body: any = await res.json();
      expect(body.issuer, host).toBe("https://tessera.test/apps/public/tenants/public");
      expect(body.jwks_uri, host).toBe("https://tessera.test/apps/public/.well-known/jwks.json");
    }
  });

  describe("when it is missing or not an origin", () => {
    const workers: TestWorker[] = [];
    beforeAll(async () => {
      workers.push(await startWorker({ bindings: { ISSUER_ORIGIN: "" } }));
      workers.push(await startWorker({ bindings: { ISSUER_ORIGIN: "http://auth.example.com/path" } }));
    });
    afterAll(async () => {
      for (const w of workers) await w.dispose();
    });

    it("answers 500 instead of issuing with a guessed issuer, and health still answers", async () => {
      for (const w of workers) {
        const doc = await w.json("GET", "/apps/public/tenants/public/.well-known/openid-configuration");
        expect(doc.status).toBe(500);
        expect(doc.body.code).toBe("internal_error");
        expect(doc.text).not.toContain("ISSUER_ORIGIN");
        expect((await w.json("GET", "/healthz")).status).toBe(200);
      }
    });
  });
});

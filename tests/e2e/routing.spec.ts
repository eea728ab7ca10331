// Routing by app and tenant, discovery documents, and what bad input gets back.
import { describe, it, expect } from "vitest";
import { request } from "node:http";
import { useWorker, json, rawFetch, worker } from "./harness";

useWorker();

describe("health and discovery", () => {
  it("answers /healthz", async () => {
    const res = await json("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  it("serves an OpenAPI 3.1 document", async () => {
    const res = await json("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    expect(res.body.paths["/admin/bootstrap"]).toBeTruthy();
  });

  it("publishes the public app's keys as a JWKS", async () => {
    const res = await json("GET", "/apps/public/.well-known/jwks.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toContain("max-age=");
    expect(res.body.keys.length).toBeGreaterThan(0);
    expect(res.body.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    const again = await json("GET", "/apps/public/.well-known/jwks.json");
    expect(again.body).toEqual(res.body);
  });

  it("serves the public tenant's discovery document pointing at the JWKS", async () => {
    const res = await json("GET", "/apps/public/tenants/public/.well-known/openid-configuration");
    expect(res.status).toBe(200);
    expect(res.body.issuer).toBe("https://tessera.test/apps/public/tenants/public");
    expect(res.body.jwks_uri).toBe("https://tessera.test/apps/public/.well-known/jwks.json");
    expect(res.body.introspection_endpoint).toBe(`${res.body.issuer}/oauth/introspect`);
  });

  it("answers 404 app_not_found and tenant_not_found on end-user paths", async () => {
    const noApp = await json("GET", "/apps/nope/tenants/public/.well-known/openid-configuration");
    expect(noApp.status).toBe(404);
    expect(noApp.body.code).toBe("app_not_found");
    const noTenant = await json("GET", "/apps/public/tenants/nope/.well-known/openid-configuration");
    expect(noTenant.status).toBe(404);
    expect(noTenant.body.code).toBe("tenant_not_found");
    const jwks = await json("GET", "/apps/nope/.well-known/jwks.json");
    expect(jwks.body.code).toBe("app_not_found");
  });
});

describe("bad input", () => {
  it("refuses ids outside the pattern with 400", async () => {
    for (const p of ["/apps/UPPER/.well-known/jwks.json", "/apps/public/tenants/-x/.well-known/openid-configuration", "/apps/a%20b/.well-known/jwks.json", `/apps/${"a".repeat(64)}/.well-known/jwks.json`]) {
      const res = await json("GET", p);
      expect(res.status, p).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
  });

  it("answers unknown routes with 404 problem documents", async () => {
    for (const p of ["/", "/nope", "/admin", "/apps/public", "/healthz/extra"]) {
      const res = await json("GET", p);
      expect(res.status, p).toBe(404);
      expect(res.body.code).toBe("not_found");
    }
  });

  it("routes the runtime's canonical path, whatever the request target spelled", async () => {
    // Node's HTTP client sends the target as given, so nothing tidies it first. The router must
    // route as a WHATWG URL parser would (dot segments resolved, `%2e` read as `.`, characters
    // outside the path set percent-encoded), whether the runtime hands the URL over
    // re-serialised (Miniflare) or as received (workerd's own listener; src/http/routes.rs
    // `path_of` leaves such paths to the full parser, tested natively).
    const raw = (target: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const { hostname, port } = worker().url;
        const req = request({ host: hostname, port: Number(port), path: target, agent: false }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on("error", reject);
        req.end();
      });
    for (const target of ["/apps/public/tenants/../.well-known/jwks.json", "/apps/public/x/%2e%2e/.well-known/jwks.json", "/apps/./public/.well-known/jwks.json?x=/healthz#y"]) {
      const res = await raw(target);
      expect(res.status, target).toBe(200);
      expect(res.text).toContain('"keys"');
    }
    const quoted = await raw('/apps/a"b/.well-known/jwks.json');
    expect(quoted.status).toBe(400);
    expect((await raw("/healthz/..")).status).toBe(404);
  });

  it("answers a wrong method with 405 and the allowed ones", async () => {
    const res = await json("DELETE", "/healthz");
    expect(res.status).toBe(405);
    expect(res.body.code).toBe("method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET");
    const put = await json("PATCH", "/admin/apps");
    expect(put.headers.get("allow")).toBe("POST, GET");
  });

  it("answers a method it does not know with 405, never as if it were GET", async () => {
    // (workerd itself answers 501 to methods it does not know at all; these it passes on.)
    for (const method of ["QUERY", "PROPFIND"]) {
      const res = await json(method, "/healthz");
      expect(res.status, method).toBe(405);
      expect(res.body.code).toBe("method_not_allowed");
      expect(res.headers.get("allow")).toBe("GET");
    }
  });

  it("refuses malformed JSON, wrong types and empty bodies with 400", async () => {
    for (const body of ["{", "not json", "[]", '{"email": 5, "password": "longenough"}', '{"email": "a@example.com"}', ""]) {
      const res = await json("POST", "/admin/auth/signin", body);
      expect(res.status, body).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });

  it("refuses a JSON array where an object is expected, even when every field is optional", async () => {
    const owner = { authorization: "Bearer test-root-token" };
    for (const body of ['["owner@example.com", "correct horse battery"]', "[null, null]", "5", '"text"']) {
      const res = await json("POST", "/admin/bootstrap", body, owner);
      expect(res.status, body).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    // The bootstrap refused above left nothing behind: the first real one still succeeds.
    const ok = await json("POST", "/admin/bootstrap", { email: "owner@example.com", password: "correct horse battery" }, owner);
    expect(ok.status, ok.text).toBe(201);
  });

  it("refuses bodies over 64 KiB with 413", async () => {
    const big = JSON.stringify({ email: "a@example.com", password: "x".repeat(70 * 1024) });
    const res = await json("POST", "/admin/auth/signin", big);
    expect(res.status).toBe(413);
    expect(res.body.code).toBe("payload_too_large");
  });

  it("refuses a 1 MB password like any other bad password", async () => {
    const res = await json("POST", "/admin/auth/signin", { email: "a@example.com", password: "x".repeat(60_000) });
    expect(res.status).toBe(400);
  });

  it("never answers with a stack trace or a 500 on garbage", async () => {
    const bodies = ["\u0000", "{\"email\":\"\\ud800\"}", "1e999999", '{"email":{"$gt":""},"password":[]}'];
    for (const body of bodies) {
      const res = await rawFetch("/admin/bootstrap", { method: "POST", body, headers: { authorization: "Bearer test-root-token" } });
      expect(res.status, body).toBeLessThan(500);
      const text = await res.text();
      expect(text).not.toMatch(/panicked|RuntimeError|at .*\.rs/);
    }
  });
});

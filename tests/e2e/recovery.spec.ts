// A panic in the worker's Rust code aborts its wasm instance; the next request must get a
// fresh one. The build's JavaScript is edited after worker-build (scripts/lean-glue.mjs: a
// plain handler object replaces worker-build's per-request class and Proxies, which also
// checked for a crashed instance), so this proves recovery did not depend on them: the
// wasm-bindgen glue re-instantiates the module on the next call. The panic is the test
// build's hook (`X-Tessera-Test-Panic`, honoured only with TESSERA_TEST_CLOCK=header; the
// deployed build ignores it: deploy.spec.ts), and the same build names the wasm instance
// that answered (`X-Tessera-Test-Instance`, random per instance), so the spec sees the
// instance replaced rather than merely answering on. A request held on a timer
// (`X-Tessera-Test-Delay-Ms`) while another panics is failed closed or answered whole.
import { describe, it, expect, beforeAll } from "vitest";
import { useWorker, json } from "./harness";
import { PASSWORD, createApp, putTenant, apiKey, base, bearer } from "./support";

useWorker();

const APP = "phoenix";
const T = base(APP, "ash");
let key = "";

beforeAll(async () => {
  await createApp(APP);
  await putTenant(APP, "ash");
  key = await apiKey(APP, "ash");
});

const PANIC = { "X-Tessera-Test-Panic": "1" };
const INSTANCE = "X-Tessera-Test-Instance";

describe("a panic in the worker", () => {
  it("fails that request, and the next ones are answered by a fresh instance", async () => {
    const before = await json("POST", `${T}/auth/signup`, { email: "before@example.com", password: PASSWORD });
    expect(before.status, before.text).toBe(201);
    const jwks = await json("GET", `/apps/${APP}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    let instance = jwks.headers.get(INSTANCE);
    expect(instance).toMatch(/^[0-9a-f]{16}$/);
    // Without a panic, the same instance answers.
    expect(before.headers.get(INSTANCE)).toBe(instance);

    for (let round = 0; round < 2; round++) {
      const crashed = await json("GET", `/apps/${APP}/.well-known/jwks.json`, undefined, PANIC);
      expect(crashed.status).toBe(500);
      // Nothing of the panic reaches the client.
      expect(crashed.text).not.toMatch(/panic|X-Tessera-Test-Panic|\.rs\b/i);

      // The same isolate serves on: reads (the new instance's caches are empty, so these go
      // to KV and D1), writes, and a token minted before the crash still introspects.
      const again = await json("GET", `/apps/${APP}/.well-known/jwks.json`);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(jwks.body);
      const fresh = again.headers.get(INSTANCE);
      expect(fresh).toMatch(/^[0-9a-f]{16}$/);
      expect(fresh, "a new instance after the panic").not.toBe(instance);
      instance = fresh;
      const after = await json("POST", `${T}/auth/signup`, { email: `after-${round}@example.com`, password: PASSWORD });
      expect(after.status, after.text).toBe(201);
      const signin = await json("POST", `${T}/auth/signin`, { email: "before@example.com", password: PASSWORD });
      expect(signin.status, signin.text).toBe(200);
      const seen = await json("POST", `${T}/oauth/introspect`, { token: before.body.session.access_token }, bearer(key));
      expect(seen.status).toBe(200);
      expect(seen.body).toMatchObject({ active: true, sub: before.body.user.id });
      // …all on that one new instance.
      for (const res of [after, signin, seen]) expect(res.headers.get(INSTANCE)).toBe(instance);
    }
  });
});

describe("a panic while another request waits", () => {
  it("fails the waiting request closed or answers it whole, and the isolate serves on", async () => {
    const jwks = `/apps/${APP}/.well-known/jwks.json`;
    const first = await json("GET", jwks);
    expect(first.status).toBe(200);
    // Held on a timer (a JavaScript callback into the wasm, as every storage call's is) while
    // the next request panics. Two connections: which reaches the isolate first is not
    // fixed, so either the held request was in the instance that panicked (the runtime
    // cancels it: it can never answer) or it reached the fresh one (a whole answer).
    const waiting = json("GET", jwks, undefined, { "X-Tessera-Test-Delay-Ms": "400" });
    const crashed = await json("GET", jwks, undefined, PANIC);
    expect(crashed.status).toBe(500);
    const held = await waiting;
    expect([200, 500]).toContain(held.status);
    if (held.status === 200) expect(held.body).toEqual(first.body);
    else expect(held.text).not.toMatch(/panic|X-Tessera-Test|\.rs\b/i);
    const after = await json("GET", jwks);
    expect(after.status).toBe(200);
    expect(after.body).toEqual(first.body);
    expect(after.headers.get(INSTANCE)).toMatch(/^[0-9a-f]{16}$/);
    expect(after.headers.get(INSTANCE), "a new instance after the panic").not.toBe(first.headers.get(INSTANCE));
  });
});

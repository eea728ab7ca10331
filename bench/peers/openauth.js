// Peer 2: OpenAuth (@openauthjs/openauth). The measured path is GET /api/check with an
// OpenAuth access token: the OpenAuth client verifies it (jose, ES256 with native WebCrypto,
// JWKS fetched once and cached in the isolate), then one KV read for the subject — the
// closest equivalent of Tessera's introspection. The issuer runs in the same worker (its
// JWKS is fetched in-process); its storage is KV (CloudflareStorage). issuer.js imports the
// memory storage (node:fs), hence the nodejs_compat flag on this worker.
// Set-up only (not measured): POST /token grant_type=client_credentials&provider=bench, and
// the subjects' KV entries written by the harness.
import { issuer } from "@openauthjs/openauth";
import { createClient } from "@openauthjs/openauth/client";
import { createSubjects } from "@openauthjs/openauth/subject";
import { CloudflareStorage } from "@openauthjs/openauth/storage/cloudflare";

// A hand-written Standard Schema validator (no valibot/zod needed for one string field).
const user = {
  "~standard": {
    version: 1,
    vendor: "bench",
    validate: (v) =>
      v && typeof v.id === "string" ? { value: { id: v.id } } : { issues: [{ message: "id" }] },
  },
};
const subjects = createSubjects({ user });

// A provider that only serves the client_credentials grant (set-up of a token for the bench).
const benchProvider = {
  type: "bench",
  init() {},
  async client({ clientID, clientSecret }) {
    if (clientSecret !== "bench-secret") throw new Error("bad client secret");
    // The cold tokens belong to many subjects (client ids bench-0 … bench-999), so that the
    // KV read after verification reads as many distinct keys as Tessera's does.
    return { id: clientID === "bench" ? "bench-user" : `user-${clientID}`, clientID };
  },
};

let app;
function issuerApp(env) {
  app ??= issuer({
    subjects,
    storage: CloudflareStorage({ namespace: env.AUTH_KV }),
    providers: { bench: benchProvider },
    ttl: { access: 3600 },
    async success(ctx, value) {
      return ctx.subject("user", { id: value.id });
    },
  });
  return app;
}

let client;
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/api/check") {
      client ??= createClient({
        clientID: "bench",
        // Tokens carry the origin they were minted at (the harness's loopback port) as `iss`.
        issuer: url.origin,
        // The issuer lives in this worker: discovery and JWKS are served in-process (once).
        fetch: (input, init) => issuerApp(env).fetch(new Request(input, init), env, ctx),
      });
      const auth = request.headers.get("authorization") ?? "";
      const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      const verified = await client.verify(subjects, token);
      if (verified.err) return Response.json({ active: false }, { status: 401 });
      const id = verified.subject.properties.id;
      const flags = await env.AUTH_KV.get(`subject:${id}`);
      if (flags === null) return Response.json({ active: false }, { status: 401 });
      return Response.json({ active: true, sub: id, flags: JSON.parse(flags) });
    }
    return issuerApp(env).fetch(request, env, ctx);
  },
};

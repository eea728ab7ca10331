// Peer 1: Cloudflare's @cloudflare/workers-oauth-provider guarding an API route. The measured
// path is GET /api/check with its own bearer token: the library unwraps the token (hash, KV
// read of the grant's token record, decryption of its props) before the API handler runs.
// Set-up only (not measured): /register (dynamic client registration), /authorize (this
// default handler approves at once), /token (code exchange with PKCE).
// Bundled by bench/run.mjs with esbuild; served by the same Miniflare/workerd as Tessera.
import { OAuthProvider } from "@cloudflare/workers-oauth-provider";

const api = {
  async fetch(request, env, ctx) {
    return Response.json({ ok: true, sub: ctx.props.sub });
  },
};

const ui = {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/authorize") {
      const info = await env.OAUTH_PROVIDER.parseAuthRequest(request);
      // The harness mints many tokens for many users (?bench_user=); every grant stays valid
      // (by default the library revokes a user's earlier grants of the same client).
      const user = url.searchParams.get("bench_user") ?? "bench-user";
      const { redirectTo } = await env.OAUTH_PROVIDER.completeAuthorization({
        request: info,
        userId: user,
        metadata: {},
        scope: info.scope,
        props: { sub: user },
        revokeExistingGrants: false,
      });
      return Response.redirect(redirectTo, 302);
    }
    return new Response("not found", { status: 404 });
  },
};

// The provider is made on the first request: resourceMetadata.resource (required by this
// version, RFC 9728) must be this worker's origin, and the harness picks the port at start.
let provider;
export default {
  fetch(request, env, ctx) {
    provider ??= new OAuthProvider({
      apiRoute: "/api/",
      apiHandler: api,
      defaultHandler: ui,
      authorizeEndpoint: "/authorize",
      tokenEndpoint: "/token",
      clientRegistrationEndpoint: "/register",
      accessTokenTTL: 3600,
      resourceMetadata: { resource: new URL(request.url).origin },
    });
    return provider.fetch(request, env, ctx);
  },
};

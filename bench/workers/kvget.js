// Bench-only: the one-KV-get reference of bench/rust/kvget's `GET /m/<key>`, written in plain
// JavaScript. Both read the edge documents cold introspection reads, from Tessera's namespace
// (EDGE), and answer the value or an empty body: side by side they show what the plain
// workers-rs route (the crate's wrappers and wasm-bindgen's glue) costs a request over the
// runtime's own floor — more than Tessera's leaner hot path pays (BENCHMARKS.md). `POST
// /p/<key>` reads the request's body first (an introspection's form body), then the same key.
export default {
  async fetch(request, env) {
    // The path: what follows the origin (the raw string, as the Rust reference reads it).
    const url = request.url;
    const from = url.indexOf("/", url.indexOf("://") + 3);
    const path = from < 0 ? "/" : url.slice(from);
    if (path.startsWith("/p/") && request.method === "POST") await request.arrayBuffer();
    else if (!path.startsWith("/m/")) return new Response("not found", { status: 404 });
    return new Response((await env.EDGE.get(path.slice(3))) ?? "");
  },
};

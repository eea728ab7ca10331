// Bench-only: the one-KV-get reference of bench/rust/kvget's `GET /m/<key>`, written in plain
// JavaScript. Both read the edge documents cold introspection reads, from Tessera's namespace
// (EDGE), and answer the value or an empty body: side by side they show what the Rust/wasm
// route (workers-rs and wasm-bindgen's glue) costs a request over the runtime's own floor.
export default {
  async fetch(request, env) {
    const url = request.url;
    const i = url.indexOf("/m/");
    const value = i < 0 ? null : await env.EDGE.get(url.slice(i + 3));
    return new Response(value ?? "");
  },
};

// Bench-only: one PBKDF2 derivation with the runtime's WebCrypto (native code in workerd), the
// floor for a password hash in this runtime. Cloudflare caps PBKDF2 at 100,000 iterations, so
// the harness asks for 100k and, to show the cap, once for 600k (answered 501 when refused).
//   GET /noop                              200, no work (baseline)
//   GET /pbkdf2?i=100000&hash=SHA-256      one deriveBits
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/noop") return new Response("ok");
    if (url.pathname !== "/pbkdf2") return new Response("not found", { status: 404 });
    const iterations = Number(url.searchParams.get("i") ?? "100000");
    const hash = url.searchParams.get("hash") ?? "SHA-256";
    const bits = hash === "SHA-512" ? 512 : 256;
    const enc = new TextEncoder();
    const key = await crypto.subtle.importKey("raw", enc.encode("correct horse battery staple"), "PBKDF2", false, ["deriveBits"]);
    try {
      const out = await crypto.subtle.deriveBits(
        { name: "PBKDF2", hash, salt: new Uint8Array(16).fill(0x5a), iterations },
        key,
        bits,
      );
      return new Response(String(out.byteLength));
    } catch (e) {
      return new Response(`refused: ${e?.message ?? e}`, { status: 501 });
    }
  },
};

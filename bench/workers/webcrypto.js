// Bench-only: the runtime's WebCrypto (native code in workerd) as the floor for work Tessera
// does in wasm or through WebCrypto.
// - One PBKDF2 derivation: the floor for a password hash in this runtime. Cloudflare caps
//   PBKDF2 at 100,000 iterations, so the harness asks for 100k and, to show the cap, once for
//   600k (answered 501 when refused).
// - n signature verifies, Ed25519 (what Tessera's tokens carry) or ECDSA P-256 / SHA-256
//   (ES256, what OpenAuth's carry), of a token-sized message, each awaited as an introspection
//   awaits its one: whether another algorithm would make the verify cheaper here.
//   GET /noop                              200, no work (baseline)
//   GET /pbkdf2?i=100000&hash=SHA-256      one deriveBits
//   GET /verify?alg=Ed25519&n=2000         n verifies (alg Ed25519 or ES256); 200 "n" when all pass
const ALGORITHMS = {
  Ed25519: { generate: { name: "Ed25519" }, sign: { name: "Ed25519" } },
  ES256: { generate: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } },
};
const signed = new Map();

async function signedMessage(alg) {
  if (!signed.has(alg)) {
    const { generate, sign } = ALGORITHMS[alg];
    const pair = await crypto.subtle.generateKey(generate, false, ["sign", "verify"]);
    // About the signing input of one of Tessera's access tokens (header.claims, base64url).
    const message = new TextEncoder().encode(`${"e".repeat(90)}.${"c".repeat(340)}`);
    const signature = await crypto.subtle.sign(sign, pair.privateKey, message);
    signed.set(alg, { key: pair.publicKey, algorithm: sign, message, signature });
  }
  return signed.get(alg);
}

async function verify(url) {
  const alg = url.searchParams.get("alg") ?? "Ed25519";
  if (!Object.hasOwn(ALGORITHMS, alg)) return new Response("alg: Ed25519 or ES256", { status: 400 });
  const n = Number(url.searchParams.get("n") ?? "1");
  if (!Number.isInteger(n) || n < 1 || n > 100_000) return new Response("n: 1 to 100000", { status: 400 });
  const { key, algorithm, message, signature } = await signedMessage(alg);
  let valid = 0;
  for (let i = 0; i < n; i++) {
    if (await crypto.subtle.verify(algorithm, key, signature, message)) valid++;
  }
  return new Response(String(valid), { status: valid === n ? 200 : 500 });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/noop") return new Response("ok");
    if (url.pathname === "/verify") return verify(url);
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

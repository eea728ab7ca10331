// Unicode NFKC as workerd's JavaScript engine answers it: the worker normalises emails and
// passwords with `String.prototype.normalize` (src/domain/nfkc.rs), the native build with the
// unicode-normalization crate. Shared by the spec that checks they agree
// (tests/e2e/unicode.spec.ts) and the script that renews the fixture they agree on
// (scripts/nfkc-fixture.mjs). Plain JS so that both Node and vitest load it.
import { Miniflare } from "miniflare";

// Runs inside workerd. Every Unicode scalar value but `skip`, normalised on its own, each answer
// followed by a line feed, hashed as UTF-8 (what the native test hashes); for each skipped code
// point, whether the engine leaves it as it is; with `dump`, every scalar it changes.
const PROBE = `
export default {
  async fetch(request) {
    const { skip, dump } = await request.json();
    const skipped = new Set(skip.map((hex) => parseInt(hex, 16)));
    const parts = [];
    const mappings = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      const n = c.normalize("NFKC");
      if (dump && n !== c) mappings.push([cp, n]);
      if (skipped.has(cp)) continue;
      parts.push(n, "\\n");
    }
    const bytes = new TextEncoder().encode(parts.join(""));
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    const unchanged = skip.filter((hex) => {
      const c = String.fromCodePoint(parseInt(hex, 16));
      return c.normalize("NFKC") === c;
    });
    return Response.json({ sha256, unchanged, mappings });
  },
};
`;

/** Asks a fresh workerd; returns `{ sha256, unchanged, mappings }` (see PROBE). */
export async function runtimeNfkc({ skip = [], dump = false } = {}) {
  const mf = new Miniflare({ modules: true, script: PROBE, compatibilityDate: "2026-04-20" });
  try {
    const res = await mf.dispatchFetch("http://probe.test/", {
      method: "POST",
      body: JSON.stringify({ skip, dump }),
    });
    if (res.status !== 200) throw new Error(`the NFKC probe answered ${res.status}: ${await res.text()}`);
    return await res.json();
  } finally {
    await mf.dispose();
  }
}

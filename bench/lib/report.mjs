// Renders bench/results.json as the tables of BENCHMARKS.md (between the markers below; the
// prose around them is kept). `node bench/lib/report.mjs` re-renders from the committed JSON.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const START = "<!-- bench:results:start (generated from bench/results.json by bench/lib/report.mjs; do not edit) -->";
export const END = "<!-- bench:results:end -->";

const f = (x, d = 0) => (x === null || x === undefined || !Number.isFinite(x) ? "—" : x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
const ok = (t) => (t === undefined ? "" : t.met ? "✅" : "❌");

export function renderMarkdown(r) {
  const e = r.endpoints;
  const L = [];
  L.push(
    `Commit \`${r.commit.slice(0, 12)}\`${r.commit_dirty ? " (with uncommitted changes)" : ""}, ${r.generated_at}; ` +
      `${r.runtime.name} (miniflare ${r.runtime.miniflare}, workerd ${r.runtime.workerd}); ` +
      `${r.machine.cpus} × ${r.machine.cpu_model}, ${r.machine.memory_gib} GiB; ` +
      `wrk ${r.load_generator.version ?? ""} ${r.load_generator.threads} threads, ${r.load_generator.connections} connections, ` +
      `${r.load_generator.warmup_seconds} s warm-up + ${r.load_generator.runs} × ${r.load_generator.run_seconds} s, medians. Whole run ${r.duration_s} s.`,
  );
  L.push("");
  if (r.baseline) {
    const b = r.baseline;
    const be = b.endpoints;
    L.push(`### Before and after (main \`${b.commit.slice(0, 7)}\` measured with this same harness on ${b.generated_at.slice(0, 10)}; separate runs on a shared machine: compare the ratios and CPU, not raw req/s)`);
    L.push("");
    L.push("| | before | after |");
    L.push("|---|---:|---:|");
    const row = (label, x, y, d = 2) => L.push(`| ${label} | ${f(x, d)} | ${f(y, d)} |`);
    row("cold introspection ÷ OpenAuth (distinct tokens)", b.ratios.introspect_cold_vs_openauth, r.ratios.introspect_cold_vs_openauth);
    row("cold introspection ÷ workers-oauth-provider (distinct tokens)", b.ratios.introspect_cold_vs_oauth_provider, r.ratios.introspect_cold_vs_oauth_provider);
    row("hot introspection ÷ one-KV-get worker", b.ratios.introspect_vs_kv_get, r.ratios.introspect_vs_kv_get);
    row("cold introspection p99 ÷ one-KV-get worker's p99", b.ratios.introspect_cold_p99_vs_kv_get_p99, r.ratios.introspect_cold_p99_vs_kv_get_p99);
    row("CPU per cold introspection ÷ one KV get's", b.ratios.introspect_cold_cpu_vs_kv_get_cpu, r.ratios.introspect_cold_cpu_vs_kv_get_cpu);
    for (const [k, label] of [
      ["introspect_cold", "CPU µs per cold introspection"],
      ["introspect", "CPU µs per hot introspection"],
      ["me_cold", "CPU µs per `/auth/me` (distinct tokens)"],
      ["refresh", "CPU µs per refresh"],
      ["signin", "CPU µs per sign-in"],
      ["kv_get", "CPU µs per one-KV-get request (reference)"],
      ["peer_openauth_cold", "CPU µs per OpenAuth request (reference)"],
    ]) {
      if (be[k] && e[k]) row(label, be[k].cpu_us_per_request, e[k].cpu_us_per_request, 0);
    }
    const calls = (sc) =>
      sc ? `${sc.d1_calls_per_request} D1, ${Object.values(sc.kv_calls_per_request).reduce((a, n) => a + n, 0)} KV` : "—";
    L.push(`| storage calls per introspection | ${calls(b.storage_calls_per_request?.introspect_cold)} | ${calls(r.storage_calls_per_request?.introspect_cold)} |`);
    L.push(`| storage calls per \`/auth/me\` | ${calls(b.storage_calls_per_request?.me)} | ${calls(r.storage_calls_per_request?.me)} |`);
    L.push(`| wasm gzip | ${f((b.wasm_gzip_bytes ?? NaN) / 1024, 1)} KiB | ${f(r.wasm.tessera.gzip_bytes / 1024, 1)} KiB |`);
    L.push("");
  }
  L.push("### Throughput and latency");
  L.push("");
  L.push("| path | req/s | p50 ms | p99 ms | CPU µs/req | errors |");
  L.push("|---|---:|---:|---:|---:|---:|");
  const rows = [
    ["trivial", "reference: trivial Rust worker (200)"],
    ["kv_get", "reference: Rust worker, one KV get"],
    ["kv_get_cold", "reference: Rust worker, one KV get, ~1,000 distinct keys"],
    ["kv_get_edge_keys", "reference: Rust worker, one KV get of the edge document each cold introspection reads (same keys, same order, half absent)"],
    ["kv_get_edge_keys_js", "reference: the same in plain JavaScript"],
    ["introspect_cold", "**introspection, cold: a different valid token every request**"],
    ["introspect", "introspection, hot: one valid token again and again"],
    ["introspect_suspended", "introspection, suspended user's token"],
    ["introspect_cold_edge", "introspection, cold, on the edge Worker of a split deployment"],
    ["introspect_edge", "introspection, hot, on the edge Worker"],
    ["me_cold", "`GET /auth/me`, a different token every request"],
    ["me", "`GET /auth/me`, one token"],
    ["refresh", "`POST /auth/refresh` (rotation)"],
    ["list_users", "admin user list, 50 per page (1,000 users)"],
    ["signin", "`POST /auth/signin` (1 connection, PBKDF2-SHA512@210k, the default)"],
    ["peer_oauth_provider_cold", "peer: workers-oauth-provider, protected route, distinct tokens"],
    ["peer_oauth_provider", "peer: workers-oauth-provider, protected route, one token"],
    ["peer_openauth_cold", "peer: OpenAuth verify + KV read, distinct tokens"],
    ["peer_openauth", "peer: OpenAuth verify + KV read, one token"],
  ];
  for (const [k, label] of rows) {
    const x = e[k];
    if (!x) continue;
    L.push(`| ${label} | ${f(x.req_per_s)} | ${f(x.p50_ms, 2)} | ${f(x.p99_ms, 2)} | ${f(x.cpu_us_per_request)} | ${x.errors} |`);
  }
  L.push("");
  if (r.cold?.tessera_tokens) {
    const c = r.cold.tessera_tokens;
    L.push(
      `Cold: ${f(c.tokens)} distinct access tokens (${f(c.users)} users × ${f(c.sessions / c.users)} sessions, refresh chains), ` +
        `${f(c.peer_tokens_each)} per peer; the list is cut into one share per wrk thread, and each thread walks its own share, every run going on where the path's previous run stopped (the first from a random point). ` +
        `CPU: workerd process CPU per request (see \`cpu.how\` in results.json).`,
    );
    L.push("");
  }
  L.push(`D1 calls counted during the introspection runs: **${r.d1_calls_during_introspection}**.`);
  if (r.storage_calls_per_request) {
    const d = Object.entries(r.storage_calls_per_request).map(
      ([k, v]) =>
        `${k}: ${v.d1_calls_per_request} D1, ` +
        (Object.entries(v.kv_calls_per_request).map(([op, n]) => `${n} KV ${op}`).join(", ") || "0 KV"),
    );
    L.push(`Storage calls per warm request (counted on a separate, untimed instance): ${d.join("; ")}.`);
  }
  L.push("");
  if (r.uncorrected_latency) {
    L.push("### Each request's own latency (not corrected for coordinated omission)");
    L.push("");
    L.push("wrk's percentiles above are corrected for coordinated omission: a request slower than twice the mean interval between requests also counts the requests a steady client would have sent while it waited, so a handful of slow requests set the p99. Here a Node loop with the same 10 connections records every request's own latency (one 4 s run per path, after the rounds; Node is a slower client than wrk, so req/s are lower).");
    L.push("");
    L.push("| path | req/s | p50 ms | p99 ms | max ms | gaps > 50 ms with no answer | errors |");
    L.push("|---|---:|---:|---:|---:|---:|---:|");
    const names = { kv_get: "reference: one KV get", kv_get_cold: "reference: one KV get, ~1,000 distinct keys", kv_get_edge_keys: "reference: one KV get, cold introspection's keys", kv_get_edge_keys_js: "reference: the same in JavaScript", introspect_cold: "**introspection, cold**", peer_openauth_cold: "peer: OpenAuth, distinct tokens", peer_oauth_provider_cold: "peer: workers-oauth-provider, distinct tokens" };
    for (const [k, x] of Object.entries(r.uncorrected_latency)) {
      L.push(`| ${names[k] ?? k} | ${f(x.req_per_s)} | ${f(x.p50_ms, 2)} | ${f(x.p99_ms, 2)} | ${f(x.max_ms, 1)} | ${x.gaps_over_50ms} | ${x.errors} |`);
    }
    L.push("");
  }
  if (r.profiles) {
    L.push("### Where the isolate's CPU goes (V8 CPU profile under the cold load)");
    L.push("");
    L.push("| path | wasm µs/req | JS µs/req | GC µs/req | native (program) µs/req | GC pauses (count, > 1 ms, max) |");
    L.push("|---|---:|---:|---:|---:|---|");
    for (const [k, p] of Object.entries(r.profiles)) {
      if (p.error) {
        L.push(`| ${k} | — | — | — | — | profile failed: ${p.error} |`);
        continue;
      }
      const u = p.us_per_request;
      L.push(`| ${k} | ${f(u.wasm, 1)} | ${f(u.js, 1)} | ${f(u.gc, 1)} | ${f(u.program, 1)} | ${p.gc_pauses.count}, ${p.gc_pauses.over_1ms}, ${f(p.gc_pauses.max_ms, 2)} ms |`);
    }
    L.push("");
    for (const [k, p] of Object.entries(r.profiles)) {
      if (!p.top_self_time) continue;
      const top = p.top_self_time.slice(0, 8).map((t) => `${t.function.replace(/\|/g, "\\|")} ${f(t.us_per_request, 0)} µs`);
      L.push(`Heaviest self time, ${k}: ${top.join("; ")}.`);
      L.push("");
    }
    L.push("Sampled every 100 µs after the measured runs (the profiler slows the isolate it samples); the isolate only: the local KV/D1 simulators and workerd's HTTP handling are not in it.");
    L.push("");
  }
  L.push("### Ratios (same run)");
  L.push("");
  L.push("| ratio | value | definition |");
  L.push("|---|---:|---|");
  for (const [k, v] of Object.entries(r.ratios)) L.push(`| \`${k}\` | ${f(v, 2)} | ${r.ratio_definitions[k]} |`);
  L.push("");
  L.push("### Costs");
  L.push("");
  const p = r.password_hash.wasm_probe;
  const n = r.password_hash.native;
  L.push("| work | wasm (in workerd) | native | WebCrypto (workerd) |");
  L.push("|---|---:|---:|---:|");
  L.push(`| PBKDF2-HMAC-SHA256 @ 600,000 | ${f(p.wasm_sha256_600k_ms, 1)} ms | ${f(n.pbkdf2_sha256_600k_ms, 1)} ms | ${p.webcrypto_600k?.refused ? "refused (cap 100k)" : f(p.webcrypto_600k?.ms, 1) + " ms"} |`);
  L.push(`| PBKDF2-HMAC-SHA512 @ 210,000 | ${f(p.wasm_sha512_210k_ms, 1)} ms | ${f(n.pbkdf2_sha512_210k_ms, 1)} ms | — |`);
  L.push(`| PBKDF2-HMAC-SHA256 @ 100,000 | ${f(p.wasm_sha256_100k_ms, 1)} ms | ${f(n.pbkdf2_sha256_100k_ms, 1)} ms | ${f(p.webcrypto_sha256_100k_ms, 1)} ms |`);
  L.push(`| PBKDF2-HMAC-SHA512 @ 100,000 | — | — | ${f(p.webcrypto_sha512_100k_ms, 1)} ms |`);
  L.push(`| Ed25519 JWT verify (jwt-compact parse; signature by ed25519-compact, or by WebCrypto from Rust) | ${f(r.jwt_verify.wasm_us, 1)} µs | ${f(r.jwt_verify.native_us, 1)} µs | ${f(r.jwt_verify.webcrypto_us, 1)} µs |`);
  if (r.jwt_verify.webcrypto_signature_ed25519_us != null) {
    L.push(`| Ed25519 signature verify alone (WebCrypto from JavaScript, awaited) | — | — | ${f(r.jwt_verify.webcrypto_signature_ed25519_us, 1)} µs |`);
    L.push(`| ES256 (ECDSA P-256) signature verify alone, as OpenAuth's tokens (WebCrypto from JavaScript, awaited) | — | — | ${f(r.jwt_verify.webcrypto_signature_es256_us, 1)} µs |`);
  }
  L.push("");
  L.push(
    `Cheaper in wasm at equal OWASP strength: **${r.password_hash.cheaper_in_wasm}** ` +
      `(SHA-512@210k ÷ SHA-256@600k = ${f(r.password_hash.sha512_210k_vs_sha256_600k_wasm, 2)} in wasm, ${f(r.password_hash.sha512_210k_vs_sha256_600k_native, 2)} natively). ` +
      `JWT verify wasm ÷ native = ${f(r.jwt_verify.wasm_vs_native, 2)}.` +
      (r.jwt_verify.ed25519_vs_es256_webcrypto != null ? ` WebCrypto Ed25519 ÷ ES256 verify = ${f(r.jwt_verify.ed25519_vs_es256_webcrypto, 2)}.` : ""),
  );
  L.push("");
  L.push("### The wasm");
  L.push("");
  L.push("| module | raw | gzip |");
  L.push("|---|---:|---:|");
  for (const [k, v] of Object.entries(r.wasm)) L.push(`| ${k}${v.worker_build_flags ? ` (\`worker-build ${v.worker_build_flags}\`)` : ""} | ${f(v.raw_bytes / 1024, 1)} KiB | ${f(v.gzip_bytes / 1024, 1)} KiB |`);
  L.push("");
  L.push("| cold start (fresh workerd + isolate) | runtime ready | first response | total | warm request |");
  L.push("|---|---:|---:|---:|---:|");
  for (const [k, v] of Object.entries(r.cold_start)) L.push(`| ${k} | ${f(v.runtime_ready_ms, 0)} ms | ${f(v.first_response_ms, 1)} ms | ${f(v.total_to_first_response_ms, 0)} ms | ${f(v.warm_response_ms, 2)} ms |`);
  L.push("");
  L.push("### Growth with the number of users (one tenant)");
  L.push("");
  const s = r.scaling;
  L.push("| measurement | 1,000 users | 100,000 users | ratio |");
  L.push("|---|---:|---:|---:|");
  if (s.at_1k) {
    L.push(`| list page req/s (10 connections) | ${f(s.at_1k.list_users.req_per_s)} | ${f(s.at_100k?.list_users.req_per_s)} | ${f(r.ratios.list_100k_vs_1k, 2)} |`);
    L.push(`| list page p50 ms | ${f(s.at_1k.list_users.p50_ms, 2)} | ${f(s.at_100k?.list_users.p50_ms, 2)} | |`);
    L.push(`| sign-in p50 ms (1 connection) | ${f(s.at_1k.signin.p50_ms, 1)} | ${f(s.at_100k?.signin.p50_ms, 1)} | ${f(r.ratios.signin_100k_vs_1k, 2)} |`);
  }
  L.push("");
  L.push("### Targets");
  L.push("");
  L.push("| target | measured | met |");
  L.push("|---|---:|:---:|");
  const t = r.targets;
  const tr = [
    ["cold introspection ≥ 1.0 × OpenAuth (distinct tokens)", `${f(t.introspect_cold_vs_openauth_ge_1?.value, 2)} ×`, t.introspect_cold_vs_openauth_ge_1],
    ["cold introspection ≥ 1.0 × workers-oauth-provider (distinct tokens)", `${f(t.introspect_cold_vs_oauth_provider_ge_1?.value, 2)} ×`, t.introspect_cold_vs_oauth_provider_ge_1],
    ["hot introspection ≥ 0.8 × one-KV-get worker", `${f(t.introspect_vs_kv_get_ge_0_8.value, 2)} ×`, t.introspect_vs_kv_get_ge_0_8],
    [
      "cold introspection p99 ≤ 1.5 × one-KV-get worker's p99",
      `${f(t.introspect_p99_le_1_5x_kv_get?.value, 2)} × (${f(t.introspect_p99_le_1_5x_kv_get?.value_ms, 1)} ms vs ${f(t.introspect_p99_le_1_5x_kv_get?.kv_get_ms, 1)} ms)`,
      t.introspect_p99_le_1_5x_kv_get,
    ],
    [
      "CPU per cold introspection ≤ 2 × one KV get's",
      `${f(t.introspect_cpu_le_2x_kv_get?.value, 2)} × (${f(t.introspect_cpu_le_2x_kv_get?.value_us)} µs vs ${f(t.introspect_cpu_le_2x_kv_get?.kv_get_us)} µs)`,
      t.introspect_cpu_le_2x_kv_get,
    ],
    ["introspection: 0 errors", f(t.introspect_zero_errors.value), t.introspect_zero_errors],
    ["introspection: no D1 call", f(t.introspect_zero_d1_calls.value), t.introspect_zero_d1_calls],
    ["sign-in ≤ 1.2 × bare PBKDF2 in wasm", `${f(t.signin_within_1_2x_pbkdf2.value, 2)} ×`, t.signin_within_1_2x_pbkdf2],
    [
      "wasm ≤ 600 KiB gzip (the edge Worker's; the full Worker's beside it)",
      `${f(t.wasm_gzip_le_600_kib.value_bytes / 1024, 1)} KiB` +
        (t.wasm_gzip_le_600_kib.full_worker_bytes ? ` (full: ${f(t.wasm_gzip_le_600_kib.full_worker_bytes / 1024, 1)} KiB)` : ""),
      t.wasm_gzip_le_600_kib,
    ],
    ["list page at 100k ≤ 1.5 × at 1k", `${f(t.list_100k_le_1_5x.value, 2)} ×`, t.list_100k_le_1_5x],
    ["sign-in at 100k ≤ 1.5 × at 1k", `${f(t.signin_100k_le_1_5x.value, 2)} ×`, t.signin_100k_le_1_5x],
    ["every endpoint: 0 errors", f(t.all_zero_errors.value), t.all_zero_errors],
  ];
  for (const [label, v, tt] of tr) if (tt) L.push(`| ${label} | ${v} | ${ok(tt)} |`);
  return L.join("\n");
}

/** Replaces the generated block of BENCHMARKS.md (appends one if the markers are absent). */
export function updateBenchmarksMd(file, results) {
  const block = `${START}\n\n${renderMarkdown(results)}\n\n${END}`;
  let text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n\n";
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + END.length);
  else text = text.trimEnd() + "\n\n" + block + "\n";
  writeFileSync(file, text);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bench = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const results = JSON.parse(readFileSync(path.join(bench, "results.json"), "utf8"));
  updateBenchmarksMd(path.join(bench, "..", "BENCHMARKS.md"), results);
  console.log(renderMarkdown(results));
}

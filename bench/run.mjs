#!/usr/bin/env node
// Tessera benchmark harness (issue 6). `make bench` builds everything and runs this; `make
// bench-smoke` runs it with --smoke. Loopback only; every load loop is bounded in time.
//
//   node bench/run.mjs            full run: writes bench/results.json and BENCHMARKS.md
//   node bench/run.mjs --smoke    a few seconds: every endpoint answers without error (no wrk,
//                                 no native binary, nothing written)
//
// Environment: BENCH_SECONDS (per measured run, default 4), BENCH_WARMUP_SECONDS (2),
// BENCH_RUNS (3), BENCH_CONNECTIONS (10), BENCH_THREADS (2), BENCH_SIGNIN_SECONDS (6),
// BENCH_SKIP_100K=1 (skip the 100,000-user phase). Diagnostics, with BENCH_ONLY=name,…:
// BENCH_COMPARE_BUILD=<dir>[,<dir>…] (other builds beside this one), BENCH_PROFILE=n (n V8
// profiles of each named target), BENCH_PROFILE_DIR=<dir> (keep the raw .cpuprofile files).
//
// One Miniflare instance (one workerd process) serves every worker of the run on its own
// loopback socket (`unsafeDirectSockets`: no Node proxy in the request path), but for the
// counters' service (bench-d1-counter), which only other workers call:
//   tessera          build/ (release), local D1 + KV, production password policy
//   tessera-counted  the same script and the same D1/KV, with DB wrapped by a call counter;
//                    introspection is measured here so the run proves it makes no D1 call
//   tessera-diag     the same, with D1 and KV both counted (never timed: what a request does)
//   tessera-edge     build-edge/: the edge Worker of a split deployment, FULL = tessera
//   tessera-compare, tessera-compare-2, …   BENCH_COMPARE_BUILD's builds (diagnostics)
//   ref-trivial      bench/rust/trivial: answers 200 (the runtime's ceiling)
//   ref-kvget        bench/rust/kvget: one KV get (the ceiling for anything consulting KV);
//                    `/m/<key>` reads Tessera's own namespace (cold introspection's documents)
//   ref-kvget-js     bench/workers/kvget.js: the same `/m/<key>` read in plain JavaScript, and
//                    `POST /p/<key>`: the request's body read first, then the same read
//   probe            bench/rust/probe: PBKDF2 and Ed25519 JWT verify costs with Tessera's crates
//   webcrypto        bench/workers/webcrypto.js: WebCrypto PBKDF2 and signature verifies (the runtime's native floor)
//   peer-oauth-provider, peer-openauth   bench/peers/*.js bundled with esbuild
import { Miniflare, Log, LogLevel, Response as MfResponse } from "miniflare";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import net from "node:net";
import WebSocket from "ws";
import { applyMigrations } from "../scripts/migrations.mjs";
import { nodeLoop, refreshScript, fixedScript, timeline, walkScript, wrk, wrkVersion } from "./lib/load.mjs";
import { renderMarkdown, updateBenchmarksMd } from "./lib/report.mjs";

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, "..");
const OUT = path.join(BENCH, "out");
const SMOKE = process.argv.includes("--smoke");
// The Tessera build under test (default: build/ of this checkout, made by `make build`).
const TESSERA_BUILD = path.resolve(process.env.BENCH_TESSERA_BUILD ?? path.join(ROOT, "build"));
// The edge Worker's build beside it (build-edge/ for build/, build-test-edge/ for build-test/):
// measured in front of it as a split deployment (README, "Deploy"), and its size is the wasm
// target's.
const EDGE_BUILD = `${TESSERA_BUILD}-edge`;
// BENCH_COMPARE_BUILD=<dir>[,<dir>…]: the first is served as tessera-compare, the next as
// tessera-compare-2, … (targets introspect_cold_compare, introspect_cold_compare_2, …).
const COMPARE_BUILDS = (process.env.BENCH_COMPARE_BUILD ?? "").split(",").map((d) => d.trim()).filter(Boolean).map((d) => path.resolve(d));
const COMPARE_BUILD = COMPARE_BUILDS[0] ?? null;
// The i-th compare build's suffix: none for the first, then `${sep}2`, `${sep}3`, ….
const compareSuffix = (i, sep) => (i === 0 ? "" : `${sep}${i + 1}`);
const HOST = "127.0.0.1";
const env = (name, dflt) => Number(process.env[name] ?? dflt);
const CFG = {
  seconds: env("BENCH_SECONDS", 4),
  warmup: env("BENCH_WARMUP_SECONDS", 2),
  runs: env("BENCH_RUNS", 3),
  connections: env("BENCH_CONNECTIONS", 10),
  threads: env("BENCH_THREADS", 2),
  signinSeconds: env("BENCH_SIGNIN_SECONDS", 6),
  skip100k: process.env.BENCH_SKIP_100K === "1",
  // Cold introspection: distinct valid tokens, from COLD_USERS users × COLD_SESSIONS sessions,
  // each session refreshed until the count is reached (more than any isolate cache holds).
  coldTokens: env("BENCH_COLD_TOKENS", 24_000),
  coldSessionsPerUser: env("BENCH_COLD_SESSIONS_PER_USER", 2),
  // Distinct tokens minted for each peer (their set-up flows cost a few requests per token).
  peerTokens: env("BENCH_PEER_TOKENS", 4_000),
};
// A hard stop for the whole run, whatever happens (a full run takes about 15 minutes on a busy
// 2-vCPU machine: the cold tokens are minted by real refreshes).
const HARD_STOP = setTimeout(() => {
  console.error("bench: hard time limit reached (25 min); aborting");
  process.exit(2);
}, (SMOKE ? 90 : 25 * 60) * 1000);
HARD_STOP.unref();

const ROOT_TOKEN = "bench-root-token";
const KEY_ENCRYPTION_SECRET = "62656e63682d6f6e6c792d6b65792d656e6372797074696f6e2d736563726574";
const PASSWORD = "correct horse battery staple";

let WRK_VERSION = null;
const log = (...a) => console.log("bench:", ...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x, d = 3) => (Number.isFinite(x) ? Number(x.toFixed(d)) : null);

function readCompatibilityDate() {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  const m = /^\s*compatibility_date\s*=\s*"([^"]+)"/m.exec(toml);
  if (!m) throw new Error("compatibility_date not found in wrangler.toml");
  return m[1];
}
const COMPAT = readCompatibilityDate();

function need(file, hint) {
  if (!existsSync(file)) throw new Error(`${path.relative(ROOT, file)} is missing: ${hint}`);
  return file;
}

const wasmWorker = (dir) => ({
  modules: true,
  scriptPath: need(path.join(dir, "index.js"), "run `make bench` (it builds it)"),
  modulesRoot: dir,
  modulesRules: [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"] },
  ],
  compatibilityDate: COMPAT,
});

const socket = () => [{ host: HOST, port: 0 }];
// The paths whose per-request latency is also recorded without wrk's correction.
const UNCORRECTED = ["kv_get", "kv_get_cold", "kv_get_edge_keys", "kv_get_edge_keys_js", "introspect_cold", "peer_openauth_cold", "peer_oauth_provider_cold"];

// The DB wrapper of tessera-counted: every D1 call (statement execution, batch, exec) asks the
// COUNTER service (a Node function of this process) first. The class is named D1Database
// because worker-rs checks the binding's constructor name (as in tests/e2e/harness.ts).
const D1_COUNTER_SCRIPT = `
class D1PreparedStatement {
  constructor(db, inner) { this.db = db; this.inner = inner; }
  bind(...args) { return new D1PreparedStatement(this.db, this.inner.bind(...args)); }
  async first(...a) { await this.db.count("first"); return this.inner.first(...a); }
  async all(...a) { await this.db.count("all"); return this.inner.all(...a); }
  async run(...a) { await this.db.count("run"); return this.inner.run(...a); }
  async raw(...a) { await this.db.count("raw"); return this.inner.raw(...a); }
}
class D1Database {
  constructor(env) { this.env = env; this.inner = env.INNER_DB; }
  async count(op) { await this.env.COUNTER.fetch("http://counter.bench/" + op); }
  prepare(sql) { return new D1PreparedStatement(this, this.inner.prepare(sql)); }
  async batch(statements) { await this.count("batch"); return this.inner.batch(statements.map((s) => s.inner)); }
  async exec(sql) { await this.count("exec"); return this.inner.exec(sql); }
  dump() { return this.inner.dump(); }
}
export function d1(env) { return new D1Database(env); }
class KvNamespace {
  constructor(env) { this.env = env; this.inner = env.INNER_KV; }
  async count(op, key) {
    const prefix = String(key ?? "").split(":")[0];
    await this.env.COUNTER.fetch("http://counter.bench/kv/" + op + "/" + encodeURIComponent(prefix));
  }
  async get(key, ...rest) { await this.count("get", key); return this.inner.get(key, ...rest); }
  async getWithMetadata(key, ...rest) { await this.count("getWithMetadata", key); return this.inner.getWithMetadata(key, ...rest); }
  async put(key, ...rest) { await this.count("put", key); return this.inner.put(key, ...rest); }
  async delete(key, ...rest) { await this.count("delete", key); return this.inner.delete(key, ...rest); }
  async list(options, ...rest) { await this.count("list", options?.prefix); return this.inner.list(options, ...rest); }
}
export function kv(env) { return new KvNamespace(env); }
`;

async function bundlePeers() {
  const { build } = await import("esbuild");
  mkdirSync(path.join(OUT, "peers"), { recursive: true });
  const out = {};
  for (const name of ["oauth-provider", "openauth"]) {
    const outfile = path.join(OUT, "peers", `${name}.mjs`);
    await build({
      entryPoints: [path.join(BENCH, "peers", `${name}.js`)],
      outfile,
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      mainFields: ["module", "main"],
      conditions: ["workerd", "worker", "import", "default"],
      external: ["cloudflare:*", "node:*"],
      logLevel: "warning",
    });
    out[name] = outfile;
  }
  return out;
}

async function startRuntime(counter) {
  const tesseraDir = TESSERA_BUILD;
  const bindings = {
    ADMIN_ROOT_TOKEN: ROOT_TOKEN,
    KEY_ENCRYPTION_SECRET,
    ISSUER_ORIGIN: "http://127.0.0.1",
    OPERATOR_TOKEN_TTL_SECONDS: "3600",
    // Production password policy (600,000 iterations) and the real clock: the test-only
    // TESSERA_TEST_PBKDF2_ITERATIONS and TESSERA_TEST_CLOCK are bound only in the smoke run.
    ...(SMOKE ? { TESSERA_TEST_PBKDF2_ITERATIONS: "1000" } : {}),
  };
  const peers = await bundlePeers();
  const workers = [
    {
      name: "tessera",
      ...wasmWorker(tesseraDir),
      bindings,
      d1Databases: { DB: "tessera-bench" },
      kvNamespaces: { FLAGS: "tessera-flags" },
      unsafeDirectSockets: socket(),
    },
    {
      name: "tessera-counted",
      ...wasmWorker(tesseraDir),
      bindings,
      kvNamespaces: { FLAGS: "tessera-flags" },
      wrappedBindings: { DB: { scriptName: "bench-d1-counter", entrypoint: "d1" } },
      unsafeDirectSockets: socket(),
    },
    {
      name: "bench-d1-counter",
      modules: true,
      script: D1_COUNTER_SCRIPT,
      d1Databases: { INNER_DB: "tessera-bench" },
      kvNamespaces: { INNER_KV: "tessera-flags" },
      serviceBindings: {
        COUNTER: async (request) => {
          const op = decodeURIComponent(new URL(request.url).pathname.slice(1));
          if (op.startsWith("kv/")) counter.kv[op] = (counter.kv[op] ?? 0) + 1;
          else {
            counter.calls++;
            counter.ops[op] = (counter.ops[op] ?? 0) + 1;
          }
          return new MfResponse("ok");
        },
      },
    },
    {
      // Diagnostics only (never timed): both bindings counted, to show what a request does.
      name: "tessera-diag",
      ...wasmWorker(tesseraDir),
      bindings,
      wrappedBindings: {
        DB: { scriptName: "bench-d1-counter", entrypoint: "d1" },
        FLAGS: { scriptName: "bench-d1-counter", entrypoint: "kv" },
      },
      unsafeDirectSockets: socket(),
    },
    {
      // The edge Worker of a split deployment: its own routes here, the rest through FULL.
      name: "tessera-edge",
      ...wasmWorker(EDGE_BUILD),
      bindings,
      d1Databases: { DB: "tessera-bench" },
      kvNamespaces: { FLAGS: "tessera-flags" },
      serviceBindings: { FULL: "tessera" },
      unsafeDirectSockets: socket(),
    },
    // BENCH_COMPARE_BUILD=<dir>[,<dir>…] (diagnostics): other Tessera builds on the same D1 and
    // KV, measured beside this one as introspect_compare and introspect_cold_compare (the
    // second build's with the suffix _2, and so on).
    ...COMPARE_BUILDS.map((dir, i) => ({ name: `tessera-compare${compareSuffix(i, "-")}`, ...wasmWorker(dir), bindings, d1Databases: { DB: "tessera-bench" }, kvNamespaces: { FLAGS: "tessera-flags" }, unsafeDirectSockets: socket() })),
    { name: "ref-trivial", ...wasmWorker(path.join(BENCH, "rust/trivial/build")), unsafeDirectSockets: socket() },
    {
      name: "ref-kvget",
      ...wasmWorker(path.join(BENCH, "rust/kvget/build")),
      // EDGE is Tessera's namespace: `/m/<key>` reads the edge documents cold introspection reads.
      kvNamespaces: { FLAGS: "ref-flags", EDGE: "tessera-flags" },
      unsafeDirectSockets: socket(),
    },
    { name: "probe", ...wasmWorker(path.join(BENCH, "rust/probe/build")), unsafeDirectSockets: socket() },
    {
      name: "ref-kvget-js",
      modules: true,
      scriptPath: path.join(BENCH, "workers/kvget.js"),
      compatibilityDate: COMPAT,
      kvNamespaces: { EDGE: "tessera-flags" },
      unsafeDirectSockets: socket(),
    },
    {
      name: "webcrypto",
      modules: true,
      scriptPath: path.join(BENCH, "workers/webcrypto.js"),
      compatibilityDate: COMPAT,
      unsafeDirectSockets: socket(),
    },
    {
      name: "peer-oauth-provider",
      modules: [{ type: "ESModule", path: peers["oauth-provider"] }],
      modulesRoot: path.dirname(peers["oauth-provider"]),
      compatibilityDate: COMPAT,
      kvNamespaces: { OAUTH_KV: "oauth-kv" },
      unsafeDirectSockets: socket(),
    },
    {
      name: "peer-openauth",
      // One pre-bundled module, listed by hand: hono's bundle has a dynamic import that
      // Miniflare's module walker refuses.
      modules: [{ type: "ESModule", path: peers.openauth }],
      modulesRoot: path.dirname(peers.openauth),
      compatibilityDate: COMPAT,
      compatibilityFlags: ["nodejs_compat"],
      kvNamespaces: { AUTH_KV: "openauth-kv" },
      unsafeDirectSockets: socket(),
    },
  ];
  // The V8 inspector of workerd, for the CPU profile taken after the measurements (no session
  // is attached before, so nothing is instrumented while the figures are taken).
  INSPECTOR_PORT = SMOKE ? undefined : await freePort();
  const mf = new Miniflare({
    host: HOST,
    port: 0,
    cf: false, // no request to workers.cloudflare.com for a Request.cf placeholder
    log: new Log(process.env.BENCH_LOG ? LogLevel.DEBUG : LogLevel.WARN),
    ...(INSPECTOR_PORT ? { inspectorPort: INSPECTOR_PORT } : {}),
    workers,
  });
  await mf.ready;
  const urls = {};
  for (const w of workers) {
    if (w.unsafeDirectSockets) urls[w.name] = (await mf.unsafeGetDirectURL(w.name)).toString().replace(/\/$/, "");
  }
  return { mf, urls };
}

// ---------------------------------------------------------------- HTTP helpers

async function call(base, method, p, body, headers = {}) {
  const h = { accept: "application/json", ...headers };
  const init = { method, headers: h, redirect: "manual", signal: AbortSignal.timeout(30_000) };
  if (body !== undefined) {
    if (typeof body === "string") init.body = body;
    else {
      init.body = JSON.stringify(body);
      h["content-type"] ??= "application/json";
    }
  }
  const res = await fetch(base + p, init);
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, headers: res.headers, json, text };
}

async function expectStatus(what, promise, ...statuses) {
  const res = await promise;
  if (!statuses.includes(res.status)) throw new Error(`${what}: ${res.status} ${res.text.slice(0, 300)}`);
  return res;
}

const bearer = (t) => ({ authorization: `Bearer ${t}` });
const FORM = { "content-type": "application/x-www-form-urlencoded" };

// ---------------------------------------------------------------- set-up

async function setupTessera(T, mf) {
  await expectStatus(
    "bootstrap",
    call(T, "POST", "/admin/bootstrap", { email: "owner@bench.test", password: PASSWORD }, bearer(ROOT_TOKEN)),
    201,
  );
  const op = (await expectStatus("operator signin", call(T, "POST", "/admin/auth/signin", { email: "owner@bench.test", password: PASSWORD }), 200)).json.access_token;
  for (const id of ["bench", "bench-refresh"]) {
    await expectStatus(`create app ${id}`, call(T, "POST", "/admin/apps", { id }, bearer(op)), 201);
  }
  await expectStatus("settings bench", call(T, "PATCH", "/admin/apps/bench", { settings: { access_token_ttl_seconds: 3600 } }, bearer(op)), 200);
  // The refresh measurement needs many sessions: its app hashes at the 100,000-iteration floor
  // so that minting them is quick (refresh itself never hashes a password).
  await expectStatus(
    "settings bench-refresh",
    call(T, "PATCH", "/admin/apps/bench-refresh", { settings: { access_token_ttl_seconds: 3600, password_iterations: 100_000 } }, bearer(op)),
    200,
  );
  const key = (await expectStatus("api key", call(T, "POST", "/admin/apps/bench/tenants/public/api-keys", { name: "bench", scopes: ["introspect"] }, bearer(op)), 201)).json.key;
  const E = "/apps/bench/tenants/public";
  const alice = (await expectStatus("signup alice", call(T, "POST", `${E}/auth/signup`, { email: "alice@bench.test", password: PASSWORD }), 201)).json;
  const bob = (await expectStatus("signup bob", call(T, "POST", `${E}/auth/signup`, { email: "bob@bench.test", password: PASSWORD }), 201)).json;
  await expectStatus("suspend bob", call(T, "POST", `/admin/apps/bench/tenants/public/users/${bob.user.id}/suspend`, {}, bearer(op)), 200);
  await expectStatus(
    "signup carol",
    call(T, "POST", "/apps/bench-refresh/tenants/public/auth/signup", { email: "carol@bench.test", password: PASSWORD }),
    201,
  );
  return { op, key, aliceToken: alice.session.access_token, bobToken: bob.session.access_token, E };
}

/** `n` fresh refresh tokens (n sign-ins of carol in bench-refresh). */
async function refreshTokens(T, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = await expectStatus(
      "signin carol",
      call(T, "POST", "/apps/bench-refresh/tenants/public/auth/signin", { email: "carol@bench.test", password: PASSWORD }),
      200,
    );
    out.push(r.json.session.refresh_token);
  }
  return out;
}

/**
 * Registers a client of the workers-oauth-provider peer and returns `n` distinct access tokens
 * (authorization code + PKCE for each: /authorize, then /token).
 */
async function setupOauthProvider(P, n = 1) {
  const reg = await expectStatus(
    "oauth-provider register",
    call(P, "POST", "/register", { redirect_uris: ["http://127.0.0.1/cb"], token_endpoint_auth_method: "none", client_name: "bench" }),
    201,
  );
  const clientId = reg.json.client_id;
  const verifier = "bench-verifier-0123456789-0123456789-0123456789-abcdefgh";
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const q = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: "http://127.0.0.1/cb",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "s",
  });
  const tokens = [];
  await pool(n, 10, async (i) => {
    const who = i === 0 ? "" : `&bench_user=bench-user-${i % 1000}`;
    const auth = await expectStatus("oauth-provider authorize", call(P, "GET", `/authorize?${q}${who}`), 302);
    const code = new URL(auth.headers.get("location")).searchParams.get("code");
    const form = new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: "http://127.0.0.1/cb",
      client_id: clientId,
      code_verifier: verifier,
    });
    tokens.push((await expectStatus("oauth-provider token", call(P, "POST", "/token", form.toString(), FORM), 200)).json.access_token);
  });
  return tokens;
}

async function setupOpenauth(O, mf) {
  const form = new URLSearchParams({ grant_type: "client_credentials", provider: "bench", client_id: "bench", client_secret: "bench-secret" });
  const tok = await expectStatus("openauth token", call(O, "POST", "/token", form.toString(), FORM), 200);
  const kv = await mf.getKVNamespace("AUTH_KV", "peer-openauth");
  await kv.put("subject:bench-user", JSON.stringify({ status: "active", plan: "free" }));
  return tok.json.access_token;
}

// ---------------------------------------------------------------- D1 seeding (scaling)

/** Seeds end users `from`..`to` (inclusive) into bench/public straight through D1. */
async function seedUsers(db, from, to) {
  if (to < from) return;
  const seq = "WITH RECURSIVE seq(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?2) ";
  await db
    .prepare(
      seq +
        "INSERT INTO users (app_id, id, email, password_hash, created_at) " +
        "SELECT 'bench', printf('01900000-0000-7000-8000-%012x', n), printf('seed%07d@bench.test', n), NULL, 1760000000000 FROM seq",
    )
    .bind(from, to)
    .run();
  await db
    .prepare(
      seq +
        "INSERT INTO tenant_users (app_id, tenant_id, user_id, email, status, plan_tier, created_at) " +
        "SELECT 'bench', 'public', printf('01900000-0000-7000-8000-%012x', n), printf('seed%07d@bench.test', n), 'active', 'free', 1760000000000 FROM seq",
    )
    .bind(from, to)
    .run();
}

async function countUsers(db) {
  const row = await db.prepare("SELECT count(*) AS n FROM tenant_users WHERE app_id = 'bench' AND tenant_id = 'public'").first();
  return row.n;
}

// ---------------------------------------------------------------- cold tokens

/** A UUIDv7 (hyphenated) of time `ms`. */
function uuidv7(ms) {
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Runs `task(i)` for every i in 0..n-1, at most `limit` at a time. */
async function pool(n, limit, task) {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/**
 * Distinct valid access tokens for cold introspection, from many users and sessions: the
 * seeded users of bench/public each get `sessionsPerUser` sessions (written straight into D1
 * with refresh tokens the harness knows), and each session is refreshed until `want` tokens
 * exist (every refresh mints a new access token; all stay valid for the app's hour). Every
 * other user is moved to the plan `pro` (a role with permissions) first, so half of the users
 * have an edge document and half do not, as in production. Returns the token file.
 */
async function mintColdTokens(T, s, db, { users, sessionsPerUser, want }) {
  const E = s.E;
  await expectStatus("role editor", call(T, "PUT", "/admin/apps/bench/roles/editor", { permissions: ["docs:read", "docs:write"] }, bearer(s.op)), 200);
  await expectStatus("plan pro", call(T, "PUT", "/admin/apps/bench/plans/pro", { roles: ["editor"], rate_limit: 600 }, bearer(s.op)), 200);
  const ids = (
    await db
      .prepare("SELECT user_id FROM tenant_users WHERE app_id = 'bench' AND tenant_id = 'public' AND user_id LIKE '01900000-%' ORDER BY user_id LIMIT ?1")
      .bind(users)
      .all()
  ).results.map((r) => r.user_id);
  if (ids.length < users) throw new Error(`cold: only ${ids.length} seeded users`);
  await pool(Math.ceil(ids.length / 2), 10, async (i) => {
    const id = ids[2 * i];
    await expectStatus("plan of a cold user", call(T, "PATCH", `/admin/apps/bench/tenants/public/users/${id}`, { plan_tier: "pro" }, bearer(s.op)), 200);
  });
  // Sessions with known refresh tokens, straight into D1 (what a sign-in writes).
  const now = Date.now();
  const chains = [];
  for (const id of ids) {
    for (let k = 0; k < sessionsPerUser; k++) {
      chains.push({ user: id, session: uuidv7(now), token: `tsr_${randomBytes(32).toString("base64url")}` });
    }
  }
  for (let i = 0; i < chains.length; i += 200) {
    const part = chains.slice(i, i + 200);
    await db
      .prepare(
        "INSERT INTO sessions (id, app_id, tenant_id, user_id, generation, rotated_at, created_at, last_used_at, expires_at, idle_timeout_ms) VALUES " +
          part.map((c) => `('${c.session}', 'bench', 'public', '${c.user}', 0, ${now}, ${now}, ${now}, ${now + 30 * 86_400_000}, ${7 * 86_400_000})`).join(", "),
      )
      .run();
    await db
      .prepare(
        "INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at) VALUES " +
          part.map((c) => `('${createHash("sha256").update(c.token).digest("hex")}', '${c.session}', 0, ${now})`).join(", "),
      )
      .run();
  }
  const rounds = Math.ceil(want / chains.length);
  const tokens = [];
  await pool(chains.length, 10, async (i) => {
    const c = chains[i];
    for (let r = 0; r < rounds; r++) {
      const res = await expectStatus("cold refresh", call(T, "POST", `${E}/auth/refresh`, { refresh_token: c.token }), 200);
      c.token = res.json.session.refresh_token;
      tokens.push(res.json.session.access_token);
    }
  });
  mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, "cold-tessera.txt");
  writeFileSync(file, tokens.join("\n") + "\n");
  log(`cold: ${tokens.length} access tokens from ${ids.length} users × ${sessionsPerUser} sessions × ${rounds} refreshes`);
  return { file, tokens, users: ids.length, sessions: chains.length };
}

/**
 * `n` distinct keys for the one-KV-get reference worker's cold walk (`GET /k/<key>`), with
 * values of an edge document's size (a user's flags with a plan, roles and a few revocations),
 * written to a file: the reference for a worker that reads as many distinct keys as cold
 * introspection does.
 */
async function seedReferenceKeys(kv, n) {
  const value = JSON.stringify({ v: 7, status: "active", plan_tier: "pro", roles: ["editor"], permissions: ["docs:read", "docs:write"], rate_limit: 600, revoked: [{ sid: randomUUID(), until: Date.now() }], pad: "x".repeat(120) });
  const keys = [];
  for (let i = 0; i < n; i++) keys.push(`flags:bench:public:${randomUUID()}`);
  await pool(n, 20, (i) => kv.put(keys[i], value));
  mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, "cold-kv.txt");
  writeFileSync(file, keys.join("\n") + "\n");
  return { file, tokens: keys };
}

/**
 * The KV key each cold token's introspection reads (its user's edge document,
 * `flags:<app>:<tenant>:<user>`), in the token list's order, written to a file: the one-KV-get
 * reference walks it (`GET /m/<key>`) to read exactly what cold introspection reads, present
 * and absent documents alike.
 */
function edgeKeysOf(tokens) {
  const keys = tokens.map((t) => `flags:bench:public:${JSON.parse(Buffer.from(t.split(".")[1], "base64url")).sub}`);
  const file = path.join(OUT, "cold-edge-keys.txt");
  writeFileSync(file, keys.join("\n") + "\n");
  return { file, tokens: keys };
}

/** `n` distinct OpenAuth access tokens (client_credentials), written to a file. */
async function mintOpenauthTokens(O, mf, n) {
  // Subjects as many as Tessera's cold users, each with its KV entry: the peer's read after
  // verification touches as many distinct keys as Tessera's edge-document read does.
  const subjects = Math.min(n, 1000);
  const kv = await mf.getKVNamespace("AUTH_KV", "peer-openauth");
  await pool(subjects, 20, (i) => kv.put(`subject:user-bench-${i}`, JSON.stringify({ status: "active", plan: "free" })));
  const tokens = [];
  await pool(n, 10, async (i) => {
    const form = new URLSearchParams({ grant_type: "client_credentials", provider: "bench", client_id: `bench-${i % subjects}`, client_secret: "bench-secret" }).toString();
    tokens.push((await expectStatus("openauth token", call(O, "POST", "/token", form, FORM), 200)).json.access_token);
  });
  const file = path.join(OUT, "cold-openauth.txt");
  writeFileSync(file, tokens.join("\n") + "\n");
  return { file, tokens };
}

// ---------------------------------------------------------------- cost probes

async function timeRequests(url, n, warm = 1) {
  for (let i = 0; i < warm; i++) await (await fetch(url)).text();
  const xs = [];
  let status = 200;
  let body = "";
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    body = await res.text();
    xs.push(performance.now() - t);
    status = res.status;
  }
  return { ms: median(xs), status, body };
}

async function probeCosts(urls) {
  const P = urls.probe;
  const W = urls.webcrypto;
  const noop = (await timeRequests(`${P}/noop`, 30, 5)).ms;
  const wnoop = (await timeRequests(`${W}/noop`, 30, 5)).ms;
  const n = 5;
  const wasm = async (alg, i) => {
    const r = await timeRequests(`${P}/pbkdf2?alg=${alg}&i=${i}`, n);
    if (r.status !== 200) throw new Error(`probe pbkdf2 ${alg}@${i}: ${r.status} ${r.body}`);
    return r.ms - noop;
  };
  const out = {
    baseline_request_ms: round(noop),
    wasm_sha256_600k_ms: round(await wasm("sha256", 600_000)),
    wasm_sha512_210k_ms: round(await wasm("sha512", 210_000)),
    wasm_sha256_100k_ms: round(await wasm("sha256", 100_000)),
  };
  const wc = await timeRequests(`${W}/pbkdf2?i=100000&hash=SHA-256`, n);
  if (wc.status !== 200) throw new Error(`webcrypto pbkdf2: ${wc.status} ${wc.body}`);
  out.webcrypto_sha256_100k_ms = round(wc.ms - wnoop);
  const wc512 = await timeRequests(`${W}/pbkdf2?i=100000&hash=SHA-512`, n);
  out.webcrypto_sha512_100k_ms = wc512.status === 200 ? round(wc512.ms - wnoop) : null;
  const cap = await timeRequests(`${W}/pbkdf2?i=600000&hash=SHA-256`, 1, 0);
  out.webcrypto_600k = cap.status === 200 ? { refused: false, ms: round(cap.ms - wnoop) } : { refused: true, answer: cap.body.slice(0, 200) };
  const N = 2000;
  const jwt = await timeRequests(`${P}/jwt?n=${N}`, n);
  if (jwt.status !== 200) throw new Error(`probe jwt: ${jwt.status} ${jwt.body}`);
  out.wasm_jwt_verify_us = round(((jwt.ms - noop) / N) * 1000);
  const wcj = await timeRequests(`${P}/jwt-webcrypto?n=${N}`, n);
  if (wcj.status !== 200) throw new Error(`probe jwt-webcrypto: ${wcj.status} ${wcj.body}`);
  out.webcrypto_jwt_verify_us = round(((wcj.ms - noop) / N) * 1000);
  // The signature alone, from JavaScript: Ed25519 (Tessera's) against ES256 (OpenAuth's).
  for (const alg of ["Ed25519", "ES256"]) {
    const v = await timeRequests(`${W}/verify?alg=${alg}&n=${N}`, n);
    if (v.status !== 200) throw new Error(`webcrypto verify ${alg}: ${v.status} ${v.body}`);
    out[`webcrypto_verify_${alg.toLowerCase()}_us`] = round(((v.ms - wnoop) / N) * 1000);
  }
  return out;
}

function nativeCosts() {
  const bin = need(path.join(BENCH, "target/release/bench-native"), "run `make bench` (it builds it)");
  return JSON.parse(execFileSync(bin, ["5"], { encoding: "utf8", timeout: 120_000 }));
}

// ---------------------------------------------------------------- cold start

async function coldStart(name, worker, p, samples) {
  const xs = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const mf = new Miniflare({
      host: HOST,
      port: 0,
      cf: false,
      log: new Log(LogLevel.WARN),
      workers: [{ name, ...worker, unsafeDirectSockets: socket() }],
    });
    try {
      await mf.ready;
      const t1 = performance.now();
      const url = (await mf.unsafeGetDirectURL(name)).toString().replace(/\/$/, "");
      const r1 = await fetch(url + p);
      await r1.text();
      const t2 = performance.now();
      if (r1.status >= 300) throw new Error(`cold start ${name}: ${r1.status}`);
      const t3 = performance.now();
      await (await fetch(url + p)).text();
      const t4 = performance.now();
      xs.push({ ready: t1 - t0, first: t2 - t1, warm: t4 - t3 });
    } finally {
      await mf.dispose();
    }
  }
  return {
    runtime_ready_ms: round(median(xs.map((x) => x.ready)), 1),
    first_response_ms: round(median(xs.map((x) => x.first)), 2),
    total_to_first_response_ms: round(median(xs.map((x) => x.ready + x.first)), 1),
    warm_response_ms: round(median(xs.map((x) => x.warm)), 2),
    samples,
  };
}

// ---------------------------------------------------------------- CPU time of workerd
//
// Local workerd reports no CPU time in tail events (cpuTime is 0 outside Cloudflare), so the
// harness reads the kernel's accounting of the workerd process (utime + stime of all its
// threads, /proc/<pid>/stat) before and after each wrk run and divides by the requests the run
// completed. Only the measured worker is under load during a run, so the figure is that
// worker's CPU per request — plus what workerd spends around it: HTTP parsing and, for storage
// calls, the local KV/D1 simulators (which run in the same process). The reference workers and
// peers are measured the same way, so the ratios compare like with like.

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function procStat(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = st.lastIndexOf(")");
    const comm = st.slice(st.indexOf("(") + 1, close);
    const f = st.slice(close + 2).split(" ");
    return { comm, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
  }
}

/** The workerd processes started by this Node process (Miniflare spawns one). */
function workerdPids() {
  const children = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const st = procStat(d);
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push({ pid: Number(d), comm: st.comm });
  }
  const out = [];
  const queue = [process.pid];
  while (queue.length) {
    for (const c of children.get(queue.shift()) ?? []) {
      if (c.comm.startsWith("workerd")) out.push(c.pid);
      queue.push(c.pid);
    }
  }
  return out;
}

let WORKERD = [];
/** CPU time (µs) the workerd process has used so far, or NaN when it cannot be read. */
function workerdCpuMicros() {
  if (WORKERD.length === 0) return NaN;
  let ticks = 0;
  for (const pid of WORKERD) {
    const st = procStat(pid);
    if (!st) return NaN;
    ticks += st.ticks;
  }
  return (ticks * 1e6) / CLK_TCK;
}

// ---------------------------------------------------------------- CPU profile of the isolate

let INSPECTOR_PORT;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Samples one worker's isolate with V8's CPU profiler (through workerd's inspector) while
 * `target` runs for `seconds`, and sorts the samples: wasm (Tessera's Rust), JS (the
 * wasm-bindgen glue and the runtime's JS), garbage collection, "(program)" (native code of the
 * runtime outside JS: the KV/HTTP bindings, WebCrypto) and idle. Also the GC pauses: runs of
 * consecutive GC samples, which is what a p99 stall of the isolate's own making looks like.
 */
async function profileWorker(workerName, target, seconds) {
  const ws = new WebSocket(`ws://${HOST}:${INSPECTOR_PORT}/core:user:${workerName}`);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("inspector: no connection in 5 s")), 5_000);
    ws.once("open", () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  let id = 0;
  const pending = new Map();
  ws.on("message", (m) => {
    const msg = JSON.parse(m);
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  // workerd answers each command once (enable/start with the command echoed, stop with its
  // `result`). Every wait is bounded: a profile that does not come is reported, not waited for.
  const send = (method, params = {}, timeoutMs = 3_000) =>
    new Promise((resolve) => {
      const i = ++id;
      const timer = setTimeout(() => {
        pending.delete(i);
        resolve({ error: `${method}: no answer in ${timeoutMs} ms` });
      }, timeoutMs);
      pending.set(i, (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      ws.send(JSON.stringify({ id: i, method, params }));
    });
  try {
    await send("Profiler.enable");
    await send("Profiler.setSamplingInterval", { interval: 100 });
    await send("Profiler.start");
    const threads = Math.min(CFG.threads, CFG.connections);
    const script = await target.script(CFG.connections, threads);
    const run = await wrk({ url: target.url, script, seconds, connections: CFG.connections, threads, workDir: path.join(OUT, "lua"), name: `profile-${target.name}` });
    const stopped = await send("Profiler.stop", {}, 60_000);
    const profile = stopped.result?.profile;
    if (!profile) return { error: JSON.stringify(stopped.error ?? stopped).slice(0, 200) };
    // BENCH_PROFILE_DIR=<dir>: the raw profile too (Chrome DevTools opens .cpuprofile files).
    if (process.env.BENCH_PROFILE_DIR) {
      mkdirSync(process.env.BENCH_PROFILE_DIR, { recursive: true });
      writeFileSync(path.join(process.env.BENCH_PROFILE_DIR, `${target.name}-${Date.now()}.cpuprofile`), JSON.stringify(profile));
    }
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const kind = (node) => {
      const f = node.callFrame;
      if (f.functionName === "(idle)") return "idle";
      if (f.functionName === "(program)") return "program";
      if (f.functionName === "(garbage collector)") return "gc";
      if (/\.wasm|wasm:\/\//.test(f.url) || /^\$|wasm-function/.test(f.functionName)) return "wasm";
      return "js";
    };
    const totals = { wasm: 0, js: 0, gc: 0, program: 0, idle: 0 };
    const pauses = [];
    let gcRun = 0;
    profile.samples.forEach((sid, i) => {
      const k = kind(byId.get(sid));
      const dt = profile.timeDeltas[i] ?? 0;
      totals[k] += dt;
      if (k === "gc") gcRun += dt;
      else if (gcRun > 0) {
        pauses.push(gcRun);
        gcRun = 0;
      }
    });
    if (gcRun > 0) pauses.push(gcRun);
    const perRequest = (us) => round(us / Math.max(1, run.requests), 1);
    // Self time by function (file basename and name), the heaviest first.
    const selfTime = new Map();
    profile.samples.forEach((sid, i) => {
      const f = byId.get(sid).callFrame;
      const name = `${kind(byId.get(sid))} ${f.functionName || "(anonymous)"} ${path.basename(f.url || "")}`.trim();
      selfTime.set(name, (selfTime.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
    });
    const top = [...selfTime.entries()]
      .filter(([name]) => !name.startsWith("idle"))
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([name, us]) => ({ function: name, us_per_request: perRequest(us) }));
    return {
      worker: workerName,
      path: target.name,
      requests: run.requests,
      req_per_s_while_profiled: round(run.req_per_s, 1),
      sampling_interval_us: 100,
      us_per_request: { wasm: perRequest(totals.wasm), js: perRequest(totals.js), gc: perRequest(totals.gc), program: perRequest(totals.program) },
      share_of_busy: Object.fromEntries(
        ["wasm", "js", "gc", "program"].map((k) => [k, round(totals[k] / Math.max(1, totals.wasm + totals.js + totals.gc + totals.program), 3)]),
      ),
      top_self_time: top,
      gc_pauses: {
        count: pauses.length,
        max_ms: round(Math.max(0, ...pauses) / 1000, 2),
        over_1ms: pauses.filter((p) => p > 1000).length,
        total_ms: round(pauses.reduce((a, b) => a + b, 0) / 1000, 1),
      },
    };
  } finally {
    ws.close();
  }
}

// ---------------------------------------------------------------- measurement loop

function summarize(runs) {
  return {
    req_per_s: round(median(runs.map((r) => r.req_per_s)), 1),
    cpu_us_per_request: round(median(runs.map((r) => r.cpu_us_per_request)), 1),
    p50_ms: round(median(runs.map((r) => r.p50_ms))),
    p99_ms: round(median(runs.map((r) => r.p99_ms))),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    requests: runs.reduce((a, r) => a + r.requests, 0),
    runs: runs.map((r) => ({ req_per_s: round(r.req_per_s, 1), p50_ms: round(r.p50_ms), p99_ms: round(r.p99_ms), errors: r.errors, cpu_us_per_request: round(r.cpu_us_per_request, 1) })),
  };
}

/**
 * Runs every target: one warm-up run, then CFG.runs rounds in which every target runs once
 * (interleaved, so drift on a shared machine hits all targets alike). Returns name → summary.
 */
async function measure(targets, label) {
  const results = Object.fromEntries(targets.map((t) => [t.name, []]));
  for (let round_ = -1; round_ < CFG.runs; round_++) {
    const warm = round_ < 0;
    for (const t of targets) {
      const seconds = warm ? Math.min(CFG.warmup, t.seconds ?? CFG.seconds) : (t.seconds ?? CFG.seconds);
      const connections = t.connections ?? CFG.connections;
      const threads = Math.min(t.threads ?? CFG.threads, connections);
      const script = t.script ? await t.script(connections, threads) : fixedScript(t.request);
      const cpuBefore = workerdCpuMicros();
      const r = await wrk({ url: t.url, script, seconds, connections, threads, workDir: path.join(OUT, "lua"), name: `${label}-${t.name}` });
      r.cpu_us_per_request = r.requests > 0 ? (workerdCpuMicros() - cpuBefore) / r.requests : NaN;
      if (!warm) results[t.name].push(r);
      log(`${label} ${warm ? "warm-up" : `run ${round_ + 1}/${CFG.runs}`} ${t.name}: ${r.req_per_s.toFixed(0)} req/s, p50 ${r.p50_ms.toFixed(2)} ms, p99 ${r.p99_ms.toFixed(2)} ms, CPU ${r.cpu_us_per_request.toFixed(0)} µs/req, errors ${r.errors}`);
    }
  }
  return Object.fromEntries(Object.entries(results).map(([k, v]) => [k, summarize(v)]));
}

/**
 * A target that sends a different token with every request (see `walkScript`): `as` "form"
 * puts it in an RFC 7662 body, "bearer" in the Authorization header, "path" after `prefix`
 * (with `body`, a fixed body, when given).
 */
function cold(name, url, file, tokens, as, method, headers, prefix = "/k/", body = null) {
  return [
    {
      name,
      url,
      tokens,
      as,
      method,
      headers,
      prefix,
      body,
      script: async (_connections, threads) => walkScript({ file, as, method, headers, body, prefix, threads, seed: Math.random() * 1e9, ...walkShare(name, threads) }),
    },
  ];
}

/**
 * Where each wrk thread's walk of target `name` goes on from: the positions the previous run
 * of the target in this process left (written by its script's `done`), so that no run — wrk's
 * or a Node loop's (`nodeWalk`) — sends a token an earlier run sent until its thread has been
 * once round its whole share (more tokens than the isolate's verified-token cache holds). The
 * first run of a target starts at random points. Returns `walkScript`'s `starts` and `posFile`.
 */
const WALKS = new Map(); // target name → wrk threads of its last run
function walkShare(name, threads) {
  const posFile = path.join(OUT, "lua", `${name}.pos`);
  let starts = null;
  if (WALKS.has(name) && !existsSync(posFile)) {
    // The last run of this target ended without writing where it stopped (its wrk failed):
    // starting afresh could re-send what it sent.
    throw new Error(`walk ${name}: the previous run left no positions in ${posFile}`);
  }
  if (WALKS.get(name) === threads) {
    starts = readFileSync(posFile, "utf8").trim().split("\n").map(Number);
    if (starts.length !== threads || !starts.every((n) => Number.isInteger(n) && n >= 1)) {
      throw new Error(`walk ${name}: positions ${JSON.stringify(starts)} in ${posFile}`);
    }
  }
  rmSync(posFile, { force: true });
  mkdirSync(path.dirname(posFile), { recursive: true });
  WALKS.set(name, threads);
  return { starts, posFile };
}

/**
 * A Node loop's walk of a walking target: the first wrk thread's share, from where that thread
 * stopped (a random point when the target has not run yet); `after(sent)` records how far the
 * loop went, so the next wrk run's first thread goes on from there.
 */
function nodeWalk(t) {
  const threads = WALKS.get(t.name) ?? CFG.threads;
  const share = t.tokens.slice(0, Math.floor(t.tokens.length / threads));
  const { starts, posFile } = walkShare(t.name, threads);
  if (!starts) {
    // Not walked by wrk yet: a random point, and the next wrk run starts afresh too.
    WALKS.delete(t.name);
    return { target: { ...t, tokens: share }, start: Math.floor(Math.random() * share.length), after: () => {} };
  }
  const start = (starts[0] - 1) % share.length;
  return {
    target: { ...t, tokens: share },
    start,
    after: (sent) => writeFileSync(posFile, [((start + sent) % share.length) + 1, ...starts.slice(1)].join("\n") + "\n"),
  };
}

/** A request maker (`requestMaker`) that counts the requests it made, for `nodeWalk`'s `after`. */
function counted(make) {
  const c = { sent: 0 };
  c.make = (...args) => {
    c.sent++;
    return make(...args);
  };
  return c;
}

function hotTargets(urls, s) {
  const T = urls.tessera;
  const C = urls["tessera-counted"];
  const introspect = (token) => ({
    method: "POST",
    body: `token=${encodeURIComponent(token)}`,
    headers: { ...bearer(s.key), ...FORM },
  });
  return [
    { name: "trivial", url: `${urls["ref-trivial"]}/`, request: {} },
    { name: "kv_get", url: `${urls["ref-kvget"]}/`, request: {} },
    ...cold("kv_get_cold", `${urls["ref-kvget"]}/`, s.cold.kv.file, s.cold.kv.tokens, "path", "GET", {}),
    ...cold("kv_get_edge_keys", `${urls["ref-kvget"]}/`, s.cold.edgeKeys.file, s.cold.edgeKeys.tokens, "path", "GET", {}, "/m/"),
    ...cold("kv_get_edge_keys_js", `${urls["ref-kvget-js"]}/`, s.cold.edgeKeys.file, s.cold.edgeKeys.tokens, "path", "GET", {}, "/m/"),
    // The same read after reading an introspection's body (an API key header, a form body
    // with a token as long as the cold ones): RFC 7662's POST costs the runtime a body read
    // the peers' bearer-header checks do not make. A diagnostic (BENCH_ONLY): in the smoke,
    // not measured in the full run.
    ...cold("kv_get_edge_keys_js_post", `${urls["ref-kvget-js"]}/`, s.cold.edgeKeys.file, s.cold.edgeKeys.tokens, "path", "POST", { ...bearer(s.key), ...FORM }, "/p/", `token=${s.cold.tessera.tokens[0]}`).map((t) => ({ ...t, diagnostic: true })),
    { name: "introspect", url: `${C}${s.E}/oauth/introspect`, request: introspect(s.aliceToken) },
    ...cold("introspect_cold", `${C}${s.E}/oauth/introspect`, s.cold.tessera.file, s.cold.tessera.tokens, "form", "POST", { ...bearer(s.key), ...FORM }),
    { name: "introspect_suspended", url: `${C}${s.E}/oauth/introspect`, request: introspect(s.bobToken) },
    // The same on the edge Worker of a split deployment (its smaller wasm; the same code path).
    ...cold("introspect_cold_edge", `${urls["tessera-edge"]}${s.E}/oauth/introspect`, s.cold.tessera.file, s.cold.tessera.tokens, "form", "POST", { ...bearer(s.key), ...FORM }),
    { name: "introspect_edge", url: `${urls["tessera-edge"]}${s.E}/oauth/introspect`, request: introspect(s.aliceToken) },
    ...COMPARE_BUILDS.flatMap((_, i) => {
      const worker = urls[`tessera-compare${compareSuffix(i, "-")}`];
      const name = (base) => `${base}${compareSuffix(i, "_")}`;
      return [
        { name: name("introspect_compare"), url: `${worker}${s.E}/oauth/introspect`, request: introspect(s.aliceToken) },
        ...cold(name("introspect_cold_compare"), `${worker}${s.E}/oauth/introspect`, s.cold.tessera.file, s.cold.tessera.tokens, "form", "POST", { ...bearer(s.key), ...FORM }),
      ];
    }),
    { name: "me", url: `${T}${s.E}/auth/me`, request: { headers: bearer(s.aliceToken) } },
    ...cold("me_cold", `${T}${s.E}/auth/me`, s.cold.tessera.file, s.cold.tessera.tokens, "bearer", "GET", {}),
    {
      name: "refresh",
      url: `${T}/apps/bench-refresh/tenants/public/auth/refresh`,
      // Each run gets fresh sessions: connections + 2 per thread of slack.
      script: async (c) => refreshScript(await refreshTokens(T, c + 2 * CFG.threads), Math.min(CFG.threads, c)),
    },
    { name: "list_users", url: `${T}/admin/apps/bench/tenants/public/users?limit=50`, request: { headers: bearer(s.op) } },
    {
      name: "signin",
      url: `${T}${s.E}/auth/signin`,
      connections: 1,
      threads: 1,
      seconds: CFG.signinSeconds,
      request: { method: "POST", body: JSON.stringify({ email: "alice@bench.test", password: PASSWORD }), headers: { "content-type": "application/json" } },
    },
    { name: "peer_oauth_provider", url: `${urls["peer-oauth-provider"]}/api/check`, request: { headers: bearer(s.oauthProviderToken) } },
    ...cold("peer_oauth_provider_cold", `${urls["peer-oauth-provider"]}/api/check`, s.cold.oauthProvider.file, s.cold.oauthProvider.tokens, "bearer", "GET", {}),
    { name: "peer_openauth", url: `${urls["peer-openauth"]}/api/check`, request: { headers: bearer(s.openauthToken) } },
    ...cold("peer_openauth_cold", `${urls["peer-openauth"]}/api/check`, s.cold.openauth.file, s.cold.openauth.tokens, "bearer", "GET", {}),
  ];
}

/** Answers of the targets checked once by body, before any load (a 200 is not enough). */
async function checkAnswers(urls, s) {
  const C = urls["tessera-counted"];
  const intro = async (tok) =>
    (await expectStatus("introspect", call(C, "POST", `${s.E}/oauth/introspect`, `token=${encodeURIComponent(tok)}`, { ...bearer(s.key), ...FORM }), 200)).json;
  const a = await intro(s.aliceToken);
  if (a.active !== true) throw new Error(`introspection of a valid token: ${JSON.stringify(a)}`);
  const coldTokens = s.cold.tessera.tokens;
  for (const tok of [coldTokens[0], coldTokens[coldTokens.length - 1]]) {
    const c = await intro(tok);
    if (c.active !== true) throw new Error(`introspection of a cold token: ${JSON.stringify(c)}`);
  }
  const withPlan = await Promise.all(coldTokens.slice(0, 8).map(intro));
  if (!withPlan.some((c) => c.plan_tier === "pro" && c.roles?.includes("editor"))) {
    throw new Error(`no cold token of a user on the plan pro: ${JSON.stringify(withPlan[0])}`);
  }
  const p1c = await expectStatus("oauth-provider cold", call(urls["peer-oauth-provider"], "GET", "/api/check", undefined, bearer(s.cold.oauthProvider.tokens.at(-1))), 200);
  if (!p1c.json.sub?.startsWith("bench-user")) throw new Error(`oauth-provider cold: ${p1c.text}`);
  const p1first = await expectStatus("oauth-provider first cold token", call(urls["peer-oauth-provider"], "GET", "/api/check", undefined, bearer(s.cold.oauthProvider.tokens[0])), 200);
  if (!p1first.json.sub?.startsWith("bench-user")) throw new Error(`oauth-provider cold: ${p1first.text}`);
  await expectStatus("openauth cold", call(urls["peer-openauth"], "GET", "/api/check", undefined, bearer(s.cold.openauth.tokens.at(-1))), 200);
  const b = await intro(s.bobToken);
  if (JSON.stringify(b) !== '{"active":false}') throw new Error(`introspection of a suspended user's token: ${JSON.stringify(b)}`);
  await expectStatus("me", call(urls.tessera, "GET", `${s.E}/auth/me`, undefined, bearer(s.aliceToken)), 200);
  const list = await expectStatus("list", call(urls.tessera, "GET", "/admin/apps/bench/tenants/public/users?limit=50", undefined, bearer(s.op)), 200);
  if (!Array.isArray(list.json.items)) throw new Error("list: no items");
  const kv = await expectStatus("kv_get", call(urls["ref-kvget"], "GET", "/"), 200);
  if (kv.text !== "on") throw new Error(`kv_get answered ${kv.text}`);
  await expectStatus("kv_get_cold", call(urls["ref-kvget"], "GET", `/k/${s.cold.kv.tokens.at(-1)}`), 200);
  // The reference reads the documents introspection reads: present exactly for the users
  // introspection answers with the plan's role (the users with an edge document), absent for
  // the others, and both kinds occur.
  const seen = new Map();
  s.cold.edgeKeys.tokens.forEach((key, i) => seen.has(key) || seen.size >= 24 || seen.set(key, coldTokens[i]));
  const kinds = new Set();
  for (const [key, tok] of seen) {
    const doc = (await expectStatus("kv_get_edge_keys", call(urls["ref-kvget"], "GET", `/m/${key}`), 200)).text;
    const js = (await expectStatus("kv_get_edge_keys_js", call(urls["ref-kvget-js"], "GET", `/m/${key}`), 200)).text;
    if (js !== doc) throw new Error(`kv_get_edge_keys_js: ${key} read ${JSON.stringify(js.slice(0, 80))}, the Rust reference ${JSON.stringify(doc.slice(0, 80))}`);
    const roles = (await intro(tok)).roles ?? [];
    if ((doc !== "") !== roles.includes("editor")) throw new Error(`kv_get_edge_keys: ${key} read ${JSON.stringify(doc.slice(0, 80))} but introspection said roles ${JSON.stringify(roles)}`);
    kinds.add(doc !== "");
  }
  if (kinds.size !== 2) throw new Error("kv_get_edge_keys: the cold users are not a mix of present and absent edge documents");
  const p1 = await expectStatus("oauth-provider api", call(urls["peer-oauth-provider"], "GET", "/api/check", undefined, bearer(s.oauthProviderToken)), 200);
  if (p1.json.sub !== "bench-user") throw new Error(`oauth-provider: ${p1.text}`);
  const p2 = await expectStatus("openauth api", call(urls["peer-openauth"], "GET", "/api/check", undefined, bearer(s.openauthToken)), 200);
  if (p2.json.active !== true) throw new Error(`openauth: ${p2.text}`);
}

/** Storage calls per request of introspection and /auth/me (sequential, on tessera-diag). */
async function storageCallsPerRequest(urls, s, counter) {
  const D = urls["tessera-diag"];
  const n = 20;
  const out = {};
  const cold = s.cold.tessera.tokens;
  const introspect = (tok) => call(D, "POST", `${s.E}/oauth/introspect`, `token=${encodeURIComponent(tok)}`, { ...bearer(s.key), ...FORM });
  const paths = {
    introspect: () => introspect(s.aliceToken),
    // A different token each time (the tokens are not the ones the load sends first).
    introspect_cold: (i) => introspect(cold[cold.length - 1 - i]),
    introspect_suspended: () => introspect(s.bobToken),
    me: () => call(D, "GET", `${s.E}/auth/me`, undefined, bearer(s.aliceToken)),
    me_cold: (i) => call(D, "GET", `${s.E}/auth/me`, undefined, bearer(cold[cold.length - 1 - n - i])),
  };
  for (const [name, send] of Object.entries(paths)) {
    await send(2 * n + 1); // warm the isolate's caches first
    const d1Before = counter.calls;
    const kvBefore = { ...counter.kv };
    for (let i = 0; i < n; i++) await expectStatus(`diag ${name}`, send(i), 200);
    const kv = {};
    for (const [k, v] of Object.entries(counter.kv)) {
      const d = v - (kvBefore[k] ?? 0);
      if (d > 0) kv[k.slice(3)] = round(d / n, 2);
    }
    out[name] = { d1_calls_per_request: round((counter.calls - d1Before) / n, 2), kv_calls_per_request: kv };
  }
  return out;
}

// ---------------------------------------------------------------- smoke

/** What counts as a good answer of target `t`: a cold introspection must also say active. */
function answers(t) {
  if (t.name.startsWith("introspect_cold")) return (res, text) => res.status === 200 && JSON.parse(text).active === true;
  return (res) => res.status < 300;
}

/**
 * The requests of a target for a Node load loop (the smoke run and the diagnostic timeline):
 * a function giving the next request's init (with `url` when the path changes per request).
 * Walking targets start at `start` in their token list.
 */
async function requestMaker(t, urls, s, start = 0) {
  if (t.name === "refresh") {
    let token = (await refreshTokens(urls.tessera, 1))[0];
    return () => ({
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: token }),
      after: (_res, text) => {
        token = JSON.parse(text).session?.refresh_token ?? token;
      },
    });
  }
  if (t.tokens) {
    let i = start;
    return () => {
      const tok = t.tokens[i++ % t.tokens.length];
      if (t.as === "form") return { method: t.method, headers: t.headers, body: `token=${tok}` };
      if (t.as === "path") return { method: t.method, headers: t.headers, url: `${t.url}${t.prefix.slice(1)}${tok}`, body: t.body ?? undefined };
      return { method: t.method, headers: { ...t.headers, ...bearer(tok) } };
    };
  }
  return () => ({ method: t.request.method ?? "GET", headers: t.request.headers ?? {}, body: t.request.body });
}

/** `timeline` of target `t` under a Node loop; a walking target goes on with its walk (`nodeWalk`). */
async function loopTimeline(t, urls, s) {
  const run = async (target, start) => {
    const c = counted(await requestMaker(target, urls, s, start));
    return { c, tl: await timeline({ url: target.url, make: c.make, seconds: CFG.seconds, connections: CFG.connections, ok: answers(target) }) };
  };
  if (!t.tokens) return (await run(t, 0)).tl;
  const walk = nodeWalk(t);
  const { c, tl } = await run(walk.target, walk.start);
  walk.after(c.sent);
  return tl;
}

async function smoke(urls, s, counter) {
  const targets = hotTargets(urls, s);
  const d1Before = counter.calls;
  for (const t of targets) {
    const make = await requestMaker(t, urls, s);
    const r = await nodeLoop({ url: t.url, make, requests: t.name === "signin" ? 2 : 20, ok: answers(t) });
    log(`smoke ${t.name}: ${r.requests} requests, ${r.errors} errors`);
    if (r.errors > 0 || r.requests === 0) throw new Error(`smoke: ${t.name} answered with errors`);
    if (t.name.startsWith("introspect") && counter.calls !== d1Before) {
      throw new Error(`smoke: introspection made ${counter.calls - d1Before} D1 calls`);
    }
  }
  for (const p of ["/pbkdf2?alg=sha256&i=1000", "/pbkdf2?alg=sha512&i=1000", "/jwt?n=10", "/jwt-webcrypto?n=10"]) {
    await expectStatus(`probe ${p}`, call(urls.probe, "GET", p), 200);
  }
  await expectStatus("webcrypto", call(urls.webcrypto, "GET", "/pbkdf2?i=1000"), 200);
  for (const alg of ["Ed25519", "ES256"]) {
    await expectStatus(`webcrypto verify ${alg}`, call(urls.webcrypto, "GET", `/verify?alg=${alg}&n=10`), 200);
  }
}

// ---------------------------------------------------------------- main

function gitCommit() {
  try {
    const sha = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "migrations", "Cargo.toml", "Cargo.lock"], { cwd: ROOT, encoding: "utf8" }).trim();
    return { sha, dirty: dirty.length > 0 };
  } catch {
    return { sha: "unknown", dirty: null };
  }
}

function pkgVersion(name) {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return null;
  }
}

function wasmSize(file) {
  const raw = readFileSync(file);
  return { raw_bytes: raw.length, gzip_bytes: gzipSync(raw, { level: 9 }).length };
}

async function main() {
  const started = performance.now();
  if (COMPARE_BUILD && !process.env.BENCH_ONLY) throw new Error("BENCH_COMPARE_BUILD is a diagnostic: use it with BENCH_ONLY (a full run would mix a second build into the figures)");
  WRK_VERSION = SMOKE ? null : await wrkVersion();
  if (!SMOKE && !WRK_VERSION) throw new Error("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or your package manager");
  const counter = { calls: 0, ops: {}, kv: {} };
  const { mf, urls } = await startRuntime(counter);
  try {
    await applyMigrations(await mf.getD1Database("DB", "tessera"), path.join(ROOT, "migrations"));
    await (await mf.getKVNamespace("FLAGS", "ref-kvget")).put("bench:flag", "on");
    const kvCold = await seedReferenceKeys(await mf.getKVNamespace("FLAGS", "ref-kvget"), SMOKE ? 8 : 1000);
    log("runtime up:", Object.entries(urls).map(([k, v]) => `${k}=${v}`).join(" "));
    const s = await setupTessera(urls.tessera, mf);
    s.oauthProviderToken = (await setupOauthProvider(urls["peer-oauth-provider"]))[0];
    s.openauthToken = await setupOpenauth(urls["peer-openauth"], mf);
    const db = await mf.getD1Database("DB", "tessera");
    await seedUsers(db, 1, 1000 - (await countUsers(db)));
    // Cold introspection's tokens, and the peers' (set-up, not measured).
    const coldStarted = performance.now();
    const tessera = await mintColdTokens(urls.tessera, s, db, SMOKE ? { users: 4, sessionsPerUser: 1, want: 8 } : { users: 998, sessionsPerUser: CFG.coldSessionsPerUser, want: CFG.coldTokens });
    const peerTokens = SMOKE ? 4 : CFG.peerTokens;
    const oauthTokens = await setupOauthProvider(urls["peer-oauth-provider"], peerTokens);
    const oauthFile = path.join(OUT, "cold-oauth-provider.txt");
    writeFileSync(oauthFile, oauthTokens.join("\n") + "\n");
    const openauth = await mintOpenauthTokens(urls["peer-openauth"], mf, peerTokens);
    s.cold = {
      kv: kvCold,
      tessera,
      edgeKeys: edgeKeysOf(tessera.tokens),
      oauthProvider: { file: oauthFile, tokens: oauthTokens },
      openauth,
      setup_s: round((performance.now() - coldStarted) / 1000, 1),
    };
    await checkAnswers(urls, s);
    WORKERD = workerdPids();
    log(`workerd process(es) for CPU accounting: ${WORKERD.join(", ") || "none found"}`);
    if (SMOKE) {
      await smoke(urls, s, counter);
      log(`smoke passed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return;
    }

    // Diagnostics only (BENCH_ONLY=name,name): the named targets under wrk as usual, then each
    // under a Node loop that records every request's start and end; no results are written.
    if (process.env.BENCH_ONLY) {
      const only = new Set(process.env.BENCH_ONLY.split(","));
      const targets = hotTargets(urls, s).filter((t) => only.has(t.name));
      await measure(targets, "only");
      for (const t of targets) {
        const tl = await loopTimeline(t, urls, s);
        log(`timeline ${t.name}:`, JSON.stringify(tl));
      }
      // BENCH_PROFILE=n: then n V8 profiles of each named target's isolate in turn (the
      // worker is the one whose URL the target calls), to compare where two builds spend.
      for (let round = 1; round <= Number(process.env.BENCH_PROFILE ?? 0); round++) {
        for (const t of targets) {
          const worker = Object.entries(urls).find(([, u]) => t.url.startsWith(u))?.[0];
          const p = await profileWorker(worker, t, CFG.seconds).catch((e) => ({ error: String(e?.message ?? e) }));
          log(`profile ${round} ${t.name}:`, JSON.stringify(p));
        }
      }
      // BENCH_HOLD=1: keep the runtime up for hand-run wrk (the URLs, the API key and the
      // token files in bench/out/hold.json) until bench/out/stop appears, 20 minutes at most.
      if (process.env.BENCH_HOLD === "1") {
        rmSync(path.join(OUT, "stop"), { force: true });
        writeFileSync(path.join(OUT, "hold.json"), JSON.stringify({ urls, key: s.key, E: s.E, files: { tessera: s.cold.tessera.file, kv: s.cold.kv.file, edgeKeys: s.cold.edgeKeys.file, openauth: s.cold.openauth.file, oauthProvider: s.cold.oauthProvider.file } }, null, 2));
        log("holding: bench/out/hold.json; touch bench/out/stop to end");
        const until = Date.now() + 20 * 60_000;
        while (Date.now() < until && !existsSync(path.join(OUT, "stop"))) await new Promise((r) => setTimeout(r, 1000));
      }
      return;
    }

    // 1. Hot paths, reference workers and peers, interleaved in the same run.
    const before = counter.calls;
    const hot = await measure(hotTargets(urls, s).filter((t) => !t.diagnostic), "hot");
    // Only introspection runs against tessera-counted, so every counted call is one of its.
    const d1CallsDuringIntrospection = counter.calls - before;
    // wrk corrects its latency percentiles for coordinated omission (`stats_correct`: a
    // request slower than twice the mean interval adds the samples a steady client would have
    // sent meanwhile), so one slow request weighs dozens of samples. Beside it, each request's
    // own latency under the same 10 connections (a Node loop recording every request), for the
    // cold paths and their references.
    const latency = {};
    for (const t of hotTargets(urls, s).filter((t) => UNCORRECTED.includes(t.name))) {
      const { gaps_over_50ms, slowest_1pct_starts_ms, ...tl } = await loopTimeline(t, urls, s);
      latency[t.name] = { ...tl, gaps_over_50ms: gaps_over_50ms.length };
      log(`uncorrected latency ${t.name}:`, JSON.stringify(latency[t.name]));
    }
    const storageCalls = await storageCallsPerRequest(urls, s, counter);
    log("storage calls per request:", JSON.stringify(storageCalls));
    // A CPU profile of the isolate under the cold load (after the measurements: the profiler
    // slows the isolate it samples).
    const profiles = {};
    for (const [name, worker] of [["introspect_cold", "tessera-counted"], ["peer_openauth_cold", "peer-openauth"]]) {
      const target = hotTargets(urls, s).find((t) => t.name === name);
      profiles[name] = await profileWorker(worker, target, CFG.seconds).catch((e) => ({ error: String(e?.message ?? e) }));
      log(`profile ${name}:`, JSON.stringify(profiles[name]));
    }

    // 2. Costs: PBKDF2 (wasm, native, WebCrypto), SHA-256@600k vs SHA-512@210k, JWT verify.
    const probe = await probeCosts(urls);
    const native = nativeCosts();
    log("probe:", JSON.stringify(probe), "native:", JSON.stringify(native));

    // 3. Scaling: a list page and a sign-in at 1,000 and 100,000 users in one tenant.
    const scaleTarget = (name, extra) => hotTargets(urls, s).filter((t) => t.name === name).map((t) => ({ ...t, ...extra }));
    const scaling = { users_1k: await countUsers(db) };
    const at1k = await measure([...scaleTarget("list_users", {}), ...scaleTarget("signin", {})], "1k");
    let at100k = null;
    if (!CFG.skip100k) {
      const t = performance.now();
      await seedUsers(db, 1000, 100_000 - (await countUsers(db)) + 999);
      scaling.seed_100k_ms = round(performance.now() - t, 0);
      scaling.users_100k = await countUsers(db);
      at100k = await measure([...scaleTarget("list_users", {}), ...scaleTarget("signin", {})], "100k");
    }
    await mf.dispose().catch(() => {});

    // 4. The wasm: size and cold start (fresh runtime + isolate, first response).
    const tesseraWorker = {
      ...wasmWorker(TESSERA_BUILD),
      bindings: { ADMIN_ROOT_TOKEN: ROOT_TOKEN, KEY_ENCRYPTION_SECRET, ISSUER_ORIGIN: "http://127.0.0.1" },
      d1Databases: { DB: "cold" },
      kvNamespaces: { FLAGS: "cold" },
    };
    const cold = {
      tessera: await coldStart("tessera", tesseraWorker, "/healthz", 3),
      trivial: await coldStart("trivial", wasmWorker(path.join(BENCH, "rust/trivial/build")), "/", 3),
    };
    const flagsFile = path.join(TESSERA_BUILD, "../target/.worker-build-flags");
    const flags = existsSync(flagsFile) ? readFileSync(flagsFile, "utf8").trim() : "unknown";
    const wasm = {
      tessera: { ...wasmSize(path.join(TESSERA_BUILD, "index_bg.wasm")), worker_build_flags: flags },
      tessera_edge: wasmSize(path.join(EDGE_BUILD, "index_bg.wasm")),
      ref_trivial: wasmSize(path.join(BENCH, "rust/trivial/build/index_bg.wasm")),
      ref_kvget: wasmSize(path.join(BENCH, "rust/kvget/build/index_bg.wasm")),
      probe: wasmSize(path.join(BENCH, "rust/probe/build/index_bg.wasm")),
    };

    const coldInfo = {
      tokens: s.cold.tessera.tokens.length,
      users: s.cold.tessera.users,
      sessions: s.cold.tessera.sessions,
      peer_tokens_each: s.cold.openauth.tokens.length,
      setup_s: s.cold.setup_s,
    };
    const results = assemble({ storageCalls, hot, probe, native, at1k, at100k, scaling, cold, wasm, d1CallsDuringIntrospection, counter, started, coldInfo });
    results.profiles = profiles;
    results.uncorrected_latency = latency;
    results.ratios.introspect_cold_p99_uncorrected_vs_kv_get = round(latency.introspect_cold?.p99_ms / latency.kv_get?.p99_ms, 2);
    results.ratio_definitions.introspect_cold_p99_uncorrected_vs_kv_get =
      "cold introspection p99 ÷ one-KV-get reference p99, each request's own latency (Node loop, 10 connections, not corrected for coordinated omission; same run)";
    // The run of main before issue 11 (same harness), for the before/after table.
    const baselineFile = path.join(BENCH, "baseline", "results-225a0ee.json");
    if (existsSync(baselineFile)) {
      const b = JSON.parse(readFileSync(baselineFile, "utf8"));
      results.baseline = {
        commit: b.commit,
        generated_at: b.generated_at,
        endpoints: Object.fromEntries(Object.entries(b.endpoints).map(([k, v]) => [k, { req_per_s: v.req_per_s, p99_ms: v.p99_ms, cpu_us_per_request: v.cpu_us_per_request }])),
        ratios: b.ratios,
        wasm_gzip_bytes: b.wasm?.tessera?.gzip_bytes,
        storage_calls_per_request: b.storage_calls_per_request,
      };
    }
    writeFileSync(path.join(BENCH, "results.json"), JSON.stringify(results, null, 2) + "\n");
    updateBenchmarksMd(path.join(ROOT, "BENCHMARKS.md"), results);
    console.log("\n" + renderMarkdown(results));
    log(`wrote bench/results.json and BENCHMARKS.md in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await mf.dispose().catch(() => {});
  }
}

function assemble({ storageCalls, hot, probe, native, at1k, at100k, scaling, cold, wasm, d1CallsDuringIntrospection, started, coldInfo }) {
  const s_cold_summary = () => coldInfo;
  const rps = (k) => hot[k].req_per_s;
  const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? round(a / b) : null);
  const signinP50 = hot.signin.p50_ms;
  const cpu = (k) => hot[k].cpu_us_per_request;
  const p99 = (k) => hot[k].p99_ms;
  const ratios = {
    introspect_cold_vs_openauth: ratio(rps("introspect_cold"), rps("peer_openauth_cold")),
    introspect_cold_vs_oauth_provider: ratio(rps("introspect_cold"), rps("peer_oauth_provider_cold")),
    introspect_cold_vs_kv_get: ratio(rps("introspect_cold"), rps("kv_get")),
    introspect_cold_vs_kv_get_cold: ratio(rps("introspect_cold"), rps("kv_get_cold")),
    introspect_cold_p99_vs_kv_get_cold_p99: ratio(p99("introspect_cold"), p99("kv_get_cold")),
    introspect_cold_vs_kv_get_edge_keys: ratio(rps("introspect_cold"), rps("kv_get_edge_keys")),
    introspect_cold_p99_vs_kv_get_edge_keys_p99: ratio(p99("introspect_cold"), p99("kv_get_edge_keys")),
    introspect_cold_cpu_vs_kv_get_edge_keys_cpu: ratio(cpu("introspect_cold"), cpu("kv_get_edge_keys")),
    kv_get_edge_keys_rust_vs_js: ratio(rps("kv_get_edge_keys"), rps("kv_get_edge_keys_js")),
    introspect_vs_kv_get: ratio(rps("introspect"), rps("kv_get")),
    introspect_cold_p99_vs_kv_get_p99: ratio(p99("introspect_cold"), p99("kv_get")),
    introspect_p99_vs_kv_get_p99: ratio(p99("introspect"), p99("kv_get")),
    introspect_cold_cpu_vs_kv_get_cpu: ratio(cpu("introspect_cold"), cpu("kv_get")),
    me_vs_trivial: ratio(rps("me"), rps("trivial")),
    me_cold_vs_trivial: ratio(rps("me_cold"), rps("trivial")),
    introspect_vs_oauth_provider: ratio(rps("introspect"), rps("peer_oauth_provider")),
    introspect_vs_openauth: ratio(rps("introspect"), rps("peer_openauth")),
    // At the configured default (PBKDF2-HMAC-SHA512@210k, the cheaper of OWASP's equals in wasm).
    pbkdf2_wasm_vs_native: ratio(probe.wasm_sha512_210k_ms, native.pbkdf2_sha512_210k_ms),
    pbkdf2_wasm_vs_webcrypto: ratio(probe.wasm_sha256_100k_ms, probe.webcrypto_sha256_100k_ms),
    signin_vs_pbkdf2: ratio(signinP50, probe.wasm_sha512_210k_ms),
    list_100k_vs_1k: at100k ? ratio(at1k.list_users.req_per_s, at100k.list_users.req_per_s) : null,
    signin_100k_vs_1k: at100k ? ratio(at100k.signin.p50_ms, at1k.signin.p50_ms) : null,
  };
  // The wasm at the edge: the edge Worker's (a single-Worker deployment carries the full one).
  const tessGz = wasm.tessera_edge.gzip_bytes;
  const introErrors = hot.introspect.errors + hot.introspect_cold.errors + hot.introspect_suspended.errors;
  const targets = {
    introspect_cold_vs_openauth_ge_1: { target: 1, value: ratios.introspect_cold_vs_openauth, met: ratios.introspect_cold_vs_openauth >= 1 },
    introspect_cold_vs_oauth_provider_ge_1: { target: 1, value: ratios.introspect_cold_vs_oauth_provider, met: ratios.introspect_cold_vs_oauth_provider >= 1 },
    introspect_vs_kv_get_ge_0_8: { target: 0.8, value: ratios.introspect_vs_kv_get, met: ratios.introspect_vs_kv_get >= 0.8 },
    introspect_p99_le_1_5x_kv_get: {
      target: 1.5,
      value: ratios.introspect_cold_p99_vs_kv_get_p99,
      value_ms: hot.introspect_cold.p99_ms,
      kv_get_ms: hot.kv_get.p99_ms,
      met: ratios.introspect_cold_p99_vs_kv_get_p99 <= 1.5,
    },
    introspect_cpu_le_2x_kv_get: {
      target: 2,
      value: ratios.introspect_cold_cpu_vs_kv_get_cpu,
      value_us: cpu("introspect_cold"),
      kv_get_us: cpu("kv_get"),
      met: ratios.introspect_cold_cpu_vs_kv_get_cpu <= 2,
    },
    introspect_zero_errors: { value: introErrors, met: introErrors === 0 },
    introspect_zero_d1_calls: { value: d1CallsDuringIntrospection, met: d1CallsDuringIntrospection === 0 },
    signin_within_1_2x_pbkdf2: { target: 1.2, value: ratios.signin_vs_pbkdf2, met: ratios.signin_vs_pbkdf2 <= 1.2 },
    wasm_gzip_le_600_kib: { target_bytes: 600 * 1024, value_bytes: tessGz, full_worker_bytes: wasm.tessera.gzip_bytes, met: tessGz <= 600 * 1024 },
    list_100k_le_1_5x: { target: 1.5, value: ratios.list_100k_vs_1k, met: ratios.list_100k_vs_1k !== null && ratios.list_100k_vs_1k <= 1.5 },
    signin_100k_le_1_5x: { target: 1.5, value: ratios.signin_100k_vs_1k, met: ratios.signin_100k_vs_1k !== null && ratios.signin_100k_vs_1k <= 1.5 },
    all_zero_errors: { value: Object.values(hot).reduce((a, h) => a + h.errors, 0), met: Object.values(hot).every((h) => h.errors === 0) },
  };
  const commit = gitCommit();
  const cpus = os.cpus();
  return {
    schema: 1,
    generated_at: new Date().toISOString(),
    duration_s: round((performance.now() - started) / 1000, 0),
    commit: commit.sha,
    commit_dirty: commit.dirty,
    runtime: {
      name: "miniflare (workerd) with unsafeDirectSockets",
      miniflare: pkgVersion("miniflare"),
      workerd: pkgVersion("workerd"),
      compatibility_date: COMPAT,
      why:
        "Miniflare drives workerd directly and, with unsafeDirectSockets, each worker gets its own loopback socket with no Node proxy in the request path (wrangler dev's proxy caps a trivial worker near 1,000 req/s); it keeps real local D1 (SQLite) and KV and lets the harness wrap the DB binding to count D1 calls.",
      storage: "in-memory D1 and KV (Miniflare defaults), migrations/ applied by scripts/migrations.mjs",
      password_policy: "production: pbkdf2-sha512, 210,000 iterations, the default (TESSERA_TEST_PBKDF2_ITERATIONS and TESSERA_TEST_CLOCK unbound)",
    },
    machine: {
      cpus: cpus.length,
      cpu_model: cpus[0]?.model ?? "unknown",
      memory_gib: round(os.totalmem() / 2 ** 30, 1),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
    },
    load_generator: {
      name: "wrk",
      version: WRK_VERSION,
      threads: CFG.threads,
      connections: CFG.connections,
      run_seconds: CFG.seconds,
      warmup_seconds: CFG.warmup,
      runs: CFG.runs,
      signin: { connections: 1, threads: 1, run_seconds: CFG.signinSeconds },
      statistic: "median of the runs (req/s, p50 and p99 separately); errors summed over the runs",
    },
    units: {
      req_per_s: "requests per second",
      "*_ms": "milliseconds",
      "*_us": "microseconds",
      "*_bytes": "bytes",
      errors: "count of non-2xx answers plus socket errors",
      cpu_us_per_request: "microseconds of workerd process CPU per completed request (see cpu.how)",
      ratios: "dimensionless, see ratio_definitions",
    },
    endpoints: hot,
    d1_calls_during_introspection: d1CallsDuringIntrospection,
    storage_calls_per_request: storageCalls,
    password_hash: {
      wasm_probe: probe,
      native,
      cheaper_in_wasm: probe.wasm_sha512_210k_ms < probe.wasm_sha256_600k_ms ? "pbkdf2-sha512@210k" : "pbkdf2-sha256@600k",
      sha512_210k_vs_sha256_600k_wasm: ratio(probe.wasm_sha512_210k_ms, probe.wasm_sha256_600k_ms),
      sha512_210k_vs_sha256_600k_native: ratio(native.pbkdf2_sha512_210k_ms, native.pbkdf2_sha256_600k_ms),
      note: "WebCrypto PBKDF2 is capped at 100,000 iterations on Cloudflare; wasm vs WebCrypto is compared at 100,000.",
    },
    jwt_verify: {
      webcrypto_us: probe.webcrypto_jwt_verify_us,
      wasm_vs_webcrypto: ratio(probe.wasm_jwt_verify_us, probe.webcrypto_jwt_verify_us),
      wasm_us: probe.wasm_jwt_verify_us,
      native_us: native.jwt_verify_us,
      wasm_vs_native: ratio(probe.wasm_jwt_verify_us, native.jwt_verify_us),
      // The signature alone in WebCrypto, called from JavaScript (no JWT parse).
      webcrypto_signature_ed25519_us: probe.webcrypto_verify_ed25519_us,
      webcrypto_signature_es256_us: probe.webcrypto_verify_es256_us,
      ed25519_vs_es256_webcrypto: ratio(probe.webcrypto_verify_ed25519_us, probe.webcrypto_verify_es256_us),
    },
    wasm,
    cold_start: cold,
    scaling: { ...scaling, at_1k: at1k, at_100k: at100k },
    ratios,
    cold: {
      tessera_tokens: s_cold_summary(),
      how:
        "introspect_cold, me_cold and the peers' *_cold paths send a different valid token with every request: the token file is cut into one share per wrk thread, and each thread walks its own share, every run of a path (warm-up, rounds, the per-request latency loop, the profile) going on where that thread's walk stopped in the path's previous run, the first from a random point — so no token is sent again before its thread has been round its whole share, more tokens than the isolate's verified-token cache holds, and no thread trails another through tokens the isolate verified moments before. kv_get_edge_keys walks the edge-document keys of introspect_cold's tokens, in the same order and shares. Tessera's tokens come from refresh chains of many sessions of many users; the peers' from their own flows (OpenAuth client_credentials, workers-oauth-provider authorization code + PKCE).",
    },
    cpu: {
      how: "CPU time of the workerd process (utime + stime of all its threads from /proc, clock ticks of 1/CLK_TCK s) over each wrk run, divided by the requests the run completed; median of the runs. Local workerd reports cpuTime 0 in tail events, so this is the measurable stand-in for what Cloudflare bills: it includes workerd's own HTTP handling and, for storage calls, the local KV/D1 simulators that run in the same process, for Tessera, the reference workers and the peers alike.",
      clk_tck: CLK_TCK,
    },
    ratio_definitions: {
      introspect_cold_vs_openauth: "cold introspection req/s (a different token every request) ÷ OpenAuth verify + KV read req/s with as many distinct tokens (same run)",
      introspect_cold_vs_oauth_provider: "cold introspection req/s ÷ workers-oauth-provider protected route req/s with distinct tokens (same run)",
      introspect_cold_vs_kv_get: "cold introspection req/s ÷ one-KV-get reference worker req/s",
      introspect_cold_vs_kv_get_cold: "cold introspection req/s ÷ one-KV-get reference worker req/s reading about 1,000 distinct keys (as many as cold introspection's users)",
      introspect_cold_p99_vs_kv_get_cold_p99: "cold introspection p99 ÷ p99 of the one-KV-get reference reading about 1,000 distinct keys (same run)",
      introspect_cold_vs_kv_get_edge_keys: "cold introspection req/s ÷ req/s of the one-KV-get reference reading the very edge documents cold introspection reads, in the same order (half absent; same run): what Tessera costs beyond its one KV read",
      introspect_cold_p99_vs_kv_get_edge_keys_p99: "cold introspection p99 ÷ p99 of the one-KV-get reference reading the same edge documents in the same order (same run)",
      introspect_cold_cpu_vs_kv_get_edge_keys_cpu: "cold introspection CPU per request ÷ that of the one-KV-get reference reading the same edge documents in the same order (same run)",
      kv_get_edge_keys_rust_vs_js: "req/s of the Rust one-KV-get reference ÷ the same reference in plain JavaScript, both reading cold introspection's edge documents in the same order (same run): what the Rust/wasm route costs a request on its own",
      introspect_cold_p99_vs_kv_get_p99: "cold introspection p99 ÷ one-KV-get reference worker p99 (same run)",
      introspect_p99_vs_kv_get_p99: "hot introspection p99 ÷ one-KV-get reference worker p99 (same run)",
      introspect_cold_cpu_vs_kv_get_cpu: "workerd CPU µs per cold introspection ÷ per one-KV-get request",
      me_cold_vs_trivial: "/auth/me req/s with a different token every request ÷ trivial reference worker req/s",
      introspect_vs_kv_get: "hot introspection req/s (one token again and again) ÷ one-KV-get reference worker req/s (same run, 10 connections)",
      me_vs_trivial: "/auth/me req/s ÷ trivial reference worker req/s",
      introspect_vs_oauth_provider: "hot introspection req/s ÷ workers-oauth-provider protected route req/s (one token each)",
      introspect_vs_openauth: "hot introspection req/s ÷ OpenAuth verify + KV read req/s (one token each)",
      pbkdf2_wasm_vs_native: "one PBKDF2-HMAC-SHA512@210k (the configured default) in the worker (wasm) ÷ the same crate natively (ms ÷ ms)",
      pbkdf2_wasm_vs_webcrypto: "PBKDF2-HMAC-SHA256@100k in wasm ÷ WebCrypto in the same runtime (ms ÷ ms; WebCrypto is capped at 100k)",
      signin_vs_pbkdf2: "sign-in p50 at 1 connection ÷ one PBKDF2-HMAC-SHA512@210k (the configured default) in wasm",
      list_100k_vs_1k: "cost of a 50-user list page at 100,000 users ÷ at 1,000 (req/s at 1k ÷ req/s at 100k)",
      signin_100k_vs_1k: "sign-in p50 at 100,000 users ÷ at 1,000",
    },
    targets,
  };
}

main()
  .then(async () => {
    process.exit(0);
  })
  .catch((e) => {
    console.error("bench: FAILED:", e?.stack ?? e);
    process.exit(1);
  });

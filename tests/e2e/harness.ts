// Shared Miniflare harness for the end-to-end specs.
//
// Each spec file gets one Miniflare instance running the *built* worker (build-test/ from
// `make build-test`, or build/ with `build: "deploy"`), with a fresh in-memory D1 (every
// migrations/*.sql applied in order) and KV. Typical spec:
//
//   import { describe, it, expect } from "vitest";
//   import { useWorker, json, ROOT_TOKEN } from "./harness";
//
//   useWorker();                       // beforeAll: start + migrate; afterAll: dispose
//
//   describe("bootstrap", () => {
//     it("creates the first platform owner", async () => {
//       const res = await json("POST", "/admin/bootstrap", { email: "o@example.com", password: "correct horse" },
//                              { authorization: `Bearer ${ROOT_TOKEN}` });
//       expect(res.status).toBe(201);
//     });
//   });
//
// Form bodies: json("POST", path, "token=...", { "content-type": "application/x-www-form-urlencoded" }).
//
// The instance is shared by every test of the file (state carries over between tests; use
// unique names per test, or call startWorker() yourself for an isolated instance).
//
// Failure injection: useWorker({ faults }) with a `Faults` object whose rules (`faults.kv`,
// `faults.d1`) a spec sets between requests, e.g. `faults.kv = (c) => c.key.startsWith("rev:")`
// makes every KV read of a revocation throw; see tests/e2e/failures.spec.ts.
import { Miniflare, Log, LogLevel, Response as MfResponse } from "miniflare";
import { afterAll, beforeAll } from "vitest";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
// @ts-expect-error: a plain-JS module shared with the benchmark, no type declarations.
import { applyMigrations as applySql, splitSql } from "../../scripts/migrations.mjs";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/**
 * The builds a spec can run: `test` (build-test/, made by `make build-test`: the `test-hooks`
 * feature, which honours TESSERA_TEST_CLOCK and TESSERA_TEST_PBKDF2_ITERATIONS) and `deploy`
 * (build/, made by `make build`: what is deployed, which ignores both).
 */
const BUILD_DIRS = { test: path.join(ROOT, "build-test"), deploy: path.join(ROOT, "build") } as const;
/** The edge Worker's builds (`--features edge`), beside each of BUILD_DIRS (`split`). */
const EDGE_BUILD_DIRS = { test: path.join(ROOT, "build-test-edge"), deploy: path.join(ROOT, "build-edge") } as const;
/** The full Worker's name in a split instance (wrangler.edge.toml's `[[services]] service`). */
export const FULL_WORKER_NAME = "tessera";
export const MIGRATIONS_DIR = path.join(ROOT, "migrations");
/** The console's built assets (`make console`): wrangler.toml's `[assets] directory`. */
export const CONSOLE_ASSETS_DIR = path.join(ROOT, "console", "dist");

/** Bearer token of the platform root admin in tests. */
export const ROOT_TOKEN = "test-root-token";
/** 32 bytes as 64 hex chars ("test-only-key-encryption-secret!"). */
export const KEY_ENCRYPTION_SECRET =
  "746573742d6f6e6c792d6b65792d656e6372797074696f6e2d73656372657421";
/** The configured public origin (ISSUER_ORIGIN): what issuers and discovery documents name. */
export const ISSUER_ORIGIN = "https://tessera.test";
/** Base URL of dispatched requests (no socket is opened; the host is what the worker sees). */
export const BASE_URL = "http://tessera.test";

/** The bindings every test worker gets (extraBindings are merged over these). */
export const DEFAULT_BINDINGS: Record<string, string> = {
  ADMIN_ROOT_TOKEN: ROOT_TOKEN,
  // The public origin of issuers and discovery documents (never the request's Host, which is
  // BASE_URL's here).
  ISSUER_ORIGIN,
  KEY_ENCRYPTION_SECRET,
  // Test-only: lets the worker hash passwords with few PBKDF2 iterations. Never set in production.
  TESSERA_TEST_PBKDF2_ITERATIONS: "1000",
  // Test-only: lets a request set the worker's clock with X-Tessera-Test-Now-Ms (lifetimes and
  // back-off are tested without sleeping). Never set in production.
  TESSERA_TEST_CLOCK: "header",
  // A failed email delivery is retried at once (a deployment waits 10 s, then 20 s, …).
  EMAIL_RETRY_BASE_SECONDS: "0",
  // Where operators' password-reset links point.
  OPERATOR_LINK_BASE_URL: "http://127.0.0.1:9/console/",
};

/** Bindings only the full Worker of a split deployment has (its secrets and operator settings). */
const FULL_WORKER_ONLY = ["ADMIN_ROOT_TOKEN", "OPERATOR_LINK_BASE_URL", "EMAIL_RETRY_BASE_SECONDS"];

/** The queue outgoing email travels on (wrangler.toml's `tessera-email`). */
export const EMAIL_QUEUE = "tessera-email";

/** Header that sets the worker's clock for one request (see TESSERA_TEST_CLOCK). */
export const CLOCK_HEADER = "X-Tessera-Test-Now-Ms";

export interface StartOptions {
  /** Extra or overriding text bindings (vars/secrets), e.g. { TESSERA_TEST_PBKDF2_ITERATIONS: "1" }. */
  bindings?: Record<string, string>;
  /** Directory of *.sql migrations to apply (default: the repo's migrations/). */
  migrationsDir?: string;
  /** Skip migrations (e.g. to test behaviour on an empty database). */
  skipMigrations?: boolean;
  /** Which build to run (default `test`). */
  build?: keyof typeof BUILD_DIRS;
  /**
   * Failure injection: when given, the worker's FLAGS and DB bindings are wrappers over the real
   * KV namespace and D1 database that throw wherever these rules say so (see `Faults`). The
   * object is consulted on every call, so a spec may change its rules between requests.
   */
  faults?: Faults;
  /**
   * Serve the console as wrangler.toml does: the built assets (`make console`) behind the
   * `ASSETS` binding, every request to the worker first (`run_worker_first = true`).
   */
  console?: boolean;
  /**
   * Run a split deployment (wrangler.edge.toml in front of wrangler.toml): requests reach the
   * edge Worker (build-test-edge/ or build-edge/), which forwards what is not its own to the
   * full Worker (`build`) through its FULL service binding. Both share D1, KV and the email
   * queue; the full Worker alone consumes the queue. `"edge-only"`: the edge Worker alone,
   * its FULL binding missing (a deployment error). Not combined with `faults`.
   */
  split?: boolean | "edge-only";
  /**
   * The edge Worker's text bindings in a split instance, over what a deployment gives it
   * (wrangler.edge.toml's [vars], KEY_ENCRYPTION_SECRET and the test-only switches; not the
   * full Worker's ADMIN_ROOT_TOKEN and operator settings).
   */
  edgeBindings?: Record<string, string>;
}

/** One KV call of the worker, as seen by the FLAGS wrapper. */
export interface KvCall {
  op: "get" | "getWithMetadata" | "put" | "delete" | "list";
  /** The key (the prefix for `list`). */
  key: string;
}

/** One D1 call of the worker, as seen by the DB wrapper (prepare/bind never fail). */
export interface D1Call {
  op: "first" | "all" | "run" | "raw" | "batch" | "exec";
  /** The SQL of the statement(s): one for a statement, every one of a batch. */
  sql: string[];
}

/**
 * Rules of a fault-injecting worker. `kv`/`d1` decide per call whether it throws (absent:
 * nothing fails); every call that was made to throw is appended to `injected`.
 */
export interface Faults {
  kv?: ((call: KvCall) => boolean) | null;
  d1?: ((call: D1Call) => boolean) | null;
  injected?: Array<({ binding: "kv" } & KvCall) | ({ binding: "d1" } & D1Call)>;
}

/** Message of an injected D1 failure: it carries SQL so specs can check it never leaks. */
export const INJECTED_D1_ERROR = "D1_ERROR: injected failure";
/** Message of an injected KV failure. */
export const INJECTED_KV_ERROR = "KV_ERROR: injected failure";

// The wrapped bindings of a fault-injecting worker (workerd runs them in the worker's isolate,
// with the real bindings as "inner bindings"). Each asynchronous call first asks the test
// process (the FAULTS service, a Node function) whether to throw; otherwise it is forwarded
// unchanged. The D1 wrapper's class is named D1Database because worker-rs checks the binding's
// constructor name; its statements wrap the real ones and unwrap for the real batch().
const FAULTS_WORKER = "tessera-faults";
const FAULTS_SCRIPT = `
async function shouldFail(env, call) {
  const res = await env.FAULTS.fetch("http://faults.test/decide", { method: "POST", body: JSON.stringify(call) });
  return (await res.text()) === "fail";
}

class KvNamespace {
  constructor(env) { this.env = env; this.inner = env.INNER_KV; }
  async check(op, key) {
    if (await shouldFail(this.env, { binding: "kv", op, key: String(key ?? "") })) {
      throw new Error(${JSON.stringify(INJECTED_KV_ERROR)} + " (" + op + " " + key + ")");
    }
  }
  async get(key, ...rest) { await this.check("get", key); return this.inner.get(key, ...rest); }
  async getWithMetadata(key, ...rest) { await this.check("getWithMetadata", key); return this.inner.getWithMetadata(key, ...rest); }
  async put(key, ...rest) { await this.check("put", key); return this.inner.put(key, ...rest); }
  async delete(key, ...rest) { await this.check("delete", key); return this.inner.delete(key, ...rest); }
  async list(options, ...rest) { await this.check("list", options?.prefix ?? ""); return this.inner.list(options, ...rest); }
}

class D1PreparedStatement {
  constructor(db, sql, inner) { this.db = db; this.sql = sql; this.inner = inner; }
  bind(...args) { return new D1PreparedStatement(this.db, this.sql, this.inner.bind(...args)); }
  async first(...a) { await this.db.check("first", [this.sql]); return this.inner.first(...a); }
  async all(...a) { await this.db.check("all", [this.sql]); return this.inner.all(...a); }
  async run(...a) { await this.db.check("run", [this.sql]); return this.inner.run(...a); }
  async raw(...a) { await this.db.check("raw", [this.sql]); return this.inner.raw(...a); }
}

class D1Database {
  constructor(env) { this.env = env; this.inner = env.INNER_DB; }
  async check(op, sql) {
    if (await shouldFail(this.env, { binding: "d1", op, sql })) {
      throw new Error(${JSON.stringify(INJECTED_D1_ERROR)} + " in " + op + ": " + sql.join("; "));
    }
  }
  prepare(sql) { return new D1PreparedStatement(this, sql, this.inner.prepare(sql)); }
  async batch(statements) {
    await this.check("batch", statements.map((s) => s.sql));
    return this.inner.batch(statements.map((s) => s.inner));
  }
  async exec(sql) { await this.check("exec", [sql]); return this.inner.exec(sql); }
  dump() { return this.inner.dump(); }
}

export function kv(env) { return new KvNamespace(env); }
export function d1(env) { return new D1Database(env); }
`;

/** Binding names under which a fault-injecting worker also sees the real (unwrapped) storage. */
const REAL_KV = "TESSERA_TEST_REAL_FLAGS";
const REAL_DB = "TESSERA_TEST_REAL_DB";

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  /** Parsed JSON body; null when the body is empty or not JSON (see `text`). */
  body: T;
  text: string;
}

export interface TestWorker {
  mf: Miniflare;
  /** Where the instance listens on 127.0.0.1 (a free port), for clients that need a socket (a browser). */
  url: URL;
  /** fetch(path, init): dispatches to the worker; `path` is relative to BASE_URL. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** JSON request helper: sends `body` as JSON (if given) and parses the JSON reply. */
  json<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<JsonResponse<T>>;
  /** The D1 binding DB, for seeding or inspecting rows directly (the real one under `faults`). */
  db(): Promise<any>;
  /** The KV binding FLAGS, for seeding or inspecting flags directly (the real one under `faults`). */
  kv(): Promise<any>;
  dispose(): Promise<void>;
}

function readCompatibilityDate(): string {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  const m = /^\s*compatibility_date\s*=\s*"([^"]+)"/m.exec(toml);
  if (!m) throw new Error("compatibility_date not found in wrangler.toml");
  return m[1];
}

/** Starts a worker with fresh in-memory D1 and KV, migrations applied. */
export async function startWorker(
  extra: Record<string, string> | StartOptions = {},
): Promise<TestWorker> {
  const opts: StartOptions =
    "bindings" in extra || "migrationsDir" in extra || "skipMigrations" in extra || "faults" in extra || "build" in extra ||
    "console" in extra || "split" in extra || "edgeBindings" in extra
      ? (extra as StartOptions)
      : { bindings: extra as Record<string, string> };
  const buildDir = BUILD_DIRS[opts.build ?? "test"];
  const entry = path.join(buildDir, "index.js");
  if (!existsSync(entry)) {
    throw new Error(`${entry} is missing: run \`make build build-test\` (or \`make test-e2e\`) first`);
  }
  if (opts.console && !existsSync(path.join(CONSOLE_ASSETS_DIR, "console", "index.html"))) {
    throw new Error(`${CONSOLE_ASSETS_DIR} has no console: run \`make console\` first`);
  }
  const edgeDir = EDGE_BUILD_DIRS[opts.build ?? "test"];
  if (opts.split && !existsSync(path.join(edgeDir, "index.js"))) {
    throw new Error(`${edgeDir}/index.js is missing: run \`make build build-test\` (or \`make test-e2e\`) first`);
  }
  if (opts.split && opts.faults) throw new Error("a split instance takes no faults");
  const verbose = !!process.env.TESSERA_E2E_LOG;
  const main = {
    modules: true,
    scriptPath: entry,
    modulesRoot: buildDir,
    modulesRules: [
      { type: "ESModule" as const, include: ["**/*.js"] },
      { type: "CompiledWasm" as const, include: ["**/*.wasm"] },
    ],
    compatibilityDate: readCompatibilityDate(),
    d1Databases: { DB: "tessera-test" },
    kvNamespaces: ["FLAGS"],
    // The email queue, produced and consumed by the worker itself as in wrangler.toml; a
    // partial batch is handed over at once, so specs wait milliseconds, not seconds.
    queueProducers: { EMAIL_QUEUE: { queueName: EMAIL_QUEUE } },
    queueConsumers: { [EMAIL_QUEUE]: { maxBatchTimeout: 0, maxRetries: 2 } },
    bindings: { ...DEFAULT_BINDINGS, ...(opts.bindings ?? {}) },
    ...(opts.console
      ? {
          assets: {
            directory: CONSOLE_ASSETS_DIR,
            binding: "ASSETS",
            routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
          },
        }
      : {}),
    // No *Persist options: D1 and KV live in memory and vanish with the instance.
  };
  const shared = {
    host: "127.0.0.1",
    port: 0,
    log: new Log(verbose ? LogLevel.DEBUG : LogLevel.WARN),
  };
  const faults = opts.faults;
  const create = () => opts.split
    ? new Miniflare({
        ...shared,
        workers: [
          {
            ...main,
            name: "tessera-edge",
            scriptPath: path.join(edgeDir, "index.js"),
            modulesRoot: edgeDir,
            queueConsumers: undefined,
            assets: undefined,
            serviceBindings: opts.split === "edge-only" ? {} : { FULL: FULL_WORKER_NAME },
            bindings: {
              ...Object.fromEntries(
                Object.entries(main.bindings).filter(([name]) => !FULL_WORKER_ONLY.includes(name)),
              ),
              ...(opts.edgeBindings ?? {}),
            },
          },
          ...(opts.split === "edge-only" ? [] : [{ ...main, name: FULL_WORKER_NAME }]),
        ],
      })
    : faults
    ? new Miniflare({
        ...shared,
        workers: [
          {
            ...main,
            // The same namespace and database ids as the inner bindings of the wrappers, so
            // specs (db(), kv(), migrations) reach the real storage behind the faults.
            d1Databases: { [REAL_DB]: "tessera-test" },
            kvNamespaces: { [REAL_KV]: "FLAGS" },
            wrappedBindings: {
              DB: { scriptName: FAULTS_WORKER, entrypoint: "d1" },
              FLAGS: { scriptName: FAULTS_WORKER, entrypoint: "kv" },
            },
          },
          {
            name: FAULTS_WORKER,
            modules: true,
            script: FAULTS_SCRIPT,
            d1Databases: { INNER_DB: "tessera-test" },
            kvNamespaces: { INNER_KV: "FLAGS" },
            serviceBindings: {
              FAULTS: async (request: any) => {
                const call = await request.json();
                const rule = call.binding === "kv" ? faults.kv : faults.d1;
                const fail = !!rule && rule(call);
                if (fail) (faults.injected ??= []).push(call);
                return new MfResponse(fail ? "fail" : "pass");
              },
            },
          },
        ],
      })
    : new Miniflare({ ...shared, ...main });
  const dbName = faults ? REAL_DB : "DB";
  const kvName = faults ? REAL_KV : "FLAGS";
  // Under load (two spec files starting workerd at once on 2 cores), local D1 has been seen to
  // fail an internal assertion ("false == true") while migrations are applied to a brand-new
  // database. The database is fresh and in memory, so starting again is safe: up to 3 tries,
  // and a failure that persists is still reported.
  let mf!: Miniflare;
  let url!: URL;
  for (let attempt = 1; ; attempt++) {
    const candidate = create();
    try {
      url = await candidate.ready;
      if (!opts.skipMigrations) {
        await applyMigrations(await candidate.getD1Database(dbName), opts.migrationsDir ?? MIGRATIONS_DIR);
      }
      mf = candidate;
      break;
    } catch (e) {
      await candidate.dispose();
      if (attempt >= 3) throw e;
      console.warn(`e2e harness: starting the worker failed (attempt ${attempt}), retrying: ${(e as Error)?.message ?? e}`);
    }
  }

  const fetch = (p: string, init?: RequestInit): Promise<Response> =>
    mf.dispatchFetch(new URL(p, BASE_URL).toString(), init as any) as unknown as Promise<Response>;

  const json = async <T = any>(
    method: string,
    p: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<JsonResponse<T>> => {
    const h: Record<string, string> = { accept: "application/json", ...headers };
    const init: RequestInit = { method, headers: h };
    if (body !== undefined) {
      if (!Object.keys(h).some((k) => k.toLowerCase() === "content-type")) {
        h["content-type"] = "application/json";
      }
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const res = await fetch(p, init);
    const text = await res.text();
    let parsed: any = null;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };

  return {
    mf,
    url,
    fetch,
    json,
    db: () => mf.getD1Database(dbName),
    kv: () => mf.getKVNamespace(kvName),
    dispose: () => mf.dispose(),
  };
}

// ---------------------------------------------------------------- per-file shared instance

let current: TestWorker | undefined;

/**
 * Registers beforeAll/afterAll hooks that start one worker for the whole spec file and
 * dispose of it at the end. The module-level helpers (json, rawFetch, worker) use it.
 */
export function useWorker(extra: Record<string, string> | StartOptions = {}): void {
  beforeAll(async () => {
    current = await startWorker(extra);
  });
  afterAll(async () => {
    await current?.dispose();
    current = undefined;
  });
}

/** The spec file's worker started by useWorker(). */
export function worker(): TestWorker {
  if (!current) throw new Error("no worker: call useWorker() at the top of the spec file");
  return current;
}

/** JSON request to the spec file's worker: { status, headers, body (parsed JSON), text }. */
export function json<T = any>(
  method: string,
  p: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<JsonResponse<T>> {
  return worker().json<T>(method, p, body, headers);
}

/** Raw fetch to the spec file's worker (the Response is yours to consume). */
export function rawFetch(p: string, init?: RequestInit): Promise<Response> {
  return worker().fetch(p, init);
}

// ---------------------------------------------------------------- migrations

/** Applies every *.sql file of `dir` in file-name order, one statement at a time. */
export async function applyMigrations(db: any, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  return applySql(db, dir);
}

export { splitSql };

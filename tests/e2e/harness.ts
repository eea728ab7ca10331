// Shared Miniflare harness for the end-to-end specs.
//
// Each spec file gets one Miniflare instance running the *built* worker (build/index.js +
// build/index_bg.wasm from `make build`), with a fresh in-memory D1 (every migrations/*.sql
// applied in order) and KV. Typical spec:
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
import { Miniflare, Log, LogLevel } from "miniflare";
import { afterAll, beforeAll } from "vitest";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BUILD_DIR = path.join(ROOT, "build");
const ENTRY = path.join(BUILD_DIR, "index.js");
export const MIGRATIONS_DIR = path.join(ROOT, "migrations");

/** Bearer token of the platform root admin in tests. */
export const ROOT_TOKEN = "test-root-token";
/** 32 bytes as 64 hex chars ("test-only-key-encryption-secret!"). */
export const KEY_ENCRYPTION_SECRET =
  "746573742d6f6e6c792d6b65792d656e6372797074696f6e2d73656372657421";
/** Base URL of dispatched requests (no socket is opened; the host is what the worker sees). */
export const BASE_URL = "http://tessera.test";

/** The bindings every test worker gets (extraBindings are merged over these). */
export const DEFAULT_BINDINGS: Record<string, string> = {
  ADMIN_ROOT_TOKEN: ROOT_TOKEN,
  KEY_ENCRYPTION_SECRET,
  // Test-only: lets the worker hash passwords with few PBKDF2 iterations. Never set in production.
  TESSERA_TEST_PBKDF2_ITERATIONS: "1000",
  // Test-only: lets a request set the worker's clock with X-Tessera-Test-Now-Ms (lifetimes and
  // back-off are tested without sleeping). Never set in production.
  TESSERA_TEST_CLOCK: "header",
};

/** Header that sets the worker's clock for one request (see TESSERA_TEST_CLOCK). */
export const CLOCK_HEADER = "X-Tessera-Test-Now-Ms";

export interface StartOptions {
  /** Extra or overriding text bindings (vars/secrets), e.g. { TESSERA_TEST_PBKDF2_ITERATIONS: "1" }. */
  bindings?: Record<string, string>;
  /** Directory of *.sql migrations to apply (default: the repo's migrations/). */
  migrationsDir?: string;
  /** Skip migrations (e.g. to test behaviour on an empty database). */
  skipMigrations?: boolean;
}

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  /** Parsed JSON body; null when the body is empty or not JSON (see `text`). */
  body: T;
  text: string;
}

export interface TestWorker {
  mf: Miniflare;
  /** fetch(path, init): dispatches to the worker; `path` is relative to BASE_URL. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** JSON request helper: sends `body` as JSON (if given) and parses the JSON reply. */
  json<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<JsonResponse<T>>;
  /** The D1 binding DB, for seeding or inspecting rows directly. */
  db(): Promise<any>;
  /** The KV binding FLAGS, for seeding or inspecting flags directly. */
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
    "bindings" in extra || "migrationsDir" in extra || "skipMigrations" in extra
      ? (extra as StartOptions)
      : { bindings: extra as Record<string, string> };
  if (!existsSync(ENTRY)) {
    throw new Error(`${ENTRY} is missing: run \`make build\` (or \`make test-e2e\`) first`);
  }
  const verbose = !!process.env.TESSERA_E2E_LOG;
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    log: new Log(verbose ? LogLevel.DEBUG : LogLevel.WARN),
    modules: true,
    scriptPath: ENTRY,
    modulesRoot: BUILD_DIR,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: readCompatibilityDate(),
    d1Databases: { DB: "tessera-test" },
    kvNamespaces: ["FLAGS"],
    bindings: { ...DEFAULT_BINDINGS, ...(opts.bindings ?? {}) },
    // No *Persist options: D1 and KV live in memory and vanish with the instance.
  });
  try {
    await mf.ready;
    if (!opts.skipMigrations) {
      await applyMigrations(await mf.getD1Database("DB"), opts.migrationsDir ?? MIGRATIONS_DIR);
    }
  } catch (e) {
    await mf.dispose();
    throw e;
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
    fetch,
    json,
    db: () => mf.getD1Database("DB"),
    kv: () => mf.getKVNamespace("FLAGS"),
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
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort();
  for (const file of files) {
    const statements = splitSql(readFileSync(path.join(dir, file), "utf8"));
    for (const [i, sql] of statements.entries()) {
      try {
        await db.prepare(sql).run();
      } catch (e: any) {
        throw new Error(
          `migration ${file}, statement ${i + 1} failed: ${e?.message ?? e}\n${sql}`,
        );
      }
    }
  }
  return files;
}

/**
 * Splits SQLite script text into statements: drops `--` and `/* *\/` comments, keeps `;`
 * inside '...' strings and "..."/`...`/[...] identifiers, and keeps CREATE TRIGGER bodies
 * (BEGIN ... END, with nested CASE ... END) whole.
 */
export function splitSql(script: string): string[] {
  const out: string[] = [];
  let cur = "";
  let depth = 0; // BEGIN/CASE nesting inside a CREATE TRIGGER statement
  let i = 0;
  const n = script.length;
  const isTrigger = () => /^\s*CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i.test(cur);
  const push = () => {
    const s = cur.trim();
    if (s.length > 0) out.push(s);
    cur = "";
    depth = 0;
  };
  while (i < n) {
    const c = script[i];
    const next = script[i + 1];
    if (c === "-" && next === "-") {
      while (i < n && script[i] !== "\n") i++;
      cur += " ";
      continue;
    }
    if (c === "/" && next === "*") {
      const end = script.indexOf("*/", i + 2);
      i = end === -1 ? n : end + 2;
      cur += " ";
      continue;
    }
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      while (j < n) {
        if (script[j] === close) {
          if (close !== "]" && script[j + 1] === close) {
            j += 2; // doubled quote escapes itself
            continue;
          }
          break;
        }
        j++;
      }
      cur += script.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (/[A-Za-z_]/.test(c) && (i === 0 || !/[A-Za-z0-9_$]/.test(script[i - 1]))) {
      let j = i;
      while (j < n && /[A-Za-z0-9_$]/.test(script[j])) j++;
      const word = script.slice(i, j).toUpperCase();
      if (word === "BEGIN" && isTrigger()) depth++;
      else if (word === "CASE" && depth > 0) depth++;
      else if (word === "END" && depth > 0) depth--;
      cur += script.slice(i, j);
      i = j;
      continue;
    }
    if (c === ";" && depth === 0) {
      push();
      i++;
      continue;
    }
    cur += c;
    i++;
  }
  push();
  return out;
}

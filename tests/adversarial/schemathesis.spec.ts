// schemathesis over /openapi.json against the test build, listening on 127.0.0.1.
//
// Every operation of the document, in two passes: authenticated as each operation's `security`
// says (tests/adversarial/schemathesis/hooks.py picks the credential) and unauthenticated.
// Passing means 0 responses 5xx and 0 responses the document does not describe (status code,
// content type, headers, body schema), plus schemathesis' checks that invalid input is refused
// and that an operation which needs credentials does not answer without them.
//
// The pinned schemathesis lives in the project's virtualenv (`make venv`, `.venv/`). `make test`
// runs a bounded pass (TESSERA_SECURITY unset); `make test-security` the full one.
//
// Investigating: TESSERA_ST_LOG=1 prints schemathesis' output, TESSERA_ST_ONLY=<operationId>
// runs one operation, TESSERA_ST_DEBUG=1 has the hooks print every request and answer,
// TESSERA_ST_SEED / TESSERA_ST_MAX_EXAMPLES change the run, TESSERA_ST_CONFIG and
// TESSERA_ST_EXTRA_CHECKS try other configurations and checks (e.g. positive_data_acceptance).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startWorker, ROOT_TOKEN, type TestWorker } from "../e2e/harness";
import { buildWorld, PASSWORD, type World } from "./fixture";
import { FULL, recordFigure } from "./figures";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ST = path.join(ROOT, ".venv", "bin", "st");
const HOOKS = path.join(ROOT, "tests", "adversarial", "schemathesis", "hooks.py");
const CONFIG = process.env.TESSERA_ST_CONFIG ?? path.join(ROOT, "tests", "adversarial", "schemathesis", "schemathesis.toml");

/**
 * Test cases per operation and phase: a bounded run in `make test`, a long one in `make
 * test-security`; TESSERA_ST_MAX_EXAMPLES overrides either.
 */
const MAX_EXAMPLES = Number(process.env.TESSERA_ST_MAX_EXAMPLES ?? (FULL ? 100 : 5));
const SEED = process.env.TESSERA_ST_SEED ?? "20260420";
/** The checks: every one of schemathesis' response checks, and its input-handling checks. */
const CHECKS = [
  "not_a_server_error",
  "status_code_conformance",
  "content_type_conformance",
  "response_headers_conformance",
  "response_schema_conformance",
  "negative_data_rejection",
  "missing_required_header",
  "unsupported_method",
  "ignored_auth",
  ...(process.env.TESSERA_ST_EXTRA_CHECKS ? process.env.TESSERA_ST_EXTRA_CHECKS.split(",") : []),
];

let w: TestWorker;
let world: World;
let baseUrl = "";
let dir = "";

beforeAll(async () => {
  if (!existsSync(ST)) throw new Error(`${ST} is missing: run \`make venv\` (make test does) first`);
  // Operator sign-up exists only where the deployment opens it.
  w = await startWorker({ bindings: { OPERATOR_SIGNUP: "open" } });
  baseUrl = (await w.mf.ready).toString().replace(/\/$/, "");
  world = await buildWorld(w);
  dir = mkdtempSync(path.join(os.tmpdir(), "tessera-st-"));
  writeFileSync(
    path.join(dir, "fixture.json"),
    JSON.stringify({ base_url: baseUrl, world, password: PASSWORD, root_token: ROOT_TOKEN }),
  );
}, 300_000);

afterAll(async () => {
  await w?.dispose();
});

interface Run {
  code: number;
  output: string;
  cases: number;
  operations: number;
}

function schemathesis(pass: "auth" | "anon"): Promise<Run> {
  const reportDir = path.join(dir, pass);
  const junit = path.join(reportDir, "junit.xml");
  const args = [
    "--config-file", CONFIG,
    "run",
    `${baseUrl}/openapi.json`,
    "--url", baseUrl,
    "--checks", CHECKS.join(","),
    "--phases", "examples,coverage,fuzzing",
    "--max-examples", String(MAX_EXAMPLES),
    "--seed", SEED,
    "--workers", "1",
    "--generation-database", "none",
    "--continue-on-failure",
    "--request-timeout", "30",
    "--report", "junit",
    "--report-junit-path", junit,
    "--no-color",
    // TESSERA_ST_ONLY=<operationId> narrows a run to one operation while investigating.
    ...(process.env.TESSERA_ST_ONLY ? ["--include-operation-id", process.env.TESSERA_ST_ONLY] : []),
  ];
  const env = {
    ...process.env,
    SCHEMATHESIS_HOOKS: HOOKS,
    TESSERA_ST_FIXTURE: path.join(dir, "fixture.json"),
    TESSERA_ST_AUTH: pass === "auth" ? "1" : "0",
  };
  return new Promise((resolve, reject) => {
    const child = spawn(ST, args, { env, cwd: dir });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (code) => {
      writeFileSync(path.join(dir, `${pass}.log`), output);
      const xml = existsSync(junit) ? readFileSync(junit, "utf8") : "";
      const operations = (xml.match(/<testcase /g) ?? []).length;
      // "N test cases generated": schemathesis' own count of requests it generated.
      const generated = [...output.matchAll(/(\d+) generated/g)].map((m) => Number(m[1]));
      const cases = generated.length > 0 ? Math.max(...generated) : 0;
      resolve({ code: code ?? -1, output, cases, operations });
    });
  });
}

describe("schemathesis over /openapi.json", () => {
  for (const pass of ["auth", "anon"] as const) {
    it(`finds no 5xx and no answer outside the document (${pass === "auth" ? "authenticated" : "unauthenticated"})`, async () => {
      const run = await schemathesis(pass);
      if (process.env.TESSERA_ST_LOG || run.code !== 0) console.log(run.output);
      recordFigure(`schemathesis.${pass}`, { cases: run.cases, operations: run.operations, maxExamples: MAX_EXAMPLES });
      if (!process.env.TESSERA_ST_ONLY) expect(run.operations, "every documented operation was tested").toBeGreaterThan(40);
      expect(run.code, "schemathesis found failures (output above)").toBe(0);
    }, FULL ? 3_600_000 : 900_000);
  }
});

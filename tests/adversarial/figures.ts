// The adversarial suite's scale and its figures.
//
// `make test` runs every adversarial spec bounded; `make test-security` sets
// TESSERA_SECURITY=full for the full runs. Each spec records what it tried (requests, faults,
// trials) with recordFigure(); the figures land in target/adversarial/figures.json (bounded)
// and figures-full.json (full), which is what RELIABILITY.md quotes.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** True under `make test-security` (TESSERA_SECURITY=full). */
export const FULL = process.env.TESSERA_SECURITY === "full";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FILE = path.join(ROOT, "target", "adversarial", FULL ? "figures-full.json" : "figures.json");

/** Records one figure (merged into figures.json under `name`, with the run's scale and time). */
export function recordFigure(name: string, value: Record<string, unknown>): void {
  mkdirSync(path.dirname(FILE), { recursive: true });
  // Spec files run in parallel processes: read-modify-write, retried if another wrote between.
  for (let attempt = 0; attempt < 5; attempt++) {
    let all: Record<string, unknown> = {};
    try {
      if (existsSync(FILE)) all = JSON.parse(readFileSync(FILE, "utf8"));
    } catch {
      all = {};
    }
    all[name] = { ...value, scale: FULL ? "full" : "bounded", at: new Date().toISOString() };
    const text = JSON.stringify(all, null, 2) + "\n";
    writeFileSync(FILE, text);
    try {
      if (JSON.parse(readFileSync(FILE, "utf8"))[name]) return;
    } catch {
      // another process is writing: try again
    }
  }
}

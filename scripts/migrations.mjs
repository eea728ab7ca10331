// Applies migrations/*.sql to a local D1 (Miniflare's), in file-name order, one statement at a
// time: shared by the e2e harness (tests/e2e/harness.ts) and the benchmark (bench/run.mjs).
// Plain JS so that both Node and vitest load it.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";

export async function applyMigrations(db, dir) {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir).filter((f) => f.endsWith(".sql")).sort();
  for (const file of files) {
    const statements = splitSql(readFileSync(path.join(dir, file), "utf8"));
    for (const [i, sql] of statements.entries()) {
      try {
        await db.prepare(sql).run();
      } catch (e) {
        throw new Error(`migration ${file}, statement ${i + 1} failed: ${e?.message ?? e}\n${sql}`);
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
export function splitSql(script) {
  const out = [];
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

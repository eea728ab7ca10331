// Checks the harness itself: migrations in the shape of migrations/*.sql (multi-line
// statements, comments, strings holding `;` and `--`, triggers) reach a fresh D1 intact.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { splitSql, startWorker, type TestWorker } from "./harness";

const SQL_1 = `-- 0001: a throwaway schema shaped like a real first migration.
/* block comment; with a semicolon */
CREATE TABLE apps (
    id          TEXT PRIMARY KEY,          -- app_id; matches ^[a-z0-9]...
    name        TEXT NOT NULL DEFAULT 'a;b -- not a comment',
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE tenants (
    app_id  TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    id      TEXT NOT NULL,
    "label" TEXT,
    PRIMARY KEY (app_id, id)
) STRICT;
CREATE INDEX tenants_by_app ON tenants (app_id);

CREATE TRIGGER apps_public_tenant AFTER INSERT ON apps
BEGIN
    INSERT INTO tenants (app_id, id, "label")
    VALUES (NEW.id, 'public', CASE WHEN NEW.name = '' THEN 'x;y' ELSE NEW.name END);
END;

INSERT INTO apps (id, name, created_at) VALUES ('public', 'it''s public', '2026-01-01T00:00:00Z');
`;
const SQL_2 = `-- 0002 runs after 0001 (file-name order)
ALTER TABLE apps ADD COLUMN plan TEXT NOT NULL DEFAULT 'free';`;

describe("splitSql", () => {
  it("splits statements and keeps strings, identifiers and trigger bodies whole", () => {
    const stmts = splitSql(SQL_1);
    expect(stmts).toHaveLength(5);
    expect(stmts[0]).toMatch(/^CREATE TABLE apps \(/);
    expect(stmts[0]).toContain("'a;b -- not a comment'");
    expect(stmts[0]).not.toContain("app_id; matches");
    expect(stmts[3]).toMatch(/^CREATE TRIGGER[\s\S]*END$/);
    expect(stmts[4]).toContain("'it''s public'");
  });

  it("ignores empty statements and trailing comments", () => {
    expect(splitSql(";;\n-- only a comment\n")).toEqual([]);
    expect(splitSql("SELECT 1; -- done")).toEqual(["SELECT 1"]);
  });
});

describe("startWorker with migrations", () => {
  let dir: string;
  let w: TestWorker;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "tessera-migrations-"));
    writeFileSync(path.join(dir, "0002_plan.sql"), SQL_2);
    writeFileSync(path.join(dir, "0001_init.sql"), SQL_1);
    w = await startWorker({ migrationsDir: dir, bindings: { EXTRA: "1" } });
  });
  afterAll(async () => {
    await w?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("applies every file in order to the fresh D1", async () => {
    const db = await w.db();
    const app = await db.prepare("SELECT id, name, plan FROM apps").first();
    expect(app).toEqual({ id: "public", name: "it's public", plan: "free" });
    const tenant = await db.prepare("SELECT app_id, id, label FROM tenants").first();
    expect(tenant).toEqual({ app_id: "public", id: "public", label: "it's public" });
  });

  it("gives a working, empty KV", async () => {
    const kv = await w.kv();
    expect(await kv.get("missing")).toBeNull();
    await kv.put("k", "v");
    expect(await kv.get("k")).toBe("v");
  });

  it("still serves the worker", async () => {
    const res = await w.json("GET", "/healthz");
    expect(res.body).toEqual({ status: "ok" });
  });
});

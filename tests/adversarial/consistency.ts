// What D1 and KV hold, compared: snapshots of every D1 table and their difference, and the
// agreement of the KV edge view with D1 for the entities a request touched.
//
// D1 is the source of truth and KV a view derived from it (README, "End-user state at the
// edge"); after a request the view of every entity the request touched must say what D1 says:
// - flags:<app>:<tenant>:<user> — the user's edge document (service::edge): with a face,
//   status, plan, assigned roles and override equal D1's tenant_users row; without one (the
//   row is gone) it says no state, or is absent; absent while the row exists: the row must be
//   in the state a token alone implies (active, free, no roles, no override);
// - revoked sessions whose access tokens may live — in their user's document (listed, older
//   than its `revoked_before`, or the document says the user has no face here);
// - key:<sha256> — absent when the key is gone from D1, same tenant and scopes when present;
// - tenant:<app>:<id>, app:<id> — absent when gone from D1 or being deleted (deleted_at set),
//   same content when present;
// - policy:<app> — when present, the roles and plans D1 defines;
// - pub:<owner> — when present, lists the owner's newest key;
// - client:<app>:<tenant>:<client> — the cut of an OAuth client's client_credentials tokens
//   (those issued before `not_before` are revoked), written before D1 by the changes that
//   revoke them (revocation, disabling, narrowing: a cut a few seconds ahead; deletion: a cut
//   that never passes), never by issuance; not mirrored through edge_sync. It is wrong only
//   where it lets a token live that D1 says must not: a client deleted from a live tenant
//   without a never-passing cut, or a D1 cut (`tokens_revoked_before`, set by each of those
//   changes) that KV does not hold (absent, or earlier). A cut KV holds and D1 does not is
//   only more revocation (a change whose D1 half failed), never a disagreement.

/** A D1 table's rows by primary key (JSON of the key columns), each as its JSON text. */
export type Snapshot = Record<string, Map<string, string>>;

/** The primary-key columns of each table (migrations/). */
const KEYS: Record<string, string[]> = {
  apps: ["id"],
  tenants: ["app_id", "id"],
  operators: ["id"],
  api_keys: ["id"],
  signing_keys: ["kid"],
  users: ["app_id", "id"],
  tenant_users: ["app_id", "tenant_id", "user_id"],
  sessions: ["id"],
  refresh_tokens: ["token_hash"],
  signin_failures: ["app_id", "tenant_id", "subject"],
  members: ["id"],
  audit_log: ["id"],
  end_user_roles: ["app_id", "name"],
  plans: ["app_id", "tier"],
  user_metadata: ["app_id", "user_id"],
  webhook_secrets: ["app_id"],
  webhook_events: ["app_id", "event_id"],
  email_delivery: ["app_id"],
  email_challenges: ["id"],
  email_send_counts: ["app_id", "tenant_id", "subject"],
  email_outbox: ["id"],
  email_dead_letters: ["id"],
  thirdparty_providers: ["app_id", "tenant_id", "id"],
  thirdparty_flows: ["state_hash"],
  user_identities: ["app_id", "tenant_id", "provider_id", "subject"],
  operator_roles: ["app_id", "name"],
  deletions: ["id"],
  edge_sync: ["doc"],
  oauth_clients: ["app_id", "tenant_id", "id"],
  oauth_codes: ["code_hash"],
  oauth_consents: ["app_id", "tenant_id", "user_id", "client_id"],
  oauth_assertions: ["app_id", "tenant_id", "client_id", "jti_hash"],
};

/**
 * Every table's rows, read in one batch (one round trip). A table the migrations have and KEYS
 * does not is an error. Miniflare's synchronous proxy to local D1 has been seen to fail an
 * internal assertion ("false == true") under load (tests/e2e/harness.ts retries migrations
 * for the same reason): a read that fails so is made again, up to three times. The statements
 * are prepared once per database (`prepare` is the proxy's synchronous call; `batch` and `all`
 * are not), so a sweep makes a few synchronous calls instead of tens of thousands.
 */
export async function snapshot(db: any): Promise<Snapshot> {
  return again(() => readAll(db));
}

/**
 * `read`, made again (up to three times in all) when local D1 fails it with the internal
 * assertion "false == true" that Miniflare's D1 sometimes throws under load on 2 cores (seen
 * in CI in a read of this file; the harness retries worker start-ups for the same reason).
 * Only the test's own reads are retried; the worker's calls are never.
 */
async function again<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (e) {
      if (attempt >= 3 || !String((e as Error)?.message ?? e).includes("false == true")) throw e;
    }
  }
}

/** `db` and `kv` for reads that go through `again` (the statement is prepared inside it). */
function steady(db: any, kv: any) {
  const statement = (sql: string, args: unknown[]) => ({
    first: () => again(() => db.prepare(sql).bind(...args).first()),
    all: () => again(() => db.prepare(sql).bind(...args).all()),
  });
  return {
    db: { prepare: (sql: string) => ({ ...statement(sql, []), bind: (...args: unknown[]) => statement(sql, args) }) },
    kv: { get: (key: string) => again(() => kv.get(key)) },
  };
}

/** The prepared reads of every table, per database (the tables do not change during a run). */
const prepared = new WeakMap<object, { tables: string[]; reads: any[] }>();

async function readAll(db: any): Promise<Snapshot> {
  let statements = prepared.get(db);
  if (!statements) {
    const tables = (await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'd1\\_%' ESCAPE '\\'").all()).results.map((r: any) => r.name as string);
    const unknown = tables.filter((t: string) => !KEYS[t]);
    if (unknown.length > 0) throw new Error(`consistency.ts does not know the tables ${unknown}: add their primary keys to KEYS`);
    statements = { tables, reads: tables.map((t: string) => db.prepare(`SELECT * FROM ${t}`)) };
    prepared.set(db, statements);
  }
  const { tables } = statements;
  const results = await db.batch(statements.reads);
  const out: Snapshot = {};
  tables.forEach((table: string, i: number) => {
    const key = KEYS[table];
    const rows = results[i].results as any[];
    out[table] = new Map(rows.map((r) => [JSON.stringify(key.map((k) => r[k])), JSON.stringify(r)]));
  });
  return out;
}

export interface Change {
  table: string;
  key: string;
  kind: "added" | "removed" | "changed";
  before?: any;
  after?: any;
}

/**
 * Columns whose change alone is no change of state: a user's version counts writes, so a change
 * that was undone (written, then put back with a `user.revert` audit entry) leaves it higher.
 */
const BOOKKEEPING: Record<string, string[]> = { tenant_users: ["version"] };

function withoutBookkeeping(table: string, row: string): string {
  const ignored = BOOKKEEPING[table];
  if (!ignored) return row;
  const value = JSON.parse(row);
  for (const column of ignored) delete value[column];
  return JSON.stringify(value);
}

/** The rows that differ between two snapshots (bookkeeping columns aside). */
export function diff(before: Snapshot, after: Snapshot): Change[] {
  const out: Change[] = [];
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[table] ?? new Map();
    const b = after[table] ?? new Map();
    for (const [key, row] of b) {
      if (!a.has(key)) out.push({ table, key, kind: "added", after: JSON.parse(row) });
      else if (withoutBookkeeping(table, a.get(key)!) !== withoutBookkeeping(table, row)) out.push({ table, key, kind: "changed", before: JSON.parse(a.get(key)!), after: JSON.parse(row) });
    }
    for (const [key, row] of a) if (!b.has(key)) out.push({ table, key, kind: "removed", before: JSON.parse(row) });
  }
  return out;
}

/** The entities whose KV view must agree with D1. */
export interface Touched {
  users: Set<string>; // "app|tenant|user"
  sessions: Set<string>;
  keyHashes: Set<string>;
  tenants: Set<string>; // "app|tenant"
  apps: Set<string>;
  clients: Set<string>; // "app|tenant|client"
}

export const emptyTouched = (): Touched => ({ users: new Set(), sessions: new Set(), keyHashes: new Set(), tenants: new Set(), apps: new Set(), clients: new Set() });

/** The entities behind D1 changes and KV keys written. */
export function touchedBy(changes: Change[], kvKeys: string[]): Touched {
  const t = emptyTouched();
  for (const c of changes) {
    const row = c.after ?? c.before;
    switch (c.table) {
      case "tenant_users":
        t.users.add(`${row.app_id}|${row.tenant_id}|${row.user_id}`);
        break;
      case "sessions":
        t.sessions.add(row.id);
        break;
      case "api_keys":
        t.keyHashes.add(row.key_hash);
        break;
      case "tenants":
        t.tenants.add(`${row.app_id}|${row.id}`);
        break;
      case "apps":
        t.apps.add(row.id);
        break;
      case "end_user_roles":
      case "plans":
        t.apps.add(row.app_id);
        break;
      case "signing_keys":
        if (String(row.owner).startsWith("app:")) t.apps.add(String(row.owner).slice(4));
        break;
      case "oauth_clients":
        t.clients.add(`${row.app_id}|${row.tenant_id}|${row.id}`);
        break;
    }
  }
  for (const key of kvKeys) {
    const [kind, ...rest] = key.split(":");
    if (kind === "flags" && rest.length === 3) t.users.add(rest.join("|"));
    else if (kind === "rev") t.sessions.add(rest.join(":"));
    else if (kind === "key") t.keyHashes.add(rest.join(":"));
    else if (kind === "tenant" && rest.length === 2) t.tenants.add(rest.join("|"));
    else if (kind === "app" || kind === "policy") t.apps.add(rest.join(":"));
    else if (kind === "pub" && rest[0] === "app") t.apps.add(rest.slice(1).join(":"));
    else if (kind === "client" && rest.length === 3) t.clients.add(rest.join("|"));
  }
  return t;
}

const parse = (text: string | null) => (text === null ? null : JSON.parse(text));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const sorted = (v: unknown[]) => [...v].map(String).sort();

/** Where KV disagrees with D1 for the touched entities (empty: they agree). */
export async function disagreements(rawDb: any, rawKv: any, t: Touched, nowMs: number): Promise<string[]> {
  const { db, kv } = steady(rawDb, rawKv);
  const out: string[] = [];
  for (const u of t.users) {
    const [app, tenant, user] = u.split("|");
    const row: any = await db.prepare("SELECT * FROM tenant_users WHERE app_id = ?1 AND tenant_id = ?2 AND user_id = ?3").bind(app, tenant, user).first();
    const doc = parse(await kv.get(`flags:${app}:${tenant}:${user}`));
    if (!row && doc && doc.status != null) out.push(`flags:${app}:${tenant}:${user} gives the user a state in KV but it has no face in D1`);
    if (row && doc) {
      const d1 = { status: row.status, plan_tier: row.plan_tier, assigned_roles: sorted(JSON.parse(row.roles)), rate_limit_override: row.rate_limit_override ?? null };
      const edge = { status: doc.status ?? null, plan_tier: doc.plan_tier ?? null, assigned_roles: sorted(doc.assigned_roles ?? []), rate_limit_override: doc.rate_limit_override ?? null };
      if (!same(d1, edge)) out.push(`flags:${app}:${tenant}:${user}: KV ${JSON.stringify(edge)} but D1 ${JSON.stringify(d1)}`);
    }
    if (row && !doc && (row.status !== "active" || row.plan_tier !== "free" || JSON.parse(row.roles).length > 0 || row.rate_limit_override !== null)) {
      out.push(`flags:${app}:${tenant}:${user} is missing from KV, which judges the user from its token, but D1 has status ${row.status}, plan ${row.plan_tier}, roles ${row.roles}`);
    }
  }
  for (const sid of t.sessions) {
    const row: any = await db.prepare("SELECT * FROM sessions WHERE id = ?1").bind(sid).first();
    if (!row) continue;
    const doc = parse(await kv.get(`flags:${row.app_id}:${row.tenant_id}:${row.user_id}`));
    const listed = (doc?.revoked_sessions ?? []).includes(sid);
    const revokedInKv =
      doc !== null && (listed || doc.status == null || (row.revoked_at !== null && doc.revoked_before != null && doc.revoked_before >= Math.floor(row.revoked_at / 1000)));
    // Access tokens live at most a day (the longest access-token lifetime an app may set).
    const mayHaveLiveTokens = row.revoked_at !== null && row.revoked_at > nowMs - 86_400_000;
    if (mayHaveLiveTokens && !revokedInKv) out.push(`session ${sid} is revoked in D1 but its user's edge document does not say so (its access tokens still introspect)`);
    if (row.revoked_at === null && listed) out.push(`session ${sid} is listed revoked in KV but is not revoked in D1`);
  }
  for (const hash of t.keyHashes) {
    const row: any = await db.prepare("SELECT * FROM api_keys WHERE key_hash = ?1").bind(hash).first();
    const doc = parse(await kv.get(`key:${hash}`));
    if (!row && doc) out.push(`API key ${doc.id} is deleted from D1 but key:<hash> is still in KV`);
    if (row && doc && (doc.tenant_id !== row.tenant_id || doc.app_id !== row.app_id || !same(sorted(doc.scopes), sorted(JSON.parse(row.scopes))))) {
      out.push(`API key ${row.id}: KV and D1 differ`);
    }
  }
  for (const te of t.tenants) {
    const [app, id] = te.split("|");
    const row: any = await db.prepare("SELECT * FROM tenants WHERE app_id = ?1 AND id = ?2").bind(app, id).first();
    const doc = parse(await kv.get(`tenant:${app}:${id}`));
    if (!row && doc) out.push(`tenant:${app}:${id} is in KV but the tenant is deleted from D1`);
    if (row && row.deleted_at !== null && doc) out.push(`tenant:${app}:${id} is in KV but the tenant is being deleted`);
    if (row && doc && !same(sorted(doc.login_methods), sorted(JSON.parse(row.login_methods)))) {
      out.push(`tenant:${app}:${id}: KV login methods ${JSON.stringify(doc.login_methods)} but D1 ${row.login_methods}`);
    }
  }
  for (const app of t.apps) {
    const row: any = await db.prepare("SELECT * FROM apps WHERE id = ?1").bind(app).first();
    const appDoc = parse(await kv.get(`app:${app}`));
    if (!row && appDoc) out.push(`app:${app} is in KV but the app is deleted from D1`);
    if (row && row.deleted_at !== null && appDoc) out.push(`app:${app} is in KV but the app is being deleted`);
    if (row && appDoc && !same(appDoc.settings, { ...appDoc.settings, ...JSON.parse(row.settings) })) {
      out.push(`app:${app}: KV settings ${JSON.stringify(appDoc.settings)} but D1 ${row.settings}`);
    }
    const policy = parse(await kv.get(`policy:${app}`));
    if (policy) {
      const roles = (await db.prepare("SELECT name, permissions FROM end_user_roles WHERE app_id = ?1").bind(app).all()).results as any[];
      const plans = (await db.prepare("SELECT tier, roles, rate_limit FROM plans WHERE app_id = ?1").bind(app).all()).results as any[];
      const d1Roles = Object.fromEntries(roles.map((r) => [r.name, sorted(JSON.parse(r.permissions))]));
      const kvRoles = Object.fromEntries(Object.entries<any>(policy.roles ?? {}).map(([k, v]) => [k, sorted(v)]));
      const d1Plans = Object.fromEntries(plans.map((p) => [p.tier, { roles: sorted(JSON.parse(p.roles)), rate_limit: p.rate_limit ?? null }]));
      const kvPlans = Object.fromEntries(Object.entries<any>(policy.plans ?? {}).map(([k, v]) => [k, { roles: sorted(v.roles ?? []), rate_limit: v.rate_limit ?? null }]));
      if (!same(Object.entries(d1Roles).sort(), Object.entries(kvRoles).sort())) out.push(`policy:${app}: KV roles ${JSON.stringify(kvRoles)} but D1 ${JSON.stringify(d1Roles)}`);
      if (!same(Object.entries(d1Plans).sort(), Object.entries(kvPlans).sort())) out.push(`policy:${app}: KV plans ${JSON.stringify(kvPlans)} but D1 ${JSON.stringify(d1Plans)}`);
    }
    const published = parse(await kv.get(`pub:app:${app}`));
    if (published) {
      const newest: any = await db.prepare("SELECT kid FROM signing_keys WHERE owner = ?1 ORDER BY created_at DESC LIMIT 1").bind(`app:${app}`).first();
      if (newest && !published.some((k: any) => k.kid === newest.kid)) out.push(`pub:app:${app} does not list the newest key ${newest.kid} of D1`);
    }
  }
  for (const c of t.clients) {
    const [app, tenant, id] = c.split("|");
    const doc = parse(await kv.get(`client:${app}:${tenant}:${id}`));
    const cut: number = doc?.not_before ?? -Infinity;
    const row: any = await db.prepare("SELECT status, tokens_revoked_before FROM oauth_clients WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3").bind(app, tenant, id).first();
    const name = `client:${app}:${tenant}:${id}`;
    if (!row) {
      // Gone with its tenant: a token of it names a tenant that is gone, or a namesake made after it.
      const live: any = await db.prepare("SELECT 1 AS live FROM tenants WHERE app_id = ?1 AND id = ?2 AND deleted_at IS NULL").bind(app, tenant).first();
      if (live && cut < Number.MAX_SAFE_INTEGER) out.push(`${name} lets client_credentials tokens live but the client is deleted from D1`);
      continue;
    }
    if (row.tokens_revoked_before !== null && cut < row.tokens_revoked_before) {
      out.push(`${name} cuts client_credentials tokens at ${doc ? cut : "nothing"} but D1 revoked those issued before ${row.tokens_revoked_before}${row.status !== "active" ? ` (the client is ${row.status})` : ""}`);
    }
  }
  return out;
}

-- Tessera schema, part 6: convergence of the edge view (KV) on D1.
--
-- One row per KV document that mirrors D1 (`flags:<app>:<tenant>:<user>`, the user's edge
-- document; `policy:<app>`, the app's roles and plans). `version` goes up in the same D1
-- batch as every change the document mirrors; `synced_version` records the version last
-- known to be in KV, and is only ever set by the writer of that very version while it is
-- still current and no other writer holds a lease (`leases`: writers between their D1 read
-- and their KV write, so a slower writer of an older copy cannot be buried by a close). A row
-- with version > synced_version is a pending rewrite: the isolate that failed retries it, the
-- cron sweeps what is left (and takes back leases older than a minute: their writer died).
CREATE TABLE edge_sync (
    doc TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    synced_version INTEGER NOT NULL DEFAULT 0,
    leases INTEGER NOT NULL DEFAULT 0,
    leased_at INTEGER NOT NULL DEFAULT 0,
    changed_at INTEGER NOT NULL
);

CREATE INDEX edge_sync_pending ON edge_sync (changed_at) WHERE version > synced_version;

-- Revoked sessions of a user, newest first, for the edge document's revocation list.
CREATE INDEX sessions_revoked_by_user ON sessions (app_id, tenant_id, user_id, revoked_at)
    WHERE revoked_at IS NOT NULL;

-- Until now revocations lived in `rev:<session>` KV records and only users with a changed
-- state had a document. Queue a rewrite of every document that must say something: users
-- whose state differs from a new user's, users with a session revoked in the last day (the
-- longest an access token can live), and every app's policy. The cron sweeps them.
INSERT OR IGNORE INTO edge_sync (doc, version, synced_version, changed_at)
SELECT 'flags:' || app_id || ':' || tenant_id || ':' || user_id, 1, 0,
       CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM tenant_users
WHERE status != 'active' OR plan_tier != 'free' OR rate_limit_override IS NOT NULL
   OR roles != '[]';

INSERT OR IGNORE INTO edge_sync (doc, version, synced_version, changed_at)
SELECT DISTINCT 'flags:' || app_id || ':' || tenant_id || ':' || user_id, 1, 0,
       CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM sessions
WHERE revoked_at > (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000;

INSERT OR IGNORE INTO edge_sync (doc, version, synced_version, changed_at)
SELECT 'policy:' || id, 1, 0, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM apps;

-- Tessera schema, part 3: memberships of operators in apps, and the audit log.

-- An operator's membership in an app, possibly narrowed to one tenant. The operator is set
-- when the invitation is accepted; until then the row holds the invited email and the hash of
-- the one-time invite token.
CREATE TABLE members (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    operator_id TEXT REFERENCES operators (id),
    email TEXT NOT NULL,
    tenant_id TEXT,
    membership_type TEXT NOT NULL,
    -- JSON array of built-in operator role names.
    roles TEXT NOT NULL,
    -- invited | active | suspended | left
    status TEXT NOT NULL,
    invite_hash TEXT UNIQUE,
    invite_expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One membership per person and app that has not been left.
CREATE UNIQUE INDEX members_live_by_email ON members (app_id, email) WHERE status != 'left';
CREATE INDEX members_by_operator ON members (operator_id);
CREATE INDEX members_by_app ON members (app_id, id);

-- Every change made through /admin (and the billing webhook), written in the same batch as the
-- change. `detail` is a small JSON object and never holds a secret.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    tenant_id TEXT,
    detail TEXT NOT NULL
);

CREATE INDEX audit_by_app ON audit_log (app_id, id);
CREATE INDEX audit_by_app_tenant ON audit_log (app_id, tenant_id, id);

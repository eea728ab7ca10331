-- Tessera schema, part 4: end-user state at the edge — roles, plans, per-tenant role
-- bindings, a version per face, user metadata, the billing webhook.

-- Hand-assigned roles of a user in a tenant (JSON array; plan roles are derived from the plan),
-- and a version that increases with every change of the face.
ALTER TABLE tenant_users ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tenant_users ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- Listing by status or plan pages by keyset over these indexes; by email prefix over the
-- UNIQUE (app_id, tenant_id, email) index.
CREATE INDEX tenant_users_by_status ON tenant_users (app_id, tenant_id, status, user_id);
CREATE INDEX tenant_users_by_plan ON tenant_users (app_id, tenant_id, plan_tier, user_id);

-- End-user roles of an app and their permissions (JSON array).
CREATE TABLE end_user_roles (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    permissions TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, name)
);

-- Plans of an app: the roles they bring (JSON array) and a default rate limit per minute.
CREATE TABLE plans (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    tier TEXT NOT NULL,
    roles TEXT NOT NULL,
    rate_limit INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, tier)
);

-- Free-form metadata per app user (JSON object, at most 16 KiB), shared by all tenants.
CREATE TABLE user_metadata (
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    metadata TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, user_id),
    FOREIGN KEY (app_id, user_id) REFERENCES users (app_id, id) ON DELETE CASCADE
);

-- The billing webhook secret of an app, sealed like signing keys (ChaCha20-Poly1305 under
-- KEY_ENCRYPTION_SECRET), and the events already applied (for idempotency).
CREATE TABLE webhook_secrets (
    app_id TEXT PRIMARY KEY NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE webhook_events (
    app_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, event_id)
);

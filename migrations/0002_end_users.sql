-- Tessera schema, part 2: app settings, end users, sessions, refresh tokens, sign-in
-- throttling, and activation times of signing keys (rotation with overlap).

-- Per-app lifetimes and hashing cost (JSON; absent fields read as the defaults).
ALTER TABLE apps ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- A key signs from activates_at on; it is published before that, so that caches of the JWKS
-- know a key before any token carries its kid.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;

-- End users: app-scoped identities holding the credentials.
CREATE TABLE users (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    -- The email the user signed up with (normalised).
    email TEXT NOT NULL,
    password_hash TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, id)
);

-- A user as one tenant sees it: the (tenant, email) identity and the per-tenant state.
-- An email is unique per tenant, not per app.
CREATE TABLE tenant_users (
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    email TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    plan_tier TEXT NOT NULL DEFAULT 'free',
    rate_limit_override INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, tenant_id, user_id),
    UNIQUE (app_id, tenant_id, email),
    FOREIGN KEY (app_id, tenant_id) REFERENCES tenants (app_id, id) ON DELETE CASCADE,
    FOREIGN KEY (app_id, user_id) REFERENCES users (app_id, id) ON DELETE CASCADE
);

-- Refresh sessions, one per sign-in, per tenant.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- Generation of the current refresh token, and when it was issued.
    generation INTEGER NOT NULL DEFAULT 0,
    rotated_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    idle_timeout_ms INTEGER NOT NULL,
    revoked_at INTEGER,
    FOREIGN KEY (app_id, tenant_id) REFERENCES tenants (app_id, id) ON DELETE CASCADE
);

CREATE INDEX sessions_by_user ON sessions (app_id, tenant_id, user_id);

-- Every refresh token ever issued for a session, by hash, with its generation: a token of an
-- older generation is recognised as theft rather than as unknown.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Consecutive failed sign-ins per subject ('account:<email>' or 'client:<address>').
CREATE TABLE signin_failures (
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_failed_at INTEGER NOT NULL,
    blocked_until INTEGER NOT NULL,
    PRIMARY KEY (app_id, tenant_id, subject)
);

-- Tessera schema, part 1: apps, tenants, operators, tenant API keys, signing keys.
-- Times are Unix milliseconds (INTEGER). Ids of apps and tenants are slugs; the others UUIDv7.
-- Migrations are forward-only: never edit a migration that has shipped, add a new one.

CREATE TABLE apps (
    id TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE tenants (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    -- JSON array of login method names, e.g. ["emailpassword"].
    login_methods TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, id)
);

CREATE TABLE operators (
    id TEXT PRIMARY KEY NOT NULL,
    -- Normalised (trimmed, NFKC, lower-case); unique across the deployment.
    email TEXT NOT NULL UNIQUE,
    -- PHC string ($pbkdf2-sha256$i=…$salt$hash); NULL until a password is set.
    password_hash TEXT,
    is_platform_owner INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- JSON array of scope names.
    scopes TEXT NOT NULL,
    -- SHA-256 (hex) of the key; the key itself is never stored.
    key_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (app_id, tenant_id) REFERENCES tenants (app_id, id) ON DELETE CASCADE
);

CREATE INDEX api_keys_by_tenant ON api_keys (app_id, tenant_id, id);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    -- 'operators' or 'app:<app_id>'.
    owner TEXT NOT NULL,
    alg TEXT NOT NULL DEFAULT 'EdDSA',
    -- base64url Ed25519 public key.
    public_key TEXT NOT NULL,
    -- ChaCha20-Poly1305 sealed seed under KEY_ENCRYPTION_SECRET, kid as associated data.
    private_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX signing_keys_by_owner ON signing_keys (owner, created_at);

-- A fresh deployment works at once: the app `public` with its tenant `public`.
INSERT INTO apps (id, created_at) VALUES ('public', 0);
INSERT INTO tenants (app_id, id, login_methods, created_at, updated_at)
VALUES ('public', 'public', '["emailpassword"]', 0, 0);

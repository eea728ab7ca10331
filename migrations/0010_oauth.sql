-- Tessera schema, part 10: the OAuth 2.1 authorization server of each tenant — its settings,
-- its clients, the authorization codes under way, the consents users gave, and the grants
-- (sessions held by an OAuth client).
--
-- Keyed by app first, then tenant, like every table, so that deleting an app, a tenant or a
-- user reaches all of it with one indexed DELETE each.

-- The tenant's OAuth settings as JSON (`domain::oauth::OAuthSettings`); NULL: the defaults
-- (registration off, no scopes, 900 s access tokens).
ALTER TABLE tenants ADD COLUMN oauth TEXT;

-- A session held by an OAuth client (a grant): the client, the scopes granted (space
-- separated) and the RFC 8707 resource its access tokens name. NULL for the tenant's own
-- sessions. Rotation, reuse detection, revocation and the edge document work alike for both.
ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
ALTER TABLE sessions ADD COLUMN resource TEXT;

CREATE INDEX sessions_by_client ON sessions (app_id, tenant_id, client_id)
    WHERE client_id IS NOT NULL;

-- A tenant's OAuth clients. `secret_hash` is the SHA-256 of a confidential client's secret
-- (`tss_…`, shown once); JSON arrays hold the redirect URIs, grant types and scopes.
CREATE TABLE oauth_clients (
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    status TEXT NOT NULL,
    secret_hash TEXT,
    -- The client's client_credentials tokens issued before this time are revoked.
    tokens_revoked_before INTEGER,
    -- 1: registered by itself (RFC 7591): its redirect URIs were never vetted.
    self_registered INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, tenant_id, id),
    FOREIGN KEY (app_id, tenant_id) REFERENCES tenants (app_id, id) ON DELETE CASCADE
);

-- Authorization codes: only the SHA-256 of the code (`tsa_…`), bound to client, user,
-- redirect URI and PKCE challenge. `used_at` and `session_id` are set by the one exchange
-- that may happen (a second one revokes that session); rows are pruned after they expire.
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope TEXT NOT NULL,
    resource TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    session_id TEXT,
    FOREIGN KEY (app_id, tenant_id, user_id)
        REFERENCES tenant_users (app_id, tenant_id, user_id) ON DELETE CASCADE
);

CREATE INDEX oauth_codes_by_expiry ON oauth_codes (expires_at);
CREATE INDEX oauth_codes_by_tenant ON oauth_codes (app_id, tenant_id, client_id);
CREATE INDEX oauth_codes_by_user ON oauth_codes (app_id, user_id, tenant_id);

-- Consent a user gave a client, remembered: the scopes it covers and the fingerprint of the
-- client's redirect URIs when it was given (a client that changed them asks again).
CREATE TABLE oauth_consents (
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, tenant_id, user_id, client_id),
    FOREIGN KEY (app_id, tenant_id, user_id)
        REFERENCES tenant_users (app_id, tenant_id, user_id) ON DELETE CASCADE
);

CREATE INDEX oauth_consents_by_client ON oauth_consents (app_id, tenant_id, client_id);
CREATE INDEX oauth_consents_by_user ON oauth_consents (app_id, user_id, tenant_id);

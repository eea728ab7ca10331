-- OAuth clients that authenticate with a signed JWT (private_key_jwt, RFC 7523): their public
-- keys, and the assertions they used (one use each).

-- A private_key_jwt client's public keys, a JWK set as JSON (NULL for every other client).
ALTER TABLE oauth_clients ADD COLUMN jwks TEXT;

-- Client assertions accepted at the token endpoint, by the SHA-256 of their jti, kept until
-- the assertion would be refused as expired anyway (`expires_at`, Unix ms): a second use of a
-- jti by the same client is refused. Pruned by the cron; go with their client.
CREATE TABLE oauth_assertions (
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    jti_hash TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, tenant_id, client_id, jti_hash),
    FOREIGN KEY (app_id, tenant_id, client_id) REFERENCES oauth_clients (app_id, tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX oauth_assertions_expiry ON oauth_assertions (expires_at);

-- Tessera schema, part 8: third-party sign-in per tenant — the tenant's redirect URIs, its
-- identity providers (client secrets sealed like signing keys), the flows under way (only the
-- hash of their state) and the identities linking a provider's subject to a user.
--
-- Every table is keyed by app first, then tenant, so that deleting an app, a tenant or a user
-- (by `app_id` and `user_id`) reaches all of it with one indexed DELETE each.

-- The exact URIs a third-party flow may return to (JSON array of https, or loopback http, URLs).
ALTER TABLE tenants ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';

-- A tenant's identity providers. `issuer` is the OpenID issuer (oidc) or the web origin of the
-- GitHub instance (github); the endpoints were read from the issuer's discovery document (oidc)
-- or follow from the instance (github) when the provider was configured, and are the only URLs
-- the worker ever calls for this provider. `client_secret` is sealed (ChaCha20-Poly1305 under
-- KEY_ENCRYPTION_SECRET, the provider's identity as associated data) and never returned.
CREATE TABLE thirdparty_providers (
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    -- JSON array of scope names.
    scopes TEXT NOT NULL,
    authorization_endpoint TEXT NOT NULL,
    token_endpoint TEXT NOT NULL,
    -- oidc: where the signing keys are; github: NULL.
    jwks_uri TEXT,
    -- oidc: the UserInfo endpoint, if the issuer has one; github: the REST API's base URL.
    userinfo_endpoint TEXT,
    -- 'basic' or 'post': how the client authenticates at the token endpoint.
    token_auth TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, tenant_id, id),
    FOREIGN KEY (app_id, tenant_id) REFERENCES tenants (app_id, id) ON DELETE CASCADE
);

-- Flows started and not yet called back: the SHA-256 of the `state` handed to the client
-- (the PKCE verifier and the nonce are derived from the state under the deployment secret, so
-- nothing secret is stored), bound to tenant, provider and redirect URI. Taken once; expired
-- ones are pruned by the cron.
CREATE TABLE thirdparty_flows (
    state_hash TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (app_id, tenant_id) REFERENCES tenants (app_id, id) ON DELETE CASCADE
);

CREATE INDEX thirdparty_flows_by_expiry ON thirdparty_flows (expires_at);
CREATE INDEX thirdparty_flows_by_tenant ON thirdparty_flows (app_id, tenant_id);

-- A provider's subject, linked to a user of the tenant: (provider, subject) is unique per
-- tenant. `issuer` is the provider's when the link was made: a provider re-pointed to another
-- issuer drops its links (subjects of two issuers are unrelated). `email` is what the
-- provider asserted at the link (user data: erased with the user).
CREATE TABLE user_identities (
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    user_id TEXT NOT NULL,
    email TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, tenant_id, provider_id, subject),
    FOREIGN KEY (app_id, tenant_id, user_id)
        REFERENCES tenant_users (app_id, tenant_id, user_id) ON DELETE CASCADE
);

CREATE INDEX user_identities_by_user ON user_identities (app_id, user_id, tenant_id);

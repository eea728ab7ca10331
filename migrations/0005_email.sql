-- Tessera schema, part 5: email delivery per app, email challenges (verification, password
-- reset, passwordless), send counting, the outbox and dead letters; link bases of tenants;
-- verified emails and passwordless use of users; password resets of operators.

-- Where a tenant's emailed links point: <link_base_url>?type=<type>&token=<token>.
ALTER TABLE tenants ADD COLUMN link_base_url TEXT;

-- When the user proved its email (NULL: never), and first signed in with passwordless.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
ALTER TABLE users ADD COLUMN passwordless_at INTEGER;

-- When a password reset last replaced the operator's password: operator tokens issued until
-- then are refused.
ALTER TABLE operators ADD COLUMN password_reset_at INTEGER;

-- How an app's messages leave: 'webhook' (url, secret sealed like signing keys) or 'outbox'.
-- No row: 'none'.
CREATE TABLE email_delivery (
    app_id TEXT PRIMARY KEY NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    url TEXT,
    secret TEXT,
    updated_at INTEGER NOT NULL
);

-- One-time proofs of an email. app_id and tenant_id are '' for operators. Only hashes of the
-- secrets are kept: SHA-256 of the link token, HMAC of the code. subject_id is the user (or
-- operator) the email belonged to when the challenge was made (NULL: none). Deleted once
-- expired (daily cron).
CREATE TABLE email_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    email TEXT NOT NULL,
    subject_id TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    code_hash TEXT,
    tries INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER
);

CREATE INDEX email_challenges_by_email ON email_challenges (app_id, tenant_id, email);
CREATE INDEX email_challenges_by_expiry ON email_challenges (expires_at);

-- Sends per subject ('send:<email>', 'client:<address>') in fixed windows.
CREATE TABLE email_send_counts (
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    sends INTEGER NOT NULL,
    window_started_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, tenant_id, subject)
);

-- Messages of apps whose delivery is 'outbox' (development and tests only), kept 24 h.
-- tenant_id is NULL for operator messages.
CREATE TABLE email_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL,
    tenant_id TEXT,
    purpose TEXT NOT NULL,
    recipient TEXT NOT NULL,
    code TEXT,
    link TEXT,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX email_outbox_by_app ON email_outbox (app_id, id);
CREATE INDEX email_outbox_by_recipient ON email_outbox (app_id, recipient, id);
CREATE INDEX email_outbox_by_age ON email_outbox (app_id, created_at);

-- Messages that could not be delivered, kept 7 days; never a code or a link.
CREATE TABLE email_dead_letters (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL,
    tenant_id TEXT,
    purpose TEXT NOT NULL,
    recipient TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);

CREATE INDEX email_dead_letters_by_app ON email_dead_letters (app_id, id);
CREATE INDEX email_dead_letters_by_age ON email_dead_letters (app_id, at);

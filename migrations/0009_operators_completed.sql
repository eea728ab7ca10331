-- Tessera schema, part 9: operators completed — how each membership came to be, custom
-- operator roles per app, self-serve sign-up of operators (with their email verified before
-- their app can be used for more than its settings), and deletion of apps, tenants and users
-- in bounded, resumable steps.

-- How a membership was made: 'bootstrap' (the platform owner's, in the app `public`),
-- 'invite', 'signup' (the owner of an app made by POST /admin/signup) or 'scim'. Every
-- membership before this migration came from an invitation.
ALTER TABLE members ADD COLUMN source TEXT NOT NULL DEFAULT 'invite';

-- The platform owner is the app `public`'s owner: a deployment bootstrapped before this
-- migration gets that membership now (an id of UUIDv7 form from the owner's creation time).
INSERT INTO members (id, app_id, operator_id, email, tenant_id, membership_type, roles, status,
                     created_at, updated_at, source)
SELECT substr(printf('%012x', o.created_at), 1, 8) || '-' || substr(printf('%012x', o.created_at), 9, 4)
       || '-7' || substr(lower(hex(randomblob(2))), 2, 3)
       || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2, 3)
       || '-' || lower(hex(randomblob(6))),
       'public', o.id, o.email, NULL, 'owner', '["admin"]', 'active', o.created_at, o.created_at,
       'bootstrap'
FROM operators o
WHERE o.is_platform_owner = 1
  AND NOT EXISTS (SELECT 1 FROM members m WHERE m.app_id = 'public' AND m.email = o.email
                  AND m.status != 'left');

-- When the operator proved its email (NULL: never).
ALTER TABLE operators ADD COLUMN email_verified_at INTEGER;

-- 1 while an app made by sign-up waits for its owner to verify their email: until then only
-- its settings can be used (see `domain::authz::SETTINGS`), and its end-user plane answers
-- 403 app_not_verified.
ALTER TABLE apps ADD COLUMN pending_verification INTEGER NOT NULL DEFAULT 0;

-- Set when a deletion of the app or tenant begins: from then on it is gone for every reader,
-- while its rows are deleted in bounded steps; the row itself goes last. A namesake cannot be
-- created until then (the row still holds the id).
ALTER TABLE apps ADD COLUMN deleted_at INTEGER;
ALTER TABLE tenants ADD COLUMN deleted_at INTEGER;

-- Operator roles an app defines beside the built-in ones (JSON array of permissions).
CREATE TABLE operator_roles (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    permissions TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, name)
);

-- Deletions of an app ('app'), a tenant ('tenant') or a user ('user': of one tenant when
-- tenant_id is set, of the whole app otherwise). `phase` is how many of the kind's phases are
-- done (`domain::deletion`), `cursor` where the current phase stands, `deleted` how many rows
-- went so far. user_id and tenants (the tenants the user had in scope, JSON) are cleared when
-- the deletion is done, so that no row names an erased user. Done deletions are kept 7 days.
CREATE TABLE deletions (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    app_id TEXT NOT NULL,
    tenant_id TEXT,
    user_id TEXT,
    tenants TEXT,
    state TEXT NOT NULL,
    phase INTEGER NOT NULL DEFAULT 0,
    cursor TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
);

-- The running deletions, oldest first (the cron continues them), and the one of a target.
CREATE INDEX deletions_by_state ON deletions (state, id);
CREATE INDEX deletions_by_target ON deletions (app_id, kind, tenant_id, user_id);

-- A user's faces across the tenants of its app (erasure, "no face left" checks).
CREATE INDEX tenant_users_by_user ON tenant_users (app_id, user_id);

-- An erasure rewrites the audit entries that name the user.
CREATE INDEX audit_by_target ON audit_log (app_id, target);

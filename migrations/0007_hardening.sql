-- Tessera schema, part 7 (hardening): the parameters of each stored password hash, so that the sets in use
-- can be listed cheaply. A failed sign-in verifies one dummy hash per set in use (besides the
-- real hash, if any), so unknown and known emails cost the same even while an app's hashes
-- move from one cost to another.

-- The PHC string's prefix up to its iteration count, e.g. '$pbkdf2-sha512$i=210000'.
ALTER TABLE users ADD COLUMN password_params TEXT;
ALTER TABLE operators ADD COLUMN password_params TEXT;

-- '$alg$i=N$salt$hash': the prefix ends just before the third '$'.
UPDATE users SET password_params = substr(password_hash, 1,
    instr(substr(password_hash, 2), '$')
    + instr(substr(password_hash, instr(substr(password_hash, 2), '$') + 2), '$'))
WHERE password_hash IS NOT NULL;
UPDATE operators SET password_params = substr(password_hash, 1,
    instr(substr(password_hash, 2), '$')
    + instr(substr(password_hash, instr(substr(password_hash, 2), '$') + 2), '$'))
WHERE password_hash IS NOT NULL;

CREATE INDEX users_by_password_params ON users (app_id, password_params);
CREATE INDEX operators_by_password_params ON operators (password_params);

-- Pruning (the cron's maintenance): what is past its use is found through these indexes, in
-- bounded batches.
CREATE INDEX signin_failures_by_age ON signin_failures (last_failed_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_revocation ON sessions (revoked_at);
CREATE INDEX webhook_events_by_age ON webhook_events (received_at);
CREATE INDEX audit_by_age ON audit_log (at);

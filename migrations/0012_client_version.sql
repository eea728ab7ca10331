-- Tessera schema, part 12: OAuth clients get a version, so that a change of a client (PATCH,
-- secret rotation, a deletion forgetting its secret) is written only over the version it was
-- made from (compare-and-swap): two concurrent changes of one client never lose one another.
-- 0 for every client written before.

ALTER TABLE oauth_clients ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- Erasure (docs/operations.md, "Erasure"). Projections ask, for each message they store, whether
-- its author was erased (`x IN (SELECT id FROM users WHERE erased)`), so that a rebuild from zero
-- never brings an erased user's content back. Few users are ever erased: over this partial index
-- the check is one scan of an (almost always) empty index per statement, not a probe per row.
CREATE INDEX users_erased ON users (id) WHERE erased;

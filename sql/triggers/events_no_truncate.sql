-- The log is append-only (events_refuse_change): never truncated.
-- CREATE OR REPLACE rather than DROP + CREATE: DROP TRIGGER would lock `events` against readers too.
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

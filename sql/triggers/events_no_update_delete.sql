-- The log is append-only (events_refuse_change): no row of it is ever updated or deleted.
-- CREATE OR REPLACE rather than DROP + CREATE: DROP TRIGGER would lock `events` against readers too.
CREATE OR REPLACE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

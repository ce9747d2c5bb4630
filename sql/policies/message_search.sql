-- The search index (projection "search"): readers of the room (searches go through
-- gochat_search_hits, which checks access itself; this guards every row that leaves the database).
ALTER TABLE message_search ENABLE ROW LEVEL SECURITY;
ALTER TABLE message_search FORCE ROW LEVEL SECURITY;

-- The owner (migrations, the event writer's projections, rebuilds) writes every row.
DROP POLICY IF EXISTS message_search_owner ON message_search;
CREATE POLICY message_search_owner ON message_search FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

DROP POLICY IF EXISTS message_search_read ON message_search;
CREATE POLICY message_search_read ON message_search FOR SELECT TO gochat_app USING (gochat_can_read(room_id));

GRANT SELECT ON message_search TO gochat_app;

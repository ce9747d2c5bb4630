-- reports (sql/migrations/172_moderation.sql): gochat's owner role; the app role reads a room's rows
-- only where it may read the room (the moderation services check roles first).
DROP POLICY IF EXISTS reports_owner ON reports;
CREATE POLICY reports_owner ON reports FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS reports_read ON reports;
CREATE POLICY reports_read ON reports FOR SELECT TO gochat_app USING (gochat_can_read(room_id));
GRANT SELECT ON reports TO gochat_app;

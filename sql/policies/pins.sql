-- pins (sql/migrations/172_moderation.sql): gochat's owner role; the app role reads a room's rows
-- only where it may read the room (the moderation services check roles first).
DROP POLICY IF EXISTS pins_owner ON pins;
CREATE POLICY pins_owner ON pins FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS pins_read ON pins;
CREATE POLICY pins_read ON pins FOR SELECT TO gochat_app USING (gochat_can_read(room_id));
GRANT SELECT ON pins TO gochat_app;

-- room_mutes (sql/migrations/172_moderation.sql): gochat's owner role; the app role reads a room's rows
-- only where it may read the room (the moderation services check roles first).
DROP POLICY IF EXISTS room_mutes_owner ON room_mutes;
CREATE POLICY room_mutes_owner ON room_mutes FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS room_mutes_read ON room_mutes;
CREATE POLICY room_mutes_read ON room_mutes FOR SELECT TO gochat_app USING (gochat_can_read(room_id));
GRANT SELECT ON room_mutes TO gochat_app;

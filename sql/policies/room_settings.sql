-- A room's settings are visible to whoever sees the room.
ALTER TABLE room_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE room_settings FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS room_settings_owner ON room_settings;
CREATE POLICY room_settings_owner ON room_settings FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS room_settings_read ON room_settings;
CREATE POLICY room_settings_read ON room_settings FOR SELECT TO gochat_app USING (gochat_can_see(room_id));
GRANT SELECT ON room_settings TO gochat_app;

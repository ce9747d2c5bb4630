-- room_link_previews (sql/migrations/141_link_previews.sql): visible to whoever sees the room, as
-- its other settings are.
ALTER TABLE room_link_previews ENABLE ROW LEVEL SECURITY;
ALTER TABLE room_link_previews FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS room_link_previews_owner ON room_link_previews;
CREATE POLICY room_link_previews_owner ON room_link_previews FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS room_link_previews_read ON room_link_previews;
CREATE POLICY room_link_previews_read ON room_link_previews FOR SELECT TO gochat_app USING (gochat_can_see(room_id));
GRANT SELECT ON room_link_previews TO gochat_app;

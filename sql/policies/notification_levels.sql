-- The caller's own rows only.
ALTER TABLE notification_levels ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_levels FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS notification_levels_owner ON notification_levels;
CREATE POLICY notification_levels_owner ON notification_levels FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS notification_levels_read ON notification_levels;
CREATE POLICY notification_levels_read ON notification_levels FOR SELECT TO gochat_app USING (user_id = gochat_uid());
GRANT SELECT ON notification_levels TO gochat_app;

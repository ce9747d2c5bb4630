-- The caller's own rows only.
ALTER TABLE notification_prefs ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_prefs FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS notification_prefs_owner ON notification_prefs;
CREATE POLICY notification_prefs_owner ON notification_prefs FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS notification_prefs_read ON notification_prefs;
CREATE POLICY notification_prefs_read ON notification_prefs FOR SELECT TO gochat_app USING (user_id = gochat_uid());
GRANT SELECT ON notification_prefs TO gochat_app;

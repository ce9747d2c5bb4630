-- The caller's own rows only.
ALTER TABLE blocks ENABLE ROW LEVEL SECURITY;
ALTER TABLE blocks FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS blocks_owner ON blocks;
CREATE POLICY blocks_owner ON blocks FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS blocks_read ON blocks;
CREATE POLICY blocks_read ON blocks FOR SELECT TO gochat_app USING (user_id = gochat_uid());
GRANT SELECT ON blocks TO gochat_app;

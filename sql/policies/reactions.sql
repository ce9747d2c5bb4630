-- Reactions (projection "history"): as messages.
ALTER TABLE reactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE reactions FORCE ROW LEVEL SECURITY;

-- The owner (migrations, the event writer's projections, rebuilds) writes every row.
DROP POLICY IF EXISTS reactions_owner ON reactions;
CREATE POLICY reactions_owner ON reactions FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- Members inline, everyone else through gochat_can_read: read why in messages.sql.
DROP POLICY IF EXISTS reactions_read ON reactions;
CREATE POLICY reactions_read ON reactions FOR SELECT TO gochat_app USING (
    gochat_uid() IS NOT NULL AND (
        EXISTS (SELECT 1 FROM memberships m
                WHERE m.room_id = reactions.room_id AND m.user_id = gochat_uid() AND m.state = 'joined')
        OR gochat_can_read(room_id)));

GRANT SELECT ON reactions TO gochat_app;

-- Messages (projection "history"): the app role reads the rooms the caller may read (gochat_uid()
-- is NULL when app.user_id is unset, so the policy then returns nothing).
ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;

-- The owner (migrations, the event writer's projections, rebuilds) writes every row.
DROP POLICY IF EXISTS messages_owner ON messages;
CREATE POLICY messages_owner ON messages FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- Message rows are read by members far more often than by anyone else: that case is checked
-- inline, as a subquery the planner runs per row at the cost of one index probe, instead of a
-- function call per row (docs/benchmarks.md, sql/migrations/032). Everyone else (readers of a
-- public room) falls through to gochat_can_read, the full rule. Same rows as gochat_can_read alone:
-- the inline test is a subset of it, and the memberships row it reads is the caller's own (the
-- memberships policy lets it through on its first, cheap arm).
DROP POLICY IF EXISTS messages_read ON messages;
CREATE POLICY messages_read ON messages FOR SELECT TO gochat_app USING (
    gochat_uid() IS NOT NULL AND (
        EXISTS (SELECT 1 FROM memberships m
                WHERE m.room_id = messages.room_id AND m.user_id = gochat_uid() AND m.state = 'joined')
        OR gochat_can_read(room_id)));

GRANT SELECT ON messages TO gochat_app;

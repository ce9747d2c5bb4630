-- Memberships (projection "rooms"): the app role sees the caller's own, and the members of rooms
-- the caller may see; it writes nothing.
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;

-- The owner (migrations, the event writer's projections, rebuilds) writes every row.
DROP POLICY IF EXISTS memberships_owner ON memberships;
CREATE POLICY memberships_owner ON memberships FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

DROP POLICY IF EXISTS memberships_read ON memberships;
CREATE POLICY memberships_read ON memberships FOR SELECT TO gochat_app
    USING (user_id = gochat_uid() OR gochat_can_see(room_id));

GRANT SELECT ON memberships TO gochat_app;

-- Rooms (projection "rooms"): the app role sees the rooms the caller may know exist, and writes nothing.
ALTER TABLE rooms ENABLE ROW LEVEL SECURITY;
ALTER TABLE rooms FORCE ROW LEVEL SECURITY;

-- The owner (migrations, the event writer's projections, rebuilds) writes every row.
DROP POLICY IF EXISTS rooms_owner ON rooms;
CREATE POLICY rooms_owner ON rooms FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

DROP POLICY IF EXISTS rooms_read ON rooms;
CREATE POLICY rooms_read ON rooms FOR SELECT TO gochat_app USING (gochat_can_see(id));

GRANT SELECT ON rooms TO gochat_app;

-- Live message counts per room (projection "receipts"): readers of the room.
ALTER TABLE room_message_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE room_message_counts FORCE ROW LEVEL SECURITY;

-- The owner (migrations, the event writer's projections, rebuilds) writes every row.
DROP POLICY IF EXISTS room_message_counts_owner ON room_message_counts;
CREATE POLICY room_message_counts_owner ON room_message_counts FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

DROP POLICY IF EXISTS room_message_counts_read ON room_message_counts;
CREATE POLICY room_message_counts_read ON room_message_counts FOR SELECT TO gochat_app
    USING (gochat_can_read(room_id));

GRANT SELECT ON room_message_counts TO gochat_app;

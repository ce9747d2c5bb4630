-- Read markers (projection "receipts"): the app role reads the caller's own only.
ALTER TABLE receipts ENABLE ROW LEVEL SECURITY;
ALTER TABLE receipts FORCE ROW LEVEL SECURITY;

-- The owner (migrations, the event writer's projections, rebuilds) writes every row.
DROP POLICY IF EXISTS receipts_owner ON receipts;
CREATE POLICY receipts_owner ON receipts FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

DROP POLICY IF EXISTS receipts_read ON receipts;
CREATE POLICY receipts_read ON receipts FOR SELECT TO gochat_app USING (user_id = gochat_uid());

GRANT SELECT ON receipts TO gochat_app;

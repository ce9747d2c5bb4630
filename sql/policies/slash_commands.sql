-- slash_commands (sql/migrations/173_slash_commands.sql): gochat's owner role only (rows hold
-- secrets); the commands service checks room access first.
DROP POLICY IF EXISTS slash_commands_owner ON slash_commands;
CREATE POLICY slash_commands_owner ON slash_commands FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

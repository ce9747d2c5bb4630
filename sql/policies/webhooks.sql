-- webhooks (sql/migrations/171_webhooks.sql): gochat's owner role only; the app role (user-facing reads)
-- sees no row: these hold secrets and are served only through the webhook services.
DROP POLICY IF EXISTS webhooks_owner ON webhooks;
CREATE POLICY webhooks_owner ON webhooks FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

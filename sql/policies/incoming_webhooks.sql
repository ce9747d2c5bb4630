-- incoming_webhooks (sql/migrations/171_webhooks.sql): gochat's owner role only; the app role (user-facing reads)
-- sees no row: these hold secrets and are served only through the webhook services.
DROP POLICY IF EXISTS incoming_webhooks_owner ON incoming_webhooks;
CREATE POLICY incoming_webhooks_owner ON incoming_webhooks FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- link_preview_cache (sql/migrations/141_link_previews.sql): gochat's owner role only; the app role (user-facing
-- reads) sees no row: the previewer works them, users see previews through their messages.
DROP POLICY IF EXISTS link_preview_cache_owner ON link_preview_cache;
CREATE POLICY link_preview_cache_owner ON link_preview_cache FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

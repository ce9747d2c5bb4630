-- link_preview_jobs (sql/migrations/141_link_previews.sql): gochat's owner role only; the app role (user-facing
-- reads) sees no row: the previewer works them, users see previews through their messages.
DROP POLICY IF EXISTS link_preview_jobs_owner ON link_preview_jobs;
CREATE POLICY link_preview_jobs_owner ON link_preview_jobs FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- link_preview_cache_users (sql/migrations/191_link_preview_cache_users.sql): gochat's owner role only,
-- like the cache it describes; the app role (user-facing reads) sees no row.
DROP POLICY IF EXISTS link_preview_cache_users_owner ON link_preview_cache_users;
CREATE POLICY link_preview_cache_users_owner ON link_preview_cache_users FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

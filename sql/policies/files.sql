-- files: the owner (projection writes) sees every row; a user sees the files of rooms it may read.
-- Downloads further require membership (services/files.py).
DROP POLICY IF EXISTS files_owner ON files;
CREATE POLICY files_owner ON files FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS files_read ON files;
CREATE POLICY files_read ON files FOR SELECT TO gochat_app USING (gochat_can_read(room_id));
GRANT SELECT ON files TO gochat_app;

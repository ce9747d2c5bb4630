-- Profiles are public to every signed-in user (as names are); writes only by the owner (projections).
ALTER TABLE user_profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_profiles FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS user_profiles_owner ON user_profiles;
CREATE POLICY user_profiles_owner ON user_profiles FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS user_profiles_read ON user_profiles;
CREATE POLICY user_profiles_read ON user_profiles FOR SELECT TO gochat_app USING (gochat_uid() IS NOT NULL);
GRANT SELECT ON user_profiles TO gochat_app;

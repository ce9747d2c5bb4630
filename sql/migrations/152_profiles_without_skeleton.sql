-- Issue #18: users registered before usernames' skeletons were recorded (150_people.sql) have
-- none in user_profiles, so look-alike signups were not refused for them. A SQL migration cannot
-- compute a skeleton (UTS #39 data, gochat/auth/confusables.py), and a table update would be lost
-- by a rebuild of the projection (their user.registered events lack it): a starting server appends
-- a `user.skeleton_set` event for each of them instead (gochat/services/skeletons.py). This index
-- holds just the users still waiting, so the check each start makes costs nothing once done.
CREATE INDEX user_profiles_without_skeleton ON user_profiles (user_id) WHERE username_skeleton IS NULL AND NOT erased;

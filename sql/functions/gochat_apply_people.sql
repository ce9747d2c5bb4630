-- Projection "people" (gochat/projections/people.py): profiles beyond the name, and room settings
-- (who may mention @room; link previews on or off).
CREATE OR REPLACE FUNCTION gochat_apply_people(e events) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE e.type
    WHEN 'user.registered' THEN
        INSERT INTO user_profiles (user_id, username, username_norm, display_name, created_at,
                                   username_skeleton, updated_at)
        VALUES (e.stream_id, e.data->>'username', e.data->>'username_norm', e.data->>'display_name',
                e.recorded_at, e.data->>'username_skeleton', e.recorded_at)
        ON CONFLICT (user_id) DO NOTHING;
    WHEN 'user.profile_updated' THEN
        UPDATE user_profiles SET display_name = e.data->>'display_name', updated_at = e.recorded_at
        WHERE user_id = e.stream_id AND NOT erased;
    WHEN 'user.status_set' THEN
        UPDATE user_profiles SET status_text = nullif(e.data->>'text', ''),
            status_emoji = nullif(e.data->>'emoji', ''),
            status_expires_at = (e.data->>'expires_at')::timestamptz, updated_at = e.recorded_at
        WHERE user_id = e.stream_id;
    WHEN 'user.erased' THEN
        -- the old name stays claimed in the log; nothing of the person stays here
        -- as the users projection does (projections/users.py)
        UPDATE user_profiles SET username = 'deleted-' || replace(e.stream_id::text, '-', ''),
            username_norm = 'deleted-' || replace(e.stream_id::text, '-', ''), display_name = 'deleted user',
            erased = true, username_skeleton = NULL, status_text = NULL, status_emoji = NULL,
            status_expires_at = NULL, updated_at = e.recorded_at
        WHERE user_id = e.stream_id;
    WHEN 'user.skeleton_set' THEN
        -- a user registered before skeletons were recorded (services/skeletons.py)
        UPDATE user_profiles SET username_skeleton = e.data->>'username_skeleton'
        WHERE user_id = e.stream_id AND NOT erased;
    WHEN 'room.settings_changed' THEN
        -- each setting the event names (one or both); the other keeps its value
        IF e.data ? 'room_mentions' THEN
            INSERT INTO room_settings (room_id, room_mentions) VALUES (e.stream_id, e.data->>'room_mentions')
            ON CONFLICT (room_id) DO UPDATE SET room_mentions = EXCLUDED.room_mentions;
        END IF;
        IF e.data ? 'link_previews' THEN
            INSERT INTO room_link_previews (room_id, enabled) VALUES (e.stream_id, (e.data->>'link_previews')::boolean)
            ON CONFLICT (room_id) DO UPDATE SET enabled = EXCLUDED.enabled;
        END IF;
    ELSE
        NULL;
    END CASE;
END
$$;

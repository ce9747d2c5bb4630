-- The moderation projection's rules (gochat/moderation/projection.py).
CREATE OR REPLACE FUNCTION gochat_apply_moderation(e events) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE e.type
    WHEN 'member.muted' THEN
        INSERT INTO room_mutes (room_id, user_id, until, muted_by)
        VALUES (e.stream_id, (e.data->>'user_id')::uuid,
                e.recorded_at + (e.data->>'minutes')::int * interval '1 minute', e.actor_id)
        ON CONFLICT (room_id, user_id) DO UPDATE SET until = EXCLUDED.until, muted_by = EXCLUDED.muted_by;
    WHEN 'member.unmuted' THEN
        DELETE FROM room_mutes WHERE room_id = e.stream_id AND user_id = (e.data->>'user_id')::uuid;
    WHEN 'room.slow_mode_set' THEN
        INSERT INTO room_moderation (room_id, slow_mode_seconds) VALUES (e.stream_id, (e.data->>'seconds')::int)
        ON CONFLICT (room_id) DO UPDATE SET slow_mode_seconds = EXCLUDED.slow_mode_seconds;
    WHEN 'message.reported' THEN
        INSERT INTO reports (id, room_id, message_id, reporter, reason, created_at)
        VALUES (e.id, e.stream_id, (e.data->>'message_id')::bigint, e.actor_id, e.data->>'reason', e.recorded_at)
        ON CONFLICT (id) DO NOTHING;
    WHEN 'report.resolved' THEN
        UPDATE reports SET state = 'resolved', action = e.data->>'action', resolved_by = e.actor_id,
                           resolved_at = e.recorded_at
        WHERE id = (e.data->>'report_id')::bigint AND room_id = e.stream_id;
    WHEN 'message.pinned' THEN
        INSERT INTO pins (room_id, message_id, pinned_by, pinned_at)
        VALUES (e.stream_id, (e.data->>'message_id')::bigint, e.actor_id, e.recorded_at)
        ON CONFLICT DO NOTHING;
    WHEN 'message.unpinned' THEN
        DELETE FROM pins WHERE room_id = e.stream_id AND message_id = (e.data->>'message_id')::bigint;
    WHEN 'user.admin_set' THEN
        IF (e.data->>'admin')::boolean THEN
            INSERT INTO server_admins (user_id, since) VALUES (e.stream_id, e.recorded_at) ON CONFLICT DO NOTHING;
        ELSE
            DELETE FROM server_admins WHERE user_id = e.stream_id;
        END IF;
    WHEN 'user.deactivated' THEN
        INSERT INTO deactivated_users (user_id, since) VALUES (e.stream_id, e.recorded_at) ON CONFLICT DO NOTHING;
    WHEN 'user.reactivated' THEN
        DELETE FROM deactivated_users WHERE user_id = e.stream_id;
    WHEN 'user.erased' THEN
        -- the reasons the user wrote in their reports are theirs: they go, the reports stay for the
        -- moderators (the log holds them sealed under the user's destroyed key: events/sealing.py)
        UPDATE reports SET reason = '' WHERE reporter = e.stream_id AND reason <> '';
    END CASE;
END
$$;

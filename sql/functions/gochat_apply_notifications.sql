-- Projection "notifications" (gochat/projections/notifications.py), a follower of the log. Every
-- input of "who is notified" (levels, do-not-disturb, blocks) is a table of this projection, so
-- the rows depend on the log's order alone; memberships (projection "rooms") are read with their
-- since_id, and leaving drops the leaver's notifications of the room, so a rebuild gives the same.
CREATE OR REPLACE FUNCTION gochat_apply_notifications(e events) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    mid bigint;
    other uuid;
BEGIN
    CASE e.type
    WHEN 'message.posted' THEN
        IF e.actor_id IN (SELECT u.id FROM users u WHERE u.erased) THEN
            RETURN;  -- a rebuild after the author's erasure: their messages are tombstones
        END IF;
        -- most posts notify nobody (no mention, not a group, nobody at level `all`): three index
        -- probes instead of the targets query, since this runs for every message of the log
        IF jsonb_typeof(e.data->'mentions') = 'array'
           OR EXISTS (SELECT 1 FROM rooms r WHERE r.id = e.stream_id AND r.type = 'group')
           OR EXISTS (SELECT 1 FROM notification_levels l WHERE l.room_id = e.stream_id AND l.level = 'all') THEN
            INSERT INTO notifications (user_id, message_id, room_id, actor_id, reason, created_at, event_id, silent)
            SELECT t.user_id, e.id, e.stream_id, e.actor_id, t.reason, e.recorded_at, e.id,
                   coalesce((SELECT p.dnd_until > e.recorded_at FROM notification_prefs p
                             WHERE p.user_id = t.user_id), false)
            FROM gochat_notification_targets(e.stream_id, e.actor_id, e.id, e.data->'mentions', e.data->'here') t
            ON CONFLICT DO NOTHING;
        END IF;
        -- writing in a room reads it (as the receipts projection moves the author's marker)
        UPDATE notifications SET read = true
        WHERE user_id = e.actor_id AND room_id = e.stream_id AND message_id < e.id AND NOT read;
    WHEN 'message.edited' THEN
        IF e.actor_id IN (SELECT u.id FROM users u WHERE u.erased) THEN
            RETURN;
        END IF;
        mid := (e.data->>'message_id')::bigint;
        -- only its author's edit of a message before it, not deleted. `messages` (history) may be
        -- ahead of this projection, but a message deleted later loses its notifications then anyway
        IF mid >= e.id OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = e.stream_id AND m.id = mid
                                      AND m.user_id = e.actor_id AND NOT m.deleted) THEN
            RETURN;
        END IF;
        -- the notifications of the message become those of its new text: dropped for whoever it no
        -- longer names, added (unread, delivered again by event_id) for whoever it names now
        WITH t AS (SELECT x.user_id, x.reason
                   FROM gochat_notification_targets(e.stream_id, e.actor_id, mid, e.data->'mentions',
                                                    e.data->'here') x),
        gone AS (DELETE FROM notifications n
                 WHERE n.message_id = mid AND n.room_id = e.stream_id AND n.user_id NOT IN (SELECT t.user_id FROM t))
        INSERT INTO notifications (user_id, message_id, room_id, actor_id, reason, created_at, event_id, silent)
        SELECT t.user_id, mid, e.stream_id, e.actor_id, t.reason, e.recorded_at, e.id,
               coalesce((SELECT p.dnd_until > e.recorded_at FROM notification_prefs p WHERE p.user_id = t.user_id),
                        false)
        FROM t
        ON CONFLICT (user_id, message_id) DO UPDATE
            SET reason = EXCLUDED.reason, event_id = EXCLUDED.event_id, read = false, silent = EXCLUDED.silent
            WHERE notifications.reason <> EXCLUDED.reason;
    WHEN 'message.deleted' THEN
        DELETE FROM notifications WHERE message_id = (e.data->>'message_id')::bigint AND room_id = e.stream_id;
    WHEN 'receipt.read' THEN
        UPDATE notifications SET read = true
        WHERE user_id = e.actor_id AND room_id = e.stream_id AND message_id <= (e.data->>'message_id')::bigint
          AND NOT read;
    WHEN 'member.left', 'member.kicked', 'member.banned' THEN
        DELETE FROM notifications WHERE user_id = (e.data->>'user_id')::uuid AND room_id = e.stream_id;
    WHEN 'user.erased' THEN
        DELETE FROM notifications WHERE user_id = e.stream_id OR actor_id = e.stream_id;
        DELETE FROM notification_levels WHERE user_id = e.stream_id;
        DELETE FROM notification_prefs WHERE user_id = e.stream_id;
        DELETE FROM blocks WHERE user_id = e.stream_id OR blocked_id = e.stream_id;
    WHEN 'notification.level_set' THEN
        INSERT INTO notification_levels (user_id, room_id, level)
        VALUES (e.stream_id, (e.data->>'room_id')::uuid, e.data->>'level')
        ON CONFLICT (user_id, room_id) DO UPDATE SET level = EXCLUDED.level;
    WHEN 'notification.read' THEN
        UPDATE notifications SET read = true
        WHERE user_id = e.stream_id AND message_id = (e.data->>'message_id')::bigint;
    WHEN 'notification.read_all' THEN
        UPDATE notifications SET read = true
        WHERE user_id = e.stream_id AND message_id <= (e.data->>'up_to')::bigint AND NOT read;
    WHEN 'user.dnd_set' THEN
        INSERT INTO notification_prefs (user_id, dnd_until) VALUES (e.stream_id, (e.data->>'until')::timestamptz)
        ON CONFLICT (user_id) DO UPDATE SET dnd_until = EXCLUDED.dnd_until;
    WHEN 'user.blocked' THEN
        other := (e.data->>'user_id')::uuid;
        INSERT INTO blocks (user_id, blocked_id, created_at) VALUES (e.stream_id, other, e.recorded_at)
        ON CONFLICT DO NOTHING;
        DELETE FROM notifications WHERE user_id = e.stream_id AND actor_id = other;
    WHEN 'user.unblocked' THEN
        DELETE FROM blocks WHERE user_id = e.stream_id AND blocked_id = (e.data->>'user_id')::uuid;
    ELSE
        NULL;
    END CASE;
END
$$;

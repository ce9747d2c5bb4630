-- Who a message (or its edit) notifies, and why: one row per recipient with the strongest reason
-- (mention > here > room > dm > message). Candidates: the users mentioned by name, the members
-- online at send time (@here), every member (@room), and the members whose level for the room is
-- `all` (no level set: `all` in group rooms and DMs, `mentions` elsewhere). Kept: members joined
-- before the message (`at_id`), not the author, not muting the room, not blocking the author.
CREATE OR REPLACE FUNCTION gochat_notification_targets(room uuid, actor uuid, at_id bigint, mentions jsonb,
                                                       here jsonb)
RETURNS TABLE (user_id uuid, reason text)
LANGUAGE sql STABLE AS $$
    -- a DM: a group room created for two (its member set, fixed at creation, is in group_key)
    WITH r AS (SELECT rr.type, rr.type = 'group' AND rr.group_key NOT LIKE '%,%,%' AS dm FROM rooms rr WHERE rr.id = room),
    ments AS (SELECT m FROM jsonb_array_elements(CASE jsonb_typeof(mentions) WHEN 'array' THEN mentions
                                                     ELSE '[]'::jsonb END) AS m),
    cand AS (
        SELECT (m->>'user_id')::uuid AS uid, 1 AS pri, 'mention' AS why FROM ments WHERE m->>'kind' = 'user'
        UNION ALL
        SELECT h::uuid, 2, 'here'
        FROM jsonb_array_elements_text(CASE jsonb_typeof(here) WHEN 'array' THEN here ELSE '[]'::jsonb END) AS h
        UNION ALL
        SELECT ms.user_id, 3, 'room' FROM memberships ms
        WHERE ms.room_id = room AND ms.state = 'joined' AND EXISTS (SELECT 1 FROM ments WHERE m->>'kind' = 'room')
        UNION ALL
        SELECT ms.user_id, CASE WHEN r.dm THEN 4 ELSE 5 END, CASE WHEN r.dm THEN 'dm' ELSE 'message' END
        FROM memberships ms CROSS JOIN r
        WHERE ms.room_id = room AND ms.state = 'joined'
          AND coalesce((SELECT l.level FROM notification_levels l WHERE l.user_id = ms.user_id AND l.room_id = room),
                       CASE WHEN r.type = 'group' THEN 'all' ELSE 'mentions' END) = 'all'
    )
    SELECT DISTINCT ON (c.uid) c.uid, c.why
    FROM cand c
    JOIN memberships ms ON ms.room_id = room AND ms.user_id = c.uid AND ms.state = 'joined' AND ms.since_id < at_id
    CROSS JOIN r
    WHERE c.uid IS DISTINCT FROM actor
      AND coalesce((SELECT l.level FROM notification_levels l WHERE l.user_id = c.uid AND l.room_id = room),
                   CASE WHEN r.type = 'group' THEN 'all' ELSE 'mentions' END) <> 'muted'
      AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = c.uid AND b.blocked_id = actor)
    ORDER BY c.uid, c.pri
$$;

-- Notifications (step 12): projection "notifications" (gochat/projections/notifications.py, rules in
-- sql/functions/gochat_apply_notifications.sql), a follower of the log: it reads message.posted.
-- Everything that decides who is notified lives in this projection (levels, do-not-disturb,
-- blocks), so applying the log in order always gives the same rows.

-- One row per (recipient, message). reason: mention | here | room | dm | message. event_id: the
-- event that created it or last changed its reason (delivery finds what a page of events added).
CREATE TABLE notifications (
    user_id     uuid        NOT NULL,
    message_id  bigint      NOT NULL,
    room_id     uuid        NOT NULL,
    actor_id    uuid,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    event_id    bigint      NOT NULL,
    read        boolean     NOT NULL DEFAULT false,
    -- the recipient was in do-not-disturb: kept and counted, never pushed
    silent      boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, message_id)
);
CREATE INDEX notifications_room_unread ON notifications (user_id, room_id, message_id) WHERE NOT read;
CREATE INDEX notifications_message ON notifications (message_id);
CREATE INDEX notifications_event ON notifications (event_id);

-- Per-room level: all | mentions | muted (no row: all in group rooms and DMs, mentions elsewhere).
CREATE TABLE notification_levels (
    user_id uuid NOT NULL,
    room_id uuid NOT NULL,
    level   text NOT NULL CHECK (level IN ('all', 'mentions', 'muted')),
    PRIMARY KEY (user_id, room_id)
);
-- "does anyone want every message of this room", asked for every post
CREATE INDEX notification_levels_room_all ON notification_levels (room_id) WHERE level = 'all';

-- Do-not-disturb until (infinity: until turned off).
CREATE TABLE notification_prefs (
    user_id     uuid        PRIMARY KEY,
    dnd_until   timestamptz
);

-- user_id blocked blocked_id.
CREATE TABLE blocks (
    user_id     uuid        NOT NULL,
    blocked_id  uuid        NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id, user_id);

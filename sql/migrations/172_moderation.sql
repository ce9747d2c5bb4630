-- Moderation (step 15): the moderation projection (gochat/moderation/projection.py, rules in
-- sql/functions/gochat_apply_moderation.sql). Every row is a function of the log.

-- Slow mode: one message per `slow_mode_seconds` per member (0: off).
CREATE TABLE room_moderation (
    room_id             uuid    PRIMARY KEY,
    slow_mode_seconds   int     NOT NULL DEFAULT 0
);

-- Muted members, until a time (the mute's event time + its minutes).
CREATE TABLE room_mutes (
    room_id     uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    until       timestamptz NOT NULL,
    muted_by    uuid,
    PRIMARY KEY (room_id, user_id)
);

-- Message reports: `id` is the message.reported event's id.
CREATE TABLE reports (
    id          bigint      PRIMARY KEY,
    room_id     uuid        NOT NULL,
    message_id  bigint      NOT NULL,
    reporter    uuid        NOT NULL,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    state       text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    action      text,
    resolved_by uuid,
    resolved_at timestamptz
);
CREATE INDEX reports_room ON reports (room_id, state, id);

CREATE TABLE pins (
    room_id     uuid        NOT NULL,
    message_id  bigint      NOT NULL,
    pinned_by   uuid,
    pinned_at   timestamptz NOT NULL,
    PRIMARY KEY (room_id, message_id)
);

-- Server administrators (set by `gochat users admin`) and deactivated accounts.
CREATE TABLE server_admins (
    user_id     uuid        PRIMARY KEY,
    since       timestamptz NOT NULL
);
CREATE TABLE deactivated_users (
    user_id     uuid        PRIMARY KEY,
    since       timestamptz NOT NULL
);

ALTER TABLE room_moderation ENABLE ROW LEVEL SECURITY;
ALTER TABLE room_moderation FORCE ROW LEVEL SECURITY;
ALTER TABLE room_mutes ENABLE ROW LEVEL SECURITY;
ALTER TABLE room_mutes FORCE ROW LEVEL SECURITY;
ALTER TABLE reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE reports FORCE ROW LEVEL SECURITY;
ALTER TABLE pins ENABLE ROW LEVEL SECURITY;
ALTER TABLE pins FORCE ROW LEVEL SECURITY;

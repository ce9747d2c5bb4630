-- Projection "presence": each user's last known status and when they were last seen.
CREATE TABLE presence (
    user_id     uuid        PRIMARY KEY,
    status      text        NOT NULL CHECK (status IN ('online', 'offline')),
    -- when the user was last connected: the time of the change that took them offline (or online)
    last_seen   timestamptz NOT NULL,
    stream_version integer  NOT NULL
);
CREATE INDEX presence_online ON presence (user_id) WHERE status = 'online';

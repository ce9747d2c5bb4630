-- People (step 12): profiles beyond the name, room settings, mention entities on messages, and the
-- indexes of the user directory. Projection "people" (gochat/projections/people.py, rules in
-- sql/functions/gochat_apply_people.sql); policies in sql/policies/.

-- One row per registered user: their public face (a copy of the users projection's public columns,
-- so the directory reads as gochat_app under row-level security without any grant on `users`,
-- which holds password hashes), the skeleton (UTS #39) of their username, which display names are
-- compared against (impersonation), and their status, shown until it expires.
CREATE TABLE user_profiles (
    user_id             uuid        PRIMARY KEY,
    username            text        NOT NULL,
    username_norm       text        NOT NULL,
    display_name        text        NOT NULL,
    created_at          timestamptz NOT NULL,
    erased              boolean     NOT NULL DEFAULT false,
    username_skeleton   text,
    status_text         text,
    status_emoji        text,
    status_expires_at   timestamptz,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX user_profiles_skeleton ON user_profiles (username_skeleton);
-- The directory's prefix search (GET /users/search) and mentions by name.
CREATE INDEX user_profiles_username ON user_profiles (username_norm text_pattern_ops) WHERE NOT erased;
CREATE INDEX user_profiles_display ON user_profiles (lower(display_name) text_pattern_ops) WHERE NOT erased;

-- Per-room settings beyond name and topic: who may mention @room.
CREATE TABLE room_settings (
    room_id         uuid    PRIMARY KEY,
    room_mentions   text    NOT NULL DEFAULT 'admins' CHECK (room_mentions IN ('admins', 'members'))
);

-- Mention entities of a message (history projection): [{"kind", "offset", "length", "user_id"?}].
ALTER TABLE messages ADD COLUMN mentions jsonb;

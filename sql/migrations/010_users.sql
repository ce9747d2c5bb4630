-- The users projection (gochat/projections/users.py): one row per registered user, rebuilt from
-- user.* events. Uniqueness of names is decided in the log (a username's claim stream); the
-- UNIQUE index here is a second line of defence and the lookup index for login.
CREATE TABLE users (
    id              uuid        PRIMARY KEY,
    username        text        NOT NULL,
    username_norm   text        NOT NULL,
    display_name    text        NOT NULL,
    -- argon2id PHC string; NULL once the user is erased
    password_hash   text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    erased          boolean     NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX users_username_norm ON users (username_norm);

-- Bots (step 15): bot users and their API tokens.
--
-- `bots` is the bots projection (gochat/projections/bots.py, rules in
-- sql/functions/gochat_apply_bots.sql): which users are bots and who made them. A bot is also an
-- ordinary row of `users` (registered without a password), so it speaks the same API as people.
CREATE TABLE bots (
    user_id     uuid        PRIMARY KEY,
    created_by  uuid        NOT NULL,
    room_id     uuid,
    created_at  timestamptz NOT NULL
);
CREATE INDEX bots_created_by ON bots (created_by);

-- Bot API tokens: not events (secrets that come and go, like login sessions in 011). Only the
-- SHA-256 of a token is stored (256 random bits: no salt or slow hash needed); `rooms` NULL means
-- every room the bot is a member of; `scopes` are the actions allowed ('read', 'write').
CREATE TABLE bot_tokens (
    id          uuid        PRIMARY KEY,
    bot_id      uuid        NOT NULL,
    name        text        NOT NULL,
    token_hash  bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    rooms       uuid[],
    scopes      text[]      NOT NULL,
    created_by  uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX bot_tokens_bot ON bot_tokens (bot_id);

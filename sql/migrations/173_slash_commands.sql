-- Slash commands registered by bots (step 15): per room, a name the bot answers at its URL.
-- Configuration, not events: `secret` signs the calls (as webhooks' do).
CREATE TABLE slash_commands (
    room_id     uuid        NOT NULL,
    name        text        NOT NULL,
    bot_id      uuid        NOT NULL,
    description text        NOT NULL,
    usage       text        NOT NULL DEFAULT '',
    url         text        NOT NULL,
    secret      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, name)
);
ALTER TABLE slash_commands ENABLE ROW LEVEL SECURITY;
ALTER TABLE slash_commands FORCE ROW LEVEL SECURITY;

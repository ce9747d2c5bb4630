-- Server-wide bots (step 15, issue #21): a bot made by an operator at the command line
-- (`gochat bots create`) has no maker among the users, nor has a token issued there
-- (`gochat bots token`): NULL. A server-wide bot is one with `room_id` NULL (no new column).
ALTER TABLE bots ALTER COLUMN created_by DROP NOT NULL;
ALTER TABLE bot_tokens ALTER COLUMN created_by DROP NOT NULL;

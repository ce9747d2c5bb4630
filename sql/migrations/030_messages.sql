-- Message history and reactions (projection "history"), read markers and unread counts
-- (projection "receipts"). Row-level security as in 020_rooms.sql.

-- One row per message.posted event; `id` is that event's id, the message_id clients see.
-- A deleted message stays as a tombstone: id, author and timestamps kept, content '' and
-- attachments gone, so the original text is served by no route.
CREATE TABLE messages (
    room_id         uuid        NOT NULL,
    id              bigint      NOT NULL,
    user_id         uuid,
    content         text        NOT NULL,
    created_at      timestamptz NOT NULL,
    edited_at       timestamptz,
    deleted         boolean     NOT NULL DEFAULT false,
    -- the id of the message.deleted event that made the tombstone: lets the receipts projection
    -- ask "was it deleted as of event E" while history runs ahead of it in a rebuild
    deleted_id      bigint,
    -- replies: the top-level message they answer (threads are one level deep)
    thread_root     bigint,
    -- roots: replies not deleted, and the newest reply ever posted
    reply_count     integer     NOT NULL DEFAULT 0,
    last_reply_id   bigint,
    client_msg_id   text,
    attachments     jsonb,
    -- Pages of history are range scans of this index, whatever the room's size.
    PRIMARY KEY (room_id, id)
);
CREATE INDEX messages_thread ON messages (room_id, thread_root, id) WHERE thread_root IS NOT NULL;

-- Who reacted with what; counts per emoji are computed per page from this primary key.
-- added_id (the event's id) orders a message's emoji by first use.
CREATE TABLE reactions (
    room_id     uuid    NOT NULL,
    message_id  bigint  NOT NULL,
    emoji       text    NOT NULL,
    user_id     uuid    NOT NULL,
    added_id    bigint  NOT NULL,
    PRIMARY KEY (room_id, message_id, emoji, user_id)
);

-- One row per joined member of a room: how far they have read, and how many messages after that
-- they have not. (080_unread_counters.sql replaced unread_count with per-room counters; these
-- were the rules until then.) Kept by the projection, never counted over history at read time:
-- - message.posted by A: +1 for every other member; A's own marker moves to the new message and
--   A's count drops to 0 (writing in a room means having read it, as Slack and Zulip do).
-- - receipt.read X: marker = max(marker, X); the count is recounted over the messages after the
--   new marker (not the reader's, not deleted): a window no larger than the badge it replaces.
-- - message.deleted: -1 for every member whose marker is below it and who did not write it.
-- - member.joined: a row with the marker on the room's newest message and 0 unread.
-- - member.left / kicked / banned: the row goes.
-- Thread replies count like any message (history shows them too).
CREATE TABLE receipts (
    room_id         uuid    NOT NULL,
    user_id         uuid    NOT NULL,
    last_read_id    bigint  NOT NULL DEFAULT 0,
    unread_count    integer NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
    PRIMARY KEY (room_id, user_id)
);

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
ALTER TABLE reactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE reactions FORCE ROW LEVEL SECURITY;
ALTER TABLE receipts ENABLE ROW LEVEL SECURITY;
ALTER TABLE receipts FORCE ROW LEVEL SECURITY;

CREATE POLICY messages_owner ON messages FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY reactions_owner ON reactions FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY receipts_owner ON receipts FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
-- Content of rooms the caller may read; markers: the caller's own only (gochat_uid() is NULL
-- when app.user_id is unset, so every policy then returns nothing).
CREATE POLICY messages_read ON messages FOR SELECT TO gochat_app USING (gochat_can_read(room_id));
CREATE POLICY reactions_read ON reactions FOR SELECT TO gochat_app USING (gochat_can_read(room_id));
CREATE POLICY receipts_read ON receipts FOR SELECT TO gochat_app USING (user_id = gochat_uid());

GRANT SELECT ON messages, reactions, receipts TO gochat_app;

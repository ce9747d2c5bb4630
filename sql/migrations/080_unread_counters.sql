-- Unread counts kept per room instead of per member (projection "receipts"): a message now writes
-- one counter row for its room and one receipt row (its author's), not one row per member.
--
-- room_message_counts.live_count: the room's messages not deleted. receipts.seen_count: those of
-- them at or below the member's marker. A member's unread count is live_count - seen_count: every
-- live message after the marker, because an author's own messages are always at or below their
-- marker (posting moves it). The rules, as of the event applied:
-- - message.posted: live_count + 1; the author's marker moves to it and seen_count is the room's
--   live count up to that message.
-- - receipt.read X (forward only): marker = X; seen_count = live_count minus the live messages
--   after X (a window no larger than the badge it replaces).
-- - message.deleted (the event that made the tombstone): live_count - 1, and seen_count - 1 for
--   every member whose marker is at or above the message.
-- - member.joined: the marker on the room's newest message, seen_count = live_count (0 unread).
-- - member.left / kicked / banned: the receipt goes.
-- - user.erased: as message.deleted for each message it tombstoned; the user's receipts go.
CREATE TABLE room_message_counts (
    room_id     uuid    PRIMARY KEY,
    live_count  bigint  NOT NULL DEFAULT 0 CHECK (live_count >= 0)
);

-- Existing counts carried over unchanged: seen = live - unread.
INSERT INTO room_message_counts (room_id, live_count)
SELECT room_id, count(*) FROM messages WHERE NOT deleted GROUP BY room_id;
ALTER TABLE receipts ADD COLUMN seen_count bigint NOT NULL DEFAULT 0;
UPDATE receipts r
SET seen_count = coalesce((SELECT c.live_count FROM room_message_counts c WHERE c.room_id = r.room_id), 0) - r.unread_count;
ALTER TABLE receipts DROP COLUMN unread_count;

ALTER TABLE room_message_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE room_message_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY room_message_counts_owner ON room_message_counts FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY room_message_counts_read ON room_message_counts FOR SELECT TO gochat_app
    USING (gochat_can_read(room_id));
GRANT SELECT ON room_message_counts TO gochat_app;

-- Link previews follow a message's edits (gochat/previews/, docs/api.md "Link previews"): an edit
-- keeps the previews of the links its text still has, drops the others, and queues the new ones.
-- `messages.edited_id`: the message.edited event whose text the message shows (NULL: as posted);
-- the history projection applies a `message.link_preview` only when it previews that text.
-- Messages edited before this migration keep NULL: a preview still due for them applies as before.
ALTER TABLE messages ADD COLUMN edited_id bigint;
-- `link_preview_jobs.edit_id`: the edit whose text a job previews (NULL: the message as posted); an
-- edit replaces the message's job, and the previewer's `done` removes only its own.
ALTER TABLE link_preview_jobs ADD COLUMN edit_id bigint;

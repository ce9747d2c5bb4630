-- The webhook_outbox follower's rule (gochat/webhooks/outbox.py): an event of a room queues one
-- delivery per live webhook of that room that chose its type and was made before it.
-- Rows of a webhook deleted since are skipped; ON CONFLICT makes a replay of the same event a no-op.
CREATE OR REPLACE FUNCTION gochat_apply_webhook_outbox(e events) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, event_id, room_id, next_attempt_at, updated_at)
    SELECT w.id, e.id, e.stream_id, e.recorded_at, e.recorded_at
    FROM webhooks w
    WHERE w.room_id = e.stream_id AND w.deleted_at IS NULL AND e.type = ANY (w.event_types)
      AND e.id > w.since_event_id
    ON CONFLICT DO NOTHING;
END
$$;

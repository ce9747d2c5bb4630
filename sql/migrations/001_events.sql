-- The append-only event log: the single source of truth. Everything else is a projection of it.
CREATE TABLE events (
    -- Global position, gapless and visible in commit order (see gochat/events/store.py).
    id              bigint      PRIMARY KEY,
    -- The stream: a room id for room events, a user id for user events.
    stream_id       uuid        NOT NULL,
    -- Position within the stream, 1, 2, 3...: optimistic concurrency and per-room gap detection.
    version         integer     NOT NULL CHECK (version > 0),
    type            text        NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    schema_version  smallint    NOT NULL CHECK (schema_version > 0),
    data            jsonb       NOT NULL,
    -- actor user id, client_msg_id, node, trace id
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    actor_id        uuid,
    client_msg_id   text        CHECK (char_length(client_msg_id) <= 64),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);

-- Idempotency: one event per (actor, stream, client_msg_id); a retry finds the original.
CREATE UNIQUE INDEX events_idempotency ON events (actor_id, stream_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
CREATE INDEX events_type_id ON events (type, id);
-- Resume and per-room reads: the events of some rooms after a global position.
CREATE INDEX events_stream_id ON events (stream_id, id);
CREATE INDEX events_recorded_at ON events USING brin (recorded_at);

-- Append-only, enforced by the database itself: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

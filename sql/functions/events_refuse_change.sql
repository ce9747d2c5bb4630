-- The event log is append-only, enforced by the database itself (sql/triggers/events_no_*.sql call
-- this): no UPDATE, DELETE or TRUNCATE, whoever asks.
--
-- One exception, asked for explicitly (`SET LOCAL gochat.reseal = 'on'`, by gochat/events/reseal.py
-- only): an UPDATE of `data` alone, which seals an event's personal fields written before they were
-- sealed (docs/operations.md, "Keys"), or blanks them for an erased user. Every other column must
-- stay as it was, so ids, order, versions and idempotency keys never change.
CREATE OR REPLACE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('gochat.reseal', true) = 'on' THEN
        IF (NEW.id, NEW.stream_id, NEW.version, NEW.type, NEW.schema_version, NEW.metadata, NEW.actor_id,
            NEW.client_msg_id, NEW.recorded_at)
           IS NOT DISTINCT FROM (OLD.id, OLD.stream_id, OLD.version, OLD.type, OLD.schema_version, OLD.metadata,
                                 OLD.actor_id, OLD.client_msg_id, OLD.recorded_at) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- gochat_apply_events for events whose personal fields the log stores sealed (gochat/events/sealing.py):
-- `opened` maps an event id (as text) to its data opened in Python, which replaces the stored data
-- before the rule function sees the row. Events not in `opened` are applied as stored.
CREATE OR REPLACE FUNCTION gochat_apply_opened(fn regproc, ids bigint[], opened jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    e events;
BEGIN
    FOR e IN SELECT * FROM events WHERE id = ANY(ids) ORDER BY id LOOP
        IF opened ? e.id::text THEN
            e.data := opened -> e.id::text;
        END IF;
        EXECUTE format('SELECT %s($1)', fn) USING e;
    END LOOP;
END
$$;

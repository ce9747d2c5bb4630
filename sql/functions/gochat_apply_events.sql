-- Applies one SqlProjection's rule function (projections/base.py) to the given events in id order:
-- the batch path of every projection written in SQL, so a batch equals one-by-one by construction.
CREATE OR REPLACE FUNCTION gochat_apply_events(fn regproc, ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    e events;
BEGIN
    FOR e IN SELECT * FROM events WHERE id = ANY(ids) ORDER BY id LOOP
        EXECUTE format('SELECT %s($1)', fn) USING e;
    END LOOP;
END
$$;

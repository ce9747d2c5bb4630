-- The row-level security checks of 020_rooms.sql, same rules, made cheap enough to run per row.
--
-- Every row a gochat_app query returns from a room-scoped table calls one of these. As SQL-language
-- SECURITY DEFINER functions they are never inlined, and a nested call (gochat_can_see calling
-- gochat_can_read) is parsed and planned again on every call: ~100 us a row, 20+ ms for a user's
-- 200 rooms. PL/pgSQL keeps its plans for the session, so a call costs a few microseconds.
-- No SET search_path clause (it costs a GUC save/restore per call, per row): every name is
-- schema-qualified instead, and pg_catalog is searched first for operators and functions anyway.

CREATE OR REPLACE FUNCTION gochat_can_read(room uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
DECLARE
    uid uuid := public.gochat_uid();
    st text;
BEGIN
    IF uid IS NULL THEN
        RETURN false;
    END IF;
    SELECT m.state INTO st FROM public.memberships m WHERE m.room_id = room AND m.user_id = uid;
    IF st = 'joined' THEN
        RETURN true;
    END IF;
    -- anyone but the banned reads a public room
    RETURN st IS DISTINCT FROM 'banned'
        AND EXISTS (SELECT 1 FROM public.rooms r WHERE r.id = room AND r.type = 'public');
END
$$;

CREATE OR REPLACE FUNCTION gochat_can_see(room uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
DECLARE
    uid uuid := public.gochat_uid();
    st text;
BEGIN
    IF uid IS NULL THEN
        RETURN false;
    END IF;
    SELECT m.state INTO st FROM public.memberships m WHERE m.room_id = room AND m.user_id = uid;
    IF st IN ('joined', 'invited') THEN
        RETURN true;
    END IF;
    -- a public room is visible to all, the banned included (they are told "banned")
    RETURN EXISTS (SELECT 1 FROM public.rooms r WHERE r.id = room AND r.type = 'public');
END
$$;

-- May the caller read this room's content? A joined member, or anyone not banned for a public
-- room. SECURITY DEFINER so policies on memberships can call it without recursing into themselves.
--
-- Every row a gochat_app query returns from a room-scoped table calls this (or gochat_can_see).
-- PL/pgSQL keeps its plans for the session, so a call costs a few microseconds; an SQL-language
-- SECURITY DEFINER function is never inlined and was planned again on every call (figures in
-- docs/benchmarks.md, sql/migrations/031).
-- No SET search_path clause (it costs a GUC save/restore per call, per row): every name is
-- schema-qualified instead, and pg_catalog is searched first for operators and functions anyway.
--
-- COST 10000: the planner's price for an index lookup or two. At the default (100) it preferred
-- checking every room in the table and hash-joining the caller's memberships to them over looking
-- up the caller's rooms by key (GET /rooms; docs/benchmarks.md, sql/migrations/071).
CREATE OR REPLACE FUNCTION gochat_can_read(room uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER COST 10000 AS $$
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

GRANT EXECUTE ON FUNCTION gochat_can_read(uuid) TO gochat_app;

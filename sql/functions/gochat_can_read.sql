-- May the caller read this room's content? A joined member, or anyone not banned for a public
-- room. SECURITY DEFINER so policies on memberships can call it without recursing into themselves.
--
-- Every row a gochat_app query returns from a room-scoped table calls this (or gochat_can_see).
-- PL/pgSQL keeps its plans for the session, so a call costs a few microseconds; an SQL-language
-- SECURITY DEFINER function is never inlined and was planned again on every call (figures in
-- docs/benchmarks.md, sql/migrations/031).
-- SET search_path (step 9): a SECURITY DEFINER function runs with its owner's rights, so it must
-- not resolve a name through the caller's search_path. Every name here is schema-qualified, so
-- only pg_catalog (operators, built-ins) is searched, and pg_temp last, so no temporary object can
-- stand in for one. It costs a GUC save/restore per call (per row); the check's safety comes first
-- (docs/benchmarks.md had the figures without it). Only the app role may call it.
--
-- COST 10000: the planner's price for an index lookup or two. At the default (100) it preferred
-- checking every room in the table and hash-joining the caller's memberships to them over looking
-- up the caller's rooms by key (GET /rooms; docs/benchmarks.md, sql/migrations/071).
CREATE OR REPLACE FUNCTION gochat_can_read(room uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER COST 10000 SET search_path = pg_catalog, pg_temp AS $$
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

REVOKE ALL ON FUNCTION gochat_can_read(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gochat_can_read(uuid) TO gochat_app;

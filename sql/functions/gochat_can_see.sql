-- May the caller know the room exists (its name, members)? Readers, invited users, and for a
-- public room anyone (a banned user is told "banned", not "no such room").
-- PL/pgSQL, no SET search_path, COST 10000, SECURITY DEFINER: read why in gochat_can_read.sql.
CREATE OR REPLACE FUNCTION gochat_can_see(room uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER COST 10000 AS $$
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

GRANT EXECUTE ON FUNCTION gochat_can_see(uuid) TO gochat_app;

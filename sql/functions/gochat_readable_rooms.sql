-- The rooms whose content the caller reads now: the set form of gochat_can_read (same rules;
-- a test holds them equal for every room type and membership state).
CREATE OR REPLACE FUNCTION gochat_readable_rooms() RETURNS SETOF uuid
    LANGUAGE sql STABLE AS $$
    SELECT m.room_id FROM public.memberships m WHERE m.user_id = public.gochat_uid() AND m.state = 'joined'
    UNION
    SELECT r.id FROM public.rooms r
    WHERE r.type = 'public' AND public.gochat_uid() IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM public.memberships b
                      WHERE b.room_id = r.id AND b.user_id = public.gochat_uid() AND b.state = 'banned')
$$;

GRANT EXECUTE ON FUNCTION gochat_readable_rooms() TO gochat_app;

-- Rooms and membership (projection "rooms"), and the row-level security every room-scoped
-- projection table uses.

-- The role user-facing queries run as (SET LOCAL ROLE inside each read transaction): not the
-- owner, not a superuser, no BYPASSRLS, so row-level security always applies to it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gochat_app') THEN
        CREATE ROLE gochat_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database of this cluster created it at the same moment
END
$$;
DO $$
BEGIN
    EXECUTE format('GRANT gochat_app TO %I', current_user);
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot grant gochat_app to %; reads will fail until an admin does', current_user;
END
$$;
GRANT USAGE ON SCHEMA public TO gochat_app;

CREATE TABLE rooms (
    id              uuid        PRIMARY KEY,
    name            text        NOT NULL,
    type            text        NOT NULL CHECK (type IN ('public', 'private', 'group')),
    topic           text        NOT NULL DEFAULT '',
    created_by      uuid,
    created_at      timestamptz NOT NULL,
    -- group rooms: their sorted member ids, so the same set finds the same room
    group_key       text        UNIQUE,
    member_count    integer     NOT NULL DEFAULT 0,
    last_message_id bigint
);
CREATE INDEX rooms_public_name ON rooms (lower(name)) WHERE type = 'public';

CREATE TABLE memberships (
    room_id     uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('joined', 'invited', 'banned')),
    role        text        NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    joined_at   timestamptz,
    -- the log position at which the current state began (joins: for "what a member may see")
    since_id    bigint      NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, room_id) WHERE state = 'joined';

-- The caller, as set per transaction with set_config('app.user_id', ..., true); NULL when unset.
CREATE FUNCTION gochat_uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('app.user_id', true), '')::uuid
$$;

-- May the caller read this room's content? A joined member, or anyone not banned for a public
-- room. SECURITY DEFINER so policies on memberships can call it without recursing into themselves.
CREATE FUNCTION gochat_can_read(room uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT gochat_uid() IS NOT NULL AND (
        EXISTS (SELECT 1 FROM memberships m
                WHERE m.room_id = room AND m.user_id = gochat_uid() AND m.state = 'joined')
        OR EXISTS (SELECT 1 FROM rooms r WHERE r.id = room AND r.type = 'public'
                   AND NOT EXISTS (SELECT 1 FROM memberships b
                                   WHERE b.room_id = room AND b.user_id = gochat_uid() AND b.state = 'banned'))
    )
$$;

-- May the caller know the room exists (its name, members)? Readers, invited users, and for a
-- public room anyone (a banned user is told "banned", not "no such room").
CREATE FUNCTION gochat_can_see(room uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT gochat_uid() IS NOT NULL AND (
        gochat_can_read(room)
        OR EXISTS (SELECT 1 FROM rooms r WHERE r.id = room AND r.type = 'public')
        OR EXISTS (SELECT 1 FROM memberships m
                   WHERE m.room_id = room AND m.user_id = gochat_uid() AND m.state = 'invited'))
$$;

ALTER TABLE rooms ENABLE ROW LEVEL SECURITY;
ALTER TABLE rooms FORCE ROW LEVEL SECURITY;
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;

-- The owner (migrations, the event writer's projections, rebuilds) writes every row.
CREATE POLICY rooms_owner ON rooms FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY memberships_owner ON memberships FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
-- The app role reads only what the caller may see, and writes nothing.
CREATE POLICY rooms_read ON rooms FOR SELECT TO gochat_app USING (gochat_can_see(id));
CREATE POLICY memberships_read ON memberships FOR SELECT TO gochat_app
    USING (user_id = gochat_uid() OR gochat_can_see(room_id));

GRANT SELECT ON rooms, memberships TO gochat_app;
GRANT EXECUTE ON FUNCTION gochat_uid(), gochat_can_read(uuid), gochat_can_see(uuid) TO gochat_app;

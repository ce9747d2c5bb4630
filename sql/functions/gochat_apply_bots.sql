-- The bots projection's rules (gochat/projections/bots.py): one row per bot user.
CREATE OR REPLACE FUNCTION gochat_apply_bots(e events) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE e.type
    WHEN 'bot.created' THEN
        INSERT INTO bots (user_id, created_by, room_id, created_at)
        VALUES (e.stream_id, (e.data->>'created_by')::uuid, (e.data->>'room_id')::uuid, e.recorded_at)
        ON CONFLICT (user_id) DO NOTHING;
    END CASE;
END
$$;

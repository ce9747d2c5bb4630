-- The caller, as set per transaction with set_config('app.user_id', ..., true); NULL when unset.
CREATE OR REPLACE FUNCTION gochat_uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('app.user_id', true), '')::uuid
$$;

GRANT EXECUTE ON FUNCTION gochat_uid() TO gochat_app;

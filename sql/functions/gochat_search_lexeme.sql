-- One lexeme as a tsquery, verbatim (tsquery quoting: '' and \ escaped).
CREATE OR REPLACE FUNCTION gochat_search_lexeme(w text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('''' || replace(replace(w, '\', '\\'), '''', '''''') || '''')::tsquery
$$;

GRANT EXECUTE ON FUNCTION gochat_search_lexeme(text) TO gochat_app;

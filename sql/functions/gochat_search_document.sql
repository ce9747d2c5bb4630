-- A message's search document (projection "search"): the language's stems (weight A), then every
-- word as written (`simple`, weight B: names, stop words, words of other languages). The one-space
-- lexeme, which no parser produces, keeps the halves 256 positions apart, so no phrase spans from
-- the end of one half into the start of the other (queries are capped far below 256 words).
CREATE OR REPLACE FUNCTION gochat_search_document(cfg regconfig, content text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector(cfg, content), 'A') || $gap$' ':256$gap$::tsvector
        || setweight(to_tsvector('simple', content), 'B')
$$;

GRANT EXECUTE ON FUNCTION gochat_search_document(regconfig, text) TO gochat_app;

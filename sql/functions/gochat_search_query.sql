-- A web-search query (quotes, or, -word) against gochat_search_document's documents: parsed with
-- `simple`, then every word w becomes (w | its stem). OR-ing two websearch_to_tsquery results
-- instead would let `-dogs` through a message saying "dog" (the simple half does not exclude the
-- stem), and would drop stop words from the language half; here an exclusion excludes both forms,
-- a phrase keeps its stop words, and an exact form outranks a stem-only match (it hits both halves).
CREATE OR REPLACE FUNCTION gochat_search_query(cfg regconfig, q text) RETURNS tsquery
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    result tsquery := websearch_to_tsquery('simple', q);
    w text;
    stems text[];
BEGIN
    FOR w IN SELECT DISTINCT t.lexeme FROM unnest(to_tsvector('simple', q)) AS t ORDER BY 1 LOOP
        stems := tsvector_to_array(to_tsvector(cfg, w));
        IF cardinality(stems) = 1 AND stems[1] <> w THEN
            result := ts_rewrite(result, public.gochat_search_lexeme(w),
                                 public.gochat_search_lexeme(w) || public.gochat_search_lexeme(stems[1]));
        END IF;
    END LOOP;
    RETURN result;
END
$$;

GRANT EXECUTE ON FUNCTION gochat_search_query(regconfig, text) TO gochat_app;

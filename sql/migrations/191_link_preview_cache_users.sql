-- Crypto-shredding meets link previews (docs/operations.md, "Erasure"): a cached preview is keyed
-- by the URL a user posted, which is their text, and the cache is shared by every message with
-- that URL, so it carries no author. This records whose messages each cached URL came from
-- (gochat/previews/outbox.py `credit`), so that erasing a user drops the cache entries of the
-- links they posted (the link_previews follower, on user.erased) instead of keeping them until
-- they expire. A row goes with its cache entry (expiry, erasure).
CREATE TABLE link_preview_cache_users (
    user_id uuid NOT NULL,
    url     text NOT NULL REFERENCES link_preview_cache (url) ON DELETE CASCADE,
    PRIMARY KEY (user_id, url)
);
CREATE INDEX link_preview_cache_users_url ON link_preview_cache_users (url);  -- the cascade's lookup
ALTER TABLE link_preview_cache_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE link_preview_cache_users FORCE ROW LEVEL SECURITY;

-- Entries cached before this migration have no authors on record: they go (the next message with
-- one of their URLs fetches it again), so every entry left can be found from its authors.
DELETE FROM link_preview_cache;

-- Login sessions: not events. Refresh tokens are secrets that churn on every refresh; the log is
-- for facts worth keeping forever, so sessions live in these two mutable tables instead.

-- One family per login: every refresh token rotated from that login's first one belongs to it.
-- Revoking the family (logout, reuse of a rotated token) ends all of its tokens at once; access
-- tokens carry the family id as `sid`, so they stop working too.
CREATE TABLE session_families (
    id              uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    revoked_reason  text        CHECK (revoked_reason IN ('logout', 'reuse', 'admin'))
);
CREATE INDEX session_families_user ON session_families (user_id) WHERE revoked_at IS NULL;

-- Only the SHA-256 of a token is stored (tokens carry 256 random bits, so no salt or slow hash is
-- needed): a copy of this table lets nobody refresh. Used tokens stay until they expire, so that
-- presenting one again is recognised as reuse.
CREATE TABLE refresh_tokens (
    token_hash      bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    family_id       uuid        NOT NULL REFERENCES session_families (id) ON DELETE CASCADE,
    user_id         uuid        NOT NULL,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Each node reads the logins revoked in the last few seconds (gochat/auth/revoked.py) and closes
-- their sockets, whichever process revoked them (a node, `gochat bots revoke`, `gochat users
-- erase`) and whether or not a broker carried the news. These keep that read to the rows it wants.
CREATE INDEX session_families_revoked ON session_families (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX bot_tokens_revoked ON bot_tokens (revoked_at) WHERE revoked_at IS NOT NULL;

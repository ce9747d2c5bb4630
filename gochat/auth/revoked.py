"""Logins revoked lately, by any process: login families (logout, token reuse, an administrator,
an erasure) and bot tokens. Each node reads them on a schedule (live/revocation.py) so that their
sockets close even when the revocation was made by the CLI, or on another node while the broker
was down."""

from __future__ import annotations

from ..db import Database

# The database's clock, not a node's: nodes need not agree on the time.
_LATELY = (
    "SELECT id::text FROM session_families WHERE revoked_at > now() - make_interval(secs => %(secs)s)"
    " UNION ALL SELECT id::text FROM bot_tokens WHERE revoked_at > now() - make_interval(secs => %(secs)s)"
)


async def revoked_within(db: Database, seconds: float) -> set[str]:
    """Ids of the login families and bot tokens (a socket's `session_id`) revoked in the last
    `seconds`."""
    async with db.cursor() as cur:
        await cur.execute(_LATELY, {"secs": seconds})
        return {row[0] for row in await cur.fetchall()}

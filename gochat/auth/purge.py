"""The schedule that keeps the session tables small: expired refresh tokens and dead login
families are deleted every `interval` seconds (auth/store.py, `SessionStore.purge`)."""

from __future__ import annotations

import asyncio

import structlog

from .store import SessionStore

log = structlog.get_logger("gochat.sessions")

# Revoked families are kept this long, for whoever investigates a logout or a token reuse.
REVOKED_GRACE = 24 * 3600.0


async def purge_sessions_forever(sessions: SessionStore, interval: float, grace: float = REVOKED_GRACE) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            tokens, families = await sessions.purge(grace)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: try again next time
            log.warning("session_purge_failed", error=repr(exc))
            continue
        if tokens or families:
            log.info("sessions_purged", refresh_tokens=tokens, families=families)

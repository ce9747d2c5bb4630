"""The webhook outbox: a follower of the log (rule: sql/functions/gochat_apply_webhook_outbox.sql)
that queues one delivery per webhook and event, and the SQL the deliverer and the API use on it.

A follower, not inline: it handles message.posted (see projections/base.py), and an endpoint's
speed never touches it: it only writes rows. Rebuilding it would queue every event since each
webhook was made again (at-least-once allows it, receivers would drop them by event id): don't.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import Cursor
from ..events.types import EventType
from ..projections.base import SqlProjection

# The event types a webhook may choose (log types: docs/api.md).
EVENT_TYPES = (
    EventType.MESSAGE_POSTED,
    EventType.MESSAGE_EDITED,
    EventType.MESSAGE_DELETED,
    EventType.REACTION_ADDED,
    EventType.REACTION_REMOVED,
    EventType.MEMBER_JOINED,
    EventType.MEMBER_LEFT,
    EventType.MEMBER_KICKED,
    EventType.MEMBER_BANNED,
    EventType.ROOM_UPDATED,
)


class WebhookOutbox(SqlProjection):
    name = "webhook_outbox"
    tables = ("webhook_deliveries",)
    handles = frozenset(EVENT_TYPES)
    inline = False
    function = "gochat_apply_webhook_outbox"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: uuid.UUID
    room_id: uuid.UUID
    url: str
    event_types: list[str]
    created_by: uuid.UUID
    created_at: datetime

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "room_id": self.room_id, "url": self.url, "events": self.event_types,
                "created_by": self.created_by, "created_at": self.created_at}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Delivery:
    webhook_id: uuid.UUID
    event_id: int
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        return {"webhook_id": self.webhook_id, "event_id": self.event_id, "state": self.state,
                "attempts": self.attempts, "next_attempt_at": self.next_attempt_at,
                "last_status": self.last_status, "last_error": self.last_error,
                "updated_at": self.updated_at}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery claimed for an attempt, with what the attempt needs."""

    webhook_id: uuid.UUID
    event_id: int
    attempts: int
    url: str
    secret: str


_WEBHOOK = "id, room_id, url, event_types, created_by, created_at"
_DELIVERY = "webhook_id, event_id, state, attempts, next_attempt_at, last_status, last_error, updated_at"


async def create(
    cur: Cursor, room_id: uuid.UUID, url: str, secret: str, event_types: list[str], actor: uuid.UUID
) -> Webhook:
    await cur.execute(
        f"INSERT INTO webhooks (id, room_id, url, secret, event_types, since_event_id, created_by)"
        f" VALUES (%s, %s, %s, %s, %s, (SELECT coalesce(max(id), 0) FROM events), %s) RETURNING {_WEBHOOK}",
        (uuid.uuid4(), room_id, url, secret, event_types, actor),
    )
    row = await cur.fetchone()
    assert row is not None
    return Webhook(*row)


async def of_room(cur: Cursor, room_id: uuid.UUID) -> list[Webhook]:
    await cur.execute(
        f"SELECT {_WEBHOOK} FROM webhooks WHERE room_id = %s AND deleted_at IS NULL ORDER BY created_at, id",
        (room_id,),
    )
    return [Webhook(*row) for row in await cur.fetchall()]


async def delete(cur: Cursor, room_id: uuid.UUID, webhook_id: uuid.UUID) -> bool:
    await cur.execute(
        "UPDATE webhooks SET deleted_at = now() WHERE id = %s AND room_id = %s AND deleted_at IS NULL RETURNING id",
        (webhook_id, room_id),
    )
    found = await cur.fetchone() is not None
    if found:  # nothing more goes out for it
        await cur.execute("DELETE FROM webhook_deliveries WHERE webhook_id = %s AND state = 'pending'", (webhook_id,))
    return found


async def deliveries(
    cur: Cursor, room_id: uuid.UUID, webhook_id: uuid.UUID, state: str | None, limit: int
) -> list[Delivery]:
    where = "d.webhook_id = %s AND d.room_id = %s" + (" AND d.state = %s" if state else "")
    params: tuple[Any, ...] = (webhook_id, room_id, state, limit) if state else (webhook_id, room_id, limit)
    await cur.execute(
        f"SELECT {_DELIVERY} FROM webhook_deliveries d WHERE {where} ORDER BY d.event_id DESC LIMIT %s", params
    )
    return [Delivery(*row) for row in await cur.fetchall()]


async def retry(cur: Cursor, room_id: uuid.UUID, webhook_id: uuid.UUID, event_id: int) -> bool:
    """A dead letter back to pending, with a fresh count of attempts."""
    await cur.execute(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()"
        " WHERE webhook_id = %s AND room_id = %s AND event_id = %s AND state = 'dead' RETURNING event_id",
        (webhook_id, room_id, event_id),
    )
    return await cur.fetchone() is not None


async def claim_due(
    cur: Cursor, *, limit: int, per_webhook: int, lease: float, busy: dict[uuid.UUID, int]
) -> list[Due]:
    """Take due deliveries for one attempt each, oldest events first, so that no webhook has more
    than `per_webhook` attempts in flight on this node counting those `busy` already (a dead
    endpoint holds few slots), leased for `lease` seconds so no other node (nor this one) takes
    them meanwhile. The UPDATE re-checks each row under its lock: of two nodes claiming at once,
    one gets it."""
    await cur.execute(
        "WITH due AS ("
        "  SELECT x.webhook_id, x.event_id FROM ("
        "    SELECT webhook_id, event_id,"
        "           row_number() OVER (PARTITION BY webhook_id ORDER BY event_id) AS n"
        "    FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= now()) x"
        "  LEFT JOIN unnest(%s::uuid[], %s::int[]) AS busy (webhook_id, n) ON busy.webhook_id = x.webhook_id"
        "  WHERE x.n <= %s - coalesce(busy.n, 0) ORDER BY x.event_id LIMIT %s)"
        " UPDATE webhook_deliveries d SET next_attempt_at = now() + %s * interval '1 second'"
        " FROM due, webhooks w"
        " WHERE d.webhook_id = due.webhook_id AND d.event_id = due.event_id AND w.id = d.webhook_id"
        "   AND w.deleted_at IS NULL"
        "   AND d.state = 'pending' AND d.next_attempt_at <= now()"
        " RETURNING d.webhook_id, d.event_id, d.attempts, w.url, w.secret",
        (list(busy), list(busy.values()), per_webhook, limit, lease),
    )
    return sorted((Due(*row) for row in await cur.fetchall()), key=lambda d: d.event_id)


async def record(
    cur: Cursor,
    due: Due,
    *,
    ok: bool,
    status: int | None,
    error: str | None,
    max_attempts: int,
    retry_in: float,
) -> str:
    """The outcome of one attempt; returns the delivery's new state."""
    attempts = due.attempts + 1
    state = "delivered" if ok else ("dead" if attempts >= max_attempts else "pending")
    await cur.execute(
        "UPDATE webhook_deliveries SET state = %s, attempts = %s, last_status = %s, last_error = %s,"
        " next_attempt_at = now() + %s * interval '1 second', updated_at = now()"
        " WHERE webhook_id = %s AND event_id = %s AND state = 'pending'",
        (state, attempts, status, error, retry_in, due.webhook_id, due.event_id),
    )
    return state


async def release(cur: Cursor, claimed: list[Due]) -> None:
    """End the leases of attempts that were cut short (shutdown): they are due again now."""
    await cur.execute(
        "UPDATE webhook_deliveries d SET next_attempt_at = now()"
        " FROM unnest(%s::uuid[], %s::bigint[]) AS c (webhook_id, event_id)"
        " WHERE d.webhook_id = c.webhook_id AND d.event_id = c.event_id AND d.state = 'pending'",
        ([d.webhook_id for d in claimed], [d.event_id for d in claimed]),
    )

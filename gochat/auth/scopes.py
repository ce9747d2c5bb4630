"""What a bot's API token may reach: its actions (`read`, `write`) and its rooms. One rule for the
HTTP middleware (api/authn.py) and WebSocket frames (ws/)."""

from __future__ import annotations

from uuid import UUID

from ..errors import Forbidden
from .tokens import BotGrant


def require(grant: BotGrant, *, write: bool, room: UUID | None, roomless_ok: bool = False) -> None:
    """Raise 403 `insufficient_scope` unless the grant allows this action in this room. A token
    limited to rooms reaches nothing outside a room but what `roomless_ok` lets through."""
    needed = "write" if write else "read"
    if needed not in grant.scopes:
        raise Forbidden(f"this token lacks the {needed!r} scope", code="insufficient_scope")
    if grant.rooms is None:
        return
    if (room is None and not roomless_ok) or (room is not None and room not in grant.rooms):
        raise Forbidden("this token is not valid for this room", code="insufficient_scope")

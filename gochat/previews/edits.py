"""What an edit does to its message's link previews: the events appended with it (services/messages.py).

The history projection keeps the previews of the links the new text still has and drops the others
as it applies the edit (projections/history.py), live as in a rebuild; the link_previews follower
queues the new text's links (outbox.py), and the previewer fetches only those the message does not
show yet. What this adds is for the live side: a `message.link_preview` with the previews kept (an
empty list: none), so clients drop the others without a reload, and a `file.deleted` per dropped
preview's image, so the image answers 404 at once, as a deleted message's attachments do. That
preview event is one for the text before the edit: history, which holds the same previews by then,
leaves it be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from ..events import NewEvent
from ..events.types import EventType
from .links import kept, offered


def with_edit(
    room_id: UUID, author: UUID, message_id: int, previews: Sequence[Mapping[str, Any]] | None, edit: Mapping[str, Any]
) -> list[NewEvent]:
    """The events to append after `edit` (a message.edited's data) for a message showing `previews`:
    none when the edit keeps them all."""
    keep = kept(previews, offered(edit))
    if len(keep) == len(previews or ()):
        return []
    still = {p["url"] for p in keep}
    images = [
        p["image"]["id"] for p in previews or () if p.get("url") not in still and isinstance(p.get("image"), dict)
    ]
    data = {"message_id": message_id, "previews": keep}
    return [
        NewEvent(EventType.MESSAGE_LINK_PREVIEW, room_id, data, actor_id=author),
        *(NewEvent(EventType.FILE_DELETED, room_id, {"file_id": i}, actor_id=author) for i in images),
    ]

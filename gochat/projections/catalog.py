"""Every projection gochat maintains, in the order they are applied within a batch."""

from __future__ import annotations

from ..moderation.projection import ModerationProjection
from ..webhooks.outbox import WebhookOutbox
from .base import Projection
from .bots import BotsProjection
from .files import FilesProjection
from .history import HistoryProjection
from .notifications import NotificationsProjection
from .people import PeopleProjection
from .presence import PresenceProjection
from .receipts import ReceiptsProjection
from .rooms import RoomsProjection
from .search import SearchProjection
from .users import UsersProjection


def all_projections(search_language: str = "english") -> list[Projection]:
    # receipts reads history's messages table: history must come first (see receipts.py)
    return [
        UsersProjection(),
        RoomsProjection(),
        HistoryProjection(),
        ReceiptsProjection(),
        PresenceProjection(),
        SearchProjection(search_language),
        BotsProjection(),
        WebhookOutbox(),
        ModerationProjection(),
        FilesProjection(),
        PeopleProjection(),
        NotificationsProjection(),
    ]

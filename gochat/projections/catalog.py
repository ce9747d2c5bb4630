"""Every projection gochat maintains, in the order they are applied within a batch."""

from __future__ import annotations

from ..moderation.projection import ModerationProjection
from ..previews.outbox import MAX_URLS, LinkPreviewOutbox
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


def all_projections(
    search_language: str = "english", *, link_previews: bool = True, preview_max_urls: int = MAX_URLS
) -> list[Projection]:
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
        LinkPreviewOutbox(enabled=link_previews, max_urls=preview_max_urls),
    ]

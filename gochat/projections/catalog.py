"""Every projection gochat maintains, in the order they are applied within a batch."""

from __future__ import annotations

from .base import Projection
from .history import HistoryProjection
from .presence import PresenceProjection
from .receipts import ReceiptsProjection
from .rooms import RoomsProjection
from .users import UsersProjection


def all_projections() -> list[Projection]:
    # receipts reads history's messages table: history must come first (see receipts.py)
    return [UsersProjection(), RoomsProjection(), HistoryProjection(), ReceiptsProjection(), PresenceProjection()]

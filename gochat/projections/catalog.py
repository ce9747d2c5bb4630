"""Every projection gochat maintains, in the order they are applied within a batch."""

from __future__ import annotations

from .base import Projection
from .presence import PresenceProjection
from .rooms import RoomsProjection
from .users import UsersProjection


def all_projections() -> list[Projection]:
    return [UsersProjection(), RoomsProjection(), PresenceProjection()]

"""Every projection gochat maintains, in the order they are applied within a batch."""

from __future__ import annotations

from .base import Projection
from .rooms import RoomsProjection


def all_projections() -> list[Projection]:
    return [RoomsProjection()]

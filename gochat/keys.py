"""Typed application state: one AppKey per shared resource, set by the app factory only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .db import Database
from .events import EventRegistry, EventStore
from .projections.engine import ProjectionRunner
from .ratelimit import RateLimiter
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
REGISTRY = web.AppKey("registry", EventRegistry)
STORE = web.AppKey("store", EventStore)
PROJECTIONS = web.AppKey("projections", ProjectionRunner)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
# Flags and small state the readiness probe reads.
STATE = web.AppKey("state", dict[str, Any])

"""Typed application state: one AppKey per shared resource, set by the app factory only."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from .commands.service import CommandService
from .db import Database
from .events import EventRegistry, EventStore
from .live.broker import Broker
from .live.hub import Hub
from .live.people import PeopleLive
from .live.presence_store import PresenceStore
from .live.relay import Relay
from .login_throttle import LoginThrottle
from .metrics import Metrics
from .metrics_sources import Sampler
from .moderation.admin import AdminService
from .moderation.service import ModerationService
from .previews.worker import Previewer
from .projections.current import CurrentLog
from .projections.engine import ProjectionRunner
from .ratelimit import RateLimiter
from .services.accounts import AccountService
from .services.bots import BotService
from .services.devices import DeviceService
from .services.dms import DirectMessages
from .services.files import FileService
from .services.messages import MessageService
from .services.notifications import Notifications
from .services.people import Directory
from .services.presence import PresenceService
from .services.room_views import RoomViews
from .services.rooms import RoomService
from .services.search import SearchService
from .services.timetravel import TimeTravel
from .services.typing import TypingDebounce
from .settings import Settings
from .telemetry import Telemetry
from .webhooks.deliver import Deliverer
from .webhooks.service import WebhookService

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
REGISTRY = web.AppKey("registry", EventRegistry)
STORE = web.AppKey("store", EventStore)
PROJECTIONS = web.AppKey("projections", ProjectionRunner)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
# Budgets that only make sense on this node (one WebSocket connection's frames): never in Redis.
LOCAL_RATE_LIMITER = web.AppKey("local_rate_limiter", RateLimiter)
METRICS = web.AppKey("metrics", Metrics)
ACCOUNTS = web.AppKey("accounts", AccountService)
# Set only when REDIS_URL is: the shared command client (rate limits, presence).
REDIS = web.AppKey("redis", Redis)
BROKER = web.AppKey("broker", Broker)
PRESENCE = web.AppKey("presence", PresenceStore)
HUB = web.AppKey("hub", Hub)
RELAY = web.AppKey("relay", Relay)
PRESENCE_SERVICE = web.AppKey("presence_service", PresenceService)
ROOMS = web.AppKey("rooms", RoomService)
ROOM_VIEWS = web.AppKey("room_views", RoomViews)
MESSAGES = web.AppKey("messages", MessageService)
SEARCH = web.AppKey("search", SearchService)
TIME_TRAVEL = web.AppKey("time_travel", TimeTravel)
# The log read back with each message's current state (replays: projections/current.py).
CURRENT_LOG = web.AppKey("current_log", CurrentLog)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
BOTS = web.AppKey("bots", BotService)
WEBHOOKS = web.AppKey("webhooks", WebhookService)
WEBHOOK_DELIVERER = web.AppKey("webhook_deliverer", Deliverer)
MODERATION = web.AppKey("moderation", ModerationService)
ADMIN = web.AppKey("admin", AdminService)
COMMANDS = web.AppKey("commands", CommandService)
FILES = web.AppKey("files", FileService)
# One typing event per user and room per interval on this node, across the user's sockets.
TYPING_DEBOUNCE = web.AppKey("typing_debounce", TypingDebounce)
DIRECTORY = web.AppKey("directory", Directory)
DMS = web.AppKey("dms", DirectMessages)
NOTIFICATIONS = web.AppKey("notifications", Notifications)
PEOPLE_LIVE = web.AppKey("people_live", PeopleLive)
DEVICES = web.AppKey("devices", DeviceService)
# Flags and small state the readiness probe reads.
STATE = web.AppKey("state", dict[str, Any])
# Feeds METRICS from the hot paths' plain counters (once a second and before every scrape).
METRICS_SAMPLER = web.AppKey("metrics_sampler", Sampler)
# Set only when OTEL_EXPORTER_OTLP_ENDPOINT is: the app's tracer and OTLP exporters (telemetry.py).
TELEMETRY = web.AppKey("telemetry", Telemetry)
# Link previews' worker (gochat/previews/worker.py), when GOCHAT_PREVIEWS is on.
PREVIEWER = web.AppKey("previewer", Previewer)

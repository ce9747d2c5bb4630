"""The app factory: the one place that builds concrete resources and wires them together.

Resources start in `cleanup_ctx` order and stop in reverse: embedded PostgreSQL (when DATABASE_URL
is unset) -> database pool + migrations -> event store writer -> Redis client (when REDIS_URL is
set) -> rate limiter -> broker and presence store. On shutdown the writer flushes
everything it accepted before the pool closes.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from uuid import UUID

import structlog
from aiohttp import web

from . import migrations
from .aio import cancel_and_wait
from .api import health
from .api.auth import routes as auth_routes
from .api.authn import jwt_middleware
from .api.bots import routes as bot_routes
from .api.commands import routes as command_routes
from .api.devices import routes as device_routes
from .api.documents import routes as document_routes
from .api.edge import security_headers, setup_cors
from .api.files import routes as file_routes
from .api.invitations import routes as invitation_routes
from .api.messages import routes as message_routes
from .api.metrics import routes as metrics_routes
from .api.middleware import request_context
from .api.moderation import routes as moderation_routes
from .api.people import routes as people_routes
from .api.presence import routes as presence_routes
from .api.rooms import routes as room_routes
from .api.search import routes as search_routes
from .api.timetravel import routes as timetravel_routes
from .api.webhooks import routes as webhook_routes
from .auth.bot_tokens import BotTokenStore
from .auth.passwords import Passwords
from .auth.purge import purge_sessions_forever
from .auth.revoked import revoked_within
from .auth.store import SessionStore
from .commands.service import CommandService
from .db import Database
from .e2e.store import KeyStore
from .embedded import EmbeddedPostgres
from .events import EventStore, build_registry
from .events.sealing import configured_sealer
from .keys import (
    ACCOUNTS,
    ADMIN,
    BOTS,
    BROKER,
    COMMANDS,
    CURRENT_LOG,
    DB,
    DEVICES,
    DIRECTORY,
    DMS,
    FILES,
    HUB,
    LOCAL_RATE_LIMITER,
    LOGIN_THROTTLE,
    MESSAGES,
    METRICS,
    METRICS_SAMPLER,
    MODERATION,
    NOTIFICATIONS,
    PEOPLE_LIVE,
    PRESENCE,
    PRESENCE_SERVICE,
    PREVIEWER,
    PROJECTIONS,
    RATE_LIMITER,
    REDIS,
    REGISTRY,
    RELAY,
    ROOM_VIEWS,
    ROOMS,
    SEARCH,
    SETTINGS,
    STATE,
    STORE,
    TELEMETRY,
    TIME_TRAVEL,
    TYPING_DEBOUNCE,
    WEBHOOK_DELIVERER,
    WEBHOOKS,
)
from .live.broker import Broker, MemoryBroker
from .live.broker_redis import RedisBroker
from .live.erasures import ErasureFrames, ErasureLive
from .live.hub import Hub
from .live.people import PeopleLive
from .live.presence_store import MemoryPresenceStore, PresenceStore
from .live.presence_store_redis import RedisPresenceStore
from .live.relay import Relay
from .live.revocation import RevocationSweep
from .login_throttle import Backoff, LoginThrottle, MemoryLoginThrottle, NoThrottle
from .login_throttle_redis import RedisLoginThrottle
from .media.clamd import Clamd
from .media.storage import BlobStore, LocalBlobStore
from .media.storage_s3 import S3BlobStore
from .metrics import Metrics
from .metrics_sources import Sampler
from .moderation.admin import AdminService
from .moderation.gate import ModerationGate
from .moderation.service import ModerationService
from .netguard import Allowlist, GuardedClient
from .previews.fetch import Fetcher
from .previews.worker import Previewer
from .projections import rooms as rooms_q
from .projections.catalog import all_projections
from .projections.current import CurrentLog
from .projections.engine import InlineProjections, ProjectionRunner
from .projections.search import ensure_language
from .projections.users import UserQueries
from .ratelimit import MemoryRateLimiter, NoLimits, RateLimiter
from .ratelimit_redis import RedisRateLimiter
from .redis_client import connect_redis
from .services.accounts import AccountService
from .services.bots import BotService
from .services.devices import DeviceService
from .services.dms import DirectMessages
from .services.files import FileService
from .services.mentions import Mentions
from .services.messages import MessageService
from .services.notifications import Notifications
from .services.people import Directory
from .services.presence import PresenceService
from .services.room_views import RoomViews
from .services.rooms import RoomService
from .services.search import SearchService
from .services.skeletons import record_missing_skeletons
from .services.timetravel import TimeTravel
from .services.typing import TypingDebounce
from .settings import Settings, SettingsError, ensure_dev_secret
from .telemetry import setup as setup_telemetry
from .web import routes as web_client_routes
from .webhooks.deliver import Deliverer
from .webhooks.service import WebhookService
from .ws.endpoint import shutdown_sockets, websocket

log = structlog.get_logger("gochat.app")


def create_app(settings: Settings) -> web.Application:
    settings = ensure_dev_secret(settings)
    assert settings.jwt_secret is not None
    authn = jwt_middleware(settings.jwt_secret, settings.jwt_issuer, settings.jwt_audience)
    app = web.Application(middlewares=[request_context, authn], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[STATE] = {"probes": {}, "draining": False}
    app[REGISTRY] = build_registry()
    app[METRICS] = Metrics(redis=settings.redis_url is not None)
    telemetry = setup_telemetry(settings.otlp_endpoint, node_id=settings.node_id, metrics=app[METRICS])
    if telemetry is not None:
        app[TELEMETRY] = telemetry
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_event_store)
    app.cleanup_ctx.append(_accounts)
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_rate_limiter)
    app.cleanup_ctx.append(_login_throttle)
    app.cleanup_ctx.append(_realtime)
    app.cleanup_ctx.append(_gateway)
    app.cleanup_ctx.append(_metrics)
    app.cleanup_ctx.append(_telemetry)
    app.cleanup_ctx.append(_files)
    app.cleanup_ctx.append(_previews)
    app.on_response_prepare.append(_node_header)
    app.on_shutdown.append(_mark_draining)
    app.on_shutdown.append(shutdown_sockets)
    app.router.add_routes(health.routes)
    app.router.add_routes(auth_routes)
    app.router.add_routes(room_routes)
    app.router.add_routes(message_routes)
    app.router.add_routes(search_routes)
    app.router.add_routes(timetravel_routes)
    app.router.add_routes(presence_routes)
    app.router.add_routes(metrics_routes)
    app.router.add_routes(invitation_routes)
    app.router.add_routes(file_routes)
    app.router.add_routes(people_routes)
    app.router.add_routes(device_routes)
    app.router.add_get("/ws", websocket)
    app.router.add_routes(bot_routes)
    app.router.add_routes(webhook_routes)
    app.cleanup_ctx.append(_webhooks)
    app.router.add_routes(moderation_routes)
    app.cleanup_ctx.append(_moderation)
    app.router.add_routes(command_routes)
    app.cleanup_ctx.append(_commands)
    app.router.add_routes(web_client_routes)
    app.router.add_routes(document_routes)
    app.on_response_prepare.append(security_headers)
    setup_cors(app)  # keep last: CORS covers the routes registered before it
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    embedded: EmbeddedPostgres | None = None
    dsn = settings.database_url
    if dsn is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        log.info("embedded_postgres_starting", pgdata=str(embedded.pgdata))
        dsn = await asyncio.to_thread(embedded.start)
    db = await Database.connect(
        dsn,
        minsize=settings.db_pool_min,
        maxsize=settings.db_pool_max,
        timeout=settings.db_statement_timeout,
        acquire_timeout=settings.db_acquire_timeout,
    )
    if settings.migrate_on_start or embedded is not None:
        applied = await migrations.migrate(db)
        if applied:
            log.info("migrated", applied=[m.name for m in applied])
    # After migrating (which may run long): every request's transaction from here on.
    db.statement_timeout = round(settings.pg_statement_timeout * 1000)
    app[DB] = db
    try:
        yield
    finally:
        await db.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _event_store(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = EventStore(
        app[DB],
        app[REGISTRY],
        node_id=settings.node_id,
        max_batch=settings.group_commit_max_batch,
        pipeline=settings.group_commit_pipeline,
        commit_timeout=settings.db_commit_timeout,
        sealer=configured_sealer(app[DB], settings),
    )
    try:
        if await ensure_language(app[DB], settings.search_language):
            log.warning("search_language_changed", language=settings.search_language, action="reindexing")
    except ValueError as exc:
        raise SettingsError(f"GOCHAT_SEARCH_LANGUAGE: {exc}") from None
    projections = all_projections(
        settings.search_language, link_previews=settings.previews, preview_max_urls=settings.preview_max_urls
    )
    store.inline.append(InlineProjections(store, projections))
    # erasure_frames: a checkpoint only the servers follow (live/erasures.py)
    runner = ProjectionRunner(app[DB], store, [*projections, ErasureFrames()])
    # Catch up before the writer starts, so the append path only ever fills a small residue.
    await runner.catch_up_all()
    store.start()
    runner.start_follower()
    app[STORE] = store
    app[PROJECTIONS] = runner
    try:
        yield
    finally:
        await store.close()
        await runner.stop()


async def _accounts(app: web.Application) -> AsyncIterator[None]:
    settings, db = app[SETTINGS], app[DB]
    passwords = Passwords()
    sessions = SessionStore(db, settings.refresh_token_ttl)
    app[ACCOUNTS] = AccountService(settings, app[STORE], UserQueries(db), sessions, passwords)
    purge = None
    if settings.session_purge_interval > 0:
        purge = asyncio.get_running_loop().create_task(
            purge_sessions_forever(sessions, settings.session_purge_interval)
        )
    try:
        yield
    finally:
        if purge is not None:
            await cancel_and_wait(purge)
        passwords.close()


async def _services(app: web.Application) -> AsyncIterator[None]:
    """Room and message use cases (stateless: nothing to close)."""
    db, store = app[DB], app[STORE]
    app[ROOMS] = RoomService(db, store, UserQueries(db).existing)
    app[ROOM_VIEWS] = RoomViews(db)
    app[MESSAGES] = MessageService(db, store)
    app[SEARCH] = SearchService(db, app[SETTINGS].search_language)
    app[TIME_TRAVEL] = TimeTravel(db, store)
    app[BOTS] = BotService(
        db, store, BotTokenStore(db), app[ACCOUNTS].revocation_listeners, socket_ttl=app[SETTINGS].access_token_ttl
    )
    app[TYPING_DEBOUNCE] = TypingDebounce(app[SETTINGS].ws_typing_interval)
    app[DEVICES] = DeviceService(KeyStore(db))
    # people (step 12): commands on the notifications projection catch it up themselves (read-your-writes)
    runner = app[PROJECTIONS]
    notifications = runner.get("notifications")

    async def sync_notifications() -> int:
        return await runner.catch_up(notifications)

    users = UserQueries(db)
    app[DIRECTORY] = Directory(db, store)
    app[DMS] = DirectMessages(db, app[ROOMS])
    app[NOTIFICATIONS] = Notifications(db, store, sync_notifications, users.existing)
    # issue #18: users registered before skeletons were recorded get theirs (a no-op once done)
    await record_missing_skeletons(db, store)
    yield


async def _redis(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].redis_url
    if url is None:
        yield
        return
    client = connect_redis(url)
    app[REDIS] = client
    try:
        yield
    finally:
        await client.aclose()


async def _rate_limiter(app: web.Application) -> AsyncIterator[None]:
    settings, redis = app[SETTINGS], app.get(REDIS)
    limiter: RateLimiter = NoLimits()
    local: RateLimiter = NoLimits()
    if settings.rate_limits:
        if redis is None:
            limiter = MemoryRateLimiter()
        else:
            shared = limiter = RedisRateLimiter(redis, prefix=settings.redis_prefix)

            async def limits_probe() -> str:
                return "ok" if await shared.healthy() else "degraded"

            app[STATE]["probes"]["rate_limits"] = limits_probe
        local = MemoryRateLimiter()
    app[RATE_LIMITER] = limiter
    app[LOCAL_RATE_LIMITER] = local
    try:
        yield
    finally:
        await limiter.close()
        await local.close()


async def _login_throttle(app: web.Application) -> AsyncIterator[None]:
    """Failed logins slow down per (account, address): shared through Redis when configured."""
    settings, redis = app[SETTINGS], app.get(REDIS)
    throttle: LoginThrottle = NoThrottle()
    if settings.rate_limits:
        backoff = Backoff(free=settings.login_free_failures, max_delay=settings.login_backoff_max)
        throttle = (
            MemoryLoginThrottle(backoff)
            if redis is None
            else RedisLoginThrottle(redis, prefix=settings.redis_prefix, backoff=backoff)
        )
    app[LOGIN_THROTTLE] = throttle
    try:
        yield
    finally:
        await throttle.close()


async def _realtime(app: web.Application) -> AsyncIterator[None]:
    """The broker and presence store the WebSocket hub and relay sit on (Redis when configured)."""
    settings, redis = app[SETTINGS], app.get(REDIS)
    broker: Broker
    presence: PresenceStore
    if settings.redis_url is not None and redis is not None:
        redis_broker = RedisBroker(settings.redis_url, prefix=settings.redis_prefix)
        broker = redis_broker
        presence = RedisPresenceStore(redis, settings.node_id, prefix=settings.redis_prefix, ttl=settings.presence_ttl)

        async def broker_probe() -> str:
            return "ok" if redis_broker.healthy else "degraded"

        app[STATE]["probes"]["broker"] = broker_probe
    else:
        broker, presence = MemoryBroker(), MemoryPresenceStore(settings.node_id, ttl=settings.presence_ttl)
    await broker.start()
    await presence.start()
    app[BROKER] = broker
    app[PRESENCE] = presence
    try:
        yield
    finally:
        await presence.close()
        await broker.close()


async def _gateway(app: web.Application) -> AsyncIterator[None]:
    """The live side: hub (local fan-out), relay (ordering across nodes), presence."""
    settings, db, store = app[SETTINGS], app[DB], app[STORE]
    hub = Hub(max_buffer=settings.ws_max_buffer_bytes, heartbeat=settings.ws_heartbeat)

    async def rooms_of(user_id: UUID) -> list[UUID]:
        async with db.read(user_id) as cur:
            return await rooms_q.joined_room_ids(cur, user_id)

    current = app[CURRENT_LOG] = CurrentLog(store)
    relay = Relay(hub, store, app[BROKER], node_id=settings.node_id, rooms_of=rooms_of, current=current)
    relay.lag_observer = app[METRICS].observe_pubsub_lag
    await relay.start()
    presence = PresenceService(db, store, app[PRESENCE], sweep_interval=settings.presence_sweep_interval)
    presence.start()
    app[ACCOUNTS].revocation_listeners.append(relay.close_session)
    revocations = RevocationSweep(hub, partial(revoked_within, db), settings.revocation_sweep_interval)
    revocations.start()
    app[HUB], app[RELAY], app[PRESENCE_SERVICE] = hub, relay, presence
    # people (step 12): mentions resolve @here against presence; notifications and profile frames
    people_live = PeopleLive(hub, relay, db, node_id=settings.node_id, rooms_of=rooms_of)
    await people_live.start()
    app[PROJECTIONS].listeners.append(people_live.on_applied)
    # an erasure (appended by `gochat users erase`, anywhere) reaches the open rooms: live/erasures.py
    erasure_live = ErasureLive(hub, relay, db, node_id=settings.node_id)
    await erasure_live.start()
    app[PROJECTIONS].listeners.append(erasure_live.on_applied)
    runner = app[PROJECTIONS]
    store.add_listener(lambda _events: runner.nudge())  # notifications right after their message
    app[PEOPLE_LIVE] = people_live
    store_presence = app[PRESENCE]

    async def online(user_ids: list[str]) -> set[str]:
        return await store_presence.online(user_ids)

    app[MESSAGES].annotate = Mentions(db, online).annotate
    try:
        yield
    finally:
        app[PROJECTIONS].listeners.remove(people_live.on_applied)
        app[PROJECTIONS].listeners.remove(erasure_live.on_applied)
        await people_live.close()
        await revocations.close()
        await presence.close()
        await relay.close()


async def _metrics(app: web.Application) -> AsyncIterator[None]:
    """The group-commit observer, the commit listener that counts messages, and the sampler."""
    metrics, store, redis = app[METRICS], app[STORE], app.get(REDIS)
    store.flush_observer = metrics.observe_flush

    async def redis_ping() -> bool:
        assert redis is not None
        try:
            return bool(await asyncio.wait_for(redis.ping(), 1.0))
        except Exception:
            return False

    sampler = Sampler(
        metrics,
        hub=app[HUB],
        db=app[DB],
        projections=[p.name for p in app[PROJECTIONS].projections],
        redis_ping=redis_ping if redis is not None else None,
    )
    store.add_listener(sampler.on_commit)
    sampler.start()
    app[METRICS_SAMPLER] = sampler
    try:
        yield
    finally:
        await sampler.close()


async def _telemetry(app: web.Application) -> AsyncIterator[None]:
    """With OpenTelemetry on: hand the tracer to the traced places; flush the exporters at the end."""
    telemetry = app.get(TELEMETRY)
    if telemetry is None:
        yield
        return
    app[STORE].tracing = app[PROJECTIONS].tracing = app[RELAY].tracing = telemetry
    try:
        yield
    finally:
        await asyncio.to_thread(telemetry.close)


async def _files(app: web.Application) -> AsyncIterator[None]:
    """Uploads: blob storage (S3 when GOCHAT_S3_URL is set, else data_dir/files), the media pool,
    clamd when CLAMD_URL is set, and the collector of unreferenced blobs."""
    settings = app[SETTINGS]
    blobs: BlobStore
    if settings.s3_url is not None:
        blobs = await S3BlobStore.connect(
            settings.s3_url, settings.s3_bucket, access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key, region=settings.s3_region, prefix=settings.s3_prefix,
        )  # fmt: skip
    else:
        blobs = LocalBlobStore(settings.data_dir / "files")
    spool_dir = settings.data_dir / "uploads"
    shutil.rmtree(spool_dir, ignore_errors=True)  # what a crash left half-received
    pool = ThreadPoolExecutor(max_workers=settings.media_workers, thread_name_prefix="media")
    files = FileService(
        app[DB], app[STORE], app[MESSAGES], blobs, spool_dir=spool_dir, pool=pool,
        max_upload_bytes=settings.max_upload_bytes, quota_bytes=settings.upload_quota_bytes,
        image_max_pixels=settings.image_max_pixels, thumbnail_px=settings.thumbnail_px,
        media_workers=settings.media_workers, clamd=Clamd(settings.clamd_url) if settings.clamd_url else None,
    )  # fmt: skip
    app[STORE].add_listener(files.on_commit)
    files.start()
    app[FILES] = files
    try:
        yield
    finally:
        await files.close()
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)  # an image in work finishes
        await blobs.close()


async def _previews(app: web.Application) -> AsyncIterator[None]:
    """Link previews: the worker of the queue the link_previews follower fills (GOCHAT_PREVIEWS=on),
    fetching through the SSRF guard with its own allowlist and bounds."""
    settings = app[SETTINGS]
    if not settings.previews:
        yield
        return
    try:
        allow = Allowlist.parse(settings.preview_allow)
    except ValueError as exc:
        raise SettingsError(f"GOCHAT_PREVIEW_ALLOW: {exc}") from None
    files = app[FILES]
    client = GuardedClient(allow, timeout=settings.preview_timeout, max_body=settings.preview_max_bytes,
                           max_redirects=settings.preview_max_redirects)  # fmt: skip
    fetcher = Fetcher(
        client, max_html=settings.preview_max_bytes, max_image=settings.preview_image_max_bytes, pool=files.pool,
        workdir=settings.data_dir / "uploads", image_max_pixels=settings.image_max_pixels,
        thumbnail_px=settings.thumbnail_px,
    )  # fmt: skip
    previewer = Previewer(
        app[DB], files, fetcher, cache_ttl=settings.preview_cache_ttl, failure_ttl=settings.preview_failure_ttl,
        concurrency=settings.preview_concurrency,
    )  # fmt: skip
    app[PROJECTIONS].listeners.append(previewer.on_applied)
    previewer.start()
    app[PREVIEWER] = previewer
    try:
        yield
    finally:
        await previewer.close()


async def _node_header(request: web.Request, response: web.StreamResponse) -> None:
    """Which node answered: behind a load balancer or `serve --workers`, for operators and tests.
    Not on a WebSocket upgrade: the response lives as long as the socket (~420 bytes each)."""
    if isinstance(response, web.WebSocketResponse):
        return
    response.headers["X-Gochat-Node"] = request.app[SETTINGS].node_id


async def _mark_draining(app: web.Application) -> None:
    app[STATE]["draining"] = True


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """Webhooks: the service, and the deliverer working the outbox the webhook_outbox follower fills."""
    settings = app[SETTINGS]
    try:
        allow = Allowlist.parse(settings.webhook_allow)
    except ValueError as exc:
        raise SettingsError(f"GOCHAT_WEBHOOK_ALLOW: {exc}") from None
    app[WEBHOOKS] = WebhookService(app[DB], allow, app[BOTS], app[MESSAGES])
    client = GuardedClient(allow, timeout=settings.webhook_timeout)
    deliverer = Deliverer(
        app[DB],
        app[STORE],
        client,
        max_attempts=settings.webhook_max_attempts,
        backoff=settings.webhook_backoff,
        backoff_max=settings.webhook_backoff_max,
    )
    deliverer.start()
    app[WEBHOOK_DELIVERER] = deliverer
    try:
        yield
    finally:
        await deliverer.close()


async def _moderation(app: web.Application) -> AsyncIterator[None]:
    """Moderation: the gate every post passes (mutes, slow mode), room moderation, server admins."""
    settings, db, store, redis = app[SETTINGS], app[DB], app[STORE], app.get(REDIS)
    # Slow mode is a room rule, not a load limit: on even with GOCHAT_RATE_LIMITS=off.
    limiter: RateLimiter = MemoryRateLimiter()
    if redis is not None:
        limiter = RedisRateLimiter(redis, prefix=settings.redis_prefix)
    gate = ModerationGate(db, limiter)
    store.add_listener(gate.committed)
    app[MESSAGES].gate = gate.check
    app[MODERATION] = ModerationService(db, store, app[MESSAGES], app[ROOMS])
    accounts = app[ACCOUNTS]
    admin = AdminService(
        db, store, UserQueries(db), accounts.sessions, accounts.revocation_listeners, BotTokenStore(db)
    )
    accounts.login_checks.append(admin.check_active)
    app[ADMIN] = admin
    try:
        yield
    finally:
        await limiter.close()


async def _commands(app: web.Application) -> AsyncIterator[None]:
    """Slash commands; bots' are called through the same SSRF guard as webhooks."""
    settings = app[SETTINGS]
    client = GuardedClient(Allowlist.parse(settings.webhook_allow), timeout=settings.webhook_timeout)
    db = app[DB]
    app[COMMANDS] = CommandService(db, UserQueries(db), app[MESSAGES], app[ROOMS], app[MODERATION], client)
    try:
        yield
    finally:
        await client.close()


def dev_app() -> web.Application:
    """Entry point for `adev runserver gochat/app.py --app-factory dev_app`."""
    from .log import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level, "console")
    return create_app(settings)

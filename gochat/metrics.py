"""Prometheus metrics of one app (docs/metrics.md lists every name, its type and its labels).

Two modes, one set of metric objects:
- one process: a registry of the app's own (not the process-global default), so several apps in one
  test process never collide, and `GET /metrics` shows exactly this app's figures;
- `gochat serve --workers N`: prometheus_client's multiprocess mode. The supervisor hands every
  worker the same PROMETHEUS_MULTIPROC_DIR; each worker's values live in memory-mapped files there,
  and whichever worker answers `GET /metrics` reads them all, so one scrape shows the whole node.
  Gauges say how workers combine (`livesum`: connections, pool; `livemax`: lags).

Hot paths never touch a metric object per delivery or per frame: the hub and the WebSocket session
count in plain ints and dicts, and `sources.Sampler` moves the differences into these metrics once a
second and before every scrape. HTTP requests and group-commit flushes are observed directly (one
per request or per batch).

The seed's four names are kept; where Prometheus conventions want another type or unit the
conventional companion sits beside it (`redis_pubsub_lag` + `redis_pubsub_lag_seconds`,
`db_write_latency_ms` + `db_write_latency_seconds`, `messages_per_second` + `messages_total`,
`websocket_connections_total` (a counter, as `_total` says) + `websocket_connections_open`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Cross-node delivery on a LAN is milliseconds; the long tail covers a Redis outage's backlog.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A group commit is ~1 ms at rest and tens of ms under a burst; seconds means trouble.
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
LOOP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED = "unmatched"  # the route label of a request no route matched (never the raw path)


class Metrics:
    def __init__(self, *, redis: bool = False) -> None:
        # prometheus_client picks its value store when first imported, from this same variable: a
        # process is in multiprocess mode from its start (the supervisor sets it for the workers).
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # --- the seed's names and their companions ---------------------------------------------------
        self.pubsub_lag = Histogram(
            "redis_pubsub_lag_seconds",
            "Commit of an event on another node to its frame arriving here over the broker.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.pubsub_lag_last = Gauge(
            "redis_pubsub_lag",
            "The latest cross-node lag observed, in seconds (the seed's name; see redis_pubsub_lag_seconds).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.ws_opened = Counter(
            "websocket_connections_total",
            "WebSocket connections accepted since start (a counter, as _total says;"
            " open now: websocket_connections_open).",
            registry=r,
        )
        self.ws_open = Gauge(
            "websocket_connections_open", "WebSocket connections open now.", registry=r, multiprocess_mode="livesum"
        )
        self.messages = Counter("messages_total", "Messages posted (message.posted events committed here).", registry=r)
        self.messages_rate = Gauge(
            "messages_per_second",
            "Messages committed per second over the last sampling interval (about 1 s;"
            " rate(messages_total) is the same over any window).",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.db_write = Histogram(
            "db_write_latency_seconds",
            "Duration of one group-commit append transaction (what every append in the batch waited for the database).",
            buckets=DB_BUCKETS,
            registry=r,
        )
        self.db_write_last = Gauge(
            "db_write_latency_ms",
            "The latest group-commit append transaction's duration in milliseconds"
            " (the seed's name; see db_write_latency_seconds).",
            registry=r,
            multiprocess_mode="livemax",
        )
        # --- HTTP ------------------------------------------------------------------------------------
        self.http_requests = Counter(
            "gochat_http_requests_total",
            "HTTP requests answered, by method, route pattern and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "gochat_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route pattern (WebSocket upgrades excluded).",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        # --- WebSocket -------------------------------------------------------------------------------
        self.frames_in = Counter(
            "gochat_ws_frames_received_total",
            "Client frames received, by type (invalid: not parsed).",
            ["type"],
            registry=r,
        )
        self.frames_out = Counter(
            "gochat_ws_frames_sent_total",
            "Frames queued to sockets, by type (a broadcast counts once per subscriber).",
            ["type"],
            registry=r,
        )
        self.deliveries = Counter(
            "gochat_ws_deliveries_total", "Frames written to sockets by the fan-out (all types).", registry=r
        )
        self.ws_closed = Counter(
            "gochat_ws_closed_total",
            "Sockets the server closed on its own, by reason (slow_consumer: 4008; dead_peer: no pong).",
            ["reason"],
            registry=r,
        )
        # --- the writer and the projections ----------------------------------------------------------
        self.batch_size = Histogram(
            "gochat_group_commit_batch_size", "Events per group-commit transaction.", buckets=BATCH_BUCKETS, registry=r
        )
        self.projection_lag = Gauge(
            "gochat_projection_lag_events",
            "Events in the log after a projection's checkpoint (inline projections are 0 at rest).",
            ["projection"],
            registry=r,
            multiprocess_mode="livemax",
        )
        # --- the process and its dependencies --------------------------------------------------------
        self.loop_lag = Histogram(
            "gochat_event_loop_lag_seconds",
            "How late a timer of the event loop fired (CPU saturation or blocking calls).",
            buckets=LOOP_BUCKETS,
            registry=r,
        )
        self.loop_lag_last = Gauge(
            "gochat_event_loop_lag_last_seconds",
            "The latest event-loop lag measured.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.pool_in_use = Gauge(
            "gochat_db_pool_in_use", "Database connections lent out now.", registry=r, multiprocess_mode="livesum"
        )
        self.pool_idle = Gauge(
            "gochat_db_pool_idle", "Database connections idle in the pool.", registry=r, multiprocess_mode="livesum"
        )
        self.pool_waiting = Gauge(
            "gochat_db_pool_waiting",
            "Callers waiting for a database connection (the pool is exhausted when this stays above 0).",
            registry=r,
            multiprocess_mode="livesum",
        )
        # Only where Redis is configured: a node without it has no Redis to be down.
        self.redis_up = (
            Gauge(
                "gochat_redis_up",
                "1 when Redis (broker, presence, shared rate limits) answers a ping, else 0.",
                registry=r,
                multiprocess_mode="livemin",
            )
            if redis
            else None
        )
        self._http_children: dict[tuple[str, str, int], tuple[Counter, Histogram | None]] = {}

    # --- observers (called directly: per request or per batch, never per delivery) -------------------
    def observe_pubsub_lag(self, seconds: float) -> None:
        # Commit time comes from PostgreSQL's clock and arrival from ours: skew can go negative.
        seconds = max(0.0, seconds)
        self.pubsub_lag.observe(seconds)
        self.pubsub_lag_last.set(seconds)

    def observe_flush(self, seconds: float, events: int) -> None:
        self.db_write.observe(seconds)
        self.db_write_last.set(seconds * 1000.0)
        self.batch_size.observe(events)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._http_children.get(key)
        if children is None:
            # Label lookups take a lock and build a tuple: keep the children (bounded: routes x statuses).
            duration = None if status == 101 else self.http_duration.labels(method, route)
            children = self._http_children[key] = (self.http_requests.labels(method, route, str(status)), duration)
        children[0].inc()
        if children[1] is not None:
            children[1].observe(seconds)

    def add_counts(self, counter: Counter, deltas: Mapping[str, int]) -> None:
        for label, n in deltas.items():
            if n:
                counter.labels(label).inc(n)

    def render(self) -> bytes:
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST

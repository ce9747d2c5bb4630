"""Prometheus metrics of one app: a registry of its own (not the process-global default), so several
apps in one test process never collide, and `GET /metrics` shows exactly this app's figures.

Names: the seed lists `redis_pubsub_lag`. Prometheus wants the unit in a histogram's name, so the
distribution is `redis_pubsub_lag_seconds` (commit on one node -> frame received on another), and
the seed's exact name is a gauge holding the latest such lag in seconds.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest

# Cross-node delivery on a LAN is milliseconds; the long tail covers a Redis outage's backlog.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.pubsub_lag = Histogram(
            "redis_pubsub_lag_seconds",
            "Commit of an event on another node to its frame arriving here over the broker.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.pubsub_lag_last = Gauge(
            "redis_pubsub_lag",
            "The latest cross-node lag observed, in seconds (the seed's name; see redis_pubsub_lag_seconds).",
            registry=self.registry,
        )

    def observe_pubsub_lag(self, seconds: float) -> None:
        # Commit time comes from PostgreSQL's clock and arrival from ours: skew can go negative.
        seconds = max(0.0, seconds)
        self.pubsub_lag.observe(seconds)
        self.pubsub_lag_last.set(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST

"""`GET /metrics`: public, Prometheus text, one registry per app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gochat.app import create_app
from gochat.keys import METRICS
from gochat.settings import Settings


async def test_metrics_are_public_text_with_the_seeds_lag_metric(client: Any) -> None:
    client.app[METRICS].observe_pubsub_lag(0.004)
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert "# TYPE redis_pubsub_lag_seconds histogram" in text
    assert 'redis_pubsub_lag_seconds_bucket{le="0.005"} 1.0' in text
    assert "redis_pubsub_lag 0.004" in text


async def test_each_app_counts_on_its_own(client: Any, aiohttp_client: Callable[..., Any], settings: Settings) -> None:
    other = await aiohttp_client(create_app(settings))
    client.app[METRICS].observe_pubsub_lag(0.5)
    text = await (await other.get("/metrics")).text()
    assert "redis_pubsub_lag_seconds_count 0.0" in text


async def test_every_response_names_its_node(client: Any) -> None:
    resp = await client.get("/healthz")
    assert resp.headers["X-Gochat-Node"] == "test"

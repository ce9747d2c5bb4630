"""`GET /metrics`: public, Prometheus text, one registry per app."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import eventually
from helpers import signup
from prometheus_client.parser import text_string_to_metric_families
from test_ws import _raw_websocket, connect, make_room, message, until

from gochat.app import create_app
from gochat.keys import HUB, METRICS
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


# --- what one scrape shows --------------------------------------------------------------------------
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[Samples, dict[str, str], dict[str, str]]:
    """Samples by (name, labels), and each family's HELP and TYPE."""
    samples: Samples = {}
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        helps[family.name] = family.documentation
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, helps, types


async def scrape(client: Any) -> tuple[Samples, dict[str, str], dict[str, str]]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return parse(await resp.text())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


SEED_AND_COMPANIONS = {
    # family name (as the exposition's TYPE line has it) -> type
    "websocket_connections": "counter",  # websocket_connections_total
    "websocket_connections_open": "gauge",
    "messages_per_second": "gauge",
    "messages": "counter",  # messages_total
    "db_write_latency_ms": "gauge",
    "db_write_latency_seconds": "histogram",
    "redis_pubsub_lag": "gauge",
    "redis_pubsub_lag_seconds": "histogram",
}


async def test_the_seeds_names_and_their_companions_each_have_a_type_and_help(client: Any) -> None:
    samples, helps, types = await scrape(client)
    for family, kind in SEED_AND_COMPANIONS.items():
        assert types.get(family) == kind, family
        assert len(helps[family]) > 20, family
    for name in ("websocket_connections_total", "messages_total", "messages_per_second", "db_write_latency_ms"):
        assert (name, frozenset()) in samples, name


async def test_http_requests_are_counted_by_route_pattern_and_status_never_by_raw_path(client: Any) -> None:
    account = await signup(client)
    room = uuid.uuid4()
    assert (await client.get(f"/rooms/{room}", headers=account.headers)).status == 404
    assert (await client.get("/no/such/place/42")).status == 404
    text = await (await client.get("/metrics")).text()
    samples, _, _ = parse(text)
    assert value(samples, "gochat_http_requests_total", method="GET", route="/rooms/{room_id}", status="404") == 1
    assert value(samples, "gochat_http_requests_total", method="POST", route="/auth/signup", status="201") == 1
    assert value(samples, "gochat_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(samples, "gochat_http_request_duration_seconds_count", method="GET", route="/rooms/{room_id}") == 1
    assert str(room) not in text
    assert "/no/such" not in text


async def test_a_conversation_shows_in_frames_deliveries_connections_messages_and_commits(client: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice)
    assert (await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers)).status == 200
    ws_alice, ws_bob = await connect(client, alice, room), await connect(client, bob, room)
    await ws_alice.send_json(message(room, "hello"))
    await ws_alice.send_str("not json")
    await until(ws_bob, lambda f: f["type"] == "message")
    await until(ws_alice, lambda f: f["type"] == "error")
    samples, _, _ = await scrape(client)
    assert value(samples, "websocket_connections_total") == 2
    assert value(samples, "websocket_connections_open") == 2
    assert value(samples, "gochat_ws_frames_received_total", type="message") == 1
    assert value(samples, "gochat_ws_frames_received_total", type="invalid") == 1
    assert value(samples, "gochat_ws_frames_sent_total", type="ack") == 1
    assert value(samples, "gochat_ws_frames_sent_total", type="subscribed") == 2
    assert value(samples, "gochat_ws_frames_sent_total", type="message.posted") == 2  # one per subscriber
    assert value(samples, "gochat_ws_deliveries_total") >= 6  # 2 subscribed + 2 broadcast + ack + error
    assert value(samples, "messages_total") == 1
    assert value(samples, "gochat_group_commit_batch_size_count") >= 3  # signups, room, join, message
    assert value(samples, "db_write_latency_seconds_count") == value(samples, "gochat_group_commit_batch_size_count")
    assert value(samples, "db_write_latency_ms") > 0
    assert ("gochat_projection_lag_events", frozenset({("projection", "history")})) in samples
    assert value(samples, "gochat_db_pool_in_use") + value(samples, "gochat_db_pool_idle") >= 1
    assert ("gochat_ws_closed_total", frozenset({("reason", "slow_consumer")})) in samples
    await ws_alice.close()
    await ws_bob.close()
    await eventually(lambda: client.app[HUB].connections == 0, what="both sockets gone")
    samples, _, _ = await scrape(client)
    assert value(samples, "websocket_connections_open") == 0
    assert value(samples, "websocket_connections_total") == 2


async def test_slow_consumer_and_dead_peer_closes_are_counted(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    client = await aiohttp_client(
        create_app(settings.with_overrides(ws_max_buffer_bytes=4096, ws_socket_sndbuf=4096, ws_heartbeat=1.0))
    )
    slow, silent = await signup(client), await signup(client)
    hub = client.app[HUB]
    slow_writer = await _raw_websocket(client.host, client.port, f"/ws?token={slow.access_token}")
    silent_writer = await _raw_websocket(client.host, client.port, f"/ws?token={silent.access_token}")
    await eventually(lambda: slow.id in hub.users, what="the slow socket registered")
    (conn,) = hub.users[slow.id]
    while not conn.closing:  # the client reads nothing: the hub's buffer passes its bound
        hub.send(conn, b"\x81\x7e\x10\x00" + b"x" * 4096, "test")
        await asyncio.sleep(0)
    # The silent client never answers a ping: after twice the heartbeat it is a dead peer.
    await eventually(lambda: hub.dead_closed >= 1, timeout=20, what="the dead-peer close")
    samples, _, _ = await scrape(client)
    assert value(samples, "gochat_ws_closed_total", reason="slow_consumer") == 1
    assert value(samples, "gochat_ws_closed_total", reason="dead_peer") >= 1
    assert value(samples, "gochat_ws_frames_sent_total", type="test") >= 1
    slow_writer.close()
    silent_writer.close()


async def test_redis_up_is_reported_only_where_redis_is_configured(
    aiohttp_client: Callable[..., Any], settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    client = await aiohttp_client(create_app(settings.with_overrides(redis_url=redis_url, redis_prefix=redis_prefix)))
    samples, _, _ = await scrape(client)
    assert value(samples, "gochat_redis_up") == 1
    without, _, _ = await scrape(await aiohttp_client(create_app(settings)))
    assert ("gochat_redis_up", frozenset()) not in without


async def test_every_metric_a_scrape_shows_is_documented_in_docs_metrics_md(
    aiohttp_client: Callable[..., Any], settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    """docs/metrics.md names every family (counters by their `_total` sample), so a new metric
    cannot ship undocumented; and names no family the scrape lacks."""
    client = await aiohttp_client(create_app(settings.with_overrides(redis_url=redis_url, redis_prefix=redis_prefix)))
    _, helps, types = await scrape(client)
    # prometheus_client's `<name>_created` timestamps parse as families of their own: not metrics.
    families = {n: k for n, k in types.items() if not (n.endswith("_created") and n.removesuffix("_created") in types)}
    exposed = {name + ("_total" if kind == "counter" else "") for name, kind in families.items()}
    doc = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text()
    named = set(re.findall(r"`((?:gochat_|websocket_|messages_|db_write_|redis_pubsub_)[a-z0-9_]+)`", doc))
    assert len(exposed) >= 20
    assert exposed - named == set(), "add them to docs/metrics.md"
    assert named - exposed == set(), "docs/metrics.md names metrics /metrics does not show"
    assert all(len(text) > 10 for text in helps.values()), helps

"""OpenTelemetry over OTLP/HTTP, checked against a real receiver (tests/otlp_receiver.py): a message
posted on one node is one trace from the HTTP request to the delivery on another node (the
context rides in the Redis envelope); the metrics arrive too. Off when the endpoint is unset."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import eventually
from otlp_receiver import Received, Span, otlp_receiver
from test_cluster import Cluster, cluster, inbox, people, uid  # noqa: F401 (fixtures)

from gochat.app import create_app
from gochat.client import GochatClient
from gochat.keys import PROJECTIONS, RELAY, STORE, TELEMETRY
from gochat.settings import Settings

pytestmark = pytest.mark.cluster
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_METRIC_EXPORT_INTERVAL": "300"}


def spans(got: Received, name: str, **where: str) -> list[Span]:
    return [s for s in got.spans if s.name == name and all(getattr(s, k) == v for k, v in where.items())]


async def test_a_message_is_one_trace_from_the_request_to_the_delivery_on_another_node(
    cluster: Cluster,  # noqa: F811
    people: Callable[[str], Awaitable[GochatClient]],  # noqa: F811
) -> None:
    async with otlp_receiver() as (endpoint, got):
        n0, n1 = await cluster(2, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, **FAST_EXPORT)
        alice, bob = await people(n0.url), await people(n1.url)
        room = (await alice.create_room("traced", "group", members=[uid(bob)]))["id"]
        trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
        async with inbox(bob.live(room)) as on_bob:
            async with alice.session.post(
                f"{n0.url}/rooms/{room}/messages",
                json={"content": "follow me"},
                headers={"Authorization": f"Bearer {alice.access_token}", "traceparent": f"00-{trace_id}-{parent}-01"},
            ) as resp:
                assert resp.status == 201
                posted = await resp.json()
            await on_bob.wait_for(lambda f: f.get("id") == posted["id"], "the message on the other node")

        def request_span() -> Span | None:
            found = spans(got, "POST /rooms/{room_id}/messages", trace_id=trace_id, parent_span_id=parent)
            return found[0] if found else None

        await eventually(lambda: request_span() is not None, what="the request's span")
        request = request_span()
        assert request is not None
        assert request.node == "n0"
        await eventually(
            lambda: bool(spans(got, "events.append", trace_id=trace_id, parent_span_id=request.span_id)),
            what="the append's span under the request",
        )
        append = spans(got, "events.append", trace_id=trace_id)[0]

        def commit() -> Span | None:
            # Alone in its transaction the commit continues the trace; with others it links to it.
            for s in spans(got, "events.commit", node="n0"):
                if (s.trace_id == trace_id and s.parent_span_id == append.span_id) or trace_id in s.links:
                    return s
            return None

        await eventually(lambda: commit() is not None, what="the commit's span")
        committed = commit()
        assert committed is not None

        def delivered() -> bool:
            return any(
                s.attributes.get("gochat.event_id") == str(posted["id"])
                for s in spans(got, "relay.deliver", node="n1", trace_id=committed.trace_id)
                if s.parent_span_id == committed.span_id
            )

        await eventually(delivered, what="the delivery's span on the other node, in the commit's trace")
        await eventually(
            lambda: (
                {"n0", "n1"} <= got.metrics.get("messages_total", set())
                and "websocket_connections_open" in got.metrics
                and "db_write_latency_seconds_count" in got.metrics
            ),
            what="the metrics over OTLP from both nodes",
        )

        # A post over the WebSocket (pipelined: the socket subscribes to the room) is a frame's
        # trace of its own, with the append under it.
        async with inbox(alice.live(room)) as on_alice:
            ack = await on_alice.live.send_message(room, "over the socket")
            assert ack["type"] == "ack"

        def framed_append() -> bool:
            frames = {s.span_id: s for s in spans(got, "ws.frame", node="n0")}
            return any(s.parent_span_id in frames for s in spans(got, "events.append", node="n0"))

        await eventually(framed_append, what="the socket's frame span with its append under it")
        ws_frames = [s for s in got.spans if s.name == "ws.frame"]
        assert ws_frames
        assert all(s.parent_span_id == "" for s in ws_frames)  # a trace per frame


async def test_telemetry_is_off_and_absent_without_an_endpoint(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    app = client.app
    assert TELEMETRY not in app
    assert app[STORE].tracing is None
    assert app[RELAY].tracing is None
    assert app[PROJECTIONS].tracing is None
    assert (await client.get("/healthz")).status == 200

"""A real OTLP/HTTP receiver for the tests: an HTTP server on 127.0.0.1 that decodes the protobuf
requests of /v1/traces and /v1/metrics with opentelemetry-proto and keeps what arrived."""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    node: str  # the resource's service.instance.id
    links: tuple[str, ...]  # trace ids linked to
    attributes: dict[str, str]


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    metrics: dict[str, set[str]] = field(default_factory=dict)  # metric name -> nodes that sent it


def _body(request_bytes: bytes, encoding: str | None) -> bytes:
    return gzip.decompress(request_bytes) if encoding == "gzip" else request_bytes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[tuple[str, Received]]:
    got = Received()

    async def traces(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(_body(await request.read(), request.headers.get("Content-Encoding")))
        for rs in message.resource_spans:
            res = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    got.spans.append(
                        Span(
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            res.get("service.instance.id", ""),
                            tuple(link.trace_id.hex() for link in s.links),
                            {a.key: a.value.string_value or str(a.value.int_value) for a in s.attributes},
                        )
                    )
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    async def metrics(request: web.Request) -> web.Response:
        message = ExportMetricsServiceRequest()
        message.ParseFromString(_body(await request.read(), request.headers.get("Content-Encoding")))
        for rm in message.resource_metrics:
            res = {a.key: a.value.string_value for a in rm.resource.attributes}
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    got.metrics.setdefault(m.name, set()).add(res.get("service.instance.id", ""))
        return web.Response(
            body=ExportMetricsServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    app.router.add_post("/v1/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}", got
    finally:
        await runner.cleanup()

"""OpenTelemetry: traces and the Prometheus metrics over OTLP/HTTP, when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Unset, nothing here is imported or installed: every traced place holds `tracer = None` and takes
its plain path (one attribute test per request or frame, nothing per delivery).

Set, spans are made for HTTP requests (server spans, continuing a caller's `traceparent`),
WebSocket client frames, appends (each caller's wait, and each group-commit transaction with
links to the appends in it), projection catch-up pages, and deliveries: the relay puts the
commit's `traceparent` in the envelope it publishes, so a frame delivered on another node is a
span of the same trace. Providers are the app's own (never the process-global ones), so several
apps in one process keep apart. The exporters send from their own threads.

Metrics: every family of the app's Prometheus registry (metrics.py) is an observable instrument
read at each export: counters as counters, gauges as gauges, histograms as their `_count` and
`_sum` counters (OTLP histograms cannot be observed; the buckets stay on /metrics).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .metrics import Metrics

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import Tracer


class Telemetry:
    def __init__(self, endpoint: str, *, service: str, node_id: str, metrics: Metrics) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        base = endpoint.rstrip("/")
        resource = Resource.create({"service.name": service, "service.instance.id": node_id})
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
        self.tracer: Tracer = self.tracer_provider.get_tracer("gochat")
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics"))
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        self._propagator = TraceContextTextMapPropagator()
        self._bridge(metrics)

    # --- context across processes ----------------------------------------------------------------
    def extract(self, carrier: Mapping[str, str]) -> Context:
        """The caller's context from W3C `traceparent`/`tracestate` (HTTP headers, an envelope)."""
        return self._propagator.extract(carrier)

    def traceparent(self) -> str | None:
        """The current span's `traceparent`, to carry in an envelope."""
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return carrier.get("traceparent")

    # --- spans for the traced places ------------------------------------------------------------
    def start(
        self,
        name: str,
        *,
        parent: Context | None = None,
        links: Iterable[Any] = (),
        attributes: Mapping[str, Any] | None = None,
        kind: str = "internal",
    ) -> Any:
        """A started span (not made current): end it with `.end()`. `kind`: internal or server."""
        from opentelemetry.trace import SpanKind

        span_kind = SpanKind.SERVER if kind == "server" else SpanKind.INTERNAL
        return self.tracer.start_span(name, context=parent, kind=span_kind, links=list(links), attributes=attributes)

    def current(self, span: Any) -> Any:
        """Make `span` current for a block without ending it."""
        from opentelemetry.trace import use_span

        return use_span(span, end_on_exit=False)

    def link_to_current(self) -> Any:
        """A link to the current span (an append's, for the transaction that commits it), or None."""
        from opentelemetry.trace import Link, get_current_span

        context = get_current_span().get_span_context()
        return Link(context) if context.is_valid else None

    def parent_of(self, link: Any) -> Context:
        """A context whose parent is the span a link points at."""
        from opentelemetry.trace import NonRecordingSpan, set_span_in_context

        return set_span_in_context(NonRecordingSpan(link.context))

    def root(self) -> Context:
        """A context with no span: what starts a new trace (one per WebSocket frame)."""
        from opentelemetry.context import Context

        return Context()

    # --- the Prometheus registry over OTLP -------------------------------------------------------
    def _bridge(self, metrics: Metrics) -> None:
        meter = self.meter_provider.get_meter("gochat")
        for family in metrics.registry.collect():
            name, kind, doc = family.name, family.type, family.documentation
            if kind == "counter":
                meter.create_observable_counter(name + "_total", [_reader(metrics, name + "_total")], description=doc)
            elif kind == "gauge":
                meter.create_observable_gauge(name, [_reader(metrics, name)], description=doc)
            elif kind == "histogram":
                for suffix in ("_count", "_sum"):
                    meter.create_observable_counter(name + suffix, [_reader(metrics, name + suffix)], description=doc)

    def close(self) -> None:
        """Flush and stop (blocking: call it in a thread)."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def _reader(metrics: Metrics, sample_name: str) -> Any:
    from opentelemetry.metrics import Observation

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        out = []
        for family in metrics.registry.collect():
            for s in family.samples:
                if s.name == sample_name:
                    out.append(Observation(s.value, dict(s.labels)))
        return out

    return observe


def setup(endpoint: str | None, *, node_id: str, metrics: Metrics) -> Telemetry | None:
    return None if endpoint is None else Telemetry(endpoint, service="gochat", node_id=node_id, metrics=metrics)

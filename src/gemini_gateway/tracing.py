"""OpenTelemetry traces: one span per request, a child span per upstream attempt, sent over OTLP/HTTP.

Only when OTEL_EXPORTER_OTLP_ENDPOINT is set (and the `otel` extra installed): otherwise nothing
here imports OpenTelemetry, so an idle gateway carries none of it, and the request path pays one
`is None` test. Spans are made after the request ends from what its Exchange recorded (times,
attempts, statuses), so the dispatcher and the routes know nothing of tracing; the exporter sends
them in batches from its own thread. A caller's W3C `traceparent` makes the request span its child.

Attributes say what the metrics do, per request: the dialect, route, model, status, stream or
not, and per attempt the backend, the credential's masked label (never the secret), the model,
its status and error (redacted, as in records).
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from gemini_gateway.redaction import REDACTOR

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider  # type: ignore[import-not-found,unused-ignore]
    from opentelemetry.sdk.trace.export import SpanExporter  # type: ignore[import-not-found,unused-ignore]
    from opentelemetry.trace import Tracer

    from gemini_gateway.exchange import Exchange
    from gemini_gateway.observe import Finished

log = logging.getLogger("gemini_gateway.tracing")
TRACES_PATH = "/v1/traces"


def traces_url(endpoint: str) -> str:
    """OTEL_EXPORTER_OTLP_ENDPOINT is the collector's base URL; traces go to its /v1/traces."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


class Tracing:
    """Makes and exports the spans of finished requests (built by `start_tracing`)."""

    def __init__(self, provider: TracerProvider, replica: str) -> None:
        from opentelemetry import propagate, trace

        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("gemini_gateway")
        self.replica = replica
        self._propagate = propagate
        self._trace = trace

    def finished(self, call: Finished) -> None:
        self.record(call.scope, call.exchange, call.status, call.started, call.ended)

    def record(
        self, scope: dict[str, Any], exchange: Exchange | None, status: int, started: float, ended: float
    ) -> None:
        """The spans of one request that ran from `started` to `ended` (perf_counter seconds)."""
        offset = time.time_ns() - time.perf_counter_ns()  # perf_counter to wall-clock nanoseconds

        def ns(at: float) -> int:
            return offset + int(at * 1e9)

        parent = self._parent(scope)
        name = (
            f"{scope.get('method', 'GET')} {exchange.route if exchange and exchange.route else scope['path']}"
        )
        span = self.tracer.start_span(
            name, context=parent, kind=self._trace.SpanKind.SERVER, start_time=ns(started)
        )
        span.set_attribute("http.request.method", str(scope.get("method", "")))
        span.set_attribute("url.path", str(scope.get("path", "")))
        span.set_attribute("http.response.status_code", status)
        span.set_attribute("gemini_gateway.replica", self.replica)
        if exchange is not None:
            span.set_attribute("gemini_gateway.dialect", exchange.dialect)
            span.set_attribute("gemini_gateway.stream", exchange.stream)
            span.set_attribute("gemini_gateway.attempts", len(exchange.attempts))
            if exchange.model:
                span.set_attribute("gen_ai.request.model", exchange.model)
            if exchange.credential:
                span.set_attribute("gemini_gateway.credential", exchange.credential)
        if status >= 500:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        if exchange is not None and exchange.attempts:
            within = self._trace.set_span_in_context(span)
            for attempt in exchange.attempts:
                begun = attempt.started or started
                child = self.tracer.start_span(
                    f"upstream {attempt.backend}",
                    context=within,
                    kind=self._trace.SpanKind.CLIENT,
                    start_time=ns(begun),
                )
                child.set_attribute("gemini_gateway.backend", attempt.backend)
                child.set_attribute("gemini_gateway.credential", attempt.credential)
                if exchange.model:
                    child.set_attribute("gen_ai.request.model", exchange.model)
                if attempt.status is not None:
                    child.set_attribute("http.response.status_code", attempt.status)
                if attempt.error:
                    child.set_status(
                        self._trace.Status(self._trace.StatusCode.ERROR, REDACTOR.redact(attempt.error))
                    )
                child.end(end_time=ns(begun + attempt.duration_ms / 1000))
        span.end(end_time=ns(ended))

    def _parent(self, scope: dict[str, Any]) -> Any:
        carrier = {}
        for name, value in scope.get("headers", ()):
            if name in (b"traceparent", b"tracestate"):
                carrier[name.decode()] = value.decode("latin-1")
        return self._propagate.extract(carrier) if carrier else None

    def shutdown(self) -> None:
        """Send what is still batched (blocking: call from a thread)."""
        self.provider.shutdown()


def start_tracing(endpoint: str | None, replica: str, exporter: SpanExporter | None = None) -> Tracing | None:
    """Tracing to the OTLP/HTTP collector at `endpoint`, or None when there is none (or no SDK).

    `exporter` replaces the OTLP one (tests hand an in-memory exporter)."""
    if endpoint is None and exporter is None:
        return None
    try:
        from opentelemetry.sdk.resources import Resource  # type: ignore[import-not-found,unused-ignore]
        from opentelemetry.sdk.trace import TracerProvider  # type: ignore[import-not-found,unused-ignore]
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: no traces "
            "(pip install 'gemini-gateway[otel]')"
        )
        return None
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[import-not-found,unused-ignore]

        assert endpoint is not None
        exporter = OTLPSpanExporter(endpoint=traces_url(endpoint))
    # OTEL_RESOURCE_ATTRIBUTES, if set, is read by Resource.create.
    name = os.environ.get("OTEL_SERVICE_NAME") or "gemini-gateway"  # given attributes win over it
    resource = Resource.create({"service.name": name, "service.instance.id": replica})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    log.info("tracing: spans to %s", traces_url(endpoint) if endpoint else type(exporter).__name__)
    return Tracing(provider, replica)

"""OpenTelemetry traces sent over OTLP/HTTP to a collector on loopback (a tiny one, in this test).

A request that Google refused on one key and served on another is one server span with two
client spans below it, each naming its backend, masked credential, model and status; the
caller's traceparent makes the request span its child. Without an endpoint nothing is traced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import mask_secret
from tests.conftest import KEYS, GatewayFactory

MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Trace me"}]}]}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class Collector:
    """An OTLP/HTTP receiver: keeps the spans of every ExportTraceServiceRequest posted to it."""

    def __init__(self, trace_service: Any) -> None:
        self.spans: list[Any] = []
        self.paths: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = trace_service.ExportTraceServiceRequest.FromString(body)
                received.paths.append(self.path)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        received.spans.extend(scope.spans)
                answer = trace_service.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def collector() -> Iterator[Collector]:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    running = Collector(pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2"))
    yield running
    running.server.shutdown()


def attributes(span: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in span.attributes:
        value = item.value
        found[item.key] = getattr(value, value.WhichOneof("value"))
    return found


def test_a_request_is_one_span_with_a_child_per_upstream_attempt(
    gateway_factory: GatewayFactory, fake: FakeState, collector: Collector
) -> None:
    fake.add_fault(KEYS[0], "429", retry_delay="60s", model=MODEL, count=1)
    settings = {"gemini_api_keys": KEYS[:2], "otel_exporter_otlp_endpoint": collector.url + "/"}
    with gateway_factory(**settings) as running:
        for _ in range(2):  # least-busy with equal keys: the first key is tried within two calls
            answer = httpx.post(running.url + GEN, json=BODY, headers={"traceparent": PARENT})
            assert answer.status_code == 200
        running.gateway.tracing.provider.force_flush()
    assert set(collector.paths) == {"/v1/traces"}
    requests = [s for s in collector.spans if s.name.startswith("POST")]
    assert len(requests) == 2
    retried = next(s for s in requests if attributes(s)["gemini_gateway.attempts"] == 2)
    assert retried.trace_id.hex() == TRACE_ID  # the caller's trace goes on
    assert retried.parent_span_id.hex() == "00f067aa0ba902b7"
    assert attributes(retried)["gen_ai.request.model"] == MODEL
    assert attributes(retried)["http.response.status_code"] == 200
    children = sorted(
        (s for s in collector.spans if s.parent_span_id == retried.span_id),
        key=lambda s: s.start_time_unix_nano,
    )
    assert [s.name for s in children] == ["upstream api_key", "upstream api_key"]
    refused, served = (attributes(s) for s in children)
    assert (refused["http.response.status_code"], served["http.response.status_code"]) == (429, 200)
    assert refused["gemini_gateway.credential"] == mask_secret(KEYS[0])
    assert served["gemini_gateway.credential"] == mask_secret(KEYS[1])
    assert children[0].status.code == 2  # ERROR, with the upstream's message
    assert retried.start_time_unix_nano <= children[0].start_time_unix_nano
    assert children[1].end_time_unix_nano <= retried.end_time_unix_nano
    everything = b"".join(s.SerializeToString() for s in collector.spans)
    assert not any(key.encode() in everything for key in KEYS)  # masked labels only


def test_without_an_endpoint_nothing_is_traced(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory() as running:
        assert running.gateway.tracing is None
        assert httpx.post(running.url + GEN, json=BODY).status_code == 200

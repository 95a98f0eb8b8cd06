"""A Gemini-shaped fake upstream: Google's Generative Language API, offline and deterministic.

Users try the gateway with it; every test and benchmark runs against it. It answers like
Google (JSON shapes, SSE framing, error envelopes, 429 with RetryInfo), derives its answers from
the request so tests can see what arrived, records every call, and fails on demand.

    app = create_fake_app(FakeState(valid_keys={"k1"}))     # ASGI app
    serve_fake(port=8090)                                    # standalone, uvicorn
    with running_fake(state) as fake: ...                    # tests (gemini_gateway.fake_upstream.testing)

Scripting: `state.add_fault("k1", "429", count=2, retry_delay="7s")`, `state.calls`,
`state.reset()`, `state.config.merge({"stream_chunks": 20})`, or the same over HTTP on /_fake/*
(see `control`). A single streamed call can ask for its own split with the request header
`x-fake-stream-chunks: N`.
"""

from gemini_gateway.fake_upstream.app import FakeGeminiApp, create_fake_app
from gemini_gateway.fake_upstream.models import CATALOG, ModelInfo
from gemini_gateway.fake_upstream.server import serve_fake
from gemini_gateway.fake_upstream.state import FAULT_KINDS, CallRecord, FakeConfig, FakeState, Fault

__all__ = [
    "CATALOG",
    "FAULT_KINDS",
    "CallRecord",
    "FakeConfig",
    "FakeGeminiApp",
    "FakeState",
    "Fault",
    "ModelInfo",
    "create_fake_app",
    "serve_fake",
]

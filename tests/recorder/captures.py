"""Captures shaped like the ones the middleware leaves, for driving a sink without HTTP (the
inline writer's tests and bench/sink.py)."""

from __future__ import annotations

import time

import orjson

from gemini_gateway.exchange import Attempt, Exchange
from gemini_gateway.recorder.capture import Capture

PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"user-agent", b"wrk"),
    (b"content-type", b"application/json"),
    (b"x-goog-api-key", b"client-token-abcdef123456"),
    (b"content-length", b"89"),
]
EVENTS = [
    orjson.dumps(
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "word " * 5}]}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": i, "totalTokenCount": 10 + i},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "capture",
        }
    )
    for i in range(20)
]
ANSWER = orjson.dumps(
    {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "x" * 200}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 50, "totalTokenCount": 60},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "capture",
    }
)


def capture(n: int, stream: bool = False) -> Capture:
    """The n-th call's finished exchange: a 1 KB generateContent answer, or a 20-event stream."""
    request = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": f"call {n}: hello there"}]}]})
    now = time.perf_counter()
    exchange = Exchange(
        received_at=time.time(),
        started=now,
        dialect="gemini",
        route=PATH,
        model="gemini-2.5-flash",
        client_id="client",
        stream=stream,
        attempts=[Attempt("api_key", "key-...0001", 200, 1.0, None)],
        credential="key-...0001",
        credential_id="k1",
        status=200,
        events=list(EVENTS) if stream else None,
    )
    chunks = [b"data: " + e + b"\r\n\r\n" for e in EVENTS] if stream else [ANSWER]
    scope = {
        "method": "POST",
        "path": PATH,
        "query_string": b"alt=sse" if stream else b"",
        "headers": HEADERS,
    }
    return Capture(
        "full",
        scope,
        exchange,
        1 << 24,
        request_chunks=[request],
        request_size=len(request),
        status=200,
        response_headers=[(b"content-type", b"application/json")],
        response_chunks=chunks,
        response_size=sum(map(len, chunks)),
        chunk_count=len(chunks),
        first_byte=now,
        finished=now,
        complete=True,
    )

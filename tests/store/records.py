"""Records for store tests, built by the recorder's own row builder from synthetic captures."""

from __future__ import annotations

import time
from typing import Any

import orjson

from gemini_gateway.exchange import Attempt, Exchange
from gemini_gateway.recorder.capture import Capture
from gemini_gateway.recorder.rows import build_rows
from gemini_gateway.store.exchanges import RecordRows


def gemini_request(text: str, **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def gemini_answer(text: str, prompt_tokens: int = 10, output_tokens: int = 5) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
        },
        "modelVersion": "gemini-2.5-flash",
    }


def make_record(
    *,
    request: dict[str, Any] | bytes | None = None,
    response: dict[str, Any] | bytes | None = None,
    status: int = 200,
    model: str = "gemini-2.5-flash",
    client: str = "token:abc",
    credential: str = "fake…0001",
    credential_id: str | None = None,
    dialect: str = "gemini",
    at: float | None = None,
    duration_ms: float = 100.0,
    error: str | None = None,
    mode: str = "full",
    cap: int = 64 * 1024 * 1024,
) -> RecordRows:
    body = request if isinstance(request, bytes) else orjson.dumps(request or gemini_request("hello"))
    answer = response if isinstance(response, bytes) else orjson.dumps(response or gemini_answer("hi"))
    exchange = Exchange(dialect=dialect, model=model, client_id=client, credential=credential, error=error)
    exchange.received_at = at if at is not None else time.time()
    exchange.credential_id = credential_id or f"api_key:{credential}"
    exchange.status = status
    exchange.attempts.append(Attempt("api_key", credential, status, duration_ms / 2))
    path = f"/v1beta/models/{model}:generateContent"
    scope = {
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    capture = Capture(mode, scope, exchange, cap)  # type: ignore[arg-type]
    capture.request_chunks, capture.request_size = [body], len(body)
    capture.response_chunks, capture.response_size = [answer], len(answer)
    capture.status, capture.chunk_count, capture.complete = status, 1, True
    capture.response_headers = [(b"content-type", b"application/json")]
    capture.finished = exchange.started + duration_ms / 1000
    return build_rows(capture)

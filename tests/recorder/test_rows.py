"""Row building: stream merging, extraction, and secrets masked before anything is stored."""

from __future__ import annotations

import orjson

from gemini_gateway.exchange import Exchange
from gemini_gateway.merge.stream import answer_text, merge_event_bytes
from gemini_gateway.recorder.capture import Capture
from gemini_gateway.recorder.rows import SECRET_QUERY, build_rows, masked_headers, masked_query
from gemini_gateway.store.codec import decompress


def event(parts: list[dict[str, object]], **extra: object) -> bytes:
    candidate: dict[str, object] = {"content": {"role": "model", "parts": parts}, "index": 0}
    candidate.update({k: v for k, v in extra.items() if k in ("finishReason", "safetyRatings")})
    response: dict[str, object] = {"candidates": [candidate]}
    response.update({k: v for k, v in extra.items() if k in ("usageMetadata", "modelVersion")})
    return orjson.dumps(response)


def test_merge_joins_same_kind_text_and_keeps_thoughts_and_calls_apart() -> None:
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}, "thoughtSignature": "c2ln"}
    events = [
        event([{"text": "Let me ", "thought": True}]),
        event([{"text": "think.", "thought": True}]),
        event([{"text": "Hello"}], usageMetadata={"promptTokenCount": 3}),
        event([{"text": ", world"}]),
        event([call]),
        event(
            [{"text": "Done."}],
            finishReason="STOP",
            usageMetadata={"promptTokenCount": 3, "totalTokenCount": 9},
        ),
        b'{"candidates": [',  # a torn event (cut stream) is skipped, not fatal
    ]
    merged = merge_event_bytes(events)
    parts = merged["candidates"][0]["content"]["parts"]
    assert parts == [
        {"text": "Let me think.", "thought": True},
        {"text": "Hello, world"},
        call,
        {"text": "Done."},
    ]
    assert merged["candidates"][0]["finishReason"] == "STOP"
    assert merged["usageMetadata"] == {"promptTokenCount": 3, "totalTokenCount": 9}
    assert answer_text(merged) == "Hello, worldDone."


def test_secret_headers_and_query_values_are_masked() -> None:
    token = "client-token-0123456789abcdef"
    headers = masked_headers(
        [
            (b"authorization", f"Bearer {token}".encode()),
            (b"x-goog-api-key", token.encode()),
            (b"x-api-key", token.encode()),
            (b"cookie", f"session={token}; theme=dark".encode()),
            (b"user-agent", b"google-genai-sdk/1.0"),
        ]
    )
    assert token not in orjson.dumps(headers).decode()
    assert headers["authorization"].startswith("Bearer clie...")
    assert headers["user-agent"] == "google-genai-sdk/1.0"
    assert headers["cookie"].startswith("session=clie...") and "theme=" in headers["cookie"]
    query = masked_query(f"alt=sse&key={token}".encode())
    assert query is not None and token not in query and query.startswith("alt=sse&key=")


def test_stream_record_merges_events_and_counts_them() -> None:
    exchange = Exchange(model="gemini-2.5-flash", stream=True, status=200)
    exchange.events = [
        event([{"text": "Otters "}]),
        event(
            [{"text": "hold hands."}],
            finishReason="STOP",
            usageMetadata={
                "promptTokenCount": 4,
                "candidatesTokenCount": 3,
                "thoughtsTokenCount": 2,
                "totalTokenCount": 9,
            },
        ),
    ]
    scope = {
        "method": "POST",
        "path": "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        "query_string": b"alt=sse",
        "headers": [],
    }
    capture = Capture("full", scope, exchange, 1 << 20)
    body = orjson.dumps(
        {"contents": [{"parts": [{"text": "otters?"}]}], "generationConfig": {"maxOutputTokens": 50}}
    )
    capture.request_chunks, capture.request_size = [body], len(body)
    capture.status, capture.chunk_count, capture.complete = 200, 1, True  # both events in one write
    capture.finished = exchange.started + 0.05
    record = build_rows(capture)
    row = record.exchange
    assert row["chunk_count"] == 2 and row["stream"] is True  # the stream's events, not its writes
    assert (row["prompt_tokens"], row["candidates_tokens"], row["thoughts_tokens"], row["total_tokens"]) == (
        4,
        3,
        2,
        9,
    )
    assert row["generation_settings"] == {"generationConfig": {"maxOutputTokens": 50}}
    response = next(b for b in record.bodies if b["part"] == "response")
    merged = orjson.loads(decompress(response["data"], response["codec"]))
    assert answer_text(merged) == "Otters hold hands."


def test_client_that_went_away_is_recorded_as_499() -> None:
    exchange = Exchange(stream=True)
    scope = {
        "method": "POST",
        "path": "/v1beta/models/m:streamGenerateContent",
        "query_string": b"",
        "headers": [],
    }
    capture = Capture("metadata", scope, exchange, 1024)
    capture.status, capture.disconnected, capture.chunk_count = 200, True, 1
    capture.finished = exchange.started
    record = build_rows(capture)
    assert record.exchange["status"] == 499 and record.exchange["error"] == "client disconnected"
    assert record.bodies == []  # metadata mode stores no bodies


def test_queries_without_a_secret_name_are_kept_as_sent() -> None:
    # The fast path skips parsing when no "key"/"token" appears: every secret name must hold one.
    assert all("key" in name or "token" in name for name in SECRET_QUERY)
    assert masked_query(b"alt=sse&pageSize=5") == "alt=sse&pageSize=5"
    masked = masked_query(b"alt=sse&Api_Key=AIzaSyQueryTest0123456789")
    assert (
        masked is not None
        and "AIzaSyQueryTest0123456789" not in masked
        and masked.startswith("alt=sse&Api_Key=")
    )


def test_recorded_bodies_are_masked_whatever_path_they_took() -> None:
    """A body is scanned as it is recorded, whether or not it passed an error's redaction first."""
    key = "AIzaSyRecordedBodyKey000000000000000042"
    answer = orjson.dumps(
        {"error": {"code": 403, "message": f"Consumer 'api_key:{key}' has been suspended."}}
    )
    exchange = Exchange(model="gemini-2.5-flash", status=403)
    scope = {"method": "POST", "path": "/v1beta/models/m:generateContent", "query_string": b"", "headers": []}
    capture = Capture("full", scope, exchange, 1 << 20)
    capture.response_chunks, capture.response_size, capture.status = [answer], len(answer), 403
    capture.finished = exchange.started
    (body,) = build_rows(capture).bodies
    stored = decompress(body["data"], body["codec"])
    assert key.encode() not in stored and b"has been suspended" in stored


def test_tool_names_of_every_dialect_and_no_setting_read_as_a_name() -> None:
    """Responses tools carry `strict`, namespaces carry `tools`, hosted tools their options: names
    only are kept (a namespace's functions as `namespace.name`, a hosted tool as its type)."""
    from gemini_gateway.recorder.extract import generation_settings

    responses = {
        "tools": [
            {"type": "function", "name": "exec_command", "strict": False, "parameters": {}},
            {
                "type": "namespace",
                "name": "agents",
                "description": "d",
                "tools": [{"type": "function", "name": "spawn", "strict": False}],
            },
            {"type": "web_search", "external_web_access": False},
        ]
    }
    chat = {"tools": [{"type": "function", "function": {"name": "f", "strict": True}}]}
    anthropic = {
        "tools": [
            {
                "name": "Read",
                "input_schema": {},
                "cache_control": {"type": "ephemeral"},
                "defer_loading": True,
            },
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        ]
    }
    gemini = {
        "tools": [{"functionDeclarations": [{"name": "g"}]}, {"googleSearch": {}}, {"codeExecution": {}}]
    }
    names = [(generation_settings(body) or {}).get("tools") for body in (responses, chat, anthropic, gemini)]
    assert names == [
        ["exec_command", "agents.spawn", "web_search"],
        ["f"],
        ["Read", "web_search"],
        ["g", "googleSearch", "codeExecution"],
    ]

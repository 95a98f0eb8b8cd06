"""A record can never poison the recorder: whatever one exchange holds, the next ones are written.

A request body nested a few hundred levels deep (a JSON schema in OpenAI's `response_format` or
Gemini's `generationConfig.responseSchema`) is answered by upstream; its record is built from
the same bytes, and orjson refuses to serialise more than 255 levels. That record must be
stored in a reduced form or counted as lost with its reason, and recording must go on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import BadRequestError, OpenAI

from gemini_gateway.exchange import Exchange
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.recorder.capture import Capture
from gemini_gateway.recorder.inline import build_all
from gemini_gateway.recorder.rows import new_id
from gemini_gateway.recorder.spool import Spool
from gemini_gateway.store.exchanges import RecordRows
from tests.conftest import GatewayFactory
from tests.recorder.conftest import (
    CLIENT_TOKEN,
    RECORDING,
    marked_load,
    record,
    wait_for_records,
    wait_for_status,
)

MODEL = "gemini-2.5-flash"
NORMAL = 20


def nested_schema(levels: int) -> dict[str, Any]:
    """An object schema `levels` objects deep (two JSON levels each: the schema and its properties)."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


def openai_deep(url: str, levels: int) -> None:
    client = OpenAI(base_url=f"{url}/v1", api_key=CLIENT_TOKEN, max_retries=0)
    # Deeper than the door's limit (64 levels): refused with a 400, and still recorded.
    with pytest.raises(BadRequestError):
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "deep schema"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "deep", "schema": nested_schema(levels)},
            },
        )


def gemini_deep(url: str, levels: int) -> None:
    body = {
        "contents": [{"parts": [{"text": "deep schema"}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseSchema": nested_schema(levels)},
    }
    answer = httpx.post(
        f"{url}/v1beta/models/{MODEL}:generateContent",
        json=body,
        headers={"x-goog-api-key": CLIENT_TOKEN},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("writer", ["inline", "process"])
@pytest.mark.parametrize(("dialect", "levels"), [("openai", 130), ("gemini", 125)])
async def test_a_deep_body_does_not_stop_recording(
    gateway_factory: GatewayFactory, fake: FakeState, writer: str, dialect: str, levels: int
) -> None:
    with gateway_factory(**{**RECORDING, "recording_writer": writer}) as running:
        send = openai_deep if dialect == "openai" else gemini_deep
        await asyncio.to_thread(send, running.url, levels)
        done: list[int] = []
        await marked_load(running.url, NORMAL, done)
        assert len(done) == NORMAL

        # Every exchange is recorded: the deep one too, in full or reduced, and the 20 after it.
        items = await asyncio.to_thread(wait_for_records, running.url, NORMAL + 1)
        status = await asyncio.to_thread(wait_for_status, running.url, 10.0, lost=0, queued=0)
        assert status["healthy"], status
        assert len(items) == NORMAL + 1
        oldest = min(items, key=lambda i: i["received_at_ms"])
        details = await asyncio.to_thread(record, running.url, oldest["id"])
        assert details["status"] == 400
        request_body = details.get("request_body")
        # The body is kept (as text when it could not be kept as JSON), never silently dropped.
        assert request_body is not None and "deep schema" in str(request_body)


def capture_with(body: bytes) -> Capture:
    exchange = Exchange()
    exchange.status = 200
    scope = {"method": "POST", "path": "/v1/chat/completions", "query_string": b"", "headers": []}
    capture = Capture("full", scope, exchange, cap=1 << 20, status=200, complete=True)
    capture.request_chunks = [body]
    capture.request_size = len(body)
    capture.record_id = new_id()
    return capture


@pytest.mark.parametrize("levels", [127, 500, 1000, 5000])
def test_records_of_any_depth_build_and_spool(levels: int, tmp_path: Path) -> None:
    """Off the wire: building, spooling and reading back never recurse on what the client sent."""
    text = '{"model": "m", "response_format": ' + '{"a": ' * levels + "1" + "}" * levels + "}"
    lost: list[str] = []
    rows = build_all([capture_with(text.encode())], lambda capture, reason: lost.append(reason))
    assert not lost and len(rows) == 1
    spool = Spool(tmp_path)
    assert spool.append(rows) == 1
    spool.close()
    [path] = spool.take()
    [[back]] = list(Spool.read(path, 10))
    assert isinstance(back, RecordRows) and back.exchange["id"] == rows[0].exchange["id"]
    assert back.bodies[0]["data"] == rows[0].bodies[0]["data"]  # the body itself is kept whole


def test_a_record_that_cannot_be_built_is_kept_reduced_and_said(tmp_path: Path) -> None:
    """A stream whose merged answer nests past what orjson writes (a function call's arguments,
    from upstream): the record keeps its metadata and the bytes that passed, and says why."""
    args = '{"a": ' * 300 + "1" + "}" * 300
    event = (
        '{"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": ' + args + "}}]}}]}"
    )
    capture = capture_with(b'{"contents": []}')
    capture.exchange.stream = True
    capture.exchange.events = [event.encode()]
    reports: list[tuple[str, str]] = []
    [row] = build_all([capture], lambda kind, capture, reason: reports.append((kind, reason)))
    assert [kind for kind, _ in reports] == ["reduced"] and "Recursion" in reports[0][1]
    assert row.exchange["status"] == 200 and "record reduced" in row.exchange["error"]
    assert {b["part"]: b["data"] for b in row.bodies} == {
        "request": b'{"contents": []}',
        "response": event.encode(),
    }
    # The reduced record goes to the spool and back like any other.
    assert Spool.write_file(tmp_path, [row]) == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"contents": [], "tools": [{"functionDeclarations": 1.0}]}',
        b'{"contents": [], "tools": [{"function": {"name": [[["n"]]]}}], "model": {"a": 1}}',
        b'{"contents": [], "tools": 7, "generationConfig": []}',
    ],
)
def test_odd_shapes_still_build_a_full_record(body: bytes) -> None:
    """What the door lets through (or answers with a 4xx) is recorded in full, not reduced."""
    capture = capture_with(body)
    capture.exchange.stream = True
    capture.exchange.events = [
        b'{"candidates": 3}',
        b'{"candidates": [{"index": "x", "content": {"parts": 1}}]}',
    ]
    reports: list[str] = []
    [row] = build_all([capture], lambda kind, capture, reason: reports.append(reason))
    assert reports == [] and row.exchange["error"] is None
    assert row.bodies[0]["data"] == body

"""A capture sent to the recorder process builds the same record there as it would here."""

from __future__ import annotations

import asyncio
import pickle

import orjson
import pytest

from gemini_gateway.exchange import Attempt, Exchange
from gemini_gateway.recorder.capture import Capture, sealed_state
from gemini_gateway.recorder.rows import SECRET_HEADERS, build_rows, mask_header, presented_tokens
from gemini_gateway.recorder.wire import (
    capture_of,
    entry_of,
    frame,
    from_wire,
    masked_for_disk,
    read_frame,
    to_wire,
    unframe,
)
from gemini_gateway.redaction import REDACTOR, forms_bytes

SECRET_KEY = "AIzaSyWireTest0123456789abcdefghij"


def capture(stream: bool) -> Capture:
    exchange = Exchange(
        model="gemini-2.5-flash", client_id="token:ab12", credential="AIza...ghij", stream=stream
    )
    exchange.credential_id, exchange.status, exchange.upstream_ms = "api_key:1", 200, 12.5
    exchange.attempts = [
        Attempt("api_key", "AIza...0001", 429, 3.0, f"quota for key {SECRET_KEY} exhausted"),
        Attempt("api_key", "AIza...ghij", 200, 9.5),
    ]
    scope = {
        "method": "POST",
        "path": "/v1beta/models/gemini-2.5-flash:"
        + ("streamGenerateContent" if stream else "generateContent"),
        "query_string": b"alt=sse" if stream else b"",
        "headers": [(b"content-type", b"application/json"), (b"x-goog-api-key", b"client-token-123456")],
    }
    result = Capture("full", scope, exchange, 1 << 20)
    body = orjson.dumps(
        {"contents": [{"parts": [{"text": "hello"}]}], "generationConfig": {"temperature": 0.2}}
    )
    result.request_chunks, result.request_size = [body[:10], body[10:]], len(body)
    answer = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Hi there"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
    }
    if stream:
        first = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi "}]}}]}
        last = {
            **answer,
            "candidates": [{**answer["candidates"][0], "content": {"parts": [{"text": "there"}]}}],
        }
        exchange.events = [orjson.dumps(first), orjson.dumps(last)]
        result.response_chunks = [b"data: " + e + b"\r\n\r\n" for e in exchange.events]
    else:
        result.response_chunks = [orjson.dumps(answer)]
    result.response_size = sum(len(c) for c in result.response_chunks)
    result.status, result.chunk_count, result.complete = 200, len(result.response_chunks), True
    result.response_headers = [(b"content-type", b"application/json")]
    result.first_byte = exchange.started + 0.020
    result.finished = exchange.started + 0.050
    return result


def test_a_capture_survives_the_trip_and_builds_the_same_record() -> None:
    for stream in (False, True):
        original = capture(stream)
        here = build_rows(original)
        message = unframe(frame(("records", 7, [to_wire(original, "id-123")])))
        assert message[:2] == ("records", 7)
        arrived = from_wire(message[2][0], 7)
        there = build_rows(arrived)
        assert arrived.journal == 7 and there.exchange["id"] == "id-123"
        for row in (here.exchange, there.exchange):
            row.pop("id")
        assert there.exchange == here.exchange
        assert [(b["part"], b["data"]) for b in there.bodies] == [(b["part"], b["data"]) for b in here.bodies]
        assert there.exchange["duration_ms"] == 50.0 and there.exchange["first_byte_ms"] == 20.0


def test_errors_are_redacted_before_they_leave_the_gateway() -> None:
    REDACTOR.add(SECRET_KEY)
    wire = to_wire(capture(False), "id-1")
    assert SECRET_KEY.encode() not in frame(wire)
    attempts = build_rows(from_wire(wire)).exchange["attempts"]
    assert attempts[0]["error"].startswith("quota for key AIza") and SECRET_KEY not in attempts[0]["error"]


def test_frames_are_read_back_in_order_and_the_end_is_none() -> None:
    async def scenario() -> list[object]:
        reader = asyncio.StreamReader()
        reader.feed_data(frame(("settled", 1, {})) + frame(("stop",)) + frame(("x",))[:3])
        reader.feed_eof()
        return [await read_frame(reader) for _ in range(3)]

    assert asyncio.run(scenario()) == [("settled", 1, {}), ("stop",), None]  # a torn frame ends the stream


def test_a_sealed_exchange_reaches_the_writer_process_as_its_journal_entry() -> None:
    """The writer process is sent the journal entry's own bytes (credentials masked) with the
    presented token beside it: its record is the one built from the raw exchange, a token
    written in any encoding included."""
    token = "client-token-0123456789"
    odd = "".join(f"%{ord(ch):02x}" if i % 3 == 0 else ch for i, ch in enumerate(token))
    original = capture(False)
    original.scope["headers"] = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"x-goog-user-project", token.encode()),
    ]
    original.request_chunks = [
        b'{"contents": [{"parts": [{"text": "' + odd.encode() + b" " + token.encode() + b'"}]}]}'
    ]
    original.request_size = len(original.request_chunks[0])
    original.record_id = "id-9"
    wire, presented = masked_for_disk(to_wire(original, "id-9"))
    original.sealed, original.sealed_as, original.presented = (
        pickle.dumps(wire),
        sealed_state(original),
        presented,
    )
    entry = entry_of(original)
    assert entry[0] is original.sealed and token.encode() not in entry[0]
    there = build_rows(capture_of(unframe(frame(("records", 1, [entry])))[2][0], 1)).exchange
    here = build_rows(original).exchange
    assert there == here and token not in orjson.dumps(there).decode()
    bodies = [b["data"] for b in build_rows(capture_of(entry)).bodies]
    assert bodies == [b["data"] for b in build_rows(original).bodies]
    assert all(token.encode() not in body and odd.encode() not in body for body in bodies)

    original.exchange.status, original.exchange.error = 499, "client disconnected"  # after its last byte
    resent = entry_of(original)
    assert resent[0] is not original.sealed
    assert build_rows(capture_of(resent)).exchange["status"] == 499


TOKEN = "client/token+0123456789"  # "/" and "+" have other forms in URLs and JSON
CASES = {
    "credential headers only": (
        [
            (b"host", b"gw"),
            (b"x-goog-api-key", TOKEN.encode()),
            (b"authorization", b"Bearer " + TOKEN.encode()),
        ],
        b"",
        [(b"content-type", b"application/json")],
    ),
    "echoed in other headers, both ways": (
        [(b"authorization", b"Bearer " + TOKEN.encode()), (b"x-goog-user-project", b"p-" + TOKEN.encode())],
        b"alt=sse",
        [(b"x-echo", b"client%2Ftoken%2B0123456789"), (b"set-cookie", b"s=" + TOKEN.encode())],
    ),
    "a credential header not in lower case": (
        [(b"X-Goog-Api-Key", TOKEN.encode()), (b"cookie", b"a=cookie-value-0123456789; b")],
        b"",
        [],
    ),
    "in the query": (
        [(b"x-trace", b"t-" + TOKEN.encode())],
        b"KEY=" + TOKEN.replace("/", "%2F").replace("+", "%2B").encode() + b"&alt=sse",
        [(b"x-echo", TOKEN.encode())],
    ),
    "nothing presented": ([(b"cookie", b"session-cookie-0123456789")], b"", [(b"x-echo", b"plain")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_journal_masks_headers_as_the_record_finds_tokens(case: str) -> None:
    """The crash journal finds the presented tokens in the same pass that masks the credential
    headers, and searches the other values only once for them: it must find what
    `rows.presented_tokens` finds and mask each header as a header-by-header pass would."""
    request_headers, query, response_headers = CASES[case]
    original = capture(False)
    original.scope["headers"], original.scope["query_string"] = request_headers, query
    original.response_headers = response_headers
    wire, presented = masked_for_disk(to_wire(original, "id-1"))
    expected = presented_tokens(request_headers, query)
    assert set(presented) == expected and len(presented) == len(expected)
    forms = [pair for token in expected for pair in forms_bytes(token, "latin-1")]

    def one_by_one(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        masked = []
        for key, value in headers:
            if key.decode() in SECRET_HEADERS:
                value = mask_header(key.decode(), value.decode("latin-1")).encode("latin-1")
            else:
                for form, mask in forms:
                    value = value.replace(form, mask)
            masked.append((key, value))
        return masked

    assert wire[6] == one_by_one(request_headers) and wire[23] == one_by_one(response_headers)
    on_disk = pickle.dumps(wire)
    assert all(token.encode() not in on_disk for token in expected)
    if case == "credential headers only":
        assert wire[23] is response_headers  # nothing to change: not copied

"""What crosses the pipe between the gateway and its recorder process: captures and messages.

A capture travels as a flat tuple of plain values (pickled, a whole batch per frame): a few
microseconds on the request path's side, where building rows would take a hundred. Clock
readings are sent relative to the exchange's start, so the two processes need no shared clock.
Error texts are redacted before they leave, as the gateway knows secrets the writer does not.
Frames are a 4-byte big-endian length and a pickle; both ends are this package, nothing else.
"""

from __future__ import annotations

import asyncio
import functools
import pickle
import struct
from typing import Any
from urllib.parse import parse_qsl, urlencode

from gemini_gateway.exchange import Attempt, Exchange
from gemini_gateway.recorder.capture import Capture, sealed_state
from gemini_gateway.recorder.rows import (
    CACHED_VALUES,
    PRESENTING,
    SECRET_HEADER_BYTES,
    SECRET_QUERY,
    mask_header,
    new_id,
    query_tokens,
    token_of,
)
from gemini_gateway.redaction import REDACTOR, forms_bytes, mask_secret

Wire = tuple[Any, ...]
# An exchange as a frame to the writer process carries it: its pickled wire tuple (the journal
# entry's payload) and the tokens its caller presented (see Capture.presented).
Entry = tuple[bytes, tuple[str, ...]]
_LENGTH = struct.Struct("!I")


def _redacted(text: str | None) -> str | None:
    return REDACTOR.redact(text) if text else text


def to_wire(capture: Capture, record_id: str) -> Wire:
    exchange = capture.exchange
    scope = capture.scope
    started = exchange.started
    events = exchange.events if exchange.stream and exchange.events else None
    return (
        record_id,
        capture.mode,
        capture.cap,
        scope.get("method", ""),
        scope.get("path", ""),
        scope.get("query_string", b""),
        scope.get("headers", []),
        exchange.received_at,
        exchange.dialect,
        exchange.route,
        exchange.model,
        exchange.client_id,
        exchange.stream,
        [(a.backend, a.credential, a.status, a.duration_ms, _redacted(a.error)) for a in exchange.attempts],
        exchange.credential,
        exchange.credential_id,
        exchange.upstream_ms,
        exchange.status,
        _redacted(exchange.error),
        events,
        b"".join(capture.request_chunks),
        capture.request_size,
        capture.status,
        capture.response_headers,
        None if events else b"".join(capture.response_chunks),  # a stream is recorded from its events
        capture.response_size,
        capture.chunk_count,
        None if capture.first_byte is None else capture.first_byte - started,
        capture.finished - started,
        _redacted(capture.failure),
        capture.complete,
        capture.disconnected,
    )


def from_wire(wire: Wire, ticket: int | None = None) -> Capture:
    """A capture again; `ticket` is what it settles under (see sink.py): the writer process's frame."""
    (
        record_id, mode, cap, method, path, query_string, headers,
        received_at, dialect, route, model, client_id, stream, attempts, credential, credential_id,
        upstream_ms, exchange_status, exchange_error, events,
        request_body, request_size, status, response_headers, response_body, response_size,
        chunk_count, first_byte, finished, failure, complete, disconnected,
    ) = wire  # fmt: skip
    exchange = Exchange(
        received_at=received_at,
        started=0.0,
        dialect=dialect,
        route=route,
        model=model,
        client_id=client_id,
        stream=stream,
        attempts=[Attempt(*attempt) for attempt in attempts],
        credential=credential,
        credential_id=credential_id,
        upstream_ms=upstream_ms,
        status=exchange_status,
        error=exchange_error,
        events=events,
    )
    scope = {"method": method, "path": path, "query_string": query_string, "headers": headers}
    return Capture(
        mode,
        scope,
        exchange,
        cap,
        request_chunks=[request_body] if request_body else [],
        request_size=request_size,
        status=status,
        response_headers=response_headers,
        response_chunks=[response_body] if response_body else [],
        response_size=response_size,
        chunk_count=chunk_count,
        first_byte=first_byte,
        finished=finished,
        failure=failure,
        complete=complete,
        disconnected=disconnected,
        record_id=record_id,
        journal=ticket,
    )


def entry_of(capture: Capture) -> Entry:
    """What a frame carries of an exchange: its journal entry's bytes when it was sealed and has not
    changed since (see Recorder.seal), else its wire tuple pickled here."""
    if capture.sealed is not None and capture.sealed_as == sealed_state(capture):
        return capture.sealed, capture.presented
    try:
        wire = to_wire(capture, capture.record_id or new_id())
        return pickle.dumps(wire, protocol=pickle.HIGHEST_PROTOCOL), ()
    except Exception:
        if capture.sealed is None:
            raise
        return capture.sealed, capture.presented  # as it was when its last byte left


def capture_of(entry: Entry, ticket: int | None = None) -> Capture:
    """The capture again, on the other side of a frame (or of this side's spool)."""
    payload, presented = entry
    capture = from_wire(pickle.loads(payload), ticket)
    capture.presented = presented
    return capture


def frame(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


def unframe(data: bytes) -> Any:
    """The message in one whole frame."""
    return pickle.loads(data[_LENGTH.size :])


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message, or None at the end of the stream (the other side closed or died)."""
    try:
        header = await reader.readexactly(_LENGTH.size)
        (length,) = _LENGTH.unpack(header)
        return pickle.loads(await reader.readexactly(length))
    except asyncio.IncompleteReadError:
        return None


# Where `to_wire` puts what a client's credentials can be in (see `from_wire` for the whole order).
_QUERY, _HEADERS, _EVENTS, _REQUEST_BODY, _RESPONSE_HEADERS, _RESPONSE_BODY = 5, 6, 19, 20, 23, 24
_PATH, _ROUTE, _MODEL = 4, 9, 10  # names a client chose: its token may stand there (swapped variables)
# A credential header's (name, value) -> its masked value and the token it presents (if any).
_disk_values: dict[tuple[bytes, bytes], tuple[bytes, str | None]] = {}
_SECRET_QUERY_BYTES = tuple(name.encode() for name in SECRET_QUERY)


def masked_for_disk(wire: Wire) -> tuple[Wire, tuple[str, ...]]:
    """The wire with the caller's credentials masked, for the crash journal, and the tokens the
    caller presented. The journal lies on disk until its record is stored, and no token may be kept
    there in full. This runs on the request path, so it does only what that needs (a few
    microseconds): credential headers masked (remembered per value: a client presents the same
    token call after call), a presented token found by substring search in each of the forms
    Google or a client may print it in and replaced wherever else it stands. The record built from
    it later masks everything else, as from the raw wire (masking what is masked changes nothing);
    the writer process is handed the presented tokens beside it (in memory, never on disk), so
    that its records mask them as thoroughly as records built from the raw wire.

    The presented tokens are those `rows.presented_tokens` finds, found here in the same pass over
    the request headers that masks their credential headers."""
    raw_headers, raw_query = wire[_HEADERS], wire[_QUERY]
    request_headers, tokens, plain = _secrets_masked(raw_headers, True)
    response_headers, _, response_plain = _secrets_masked(wire[_RESPONSE_HEADERS], False)
    if raw_query:
        tokens += query_tokens(raw_query)
    presented = frozenset(tokens)
    safe = list(wire)
    if not presented:
        text_forms: tuple[tuple[bytes, bytes], ...] = ()
        body_forms: tuple[tuple[bytes, bytes], ...] = ()
    else:
        text_forms, body_forms = _forms_of(presented)
        # One search of all the other header values (a secret cannot span the line break joining
        # two): the usual record's token stands only in its credential headers, masked above.
        plain += response_plain
        if _holds(b"\n".join(plain), text_forms):
            request_headers = _forms_masked(request_headers, text_forms)
            response_headers = _forms_masked(response_headers, text_forms)
    safe[_HEADERS] = request_headers
    safe[_RESPONSE_HEADERS] = response_headers
    if raw_query:
        lowered = raw_query.lower()
        # Every SECRET_QUERY name holds "key" or "token": most queries ("alt=sse") stop at that.
        # find, not `in`: see `_holds`.
        if (lowered.find(b"key") >= 0 or lowered.find(b"token") >= 0) and any(
            lowered.find(name) >= 0 for name in _SECRET_QUERY_BYTES
        ):
            pairs = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)
            clean = [(k, mask_secret(v) if k.lower() in SECRET_QUERY else v) for k, v in pairs]
            safe[_QUERY] = urlencode(clean).encode("latin-1")
        safe[_QUERY] = _without(safe[_QUERY], text_forms)
    if body_forms:
        for at in (_REQUEST_BODY, _RESPONSE_BODY):
            safe[at] = _without(safe[at], body_forms)
        for at in (_PATH, _ROUTE, _MODEL):
            name = safe[at]
            if name:
                for token in presented:
                    if token in name:
                        name = name.replace(token, mask_secret(token))
                safe[at] = name
        events = safe[_EVENTS]
        if events and _holds(b"\n".join(events), body_forms):  # one search for all, not one per event
            safe[_EVENTS] = [_without(event, body_forms) for event in events]
    return tuple(safe), tuple(presented)


@functools.lru_cache(maxsize=256)
def _forms_of(
    presented: frozenset[str],
) -> tuple[tuple[tuple[bytes, bytes], ...], tuple[tuple[bytes, bytes], ...]]:
    """The presented tokens' forms as header and query bytes (latin-1) and as body bytes (utf-8)."""
    text = tuple(pair for token in presented for pair in forms_bytes(token, "latin-1"))
    body = tuple(pair for token in presented for pair in forms_bytes(token, "utf-8"))
    return text, body


def _secrets_masked(
    headers: list[tuple[bytes, bytes]], request: bool
) -> tuple[list[tuple[bytes, bytes]], list[str], list[bytes]]:
    """The headers with their credential headers masked (the list itself when none changes), the
    tokens the request's headers present (as `rows.presented_tokens`), and the other values.

    ASGI header names are lower case already; a credential header's masked value and token are
    remembered by its name and value, as a client presents the same one call after call."""
    clean = headers
    tokens: list[str] = []
    plain: list[bytes] = []
    for at, (key, value) in enumerate(headers):
        if key not in SECRET_HEADER_BYTES:
            plain.append(value)
            if request and not key.islower() and key.lower() in PRESENTING:
                token = token_of(value)  # not masked as a credential header: its forms are, below
                if token is not None:
                    tokens.append(token)
            continue
        try:
            masked, token = _disk_values[key, value]
        except KeyError:
            masked = mask_header(key.decode("latin-1"), value.decode("latin-1")).encode("latin-1")
            token = token_of(value) if key in PRESENTING else None
            if len(_disk_values) >= CACHED_VALUES:
                _disk_values.clear()
            _disk_values[key, value] = masked, token
        if request and token is not None:
            tokens.append(token)
        if masked != value:
            if clean is headers:
                clean = list(headers)
            clean[at] = (key, masked)
    return clean, tokens, plain


def _forms_masked(
    headers: list[tuple[bytes, bytes]], forms: tuple[tuple[bytes, bytes], ...]
) -> list[tuple[bytes, bytes]]:
    """The headers with every form of a presented token masked in the values of all but the
    credential headers (masked as such already)."""
    clean = headers
    for at, (key, value) in enumerate(headers):
        if key in SECRET_HEADER_BYTES:
            continue
        masked = value
        for form, mask in forms:  # a plain loop: no generator per header
            if masked.find(form) >= 0:
                masked = masked.replace(form, mask)
        if masked != value:
            if clean is headers:
                clean = list(headers)
            clean[at] = (key, masked)
    return clean


def _holds(data: bytes, forms: tuple[tuple[bytes, bytes], ...]) -> bool:
    # find, not `in`: on CPython 3.11 `bytes in bytes` first tries the needle as an int and raises
    # (and clears) a TypeError, a few thousand instructions each, and this runs per form per record.
    return any(data.find(form) >= 0 for form, _ in forms)


def _without(data: bytes | None, forms: tuple[tuple[bytes, bytes], ...]) -> bytes | None:
    if data:
        for form, masked in forms:
            if data.find(form) >= 0:  # find: see `_holds`
                data = data.replace(form, masked)
    return data

"""Turn a `Capture` into the rows the store keeps (runs in a worker thread, off the request path).

Secrets are removed here, once, before anything reaches the store or the spool: credential
headers and `key=`-like query values are masked; every other header and query value, the bodies
and the error texts go through the redactor, which also masks the token the caller presented
wherever else it appears (`x-goog-user-project`, `?api-key=`, ...).
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from gemini_gateway.merge.stream import merge_event_bytes
from gemini_gateway.recorder import extract
from gemini_gateway.recorder.capture import Capture
from gemini_gateway.redaction import MIN_SECRET, REDACTOR, mask_secret
from gemini_gateway.store.codec import DEFAULT_CODEC, cap_body, choose_codec, compress
from gemini_gateway.store.exchanges import RecordRows
from gemini_gateway.store.jsonsafe import STORED_DEPTH, within_depth

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-goog-api-key",
        "x-api-key",
        "api-key",
        "cookie",
        "set-cookie",
        "x-admin-token",
        "x-csrf-token",  # the admin UI's playground sends it with the session cookie
    }
)
SECRET_HEADER_BYTES = frozenset(name.encode() for name in SECRET_HEADERS)
PRESENTING = SECRET_HEADER_BYTES - {b"cookie", b"set-cookie"}  # headers that carry a credential
CACHED_VALUES = 1024  # credential header values remembered, token and mask
_tokens_of: dict[bytes, str | None] = {}
SECRET_QUERY = frozenset({"key", "api_key", "api-key", "apikey", "access_token", "token"})
STATUS_CLIENT_GONE = 499
METADATA_BYTES = 1024


# Record ids: a random per-process prefix and a counter. Unique like uuid4 (80 random bits per
# process), without a urandom call per record; the spool's exactly-once replay keys on them.
# The gateway process (replica) whose records this process builds: set once by the recorder, from
# the gateway's settings also in its writer process, whose own pid is not the one that served.
REPLICA: list[str | None] = [None]
_ID_PREFIX = uuid.uuid4().hex[:20]
_ID_COUNTER = itertools.count()


def new_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFF:012x}"


def mask_header(name: str, value: str) -> str:
    if name not in SECRET_HEADERS:
        return value
    if name in ("cookie", "set-cookie"):
        return "; ".join(
            f"{key.strip()}={mask_secret(val)}" if sep else mask_secret(key)
            for key, sep, val in (item.partition("=") for item in value.split(";"))
        )
    scheme, sep, credentials = value.partition(" ")
    if sep and credentials:
        return f"{scheme} {mask_secret(credentials.strip())}"
    return mask_secret(value)


def presented_tokens(raw_headers: list[tuple[bytes, bytes]], raw_query: bytes) -> frozenset[str]:
    """What the caller sent as credentials (right or wrong), to be masked wherever else it appears.

    A credential header's token is remembered by its value, as a client presents the same one call
    after call, and most headers cost one set lookup (ASGI header names are lower case). The crash
    journal's masking (wire.masked_for_disk) finds the same on the request path, its own way."""
    found: list[str] = []
    for key, value in raw_headers:
        if key in PRESENTING or (not key.islower() and key.lower() in PRESENTING):
            token = token_of(value)
            if token is not None:
                found.append(token)
    if raw_query:
        found += query_tokens(raw_query)
    return frozenset(found)


def token_of(value: bytes) -> str | None:
    """The token a credential header's value presents, if it is long enough to be one."""
    try:
        return _tokens_of[value]
    except KeyError:
        pass
    scheme, sep, credentials = value.decode("latin-1").strip().partition(" ")
    token = credentials.strip() if sep else scheme
    found = token if len(token) >= MIN_SECRET else None
    if len(_tokens_of) >= CACHED_VALUES:
        _tokens_of.clear()
    _tokens_of[value] = found
    return found


def query_tokens(raw_query: bytes) -> list[str]:
    """The values of a query's credential parameters (`key=`, `access_token=`, ...)."""
    lowered = raw_query.lower()
    # Every SECRET_QUERY name holds one; find, not `in` (see wire._holds).
    if lowered.find(b"key") < 0 and lowered.find(b"token") < 0:
        return []
    pairs = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)
    return [v for k, v in pairs if k.lower() in SECRET_QUERY and len(v) >= MIN_SECRET]


def masked_headers(raw: list[tuple[bytes, bytes]], presented: frozenset[str] = frozenset()) -> dict[str, str]:
    pairs = [(key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in raw]
    # One redaction over all the values but the credential headers' (masked as such below): a secret
    # cannot span the line break between two values, so where the whole passes unchanged, so does
    # each value, and most records need no redaction per header.
    plain = "\n".join([text for name, text in pairs if name not in SECRET_HEADERS])
    each = REDACTOR.redact(plain, presented) != plain
    headers: dict[str, str] = {}
    for name, text in pairs:
        if name in SECRET_HEADERS:
            text = mask_header(name, text)
        elif each:
            text = REDACTOR.redact(text, presented)
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return headers


def masked_query(raw: bytes, presented: frozenset[str] = frozenset()) -> str | None:
    """The query as sent, every parameter (not only the credential ones) cleared of secrets."""
    if not raw:
        return None
    sent = raw.decode("latin-1")
    pairs = parse_qsl(sent, keep_blank_values=True)
    clean = [
        (
            REDACTOR.redact(k, presented),
            mask_secret(v) if k.lower() in SECRET_QUERY else REDACTOR.redact(v, presented),
        )
        for k, v in pairs
    ]
    return sent if clean == pairs and REDACTOR.redact(sent, presented) == sent else urlencode(clean)


def _json(body: bytes) -> Any:
    if not body or body[:1] not in (b"{", b"[", b" ", b"\n"):
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _header(headers: dict[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value[:100] if value else None


def build_rows(capture: Capture, codec: str = DEFAULT_CODEC) -> RecordRows:
    exchange = capture.exchange
    scope = capture.scope
    presented = presented_tokens(scope.get("headers", []), scope.get("query_string", b""))
    if capture.presented:  # a journal entry's headers hold them masked already (see wire.py)
        presented = presented.union(capture.presented)
    request_headers = masked_headers(scope.get("headers", []), presented)
    response_headers = masked_headers(capture.response_headers, presented)
    request_body = REDACTOR.redact_bytes(b"".join(capture.request_chunks), presented)
    request = _json(request_body)

    # The answer: a stream's teed canonical events merged into one response, else the bytes sent.
    merged: dict[str, Any] | None = None
    if exchange.stream and exchange.events:
        merged = merge_event_bytes(exchange.events)
        response_body = orjson.dumps(merged)
        response_type: str | None = "application/json"
        response_total = len(response_body)
    else:
        response_body = b"".join(capture.response_chunks)
        response_type = _header(response_headers, "content-type")
        response_total = capture.response_size
    response_body = REDACTOR.redact_bytes(response_body, presented)  # a stream's error event was teed raw
    response = merged if merged is not None else _json(response_body)

    status, error = _outcome(capture, presented)
    usage = extract.usage(response)
    model = exchange.model or (request.get("model") if isinstance(request, dict) else None)
    if not isinstance(model, str):  # str() of a client's nested value could be huge, or recurse
        model = None
    # A client's token where a model name or an id goes (swapped variables) is masked there too.
    model = REDACTOR.redact(model, presented) if model else None
    settings = extract.generation_settings(request)
    if settings is not None:  # a response schema can nest deeper than the JSON columns take
        settings = within_depth(settings, STORED_DEPTH, request_body)
    row: dict[str, Any] = {
        "id": capture.record_id or new_id(),
        "replica": REPLICA[0],
        "received_at_ms": int(exchange.received_at * 1000),
        "mode": capture.mode,
        "dialect": exchange.dialect[:16],
        "route": REDACTOR.redact(exchange.route or scope.get("path", ""), presented)[:300],
        "method": scope.get("method", "")[:10],
        "path": REDACTOR.redact(scope.get("path", ""), presented)[:500],
        "query": masked_query(scope.get("query_string", b""), presented),
        "model": model.removeprefix("models/")[:128] if model else None,
        "client_id": exchange.client_id,
        "credential": exchange.credential,
        "credential_id": exchange.credential_id,
        "stream": exchange.stream,
        "status": status,
        "error": error,
        "duration_ms": round((capture.finished - exchange.started) * 1000, 3),
        "first_byte_ms": (
            round((capture.first_byte - exchange.started) * 1000, 3) if capture.first_byte else None
        ),
        "upstream_ms": round(exchange.upstream_ms, 3),
        # A stream's events (writes to the client can carry several that arrived together).
        "chunk_count": len(exchange.events)
        if merged is not None and exchange.events
        else capture.chunk_count,
        "request_bytes": capture.request_size,
        "response_bytes": capture.response_size,
        "prompt_tokens": usage.get("prompt") if usage else None,
        "candidates_tokens": usage.get("candidates") if usage else None,
        "thoughts_tokens": usage.get("thoughts") if usage else None,
        "cached_tokens": usage.get("cached") if usage else None,
        "total_tokens": usage.get("total") if usage else None,
        "finish_reason": extract.finish_reason(response),
        "generation_settings": settings,
        "usage": usage,
        "attempts": [
            {
                "backend": a.backend,
                "credential": a.credential,
                "status": a.status,
                "duration_ms": round(a.duration_ms, 3),
                "error": REDACTOR.redact(a.error) if a.error else None,
            }
            for a in exchange.attempts
        ],
        "request_headers": request_headers,
        "response_headers": response_headers,
    }
    record = RecordRows(row)
    if capture.mode == "full":
        limit = capture.cap
        for part, body, total, content_type in (
            ("request", request_body, capture.request_size, _header(request_headers, "content-type")),
            ("response", response_body, response_total, response_type),
        ):
            if not body:
                continue
            kept, truncated = cap_body(body, limit, total)
            body_codec = choose_codec(kept, codec)
            record.bodies.append(
                {
                    "exchange_id": row["id"],
                    "part": part,
                    "codec": body_codec,
                    "content_type": content_type,
                    "original_bytes": total,
                    "truncated": truncated,
                    "data": compress(kept, body_codec),
                }
            )
    # An estimate for the retention budget: bodies exactly, the row's other columns roughly.
    row["size_bytes"] = METADATA_BYTES + sum(len(b["data"]) + 64 for b in record.bodies)
    return record


def reduced_rows(capture: Capture, reason: str) -> RecordRows:
    """The record of an exchange whose full record could not be built or stored.

    Only what needs no parsing: the request line, masked headers, sizes, timings, the outcome,
    and the bodies as the bytes that passed (cut at the cap, with the usual marker). `reason`
    says why, in the error column, so the reduced record is found among the errors.
    """
    exchange = capture.exchange
    scope = capture.scope
    presented = presented_tokens(scope.get("headers", []), scope.get("query_string", b""))
    request_headers = masked_headers(scope.get("headers", []), presented)
    response_headers = masked_headers(capture.response_headers, presented)
    status, error = _outcome(capture, presented)
    note = f"record reduced by the recorder: {reason}"[:500]
    row: dict[str, Any] = {
        "id": capture.record_id or new_id(),
        "replica": REPLICA[0],
        "received_at_ms": int(exchange.received_at * 1000),
        "mode": capture.mode,
        "dialect": str(exchange.dialect)[:16],
        "route": REDACTOR.redact(str(exchange.route or scope.get("path", "")), presented)[:300],
        "method": str(scope.get("method", ""))[:10],
        "path": REDACTOR.redact(str(scope.get("path", "")), presented)[:500],
        "query": masked_query(scope.get("query_string", b""), presented),
        "model": REDACTOR.redact(exchange.model, presented)[:128]
        if isinstance(exchange.model, str)
        else None,
        "client_id": exchange.client_id,
        "credential": exchange.credential,
        "credential_id": exchange.credential_id,
        "stream": exchange.stream,
        "status": status,
        "error": f"{error}; {note}"[:2000] if error else note,
        "duration_ms": round((capture.finished - exchange.started) * 1000, 3),
        "first_byte_ms": (
            round((capture.first_byte - exchange.started) * 1000, 3) if capture.first_byte else None
        ),
        "upstream_ms": round(exchange.upstream_ms, 3),
        "chunk_count": capture.chunk_count,
        "request_bytes": capture.request_size,
        "response_bytes": capture.response_size,
        "prompt_tokens": None,
        "candidates_tokens": None,
        "thoughts_tokens": None,
        "cached_tokens": None,
        "total_tokens": None,
        "finish_reason": None,
        "generation_settings": None,
        "usage": None,
        "attempts": [],
        "request_headers": request_headers,
        "response_headers": response_headers,
    }
    record = RecordRows(row)
    if capture.mode == "full":
        # A stream's events as they were teed, one per line, when its bytes were not kept.
        response = b"".join(capture.response_chunks) or b"\n".join(exchange.events or ())
        for part, body, total, content_type in (
            ("request", b"".join(capture.request_chunks), capture.request_size, request_headers),
            ("response", response, max(capture.response_size, len(response)), response_headers),
        ):
            if body:
                kept, truncated = cap_body(body, capture.cap, total)
                record.bodies.append(
                    {
                        "exchange_id": row["id"],
                        "part": part,
                        "codec": "none",
                        "content_type": _header(content_type, "content-type"),
                        "original_bytes": total,
                        "truncated": truncated,
                        "data": kept,
                    }
                )
    row["size_bytes"] = METADATA_BYTES + sum(len(b["data"]) + 64 for b in record.bodies)
    return record


def _outcome(capture: Capture, presented: frozenset[str] = frozenset()) -> tuple[int, str | None]:
    """Final status and error: a client that went away is 499 whatever was sent before."""
    exchange = capture.exchange
    error = exchange.error or capture.failure
    if exchange.status == STATUS_CLIENT_GONE or (capture.disconnected and not capture.complete):
        return STATUS_CLIENT_GONE, REDACTOR.redact(error or "client disconnected", presented)[:2000]
    status = capture.status or exchange.status or (500 if capture.failure else 0)
    if status >= 400 and not error:
        error = f"HTTP {status}"
    return status, REDACTOR.redact(error, presented)[:2000] if error else None

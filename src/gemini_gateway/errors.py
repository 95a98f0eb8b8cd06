"""Errors the gateway raises, and how they look on Google's wire.

    GatewayError                  anything the gateway answers with an error status
     ├── RequestError             the client's request is wrong (400, 401, 403, 404, 405, 413)
     │    └── ClientRateLimited   a client token went over its requests per minute (429)
     ├── NoCredentialAvailable    every credential that could serve is cooling or disabled (429/503)
     ├── UpstreamError            the upstream answered an error; its status and body pass through
     ├── UpstreamUnreachable      timeouts and connection failures after all retries (502/504)
     │    ├── ProxyUnreachable     the outbound proxy failed, not the upstream
     │    ├── StreamCut            the upstream stopped mid-stream (after its answer began)
     │    ├── EmptyAnswer          a 200 with nothing in it and nothing that says why
     │    └── CallRefused          a credential's backend does not offer this method or model (501)
     └── WindowBusy               an AI Studio login window's page did not answer yet (503)
    ClientGone                    the client went away in the middle of sending a body
    UpstreamClosed                the lean HTTP/1 client's own failure; `transport/` turns it into
                                  UpstreamUnreachable or StreamCut before any caller sees it

Handlers never build error bodies themselves: they raise, and routes/errors.py renders at the
boundary, in the caller's dialect (Google's envelope is `render_google_error` here; the OpenAI and
Anthropic dialects have their own), with the status and headers chosen there once.

Every error text passes the redactor here, once, as the error is made: Google's texts can name
the key or token a call was made with, and from an error they go on to clients in every dialect,
pool reasons (`/api/pool`, the stored pool state), records and logs. Errors are the rare path,
so the scan costs a successful call nothing.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from gemini_gateway.redaction import REDACTOR

INTERNAL_MESSAGE = "internal error in the gateway; see its log for details"  # the rest is in the log
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# The Interactions API's own error codes (Google's "API errors" page for it): a string `code` per
# HTTP status, not google.rpc.Status. google-genai parses `{"error": {"code": <string>, "message"}}`
# for every interactions call (its generated `Error` model types `code` as a string).
INTERACTIONS_CODES = {
    400: "invalid_request",
    401: "authentication",
    402: "payment_required",
    403: "permission_denied",
    404: "not_found",
    405: "unimplemented",
    409: "aborted",
    413: "invalid_request",
    416: "out_of_range",
    429: "rate_limit_exceeded",
    499: "cancelled",
    500: "api_error",
    501: "unimplemented",
    502: "service_unavailable",
    503: "service_unavailable",
    504: "deadline_exceeded",
}


class GatewayError(Exception):
    status_code: int = 500

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        message = REDACTOR.redact(message)
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code

    @property
    def google_status(self) -> str:
        return GOOGLE_STATUS.get(self.status_code, "UNKNOWN")

    def headers(self) -> dict[str, str]:
        return {}


class RequestError(GatewayError):
    status_code = 400


class ClientRateLimited(RequestError):
    """A client token went over its requests-per-minute limit; each dialect renders its own 429."""

    status_code = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, status_code=429)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(max(1, math.ceil(self.retry_after)))}


class NoCredentialAvailable(GatewayError):
    """Nothing in the pool can serve this model now; `retry_after` says when the first one can."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: float | None, status_code: int = 429) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, int(self.retry_after + 0.999)))}


class UpstreamError(GatewayError):
    """The upstream's own error answer, kept as it was sent so it can be passed through."""

    def __init__(self, status_code: int, body: bytes, *, content_type: str = "application/json") -> None:
        body = REDACTOR.redact_bytes(body)  # the body itself passes through to Gemini clients
        self.body = body
        self.content_type = content_type
        self.payload = _parse_error(body)
        message = str(self.payload.get("message") or body[:300].decode("utf-8", "replace"))
        super().__init__(message, status_code=status_code)

    @property
    def google_status(self) -> str:
        status = self.payload.get("status")
        return status if isinstance(status, str) else super().google_status

    @property
    def details(self) -> list[dict[str, Any]]:
        details = self.payload.get("details")
        return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


class UpstreamUnreachable(GatewayError):
    status_code = 502


class ProxyUnreachable(UpstreamUnreachable):
    """The outbound proxy, not the upstream, could not be reached or refused to connect: says
    nothing about the credential that used it."""


class StreamCut(UpstreamUnreachable):
    """The upstream connection ended before the stream finished."""


class EmptyAnswer(UpstreamUnreachable):
    """The upstream answered 200 with nothing in it and nothing that says why (no candidates or no
    parts, no block reason, no finish reason that explains it): another credential may answer.

    Holds what the upstream sent, so that when no credential gives more, the client still gets
    Google's answer: `reply` for a unary call, `events` for a stream (which ended).
    """

    def __init__(self, message: str, *, reply: Any = None, events: list[bytes] | None = None) -> None:
        super().__init__(message)
        self.reply = reply
        self.events = events or []


class CallRefused(UpstreamUnreachable):
    """The credential cannot make this call at all (an executor without the method or model).

    Says nothing about the credential's health: the call moves on to another credential without
    a failure, cooldown or used-up retry held against this one.
    """

    status_code = 501


class WindowBusy(GatewayError):
    """A remote login window's page did not answer (loading a page); the caller may try again shortly."""

    status_code = 503


class ClientGone(Exception):
    """The client went away in the middle of sending a body."""


class UpstreamClosed(ConnectionError):
    """The connection failed or ended before the whole answer arrived."""


def _parse_error(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # Google sometimes wraps the envelope in a list
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"]  # type: ignore[no-any-return]
    return {}


def is_error_event(payload: bytes) -> bool:
    """Whether a stream event is Google's error envelope, compact or pretty-printed (Google sends
    both). The one test for it: the dispatcher's first-event check and mid-stream scan, and the Code
    Assist unwrapper, must agree."""
    if payload.startswith(b'{"'):  # compact, as nearly every event: no copies to decide
        return payload.startswith(b'{"error"')
    head = payload[:64].lstrip()
    return head.startswith(b"{") and head[1:].lstrip().startswith(b'"error"')


def google_error_body(
    status_code: int, message: str, status: str | None = None, details: list[dict[str, Any]] | None = None
) -> bytes:
    error: dict[str, Any] = {
        "code": status_code,
        "message": message,
        "status": status or GOOGLE_STATUS.get(status_code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return orjson.dumps({"error": error})


def render_google_error(exc: GatewayError) -> bytes:
    if isinstance(exc, UpstreamError) and exc.payload:
        return exc.body
    return google_error_body(exc.status_code, exc.message, exc.google_status)


def interactions_code(status_code: int) -> str:
    """The Interactions API's string error code for an HTTP status."""
    if status_code in INTERACTIONS_CODES:
        return INTERACTIONS_CODES[status_code]
    return "api_error" if status_code >= 500 else "invalid_request"


def interactions_error_body(status_code: int, message: str) -> bytes:
    return orjson.dumps({"error": {"code": interactions_code(status_code), "message": message}})


def render_interactions_error(exc: GatewayError) -> bytes:
    """The gateway's own error on an Interactions route in that API's shape; an upstream's error
    envelope passes through as Google sent it."""
    if isinstance(exc, UpstreamError) and exc.payload:
        return exc.body
    return interactions_error_body(exc.status_code, exc.message)

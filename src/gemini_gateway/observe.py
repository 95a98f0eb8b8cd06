"""One wrapper tells everything that watches API calls how each one ended.

Prometheus counters, the admin UI's live log and OpenTelemetry spans each want the same few
facts of a finished call: its status, when its first body bytes left, how long it took and its
`Exchange`. Each used to be an ASGI middleware of its own, and every middleware wraps `send` in
one more coroutine that each response message passes through: on the model-call path that was a
measurable share of the gateway's own CPU per call (bench/). Here one wrapper takes the facts
once and hands them to every observer when the call ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gemini_gateway.exchange import SCOPE_KEY, Exchange
from gemini_gateway.routes.asgi import Receive, Scope, Send

log = logging.getLogger("gemini_gateway")

# Not API calls: probes, the admin UI and its API, the metrics scrape, docs.
# /internal/: a call relayed from another replica was counted there, where its client called.
UNOBSERVED = (
    "/health",
    "/metrics",
    "/admin",
    "/api/",
    "/ws/",
    "/internal/",
    "/docs",
    "/openapi.json",
    "/favicon",
)


@dataclass(slots=True)
class Finished:
    """How one API call ended."""

    scope: Scope
    exchange: Exchange | None
    status: int  # 500 when the app raised before it started a response
    started: float  # perf_counter when the call came in
    ended: float  # perf_counter when the app returned
    first_body: float | None  # seconds from `started` to the first non-empty body chunk

    @classmethod
    def now(cls, scope: Scope, status: int | None, started: float, first_body_at: float | None) -> Finished:
        """The call ending now: `status` None if no response was started (the app raised: 500),
        `first_body_at` the perf_counter of its first non-empty body chunk, if any."""
        first = None if first_body_at is None else first_body_at - started
        status = 500 if status is None else status
        return cls(scope, scope.get(SCOPE_KEY), status, started, time.perf_counter(), first)


class Observer(Protocol):
    def finished(self, call: Finished) -> None:
        """Called on the event loop once per API call; must be quick and must not raise."""


class ObserveMiddleware:
    """Pure ASGI: watches each API call's response messages and tells `observers` how it ended.
    The list is read at each call, so observers added after the app was built are told too."""

    def __init__(self, app: Any, observers: Sequence[Observer]) -> None:
        self.app = app
        self.observers = observers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.observers or not observed(scope):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: list[Any] = [None, None]  # status, perf_counter of the first body bytes

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen[0] = message["status"]
            elif seen[1] is None and message.get("body"):
                seen[1] = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            tell(self.observers, Finished.now(scope, seen[0], started, seen[1]))


def observed(scope: Scope) -> bool:
    """Whether a call is an API call that observers are told of (given that there are some)."""
    return scope["type"] == "http" and not scope["path"].startswith(UNOBSERVED)


def tell(observers: Sequence[Observer], call: Finished) -> None:
    for observer in observers:
        try:
            observer.finished(call)
        except Exception:  # watching must never fail the call it watches
            log.exception("observer %s failed", type(observer).__name__)

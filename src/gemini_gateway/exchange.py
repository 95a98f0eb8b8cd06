"""What the request path learns about one exchange, for response headers and the recorder.

Handlers and the dispatcher set attributes on the `Exchange` kept in the ASGI scope; nothing on
the hot path writes to a store. When the call ends, the tee (recorder/middleware.py) hands it to
the recorder and `observe.ObserveMiddleware` to whatever watches calls (metrics, live log, traces).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

SCOPE_KEY = "gateway.exchange"


@dataclass(slots=True)
class Attempt:
    backend: str
    credential: str  # masked label, never the secret
    status: int | None
    duration_ms: float
    error: str | None = None
    started: float = 0.0  # perf_counter when it began (for trace spans; not recorded)


@dataclass(slots=True)
class Exchange:
    received_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    dialect: str = "gemini"
    route: str = ""
    model: str | None = None
    client_id: str | None = None
    stream: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    credential: str | None = None  # masked label of the credential that served
    credential_id: str | None = None
    upstream_ms: float = 0.0  # time inside upstream calls, summed over attempts
    first_byte_ms: float | None = None
    status: int | None = None
    error: str | None = None
    # Built-in tools the model could not take beside the client's functions (x-gateway-dropped-tools).
    dropped_tools: str | None = None
    # Canonical (Gemini) stream events as they passed, for the recorder to merge; None = not teed.
    events: list[bytes] | None = None

    def overhead_ms(self) -> float:
        """Time spent in the gateway so far, outside upstream calls."""
        return max(0.0, (time.perf_counter() - self.started) * 1000 - self.upstream_ms)


def get_exchange(scope: dict[str, Any]) -> Exchange:
    exchange: Exchange | None = scope.get(SCOPE_KEY)
    if exchange is None:
        exchange = scope[SCOPE_KEY] = Exchange()
    return exchange

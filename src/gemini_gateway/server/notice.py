"""How a handler hears that its client went away without a task of its own waiting in receive().

Kept apart from the protocol (no uvicorn or httptools imports): the routes read it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

__all__ = ["DISCONNECT_EXTENSION", "DisconnectNotice"]

# The scope's extensions key under which the gateway's protocol offers a `DisconnectNotice`.
DISCONNECT_EXTENSION = "gemini_gateway.disconnect"


class DisconnectNotice(Protocol):
    """Calls back once if the client goes away before the response is complete.

    Offered as `scope["extensions"][DISCONNECT_EXTENSION]` so a handler can stop work at once
    without a task of its own waiting in `receive()` for the disconnect (routes/asgi.py
    `DisconnectGuard`, which falls back to that task under any other server).
    """

    loop: asyncio.AbstractEventLoop  # for asyncio.current_task(loop): no running-loop look-up

    def watch(self, callback: Callable[[], None]) -> bool:
        """Call `callback` when the client is lost before the response completes; False (and no
        call ever) if it is gone already or the response is complete."""
        ...

"""The live log: server log lines and request events, fanned out to `/ws/logs` subscribers.

Log records may come from any thread (the recorder builds rows in one), so the handler hands them
to the event loop with `call_soon_threadsafe`. The last HISTORY events are kept in a ring buffer,
request events too, so a viewer opening the page sees what happened before it came.

A request event is built on every API call's path, and mostly nobody watches: while no viewer is
subscribed, the history keeps only its facts (a tuple), and the event is made from them when a
viewer opens the page. A viewer gets the same event either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from starlette.websockets import WebSocket, WebSocketDisconnect

from gemini_gateway.errors import GatewayError
from gemini_gateway.redaction import REDACTOR

if TYPE_CHECKING:
    from gemini_gateway.context import Gateway
    from gemini_gateway.observe import Finished

Event = dict[str, Any]
# A request event's facts (at, method, path, status, seconds, then `_EXCHANGE_FIELDS` when the call
# had an exchange): what the history keeps instead of the event while nobody watches.
RequestFacts = tuple[Any, ...]
HISTORY = 200
QUEUE_SIZE = 1000


class LiveHub:
    def __init__(self) -> None:
        self.history: deque[Event | RequestFacts] = deque(maxlen=HISTORY)
        self.subscribers: set[asyncio.Queue[Event]] = set()
        self.dropped = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def publish(self, event: Event) -> None:
        self.history.append(event)
        for queue in self.subscribers:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a slow viewer loses lines; the gateway never waits for it
                self.dropped += 1

    def publish_request(self, facts: RequestFacts) -> None:
        """A finished call's event: made now if someone watches, else when someone comes to."""
        if self.subscribers:
            self.publish(_request_event(facts))
        else:
            self.history.append(facts)

    def publish_threadsafe(self, event: Event) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.publish(event)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(self.publish, event)

    def subscribe(self) -> tuple[asyncio.Queue[Event], list[Event]]:
        """A queue of what comes next and the history up to now, taken in one step of the loop:
        an event lands in one or the other, never both (it once showed twice)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(queue)
        return queue, [item if isinstance(item, dict) else _request_event(item) for item in self.history]

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self.subscribers.discard(queue)


class HubLogHandler(logging.Handler):
    """Every log line the server writes, redacted, as a `log` event."""

    def __init__(self, hub: LiveHub) -> None:
        super().__init__(logging.INFO)
        self.hub = hub

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = REDACTOR.redact(record.getMessage())
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__})"
            self.hub.publish_threadsafe(
                {
                    "type": "log",
                    "at": record.created,
                    "level": record.levelname.lower(),
                    "logger": record.name,
                    "message": message[:2000],
                }
            )
        except Exception:  # a log handler must never raise into the code that logs
            self.handleError(record)


class RequestEvents:
    """One `request` event per finished API call, kept in the history (an observer of
    gemini_gateway.observe)."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    def finished(self, call: Finished) -> None:
        exchange = call.exchange
        scope = call.scope
        duration = call.ended - call.started
        if exchange is None:
            facts: RequestFacts = (time.time(), scope["method"], scope["path"], call.status, duration)
        else:
            facts = (
                time.time(),
                scope["method"],
                scope["path"],
                call.status,
                duration,
                exchange.dialect,
                exchange.model,
                exchange.client_id,
                exchange.credential,
                exchange.stream,
                len(exchange.attempts),
                exchange.error,
            )
        self.hub.publish_request(facts)


_EXCHANGE_FIELDS = ("dialect", "model", "client", "credential", "stream", "attempts", "error")


def _request_event(facts: RequestFacts) -> Event:
    at, method, path, status, duration = facts[:5]
    event: Event = {
        "type": "request",
        "at": at,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(duration * 1000, 1),
    }
    if len(facts) > 5:  # the call had an exchange
        event.update(zip(_EXCHANGE_FIELDS, facts[5:], strict=True))
    return event


def live_logs_endpoint(hub: LiveHub) -> Callable[[WebSocket], Awaitable[None]]:
    async def live_logs(websocket: WebSocket) -> None:
        """`/ws/logs`: recent history first, then every event as it happens (admin only)."""
        gateway: Gateway = websocket.app.state.gateway
        try:
            gateway.auth.admin(cast(dict[str, Any], websocket.scope))
        except GatewayError as exc:
            # Closing before accepting answers the upgrade with 403: no socket for non-admins.
            await websocket.close(code=4403, reason=exc.message[:100])
            return
        await websocket.accept()
        # After the accept: its own log lines ("connection open") are then in the history or the
        # queue, whichever side of the subscription they fell, and sent once.
        queue, history = hub.subscribe()
        try:
            await websocket.send_json({"type": "hello", "history": history})
            await _relay(websocket, queue)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the viewer went away mid-send
        finally:
            hub.unsubscribe(queue)

    return live_logs


async def _relay(websocket: WebSocket, queue: asyncio.Queue[Event]) -> None:
    reader = asyncio.create_task(_drain_client(websocket))
    try:
        while not reader.done():
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                return
            await websocket.send_json(getter.result())
    finally:
        reader.cancel()


async def _drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the viewer sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

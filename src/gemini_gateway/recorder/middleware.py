"""The tee: one pure ASGI middleware that records every API exchange on every route.

Handlers never call the recorder. This wrapper sees the request body and the response as they
pass, keeps references to their chunks, and hands one `Capture` to the recorder when the app
returns, with `put_nowait` only: the request never waits on the store.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from gemini_gateway.exchange import SCOPE_KEY, Exchange
from gemini_gateway.recorder.capture import Capture
from gemini_gateway.routes.asgi import Receive, Scope, Send

if TYPE_CHECKING:
    from gemini_gateway.context import Gateway
    from gemini_gateway.recorder.recorder import Recorder

UPLOAD_PREFIXES = ("/upload/", "/gemini/upload/")  # Files API uploads (see routes.files)


class RecorderMiddleware:
    def __init__(self, app: Any, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        recorder = self.gateway.recorder
        if scope["type"] != "http" or recorder is None:
            await self.app(scope, receive, send)
            return
        activity = recorder.activity
        if activity is None:
            await self._record(recorder, scope, receive, send)
            return
        activity.enter()
        try:
            await self._record(recorder, scope, receive, send)
        finally:
            activity.leave()

    async def _record(self, recorder: Recorder, scope: Scope, receive: Receive, send: Send) -> None:
        capture = begin_capture(recorder, scope)
        if capture is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, CaptureReceive(receive, capture), ResponseTee(send, capture, recorder))
        except BaseException as exc:
            capture.failure = failure_of(exc)
            raise
        finally:
            end_capture(recorder, capture)


def begin_capture(recorder: Recorder, scope: Scope) -> Capture | None:
    """The capture of a request the recorder records (its Exchange put in the scope), else None."""
    mode = recorder.mode_for(scope["path"])
    if mode is None:
        return None
    exchange = Exchange()
    exchange.events = []  # ask the dispatcher to tee canonical stream events for the merge
    scope[SCOPE_KEY] = exchange
    cap = recorder.max_body_bytes
    if scope["path"].startswith(UPLOAD_PREFIXES):
        mode, cap = "metadata", 0  # media up to 2 GB: counted, never held in memory or stored
    return Capture(mode, scope, exchange, cap)


def failure_of(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def end_capture(recorder: Recorder, capture: Capture) -> None:
    """Hand a capture over once its app has returned (or raised)."""
    if capture.journal is None:  # else it ended as its last byte left (Recorder.seal)
        capture.finished = time.perf_counter()
    recorder.submit(capture)


class CaptureReceive:
    __slots__ = ("capture", "receive")

    def __init__(self, receive: Receive, capture: Capture) -> None:
        self.receive = receive
        self.capture = capture

    async def __call__(self) -> dict[str, Any]:
        message = await self.receive()
        capture = self.capture
        if message["type"] == "http.request":
            body = message.get("body")
            if body:
                if capture.request_size < capture.cap:
                    capture.request_chunks.append(body)
                capture.request_size += len(body)
        elif message["type"] == "http.disconnect" and not capture.complete:
            # Servers also answer `receive()` with a disconnect once the response is done; only an
            # earlier one means the client went away.
            capture.disconnected = True
        return message


class ResponseTee:
    """The response's messages on their way to `send`: teed into `capture` when there is one (and
    sealed before the last byte leaves), their status and first body byte noted in any case.

    The front door (routes/front_door.py) makes it the one wrapper of a model call's `send`, doing
    what the observe wrapper and its own watch did besides the tee; the recorder's middleware
    uses it for the tee alone.
    """

    __slots__ = ("capture", "first_body", "recorder", "send", "status")

    def __init__(self, send: Send, capture: Capture | None, recorder: Recorder | None) -> None:
        self.send = send
        self.capture = capture
        self.recorder = recorder
        self.status: int | None = None  # once the response has started
        self.first_body: float | None = None  # perf_counter of the first non-empty body chunk

    async def __call__(self, message: dict[str, Any]) -> None:
        capture = self.capture
        if message["type"] == "http.response.body":
            body = message.get("body")
            if body:
                if self.first_body is None:
                    self.first_body = time.perf_counter()
                    if capture is not None:
                        capture.first_byte = self.first_body
                if capture is not None:
                    capture.chunk_count += 1
                    if capture.response_size < capture.cap:
                        capture.response_chunks.append(body)
                    capture.response_size += len(body)
            if capture is not None and not message.get("more_body", False):
                capture.complete = True
                # Journaled before the client can have the whole answer: a crash from here on
                # loses no exchange a client saw complete.
                self.recorder.seal(capture)  # type: ignore[union-attr]  # given with a capture
        elif message["type"] == "http.response.start":
            self.status = message["status"]
            if capture is not None:
                capture.status = message["status"]
                capture.response_headers = message.get("headers", [])
        await self.send(message)

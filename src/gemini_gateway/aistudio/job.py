"""One call served on a page: the events its client reads and the progress the watchdog checks.

The page work runs in a task of its own (see `PageInstance`), so the client going away, a
timeout or a crash can stop it, and its turn on the page is released however it ends. The
client reads `queue`: GenerateContentResponse payloads, then `None` (done) or an error.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from gemini_gateway.aistudio import emulated_tools
from gemini_gateway.aistudio.prompt import PageRequest
from gemini_gateway.aistudio.turns import Ticket
from gemini_gateway.errors import (
    GatewayError,
    StreamCut,
    UpstreamError,
    UpstreamUnreachable,
    google_error_body,
)

JobItem = bytes | GatewayError | None
FINAL_EVENT = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}
    ]
}


class PageJob:
    def __init__(self, request: PageRequest, body: bytes = b"") -> None:
        self.request = request
        self.body = body  # the client's GenerateContentRequest, for the helper tier
        self.queue: asyncio.Queue[JobItem] = asyncio.Queue()
        self.rpc: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # hook messages of our RPC
        self.rpc_id: str | None = None
        self.armed = False  # the prompt is about to be run: the next GenerateContent is ours
        self.task: asyncio.Task[None] | None = None
        self.created = time.monotonic()
        self.last_progress = self.created
        self.events = 0
        self.finished = False
        self.finish_sent = False
        self.tier: str | None = None
        self.stage = "queued"
        self.client_gone = False
        self.ticket: Ticket | None = None  # its place in the page's turn queue
        self.reclaimed_at: float | None = None  # when the watchdog gave up on it
        self.spent: list[dict[str, Any]] = []  # usage and text of the answer, for the token ledger
        # Emulated function calling: the answer's text is held until it ends, then parsed for calls.
        self.held_text: list[str] = []
        self.held_usage: dict[str, Any] | None = None

    def progress(self, stage: str | None = None) -> None:
        """The page did something for this call: the watchdog's silence clock restarts."""
        self.last_progress = time.monotonic()
        if stage is not None:
            self.stage = stage

    def silent_for(self) -> float:
        return time.monotonic() - self.last_progress

    def emit(self, event: dict[str, Any]) -> None:
        if self.finished:
            return
        self.spent.append(event)
        if self.request.emulate_tools:
            event = self._hold(event)
            if not any(c["content"]["parts"] for c in event["candidates"]):
                return
        if not self.request.include_thoughts:
            visible = _without_thoughts(event)
            if visible is None:
                return
            event = visible
        if any("finishReason" in c for c in event.get("candidates", ())):
            self.finish_sent = True
        self.events += 1
        self.queue.put_nowait(orjson.dumps(event))

    def _hold(self, event: dict[str, Any]) -> dict[str, Any]:
        """Keeps an emulated answer's text and usage back; what is left (thoughts) goes on."""
        self.held_usage = event.get("usageMetadata", self.held_usage)
        candidates = []
        for candidate in event.get("candidates", ()):
            parts = []
            for part in candidate["content"]["parts"]:
                if isinstance(part.get("text"), str) and not part.get("thought"):
                    self.held_text.append(part["text"])
                else:
                    parts.append(part)
            candidates.append({"content": {**candidate["content"], "parts": parts}, "index": 0})
        return {"candidates": candidates}

    def done(self) -> None:
        """A clean end: a finish reason is added when the page's stream carried none."""
        if self.finished:
            return
        if self.request.emulate_tools:
            known = {str(d.get("name")) for d in self.request.functions}
            text, calls = emulated_tools.parse("".join(self.held_text), known)
            self.request.emulate_tools = False  # the answer below goes out as it is
            self.emit(emulated_tools.answer_event(text, calls, self.held_usage))
        if not self.finish_sent:
            self.emit(FINAL_EVENT)
        self.finished = True
        self.queue.put_nowait(None)

    def fail(self, error: GatewayError) -> None:
        """End with an error; after the first event the client can only see the stream cut."""
        if self.finished:
            return
        self.finished = True
        if self.events and not isinstance(error, StreamCut):
            error = StreamCut(error.message, status_code=error.status_code)
        self.queue.put_nowait(error)


def _without_thoughts(event: dict[str, Any]) -> dict[str, Any] | None:
    """The event without thought parts (the client did not ask for them); None if nothing is left."""
    kept = []
    for candidate in event.get("candidates", ()):
        parts = [p for p in candidate["content"]["parts"] if not p.get("thought")]
        if parts or "finishReason" in candidate:
            kept.append({**candidate, "content": {**candidate["content"], "parts": parts}})
    if not kept and "usageMetadata" not in event:
        return None
    return {**event, "candidates": kept}


def quota_error(profile: str, message: str, cooldown: float) -> UpstreamError:
    """Google's own 429 shape, with a RetryInfo so the pool cools this profile for `cooldown`."""
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "aistudio.google.com",
            "metadata": {"profile": profile},
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{cooldown:g}s"},
    ]
    text = f"AI Studio profile {profile} is out of quota: {message[:200]}"
    return UpstreamError(429, google_error_body(429, text, "RESOURCE_EXHAUSTED", details))


def unreachable(message: str, status: int = 502) -> UpstreamUnreachable:
    return UpstreamUnreachable(message, status_code=status)

"""How a relayed stream is cut into writes: one per group of events, the body's end with the last."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gemini_gateway import dispatch
from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.coalesce import marking_last
from gemini_gateway.dispatch import Dispatcher
from gemini_gateway.errors import GatewayError, StreamCut, is_error_event
from gemini_gateway.exchange import Exchange
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.routes.asgi import Send
from gemini_gateway.routes.dialect_flow import StreamRelay, send_events
from gemini_gateway.routes.gemini import GoogleJSONArray, GoogleSSE
from gemini_gateway.sse import SSEParser

STREAM_CALL = UpstreamCall("streamGenerateContent", "gemini-2.5-flash", b"{}")

A, B, C = b'{"n":1}', b'{"n":2}', b'{"n":3}'


async def arriving(groups: list[list[bytes]], end_waits: bool) -> AsyncIterator[list[bytes]]:
    for group in groups:
        await asyncio.sleep(0)  # each group is a read of its own
        yield group
    if end_waits:
        await asyncio.sleep(0)  # the end of the upstream body came in a later read


async def writes(groups: list[list[bytes]], sse: bool, end_waits: bool) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await send_events(arriving(groups, end_waits), GoogleSSE() if sse else GoogleJSONArray(), send)
    return sent


@pytest.mark.parametrize("sse", [True, False])
async def test_the_end_rides_with_the_last_group_when_it_is_there(sse: bool) -> None:
    sent = await writes([[A], [B, C]], sse, end_waits=False)
    assert [m.get("more_body", False) for m in sent] == [True, False]  # two writes, not three
    body = b"".join(m["body"] for m in sent)
    if sse:
        parser = SSEParser()
        assert parser.feed(body) == [A, B, C]
    else:
        assert orjson.loads(body) == [{"n": 1}, {"n": 2}, {"n": 3}]


@pytest.mark.parametrize("sse", [True, False])
async def test_an_end_that_comes_later_gets_a_write_of_its_own(sse: bool) -> None:
    sent = await writes([[A, B], [C]], sse, end_waits=True)
    assert [m.get("more_body", False) for m in sent] == [True, True, False]
    body = b"".join(m["body"] for m in sent)
    if not sse:
        assert orjson.loads(body) == [{"n": 1}, {"n": 2}, {"n": 3}]
    else:
        assert SSEParser().feed(body) == [A, B, C]


async def test_a_send_cancelled_while_the_next_read_is_pending_releases_the_upstream() -> None:
    released: list[str] = []

    async def relay() -> AsyncIterator[list[bytes]]:
        try:
            yield [A]
            await asyncio.sleep(3600)  # the next read: still pending when the send is cancelled
            yield [B]
        finally:
            await asyncio.sleep(0)  # as the relay gives its upstream connection back
            released.append("upstream")

    async def send(message: dict[str, Any]) -> None:
        raise asyncio.CancelledError  # the client went away during the write

    with pytest.raises(asyncio.CancelledError):
        await send_events(relay(), GoogleSSE(), send)
    assert released == ["upstream"]


# `send_events` peeks at the next group itself (coalesce.start_next) rather than through
# `marking_last`, a generator of its own. What it did before, kept here as the reference: the same
# writes, the same failures and the same closing, for every way a stream can arrive and end.


async def reference_send_events(groups: AsyncIterator[list[bytes]], relay: StreamRelay, send: Send) -> None:
    marked = marking_last(groups)
    try:
        try:
            async for group, last in marked:
                if not group:
                    await send({"type": "http.response.body", "body": relay.ping, "more_body": True})
                    continue
                body = relay.events(group)
                if last:
                    await send({"type": "http.response.body", "body": body + relay.end()})
                    return
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
        finally:
            await marked.aclose()
    finally:
        await groups.aclose()  # type: ignore[attr-defined]
    await send({"type": "http.response.body", "body": relay.end()})


class Boom(Exception):
    """The upstream failed."""


Step = tuple[str, bool, list[bytes]]  # "group" / "fail" / "end", whether it waits first, events


async def scripted(steps: list[Step], log: list[str]) -> AsyncIterator[list[bytes]]:
    try:
        for kind, waits, events in steps:
            if waits:
                await asyncio.sleep(0)
            if kind == "fail":
                raise Boom
            if kind == "end":
                return
            yield events
    finally:
        await asyncio.sleep(0)  # a cleanup that awaits, as giving a connection back may
        log.append("closed")


def scripts(rng: random.Random) -> list[Step]:
    steps: list[Step] = []
    for _ in range(rng.randint(0, 4)):
        events = [] if rng.random() < 0.15 else [b'{"n":%d}' % rng.randint(0, 9)] * rng.randint(1, 3)
        steps.append(("group", rng.random() < 0.5, events))
    steps.append((rng.choice(["end", "end", "fail"]), rng.random() < 0.5, []))
    return steps


async def outcome(
    implementation: Any, steps: list[Step], relay: StreamRelay, cancel_at: int | None
) -> tuple[list[dict[str, Any]], str, list[str]]:
    sent: list[dict[str, Any]] = []
    log: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        if cancel_at is not None and len(sent) == cancel_at:
            raise asyncio.CancelledError  # the client went away during this write
        await asyncio.sleep(0)
        sent.append(message)

    try:
        await implementation(scripted(steps, log), relay, send)
        ending = "done"
    except (Boom, asyncio.CancelledError) as exc:
        ending = type(exc).__name__
    return sent, ending, log


@pytest.mark.parametrize("seed", range(4))
async def test_the_writes_are_those_of_the_former_relay_however_the_stream_arrives(seed: int) -> None:
    rng = random.Random(seed)
    closings: set[int] = set()
    for _ in range(150):
        steps = scripts(rng)
        relay: StreamRelay = GoogleSSE() if rng.random() < 0.5 else GoogleJSONArray()
        cancel_at = rng.choice([None, None, 0, 1, 2])
        now = await outcome(send_events, steps, relay, cancel_at)
        relay = type(relay)()
        before = await outcome(reference_send_events, steps, relay, cancel_at)
        assert now == before, (steps, cancel_at)
        closings.add(len(now[2]))
    assert closings == {0, 1}  # a close thrown into the source's own cleanup stops it, as it did


# A native stream cut at every byte: the relay (the dispatcher's scan of each group, then the
# writes) gives the client the same bytes and the record the same events and attempt as before.

EVENTS = [
    b'{"candidates":[{"content":{"parts":[{"text":"a \\"error\\" in text"}],"role":"model"}}]}',
    b'{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"error":1}}}]}}]}',
    b'{"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP"}],"usageMetadata":{}}',
]
BODY = b"".join(b"data: " + e + b"\r\n\r\n" for e in EVENTS)
ERROR_BODY = BODY.replace(
    b"data: " + EVENTS[1], b'data: {"error":{"code":500,"message":"m","status":"INTERNAL"}}'
)
# Google also pretty-prints its error envelope: an event of several `data:` lines then.
PRETTY_ERROR_BODY = BODY.replace(
    b"data: " + EVENTS[1], b'data: {\r\ndata:   "error": {"code": 500, "message": "m"}\r\ndata: }'
)


def reference_scan(group: list[bytes]) -> tuple[list[bytes], bool, bytes | None]:
    """dispatch._scan as it was: each event tested on its own."""
    finished = False
    for index, payload in enumerate(group):
        if is_error_event(payload):
            return group[:index], finished, payload
        if not finished and dispatch._finishes(payload):
            finished = True
    return group, finished, None


class CutStream:
    """An SSE body arriving in reads of `size` bytes, cut off after `cut` bytes."""

    def __init__(self, body: bytes, cut: int, size: int) -> None:
        self.body, self.cut, self.size = body, cut, size

    async def groups(self) -> AsyncIterator[list[bytes]]:
        parser = SSEParser()
        sent = 0
        while sent < self.cut:
            data = self.body[sent : min(sent + self.size, self.cut)]
            sent += len(data)
            await asyncio.sleep(0)
            if payloads := parser.feed(data):
                yield payloads
        if self.cut < len(self.body):
            raise StreamCut("the upstream stream was cut")
        if rest := parser.close():
            yield rest

    async def aclose(self) -> None:
        pass


async def relayed(body: bytes, cut: int, size: int, sender: Any) -> tuple[bytes, str, list[bytes], list[Any]]:
    pool = CredentialPool("round_robin")
    pool.replace("api_key", [Credential("api_key", "k1")])

    class Backend:
        kind = "api_key"

        def supports(self, method: str) -> bool:
            return True

        async def stream(self, call: UpstreamCall, credential: Credential) -> CutStream:
            return CutStream(body, cut, size)

    dispatcher = Dispatcher(pool, {"api_key": Backend()}, max_retries=0, base_cooldown=1, max_cooldown=1)  # type: ignore[dict-item]
    exchange = Exchange(events=[])
    sent: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["body"] + (b"" if message.get("more_body") else b"<end>"))

    try:
        await sender(await dispatcher.stream(STREAM_CALL, exchange), GoogleSSE(), send)
        ending = "done"
    except GatewayError as exc:
        ending = f"{type(exc).__name__}: {exc.message}"
    attempts = [(a.status, a.error) for a in exchange.attempts]
    return b"|".join(sent), ending, exchange.events or [], attempts


@pytest.mark.parametrize(
    "body", [BODY, ERROR_BODY, PRETTY_ERROR_BODY], ids=["whole", "error-event", "pretty-error-event"]
)
async def test_a_stream_cut_at_every_byte_is_relayed_and_teed_as_before(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    for size in (7, 64, len(body)):
        for cut in range(len(body) + 1):
            now = await relayed(body, cut, size, send_events)
            with monkeypatch.context() as patched:
                patched.setattr(dispatch, "_scan", reference_scan)
                before = await relayed(body, cut, size, reference_send_events)
            assert now == before, (size, cut)


def test_the_scan_of_a_group_finds_what_the_scan_of_each_event_finds() -> None:
    pretty = b'{\n  "error": {"code": 500}\n}'
    spaced = b' { "error" : {"code": 500}}'
    finish, block = EVENTS[2], b'{"promptFeedback":{"blockReason":"SAFETY"}}'
    kinds = [EVENTS[0], EVENTS[1], finish, block, pretty, spaced, b'{"error":{}}', b"not json", b""]
    rng = random.Random(7)
    for _ in range(3000):
        group = [rng.choice(kinds) for _ in range(rng.randint(1, 5))]
        assert dispatch._scan(group) == reference_scan(group), group

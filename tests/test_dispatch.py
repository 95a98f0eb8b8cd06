"""The failover loop against an in-memory backend whose answers each test scripts per key."""

from collections.abc import AsyncIterator
from typing import ClassVar

import orjson
import pytest

from gemini_gateway.backends.base import UpstreamCall, UpstreamReply
from gemini_gateway.dispatch import Dispatcher
from gemini_gateway.errors import NoCredentialAvailable, StreamCut, UpstreamError, UpstreamUnreachable
from gemini_gateway.exchange import Exchange
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool

OK = b'{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}'


def google_error(code: int, status: str, details: list | None = None) -> bytes:
    return orjson.dumps(
        {"error": {"code": code, "message": f"{status} here", "status": status, "details": details or []}}
    )


RATE_LIMITED = google_error(
    429, "RESOURCE_EXHAUSTED", [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]
)
BAD_KEY = google_error(
    400,
    "INVALID_ARGUMENT",
    [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
)


class ScriptedStream:
    def __init__(self, events: list[bytes], cut_after: int | None) -> None:
        self.events, self.cut_after, self.closed = events, cut_after, False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._run()

    async def _run(self) -> AsyncIterator[bytes]:
        for index, event in enumerate(self.events):
            if self.cut_after is not None and index >= self.cut_after:
                raise StreamCut("cut")
            yield event

    async def aclose(self) -> None:
        self.closed = True


class ScriptedBackend:
    """Answers per key: an `UpstreamError`, an `UpstreamUnreachable`, or success."""

    kind: ClassVar[str] = "api_key"

    def __init__(self, script: dict[str, object]) -> None:
        self.script = script
        self.calls: list[str] = []
        self.streams: list[ScriptedStream] = []

    def supports(self, method: str) -> bool:
        return True

    def _outcome(self, credential: Credential) -> object:
        self.calls.append(credential.secret)
        outcome = self.script.get(credential.secret, OK)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def unary(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        outcome = self._outcome(credential)
        assert isinstance(outcome, bytes)
        return UpstreamReply(200, outcome)

    async def stream(self, call: UpstreamCall, credential: Credential) -> ScriptedStream:
        outcome = self._outcome(credential)
        events = [b'{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}', OK]
        stream = ScriptedStream(events, cut_after=outcome if isinstance(outcome, int) else None)
        self.streams.append(stream)
        return stream

    async def aclose(self) -> None:
        pass


def setup(
    script: dict[str, object], keys: list[str], max_retries: int = 3
) -> tuple[Dispatcher, ScriptedBackend]:
    pool = CredentialPool("round_robin")
    pool.replace("api_key", [Credential("api_key", k) for k in keys])
    backend = ScriptedBackend(script)
    dispatcher = Dispatcher(
        pool, {"api_key": backend}, max_retries=max_retries, base_cooldown=5, max_cooldown=60
    )
    return dispatcher, backend


CALL = UpstreamCall("generateContent", "gemini-2.5-flash", b"{}")
STREAM_CALL = UpstreamCall("streamGenerateContent", "gemini-2.5-flash", b"{}")


async def test_429_fails_over_and_cools_the_key_for_that_model() -> None:
    dispatcher, backend = setup({"k1": UpstreamError(429, RATE_LIMITED)}, ["k1", "k2"])
    exchange = Exchange()
    reply = await dispatcher.unary(CALL, exchange)
    assert reply.body == OK
    assert backend.calls == ["k1", "k2"]
    assert [a.status for a in exchange.attempts] == [429, 200]
    k1 = next(c for c in dispatcher.pool if c.secret == "k1")
    assert "gemini-2.5-flash" in k1.cooldowns and k1.failures == 1


async def test_request_errors_go_back_unretried_and_do_not_count() -> None:
    bad_request = UpstreamError(400, google_error(400, "INVALID_ARGUMENT"))
    dispatcher, backend = setup({"k1": bad_request, "k2": bad_request}, ["k1", "k2"])
    with pytest.raises(UpstreamError) as info:
        await dispatcher.unary(CALL, Exchange())
    assert info.value.status_code == 400 and len(backend.calls) == 1
    assert all(c.failures == 0 for c in dispatcher.pool)


async def test_invalid_key_is_disabled_and_the_call_retried() -> None:
    dispatcher, backend = setup({"k1": UpstreamError(400, BAD_KEY)}, ["k1", "k2"])
    for _ in range(3):
        await dispatcher.unary(CALL, Exchange())
    assert backend.calls.count("k1") == 1  # never used again once disabled
    k1 = next(c for c in dispatcher.pool if c.secret == "k1")
    assert k1.disabled_reason and "API_KEY_INVALID" in k1.disabled_reason


async def test_timeouts_retry_and_never_disable() -> None:
    dispatcher, _ = setup({"k1": UpstreamUnreachable("timeout", status_code=504)}, ["k1", "k2"])
    for _ in range(4):
        await dispatcher.unary(CALL, Exchange())
    assert all(c.disabled_reason is None and not c.cooldowns for c in dispatcher.pool)


async def test_every_key_rate_limited_gives_429_with_earliest_retry() -> None:
    dispatcher, backend = setup({k: UpstreamError(429, RATE_LIMITED) for k in ("k1", "k2")}, ["k1", "k2"])
    with pytest.raises(NoCredentialAvailable) as info:
        await dispatcher.unary(CALL, Exchange())
    assert info.value.status_code == 429 and 29 <= (info.value.retry_after or 0) <= 30
    assert sorted(backend.calls) == ["k1", "k2"]
    with pytest.raises(NoCredentialAvailable):  # cooling keys are not even tried now
        await dispatcher.unary(CALL, Exchange())
    assert len(backend.calls) == 2


async def test_retries_are_bounded() -> None:
    keys = [f"k{i}" for i in range(6)]
    dispatcher, backend = setup(
        {k: UpstreamError(503, google_error(503, "UNAVAILABLE")) for k in keys}, keys, 2
    )
    with pytest.raises(UpstreamError) as info:
        await dispatcher.unary(CALL, Exchange())
    assert info.value.status_code == 503 and len(backend.calls) == 3


async def test_in_flight_returns_to_zero() -> None:
    dispatcher, _ = setup({"k1": UpstreamError(500, google_error(500, "INTERNAL"))}, ["k1", "k2"])
    await dispatcher.unary(CALL, Exchange())
    assert all(c.in_flight == 0 for c in dispatcher.pool)


async def test_stream_fails_over_before_the_first_event() -> None:
    dispatcher, backend = setup({"k1": 0}, ["k1", "k2"])  # k1 cuts before any event
    events = [e async for group in await dispatcher.stream(STREAM_CALL, Exchange()) for e in group]
    assert len(events) == 2 and backend.calls == ["k1", "k2"]
    assert all(s.closed for s in backend.streams)


async def test_stream_cut_after_first_event_is_an_error_not_a_retry() -> None:
    dispatcher, backend = setup({"k1": 1, "k2": 1}, ["k1", "k2"])
    exchange = Exchange()
    relay = await dispatcher.stream(STREAM_CALL, exchange)
    received = []
    with pytest.raises(StreamCut):
        async for group in relay:
            received += group
    assert len(received) == 1 and len(backend.calls) == 1
    assert all(c.in_flight == 0 for c in dispatcher.pool)
    assert exchange.attempts[-1].error


async def test_stream_events_are_teed_when_asked() -> None:
    dispatcher, _ = setup({}, ["k1"])
    exchange = Exchange(events=[])
    sent = [e async for group in await dispatcher.stream(STREAM_CALL, exchange) for e in group]
    assert exchange.events == sent


class GroupedStream(ScriptedStream):
    """An upstream that hands over its events in reads, as the API-key backend's SSEStream does."""

    def __init__(self, reads: list[list[bytes]]) -> None:
        super().__init__([e for read in reads for e in read], None)
        self.reads = reads

    async def groups(self) -> AsyncIterator[list[bytes]]:
        for read in self.reads:
            yield read


PART = b'{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}'
MID_STREAM_ERROR = google_error(500, "INTERNAL")


async def relay_of(
    reads: list[list[bytes]], exchange: Exchange
) -> tuple[list[list[bytes]], Exception | None]:
    dispatcher, backend = setup({}, ["k1"])

    async def grouped(call: UpstreamCall, credential: Credential) -> GroupedStream:
        backend.streams.append(GroupedStream(reads))
        return backend.streams[-1]  # type: ignore[return-value]

    backend.stream = grouped  # type: ignore[method-assign]
    received: list[list[bytes]] = []
    try:
        async for group in await dispatcher.stream(STREAM_CALL, exchange):
            received.append(group)
    except Exception as exc:
        return received, exc
    return received, None


async def test_events_that_arrived_together_stay_together() -> None:
    exchange = Exchange(events=[])
    received, failure = await relay_of([[PART], [PART, PART, PART], [PART, OK]], exchange)
    assert failure is None
    assert received == [[PART], [PART, PART, PART], [PART, OK]]
    assert exchange.events == [PART] * 5 + [OK]


async def test_an_error_event_inside_a_group_ends_the_stream_after_the_events_before_it() -> None:
    exchange = Exchange(events=[])
    received, failure = await relay_of([[PART], [PART, MID_STREAM_ERROR, PART]], exchange)
    assert received == [[PART], [PART]]
    assert isinstance(failure, StreamCut) and "INTERNAL here" in failure.message
    assert exchange.events == [PART, PART, MID_STREAM_ERROR]  # the record keeps what Google said
    assert exchange.attempts[-1].error


# Google pretty-prints its error envelope (`{\n  "error": {\n    "code": 500, ...`), also inside a stream.
PRETTY_ERROR = orjson.dumps(orjson.loads(MID_STREAM_ERROR), option=orjson.OPT_INDENT_2)


async def test_a_pretty_printed_error_event_mid_stream_ends_the_stream_as_an_error() -> None:
    exchange = Exchange(events=[])
    received, failure = await relay_of([[PART], [PART, PRETTY_ERROR, PART]], exchange)
    assert received == [[PART], [PART]]
    assert isinstance(failure, StreamCut) and "INTERNAL here" in failure.message


async def test_a_first_event_that_is_an_error_is_the_upstream_error_however_it_is_printed() -> None:
    for printed in (MID_STREAM_ERROR, PRETTY_ERROR, b' { "error" : ' + MID_STREAM_ERROR[10:]):
        received, failure = await relay_of([[printed]], Exchange(events=[]))
        assert received == []
        assert isinstance(failure, UpstreamError) and failure.status_code == 500, printed

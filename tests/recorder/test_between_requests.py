"""The inline writer records between requests: never while one is in flight, unless it waited long.

Confined to one CPU (RECORDING_WRITER=auto picks inline there), building and inserting a record
would delay any request that arrives meanwhile; so the writer waits for a moment with no request
in flight, and gives up waiting after QUIET_WAIT_SECONDS so that a gateway that is never idle
still records.

No test here sleeps or measures time: a stream the test holds open is the request in flight, and
the test closes it when the condition it waits for is met. Which way the writer's wait for quiet
ended is read from the gateway's own Activity, wrapped to tell the test (the gateway runs in this
process).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator, Iterator
from typing import Any, cast

import pytest
from google import genai

from gemini_gateway.recorder import inline as recorder_module
from gemini_gateway.recorder.activity import Activity
from tests.conftest import GatewayFactory, RunningGateway
from tests.recorder.conftest import CLIENT_TOKEN, RECORDING, recorder_status, wait_for_records

MODEL = "gemini-2.5-flash"
INLINE = {**RECORDING, "recording_writer": "inline"}
# The held stream must outlast what a test does while holding it (about QUIET_WAIT_SECONDS) many
# times over: 12 s of events, 100 ms apart. The test closes it long before its end; the fake goes on
# sending its last events into the closed connection in the background (uvicorn drops them).
LONG_STREAM = {"stream_chunks": 120, "chunk_delay_ms": 100.0}


class QuietWaits:
    """Wraps the gateway's Activity.quiet: every wait the writer began with a request in flight,
    and how it ended (True: quiet came; False: the writer gave up at its deadline)."""

    def __init__(self, activity: Activity) -> None:
        self.activity = activity
        self.began = threading.Event()
        self.ended: list[tuple[bool, int]] = []  # (result, requests in flight at the end)
        self._quiet = activity.quiet
        activity.quiet = self._wrapped  # type: ignore[method-assign]

    async def _wrapped(self, deadline: float) -> bool:
        held = self.activity.in_flight > 0
        if held:
            self.began.set()
        result = await self._quiet(deadline)
        if held:
            self.ended.append((result, self.activity.in_flight))
        return result


@contextlib.contextmanager
def held_stream(client: genai.Client) -> Iterator[threading.Event]:
    """A stream kept open (a request in flight) until the block ends; yields once its first event
    arrived. Leaving the block closes it, which ends the request on the gateway."""
    first_event = threading.Event()
    release = threading.Event()

    def consume() -> None:
        # A generator (typed as an Iterator): closing it closes the SDK's HTTP response.
        stream = cast(
            "Generator[Any, None, None]",
            client.models.generate_content_stream(model=MODEL, contents="a slow story"),
        )
        try:
            for _ in stream:
                first_event.set()
                if release.is_set():
                    break
        finally:
            stream.close()

    thread = threading.Thread(target=consume)
    thread.start()
    try:
        assert first_event.wait(60), "the stream sent no event"
        yield release
    finally:
        release.set()
        thread.join(10)
    assert not thread.is_alive()


def start(running: RunningGateway, fake: Any) -> tuple[genai.Client, QuietWaits]:
    fake.config.merge(LONG_STREAM)
    assert recorder_status(running.url)["writer"] == "inline"
    client = genai.Client(api_key=CLIENT_TOKEN, http_options={"base_url": running.url})
    client.models.generate_content(model=MODEL, contents="nothing else in flight")
    wait_for_records(running.url, 1)
    return client, QuietWaits(running.gateway.recorder.activity)


def test_a_record_waits_for_the_request_in_flight_to_end(
    gateway_factory: GatewayFactory, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No deadline within the test: the record can only be written once the stream is closed.
    monkeypatch.setattr(recorder_module, "QUIET_WAIT_SECONDS", 3600.0)
    with gateway_factory(**INLINE) as running:
        client, waits = start(running, fake)
        with held_stream(client):
            client.models.generate_content(model=MODEL, contents="while a stream is open")
            assert waits.began.wait(60), "the writer did not wait for the stream in flight"
            assert recorder_status(running.url)["written"] == 1  # held back, not written
            assert waits.ended == []
        items = wait_for_records(running.url, 3)
        # The wait ended because the stream closed, with no request in flight left.
        assert waits.ended and waits.ended[0] == (True, 0)
        assert sorted(i["stream"] for i in items) == [False, False, True]
        status = recorder_status(running.url)
        assert status["written"] == 3 and status["spooled"] == 0 and status["lost"] == 0


def test_a_gateway_never_idle_still_records(gateway_factory: GatewayFactory, fake: Any) -> None:
    with gateway_factory(**INLINE) as running:
        client, waits = start(running, fake)
        with held_stream(client):
            client.models.generate_content(model=MODEL, contents="while a stream is open")
            # Written while the stream is still open: the writer stopped waiting for quiet.
            wait_for_records(running.url, 2, timeout=60 + recorder_module.QUIET_WAIT_SECONDS)
            assert waits.began.is_set()
            result, in_flight = waits.ended[0]
            assert result is False and in_flight >= 1  # the deadline, with the stream still open
        items = wait_for_records(running.url, 3)
        assert sorted(i["stream"] for i in items) == [False, False, True]

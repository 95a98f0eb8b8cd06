"""The inline writer records between requests: never while one is in flight, unless it waited long.

Confined to one CPU (RECORDING_WRITER=auto picks inline there), building and inserting a record
would delay any request that arrives meanwhile; so the writer waits for a moment with no request
in flight, and gives up waiting after QUIET_WAIT_SECONDS so that a gateway that is never idle
still records.
"""

from __future__ import annotations

import threading
import time

import httpx
from google import genai

from gemini_gateway.recorder.recorder import QUIET_WAIT_SECONDS
from tests.conftest import GatewayFactory
from tests.recorder.conftest import ADMIN, CLIENT_TOKEN, RECORDING, recorder_status, wait_for_records

MODEL = "gemini-2.5-flash"
INLINE = {**RECORDING, "recording_writer": "inline"}
STREAM_SECONDS = 4.0


def record_count(url: str) -> int:
    return len(httpx.get(f"{url}/api/logs", params={"limit": 50}, headers=ADMIN).json()["items"])


def test_records_wait_for_the_request_in_flight(gateway_factory: GatewayFactory, fake: object) -> None:
    chunks = 40
    fake.config.merge({"stream_chunks": chunks, "chunk_delay_ms": STREAM_SECONDS * 1000 / chunks})  # type: ignore[attr-defined]
    with gateway_factory(**INLINE) as running:
        assert recorder_status(running.url)["writer"] == "inline"
        client = genai.Client(api_key=CLIENT_TOKEN, http_options={"base_url": running.url})
        client.models.generate_content(model=MODEL, contents="nothing else in flight")
        wait_for_records(running.url, 1)

        first_event = threading.Event()

        def slow_stream() -> None:
            for _ in client.models.generate_content_stream(model=MODEL, contents="a slow story"):
                first_event.set()

        streaming = threading.Thread(target=slow_stream)
        streaming.start()
        try:
            assert first_event.wait(10)
            client.models.generate_content(model=MODEL, contents="while a stream is open")
            done = time.monotonic()
            time.sleep(QUIET_WAIT_SECONDS / 2)
            assert record_count(running.url) == 1  # held back: a request is in flight
            wait_for_records(running.url, 2)
            waited = time.monotonic() - done
            # Written once the writer stopped waiting for quiet, not at the stream's end.
            assert waited >= QUIET_WAIT_SECONDS / 2
            assert streaming.is_alive()
        finally:
            streaming.join(STREAM_SECONDS + 10)
        items = wait_for_records(running.url, 3)
        assert sorted(i["stream"] for i in items) == [False, False, True]
        status = recorder_status(running.url)
        assert status["written"] == 3 and status["spooled"] == 0 and status["lost"] == 0

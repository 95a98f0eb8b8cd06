"""Run the fake on a real loopback port from tests, in a background thread.

state = FakeState()
with running_fake(state) as fake:
    client = genai.Client(api_key="k1", http_options={"base_url": fake.url})
    ...
    assert state.calls[0].key == "k1"
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from gemini_gateway.fake_upstream.server import uvicorn_config
from gemini_gateway.fake_upstream.state import FakeState

START_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class RunningFake:
    url: str  # base URL without a trailing slash, e.g. "http://127.0.0.1:54321"
    state: FakeState
    stop: Callable[[], None]


def start_fake(
    state: FakeState | None = None, *, host: str = "127.0.0.1", log_level: str = "warning"
) -> RunningFake:
    """Start the fake on a free port; `stop()` on the answer stops it."""
    state = state or FakeState()
    # Binding here, before the thread starts, makes the port known and free of races.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(state, host, port, log_level))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"fake-gemini-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the fake Gemini upstream did not start")
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_SECONDS)
        sock.close()

    return RunningFake(url=f"http://{host}:{port}", state=state, stop=stop)


@contextmanager
def running_fake(state: FakeState | None = None, *, host: str = "127.0.0.1") -> Iterator[RunningFake]:
    """The fake serving on a free loopback port for the duration of the block."""
    fake = start_fake(state, host=host)
    try:
        yield fake
    finally:
        fake.stop()

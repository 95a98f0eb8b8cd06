"""One fake per session over real loopback HTTP, started with the package's own test helper;
every test gets it with calls, faults and config reset."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.fake_upstream.testing import RunningFake, running_fake

KEY = "k1"
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"


@pytest.fixture(scope="session")
def server() -> Iterator[RunningFake]:
    with running_fake(FakeState()) as running:
        yield running


@pytest.fixture
def state(server: RunningFake) -> Iterator[FakeState]:
    server.state.reset(config=True)
    server.state.valid_keys = None
    yield server.state
    server.state.reset(config=True)
    server.state.valid_keys = None


@pytest.fixture(scope="session")
def session_http(server: RunningFake) -> Iterator[httpx.Client]:
    # One client for the session: building one costs ~0.1 s of TLS setup.
    with httpx.Client(base_url=server.url, headers={"x-goog-api-key": KEY}, timeout=5) as client:
        yield client


@pytest.fixture
def http(session_http: httpx.Client, state: FakeState) -> httpx.Client:
    """A plain HTTP client with the API key header set, against a freshly reset fake."""
    return session_http


def user(text: str) -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}

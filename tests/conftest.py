"""Shared fixtures: a real fake upstream and real gateways, all over loopback HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from gemini_gateway.app import create_app
from gemini_gateway.fake_upstream import FakeState, create_fake_app
from gemini_gateway.settings import Settings
from tests.servers import serve_in_thread

ADMIN_TOKEN = "admin-test-token-5d1c"
KEYS = ["fake-key-alpha-0001", "fake-key-bravo-0002", "fake-key-charlie-0003"]


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[tuple[str, FakeState]]:
    state = FakeState()
    with serve_in_thread(create_fake_app(state)) as url:
        yield url, state


@pytest.fixture
def fake(fake_upstream: tuple[str, FakeState]) -> Iterator[FakeState]:
    _, state = fake_upstream
    state.reset(config=True)
    yield state
    state.reset(config=True)


@pytest.fixture
def fake_url(fake_upstream: tuple[str, FakeState]) -> str:
    return fake_upstream[0]


class RunningGateway:
    def __init__(self, url: str, app: FastAPI) -> None:
        self.url = url
        self.app = app

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway


GatewayFactory = Callable[..., contextlib.AbstractContextManager[RunningGateway]]


@contextlib.contextmanager
def running_gateway(values: dict[str, Any]) -> Iterator[RunningGateway]:
    """A gateway made from exactly these settings (no .env file read), served over loopback until
    the block ends: how every test fixture starts one."""
    app = create_app(Settings(_env_file=None, **values))  # type: ignore[call-arg]
    with serve_in_thread(app) as url:
        yield RunningGateway(url, app)


@pytest.fixture
def gateway_factory(tmp_path: Path, fake_url: str) -> GatewayFactory:
    """Start gateways with settings overrides; each gets its own data folder unless one is given."""

    @contextlib.contextmanager
    def start(**overrides: Any) -> Iterator[RunningGateway]:
        values: dict[str, Any] = {
            "gemini_api_keys": KEYS,
            "gemini_base_url": fake_url,
            "admin_token": ADMIN_TOKEN,
            "data_dir": tmp_path / "data",
            "cooldown_base_seconds": 30,
            # The writer process costs a Python start-up (about 2 s of CPU here) per gateway; the
            # recorder's own tests (tests/recorder, tests/store) run it, the rest write inline.
            "recording_writer": "inline",
            # The fake upstream has no quota: tests that are not about quotas are not held to the
            # free tier's 10 calls a minute per key (tests/pool/test_quota*.py set their own).
            "gemini_api_key_tier": "",
        }
        values.update(overrides)
        with running_gateway(values) as running:
            yield running

    return start


@pytest.fixture
def gateway(gateway_factory: GatewayFactory, fake: FakeState) -> Iterator[RunningGateway]:
    with gateway_factory() as running:
        yield running

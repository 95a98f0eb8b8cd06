"""Fixtures for the AI Studio page backend: the stand-in site, saved profiles, gateways using them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from gemini_gateway.app import create_app
from gemini_gateway.settings import Settings
from tests.aistudio.standin_server import StandinState, create_standin_app
from tests.conftest import ADMIN_TOKEN, RunningGateway
from tests.servers import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MODEL = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[str, StandinState]]:
    state = StandinState()
    with serve_in_thread(create_standin_app(state)) as url:
        yield url, state


@pytest.fixture
def site(standin: tuple[str, StandinState]) -> Iterator[StandinState]:
    _, state = standin
    state.reset()
    yield state
    state.reset()


def profile_state(url: str, account: str, transport: str | None = None) -> dict[str, Any]:
    """What `gemini-gateway aistudio login` would save: the account's cookie (and localStorage)."""
    cookie = {
        "name": "SID",
        "value": account,
        "domain": urlsplit(url).hostname,
        "path": "/",
        "expires": -1,
        "httpOnly": True,
        "secure": False,
        "sameSite": "Lax",
    }
    storage = [{"name": "standinTransport", "value": transport}] if transport else []
    return {"cookies": [cookie], "origins": [{"origin": url, "localStorage": storage}]}


def write_profiles(folder: Path, url: str, accounts: dict[str, str | None]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for account, transport in accounts.items():
        (folder / f"{account}.json").write_bytes(orjson.dumps(profile_state(url, account, transport)))
    return folder


@contextlib.contextmanager
def page_gateway(
    data: Path, standin_url: str, accounts: dict[str, str | None], **overrides: Any
) -> Iterator[RunningGateway]:
    """A gateway whose AI Studio is the stand-in, with short timeouts for tests."""
    values: dict[str, Any] = {
        "gemini_api_keys": [],
        "admin_token": ADMIN_TOKEN,
        "data_dir": data,
        "aistudio_url": standin_url,
        "aistudio_profiles_dir": write_profiles(data / "profiles", standin_url, accounts),
        "aistudio_response_timeout": 2,
        "aistudio_action_timeout": 10,  # browser actions on a busy 2-core machine
        "aistudio_queue_timeout": 20,
        "aistudio_health_seconds": 3600,
        "aistudio_quota_cooldown": 120,
        "cooldown_base_seconds": 30,
        "recording_writer": "inline",  # no writer process per test (see tests/conftest.py)
    }
    values.update(overrides)
    app = create_app(Settings(_env_file=None, **values))  # type: ignore[call-arg]
    with serve_in_thread(app) as url:
        yield RunningGateway(url, app)


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)

"""The keeper (`gemini-gateway executors keep`) holding the Build app open in headless Chromium
with a saved login, reopening it when its page dies, its state in /api/pool."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import typer
from google import genai

from gemini_gateway.aistudio.browser import BrowserConfig
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.keeper.cli import keeper_config
from gemini_gateway.keeper.keeper import Keeper, KeeperConfig
from gemini_gateway.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.browser_tabs import CHROMIUM, executor_settings, serve_gateway
from tests.e2e.build_environment import ENVIRONMENT_KEY, serve_build_environment

pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")

TOKEN = "keeper-executor-token-3e7a"
MODEL = "gemini-2.5-flash"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LOGIN = {
    "cookies": [{"name": "SID", "value": "sid-alice", "domain": ".google.com", "path": "/"}],
    "origins": [],
}


@pytest.fixture
def settings(tmp_path: Path, fake_url: str) -> Settings:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "alice.json").write_bytes(orjson.dumps(LOGIN))
    return executor_settings(tmp_path, fake_url, TOKEN, aistudio_profiles_dir=profiles)


class RunningKeeper:
    """A keeper on an event loop of its own, in a thread, as the CLI runs it in a process."""

    def __init__(self, keeper: Keeper) -> None:
        self.keeper = keeper
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(keeper.run(),), daemon=True)

    def call(self, work: Callable[[], Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(work(), self.loop).result(timeout)


@pytest.fixture
def keeper(settings: Settings, fake_url: str) -> Iterator[Callable[[str, str], RunningKeeper]]:
    running: list[RunningKeeper] = []

    def start(gateway_url: str, app_url: str) -> RunningKeeper:
        config = keeper_config(
            settings, "alice", app_url, gateway_url.replace("http", "ws") + "/ws/executor", None, None
        )
        config.check_seconds = 0.3
        config.browser = BrowserConfig(executable=str(CHROMIUM))
        kept = RunningKeeper(Keeper(config))
        kept.thread.start()
        running.append(kept)
        return kept

    yield start
    for kept in running:
        kept.call(kept.keeper.stop)
        kept.thread.join(timeout=30)
        kept.loop.close()


def _pool_entry(url: str) -> dict[str, Any] | None:
    credentials = httpx.get(url + "/api/pool", headers=ADMIN).json()["credentials"]
    return next((c for c in credentials if c["kind"] == "executor"), None)


def _wait_for_entry(
    url: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        entry = _pool_entry(url)
        if entry is not None and condition(entry):
            return entry
        assert time.monotonic() < deadline, f"pool never showed it: {entry}"
        time.sleep(0.2)


def _wait_for(
    read: Callable[[], dict[str, Any]], condition: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while not condition(value := read()):
        assert time.monotonic() < deadline, f"never happened: {value}"
        time.sleep(0.05)
    return value


async def _crash(keeper: Keeper) -> None:
    page = keeper.page
    assert page is not None
    session = await page.context.new_cdp_session(page)
    # Page.crash never answers: the renderer is gone (and the session closed) before it could.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(session.send("Page.crash"), 2)


def test_the_keeper_reopens_a_crashed_app_which_serves_again(
    settings: Settings, keeper: Callable[[str, str], RunningKeeper], fake: FakeState, fake_url: str
) -> None:
    with serve_gateway(settings) as url, serve_build_environment(url, fake_url) as app_url:
        kept = keeper(url, app_url)
        first = _wait_for_entry(url, lambda e: e["state"] == "connected")
        assert first["label"] == "keep-alice"
        assert first["meta"]["keeper"]["profile"] == "alice" and first["meta"]["keeper"]["reopens"] == 0
        assert "token" not in first["meta"]["keeper"]
        cookies = kept.call(lambda: kept.keeper.context.cookies("https://aistudio.google.com"))  # type: ignore[union-attr]
        assert [c["value"] for c in cookies] == ["sid-alice"]  # opened with the saved login

        kept.call(lambda: _crash(kept.keeper))
        again = _wait_for_entry(
            url, lambda e: e["meta"]["keeper"]["reopens"] == 1 and e["state"] == "connected"
        )
        assert again["meta"]["keeper"]["last_reopen_reason"] == "the page crashed"
        # The executor registers (and the pool lists it connected) before the keeper's next check
        # of the page sees it connected, so the keeper's own state is waited for, not read once.
        view = _wait_for(kept.keeper.view, lambda v: v["state"] == "serving" and v["reopens"] == 1)
        assert view["last_reopen_reason"] == "the page crashed"

        sdk = genai.Client(api_key="client", http_options={"base_url": url, "api_version": "v1beta"})
        answer = sdk.models.generate_content(model=MODEL, contents="Back again, about rails")
        assert answer.text and "rails" in answer.text.lower()
        assert [c.key for c in fake.calls] == [ENVIRONMENT_KEY]


def test_keep_refuses_a_profile_it_does_not_have(settings: Settings) -> None:
    with pytest.raises(typer.BadParameter, match="no saved login 'bob'"):
        keeper_config(settings, "bob", "http://app", None, None, None)
    config = keeper_config(settings, "alice", "http://app", None, None, None)
    assert isinstance(config, KeeperConfig) and config.token == TOKEN and config.name == "keep-alice"

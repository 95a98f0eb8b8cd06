"""A gateway shared by the tests of one module, for checks that do not need a fresh one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemini_gateway.app import create_app
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.forwarded import DEFAULT_TRUSTED, TrustedProxies
from gemini_gateway.settings import Settings
from tests.admin.helpers import OPEN_CLIENTS, USER_TOKEN
from tests.conftest import ADMIN_TOKEN, KEYS, RunningGateway
from tests.servers import serve_in_thread


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()


def admin_settings(
    tmp_path_factory: pytest.TempPathFactory, fake_url: str, name: str, **extra: Any
) -> Settings:
    """The settings of a gateway the admin tests drive: the fake's keys, the admin and user tokens."""
    values: dict[str, Any] = {
        "gemini_api_keys": KEYS,
        "gemini_base_url": fake_url,
        "admin_token": ADMIN_TOKEN,
        "gateway_tokens": [USER_TOKEN],
        "data_dir": tmp_path_factory.mktemp(name) / "data",
        "gemini_api_key_tier": "",  # the fake has no quota (see tests/conftest.py)
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def shared_gateway(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: tuple[str, FakeState]
) -> Iterator[RunningGateway]:
    app = create_app(admin_settings(tmp_path_factory, fake_upstream[0], "admin"))
    # As `serve` runs it: forwarded headers believed from FORWARDED_ALLOW_IPS' default, loopback.
    with serve_in_thread(TrustedProxies(app, DEFAULT_TRUSTED)) as url:
        yield RunningGateway(url, app)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian chromium per module (scripts/test-browser.sh installs it).

    Not per session: sync Playwright keeps an event loop running in the main thread while it is
    open, and every asyncio test collected after it would then fail to start its own loop.
    """
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (scripts/test-browser.sh)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()

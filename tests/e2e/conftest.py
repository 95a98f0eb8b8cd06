"""Fixtures of the end-to-end tests that put executor pages in real headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.browser_tabs import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian chromium per module that asks for it (the modules skip without it).

    Not per session: sync Playwright keeps an event loop running in the main thread while it is
    open, and every asyncio test collected after it would then fail to start its own loop.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()

"""One executor page kept open: opened with a saved AI Studio login, watched, reopened when it dies.

aistudio-build-proxy keeps its Build app open in a headless browser with saved cookies; this is
the same for the gateway's executor. The page gets its settings (gateway URL, token, name) and
what the keeper knows about itself (profile, reopen count) from an init script as
`window.__geminiGatewayKeeper`, in every frame: the app may run in a frame whose address the
keeper cannot choose. The executor reports the keeper's facts (never the token) at register,
so they show in the gateway's `/api/pool` under the executor's `meta.keeper`.

A page is dead when its renderer crashed, it was closed, the browser went away, or no frame of
it runs a connected-or-connecting executor within `start_timeout` (the app did not load, or the
login expired and AI Studio shows its sign-in instead). A refused executor (wrong token) is dead
too, but reopening cannot fix it: the keeper then waits `refused_pause` before trying again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gemini_gateway.aistudio.browser import BrowserConfig, BrowserManager

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

log = logging.getLogger("gemini_gateway.keeper")

# The executor's state, from whichever frame runs it; null where none does (yet).
STATUS_SCRIPT = "() => (window.executor && window.executor.status ? window.executor.status.state : null)"
ALIVE_STATES = frozenset({"connecting", "connected", "disconnected"})


@dataclass(slots=True)
class KeeperConfig:
    profile: str
    storage_state: Path
    app_url: str
    gateway: str  # the gateway's WebSocket URL
    token: str
    name: str
    check_seconds: float = 5.0
    start_timeout: float = 60.0
    refused_pause: float = 300.0
    browser: BrowserConfig = field(default_factory=BrowserConfig)


@dataclass(slots=True)
class KeeperState:
    state: str = "starting"  # starting, serving, reopening, refused, stopped
    opened: int = 0  # pages opened in all
    since: float | None = None  # when the current page was opened (epoch seconds)
    last_reopen_reason: str | None = None
    executor_state: str | None = None

    @property
    def reopens(self) -> int:
        return max(0, self.opened - 1)


def keeper_script(config: KeeperConfig, state: KeeperState) -> str:
    """The init script that hands the page its settings and the keeper's facts."""
    info = {
        "gateway": config.gateway,
        "token": config.token,
        "name": config.name,
        "profile": config.profile,
        "opened": state.opened,
        "reopens": state.reopens,
        "since": state.since,
        "last_reopen_reason": state.last_reopen_reason,
    }
    return f"window.__geminiGatewayKeeper = {orjson.dumps(info).decode()};"


class Keeper:
    def __init__(self, config: KeeperConfig, browsers: BrowserManager | None = None) -> None:
        self.config = config
        self.browsers = browsers or BrowserManager(config.browser)
        self.state = KeeperState()
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self._dead = asyncio.Event()
        self._stopping = False

    async def run(self) -> None:
        """Keep a page open until `stop`; each loop opens one page and waits for its death."""
        try:
            while not self._stopping:
                reason = await self._serve_once()
                if self._stopping:
                    break
                self.state.last_reopen_reason = reason
                log.warning("executor page of profile %s died (%s); reopening", self.config.profile, reason)
                if self.state.state == "refused":
                    await self._sleep(self.config.refused_pause)
                else:
                    self.state.state = "reopening"
        finally:
            self.state.state = "stopped"
            await self._close_page()
            await self.browsers.aclose()

    async def stop(self) -> None:
        self._stopping = True
        self._dead.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._dead.wait(), seconds)

    async def _serve_once(self) -> str:
        self._dead.clear()
        try:
            page = await self._open_page()
        except Exception as exc:  # Playwright's errors have no common base worth naming
            self.state.executor_state = None
            await self._sleep(self.config.check_seconds)
            return f"could not open the page: {type(exc).__name__}: {str(exc)[:200]}"
        started = time.monotonic()
        crashed: list[str] = []

        def died(reason: str) -> None:
            crashed.append(reason)
            self._dead.set()

        page.on("crash", lambda _: died("the page crashed"))
        page.on("close", lambda _: died("the page was closed"))
        while True:
            await self._sleep(self.config.check_seconds)
            if self._stopping:
                return "stopped"
            if crashed:
                return crashed[0]
            if not self.browsers.running:
                return "the browser went away"
            executor = await self._executor_state(page)
            self.state.executor_state = executor
            if executor == "refused":
                self.state.state = "refused"
                return "the gateway refused the executor (check the token)"
            if executor in ALIVE_STATES:
                self.state.state = "serving" if executor == "connected" else self.state.state
            elif time.monotonic() - started > self.config.start_timeout:
                return f"no executor ran in the page within {self.config.start_timeout:.0f}s"

    async def _open_page(self) -> Page:
        await self._close_page()
        browser = await self.browsers.browser()
        self.state.opened += 1
        self.state.since = time.time()
        context = await browser.new_context(
            storage_state=str(self.config.storage_state),
            viewport={"width": 1280, "height": 900},
            locale="en-US",
        )
        self.context = context
        await context.add_init_script(keeper_script(self.config, self.state))
        page = await context.new_page()
        self.page = page
        await page.goto(self.config.app_url, wait_until="domcontentloaded")
        log.info("executor page of profile %s opened (%s)", self.config.profile, self.config.app_url)
        return page

    async def _executor_state(self, page: Page) -> str | None:
        """The executor's state in the first frame that runs one (the app may sit in an iframe)."""
        for frame in page.frames:
            with contextlib.suppress(Exception):  # a frame navigating or gone
                state = await asyncio.wait_for(frame.evaluate(STATUS_SCRIPT), self.config.check_seconds)
                if isinstance(state, str):
                    return state
        return None

    async def _close_page(self) -> None:
        context, self.context, self.page = self.context, None, None
        if context is not None:
            with contextlib.suppress(Exception):  # it may have died with its renderer
                await asyncio.wait_for(context.close(), 10)

    def view(self) -> dict[str, Any]:
        return {
            "profile": self.config.profile,
            "state": self.state.state,
            "executor_state": self.state.executor_state,
            "opened": self.state.opened,
            "reopens": self.state.reopens,
            "since": self.state.since,
            "last_reopen_reason": self.state.last_reopen_reason,
        }

"""The one browser the page backend drives, and a context per profile in it.

Nothing starts until the first context is asked for: a gateway without AI Studio profiles never
imports Playwright. Chromium is Debian's (`/usr/bin/chromium`) unless AISTUDIO_BROWSER_PATH
names another; AISTUDIO_BROWSER=camoufox launches Camoufox (the anti-fingerprinting Firefox
build) when its Python package is installed. Each context gets the RPC hook (rpc_hook.js), the
binding it reports to, and the user scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gemini_gateway.aistudio import page_spec, scripts
from gemini_gateway.aistudio.scripts import UserScript

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Playwright

log = logging.getLogger("gemini_gateway.aistudio")

BINDING = "__gatewayRpc"
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Pages in background contexts must keep running timers and streams at full speed.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--disable-blink-features=AutomationControlled",
)

RpcHandler = Callable[[dict[str, Any], dict[str, Any]], Awaitable[None] | None]


class BrowserUnavailable(RuntimeError):
    """The browser could not be started (not installed, wrong path, Playwright missing)."""


@dataclass(slots=True)
class BrowserConfig:
    engine: str = "chromium"  # or "camoufox"
    executable: str | None = None
    headless: bool = True
    proxy: str | None = None
    base_url: str = page_spec.DEFAULT_BASE_URL
    scripts: list[UserScript] = field(default_factory=list)


def hook_source() -> str:
    """rpc_hook.js with the RPC patterns of page_spec filled in."""
    template = resources.files("gemini_gateway.aistudio").joinpath("rpc_hook.js").read_text("utf-8")
    config = {
        "binding": BINDING,
        "stream": [page_spec.RPC_GENERATE],
        "whole": [page_spec.RPC_LIST_MODELS],
        "version": page_spec.PAGE_VERSION,
    }
    return template.replace("__GW_HOOK_CONFIG__", orjson.dumps(config).decode())


class BrowserManager:
    def __init__(self, config: BrowserConfig) -> None:
        self.config = config
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._starting = asyncio.Lock()
        self.started_at: float | None = None
        self.error: str | None = None
        if config.engine == "chromium" and config.executable is None and DEBIAN_CHROMIUM.exists():
            config.executable = str(DEBIAN_CHROMIUM)

    @property
    def running(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    async def browser(self) -> Browser:
        async with self._starting:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            await self._stop()
            try:
                self._browser = await self._launch()
            except BrowserUnavailable as exc:
                self.error = str(exc)
                raise
            except Exception as exc:  # Playwright's launch errors have no common base we can name
                self.error = f"{type(exc).__name__}: {str(exc)[:300]}"
                await self._stop()
                raise BrowserUnavailable(f"the browser did not start: {self.error}") from exc
            self.error = None
            self.started_at = asyncio.get_running_loop().time()
            log.info("AI Studio browser started (%s)", self.config.engine)
            return self._browser

    async def _launch(self) -> Browser:
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:  # an optional dependency: only page automation needs it
            raise BrowserUnavailable(
                "Playwright is not installed: pip install 'gemini-gateway[aistudio]'"
            ) from exc
        self._playwright = await async_playwright().start()
        proxy = {"server": self.config.proxy} if self.config.proxy else None
        if self.config.engine == "camoufox":
            try:
                from camoufox.async_api import AsyncNewBrowser  # type: ignore[import-not-found,unused-ignore]
            except ImportError as exc:
                raise BrowserUnavailable("AISTUDIO_BROWSER=camoufox but camoufox is not installed") from exc
            browser: Browser = await AsyncNewBrowser(
                self._playwright, headless=self.config.headless, proxy=proxy, geoip=False
            )
            return browser
        return await self._playwright.chromium.launch(
            executable_path=self.config.executable,
            headless=self.config.headless,
            args=list(CHROMIUM_ARGS),
            proxy=proxy,  # type: ignore[arg-type]
        )

    async def new_context(self, storage_state: Path, on_rpc: RpcHandler) -> BrowserContext:
        """A context logged in as the profile, with the hook, its binding and the user scripts."""
        browser = await self.browser()
        context = await browser.new_context(
            storage_state=str(storage_state),
            bypass_csp=bool(self.config.scripts),
            viewport={"width": 1280, "height": 900},
            locale="en-US",
        )
        try:
            await context.expose_binding(BINDING, on_rpc)
            await context.add_init_script(hook_source())
            if self.config.scripts:
                await scripts.install(context, self.config.scripts, self.config.base_url)
        except BaseException:
            with contextlib.suppress(Exception):
                await context.close()
            raise
        return context

    async def _stop(self) -> None:
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = None
        if browser is not None:
            with contextlib.suppress(Exception):  # it may have crashed already
                await asyncio.wait_for(browser.close(), 10)
        if playwright is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(playwright.stop(), 10)

    async def aclose(self) -> None:
        async with self._starting:
            await self._stop()

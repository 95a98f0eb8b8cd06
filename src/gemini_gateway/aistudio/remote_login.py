"""Remote login: sign a profile in to Google on a server without a display, from the admin API.

`gemini-gateway aistudio login` needs a desktop for its visible browser window. Here the same
sign-in runs in the gateway's own headless browser instead, and the operator drives it from
afar: the API hands out screenshots of the login window and passes clicks, typing and keys on
to it. Once AI Studio shows its prompt box (the login worked), `finish` saves the window's
storage state as the profile, which then serves like any imported one.

A login window belongs to nobody's page: its context is not hooked and takes no calls. Windows
left alone for `IDLE_SECONDS` are closed; at most `MAX_WINDOWS` are open at once.

The operator's page asks for state and screenshots while other requests type, click, finish or
close: every Playwright step goes through `_on_page`, so a window that was closed meanwhile
answers 404 (as any unknown window), and a step that fails or hangs because the page is between
two documents (a sign-in POST Google takes its time over: Playwright's page queries wait for it,
and fail if the document goes away under them) is tried once more after the new document is
there, then answered 503 (`WindowBusy`); never Playwright's exception as a 500. The state reports
such a page as `loading` rather than failing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from gemini_gateway.aistudio import page_spec
from gemini_gateway.aistudio.browser import BrowserUnavailable
from gemini_gateway.aistudio.profiles import check_name
from gemini_gateway.errors import GatewayError, RequestError, WindowBusy

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, CDPSession, Page

    from gemini_gateway.aistudio.service import AiStudioService

IDLE_SECONDS = 15 * 60
MAX_WINDOWS = 3
WIDTH, HEIGHT = 1024, 768
MAX_TEXT = 1000  # characters typed in one request
STEP_SECONDS = 5.0  # one try of a page step; a page query waits for a navigation under way
INPUT_SECONDS = 60.0  # typing MAX_TEXT characters one key at a time takes a while
LOAD_WAIT_MS = 5000  # how long a step waits for a navigation under way before it is tried again
SHOT_TIMEOUT_MS = 3000  # a screenshot Playwright cannot take by then is taken by Chromium
CAPTURE_SECONDS = 5.0  # and Chromium within this, or the page is busy indeed (503)
GONE = "no such login window: unknown, finished or closed"
T = TypeVar("T")
# Keys the operator may press (Playwright names); anything else is refused.
KEYS = frozenset(
    {
        "Enter",
        "Tab",
        "Backspace",
        "Delete",
        "Escape",
        "ArrowUp",
        "ArrowDown",
        "ArrowLeft",
        "ArrowRight",
        "Home",
        "End",
        "PageUp",
        "PageDown",
        "Space",
    }
)


@dataclass(slots=True)
class LoginWindow:
    id: str
    name: str
    context: BrowserContext
    page: Page
    opened: float = field(default_factory=time.time)
    touched: float = field(default_factory=time.monotonic)
    devtools: CDPSession | None = None  # for screenshots while Playwright's wait (`_capture`)


class RemoteLogins:
    def __init__(self, service: AiStudioService) -> None:
        self.service = service
        self.windows: dict[str, LoginWindow] = {}

    async def open(self, name: str) -> dict[str, Any]:
        """A login window for profile `name`, on AI Studio (which sends a stranger to sign in)."""
        check_name(name)
        await self._close_idle()
        if len(self.windows) >= MAX_WINDOWS:
            raise RequestError(
                f"{MAX_WINDOWS} login windows are open already; finish or close one", status_code=429
            )
        try:
            browser = await self.service.browser.browser()
        except BrowserUnavailable as exc:
            raise GatewayError(str(exc), status_code=503) from exc
        existing = self.service.store.path(name) if self.service.store.exists(name) else None
        url = page_spec.new_chat_url(self.service.config.base_url, None)
        context: BrowserContext | None = None
        try:
            context = await browser.new_context(
                storage_state=str(existing) if existing else None,
                viewport={"width": WIDTH, "height": HEIGHT},
                locale="en-US",
            )
            page = await context.new_page()
            await page.goto(url, wait_until="domcontentloaded")
        except BaseException as exc:
            if context is not None:
                with contextlib.suppress(Exception):
                    await context.close()
            if not isinstance(exc, Exception):
                raise  # cancelled: the client went away
            # Playwright's errors: the browser went away, or AI Studio did not load in time.
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise GatewayError(f"could not open AI Studio in the browser: {reason}", status_code=503) from exc
        window = LoginWindow(secrets.token_urlsafe(12), name, context, page)
        self.windows[window.id] = window
        return await self.view(window)

    def window(self, window_id: str) -> LoginWindow:
        window = self.windows.get(window_id)
        if window is None:
            raise RequestError(GONE, status_code=404)
        window.touched = time.monotonic()
        return window

    async def listing(self) -> list[dict[str, Any]]:
        """The open windows, oldest first, so an operator's page can find one again. Read from
        memory only: listing never waits on a page."""
        await self._close_idle()
        now = time.monotonic()
        return [
            {
                "id": w.id,
                "name": w.name,
                "url": _address(w.page.url),
                "opened": w.opened,
                "idle_seconds": round(now - w.touched, 1),
            }
            for w in sorted(self.windows.values(), key=lambda w: w.opened)
        ]

    async def view(self, window: LoginWindow) -> dict[str, Any]:
        try:
            signed_in, loading = await self.signed_in(window), False
        except WindowBusy:
            signed_in, loading = False, True  # between two documents: not known to be signed in
        return {
            "id": window.id,
            "name": window.name,
            "url": _address(window.page.url),
            "signed_in": signed_in,
            "loading": loading,
            "opened": window.opened,
            "viewport": {"width": WIDTH, "height": HEIGHT},
        }

    async def signed_in(self, window: LoginWindow) -> bool:
        async def check() -> bool:
            if page_spec.is_login_url(window.page.url):
                return False
            prompt = window.page.locator(page_spec.SELECTORS.prompt).first
            return bool(await prompt.count()) and await prompt.is_visible()

        return await self._on_page(window, check)

    async def screenshot(self, window: LoginWindow) -> bytes:
        shot = lambda: window.page.screenshot(type="png", timeout=SHOT_TIMEOUT_MS)  # noqa: E731
        try:
            return await self._on_page(window, shot, SHOT_TIMEOUT_MS / 1000 + 1, tries=1)
        except WindowBusy:
            # Playwright's screenshot first waits for the page's fonts, by a script, which waits
            # for a navigation under way; Chromium's own capture shows the page as it is.
            return await self._on_page(window, lambda: _capture(window), CAPTURE_SECONDS, tries=1)

    async def _on_page(
        self,
        window: LoginWindow,
        step: Callable[[], Awaitable[T]],
        seconds: float | None = None,
        *,
        tries: int = 2,
    ) -> T:
        """One Playwright step on the window's page, as robust as a page in mid-login allows."""
        for attempt in range(1, tries + 1):
            if window.id not in self.windows:
                raise RequestError(GONE, status_code=404)
            try:
                async with asyncio.timeout(seconds or STEP_SECONDS):
                    return await step()
            except GatewayError:
                raise
            except Exception as exc:  # Playwright's Error and TimeoutError (not imported: optional)
                if window.id not in self.windows or window.page.is_closed():
                    # Finished or closed by another request meanwhile, or the browser went away.
                    await self.close(window.id)
                    raise RequestError(GONE, status_code=404) from exc
                if attempt == tries:
                    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                    raise WindowBusy(
                        f"the sign-in window is busy (loading a page?); try again shortly: {reason}"
                    ) from exc
                # Most likely between two documents (a click or Enter started a navigation).
                with contextlib.suppress(Exception):
                    await window.page.wait_for_load_state("domcontentloaded", timeout=LOAD_WAIT_MS)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def act(self, window: LoginWindow, action: dict[str, Any]) -> dict[str, Any]:
        """One of `{"click": [x, y]}`, `{"type": "text"}`, `{"key": "Enter"}`."""
        page = window.page
        step: Callable[[], Awaitable[None]]
        if "click" in action:
            point = action["click"]
            if (
                not isinstance(point, list)
                or len(point) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
                or not (0 <= point[0] <= WIDTH and 0 <= point[1] <= HEIGHT)
            ):
                raise RequestError("'click' must be [x, y] inside the window's viewport")
            x, y = float(point[0]), float(point[1])
            step = lambda: page.mouse.click(x, y)  # noqa: E731
        elif "type" in action:
            text = action["type"]
            if not isinstance(text, str) or len(text) > MAX_TEXT:
                raise RequestError(f"'type' must be a string of at most {MAX_TEXT} characters")
            step = lambda: page.keyboard.type(text)  # noqa: E731
        elif "key" in action:
            key = action["key"]
            if key not in KEYS:
                raise RequestError(f"'key' must be one of {', '.join(sorted(KEYS))}")
            step = lambda: page.keyboard.press(key)  # noqa: E731
        else:
            raise RequestError("give one of 'click', 'type' or 'key'")
        await self._on_page(window, step, INPUT_SECONDS, tries=1)  # input is never sent twice
        with contextlib.suppress(Exception):  # a click may start a navigation: let it settle
            await page.wait_for_load_state("domcontentloaded", timeout=LOAD_WAIT_MS)
        return await self.view(window)

    async def finish(self, window: LoginWindow) -> str:
        """Save the window's login as its profile and close the window."""
        if not await self.signed_in(window):
            raise RequestError("not signed in yet: AI Studio does not show its prompt box", status_code=409)
        state: dict[str, Any] = await self._on_page(window, window.context.storage_state)  # type: ignore[arg-type]
        await self.service.save_profile(window.name, state)
        await self.close(window.id)
        return window.name

    async def close(self, window_id: str) -> bool:
        window = self.windows.pop(window_id, None)
        if window is None:
            return False
        with contextlib.suppress(Exception):  # the browser may be gone already
            await window.context.close()
        return True

    async def _close_idle(self) -> None:
        now = time.monotonic()
        for window in list(self.windows.values()):
            if now - window.touched > IDLE_SECONDS:
                await self.close(window.id)

    async def aclose(self) -> None:
        for window_id in list(self.windows):
            await self.close(window_id)


def _address(url: str) -> str:
    return url.split("?")[0]  # sign-in URLs carry long state; the path says enough


async def _capture(window: LoginWindow) -> bytes:
    """The window as Chromium's compositor has it (DevTools protocol); raises on other engines.
    One session per window, ended with its context (detaching waits for the navigation too)."""
    if window.devtools is None:
        window.devtools = await window.context.new_cdp_session(window.page)
    answer = await window.devtools.send("Page.captureScreenshot", {"format": "png"})
    return base64.b64decode(answer["data"])

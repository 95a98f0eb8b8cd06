"""Remote login: sign a profile in to Google on a server without a display, from the admin API.

`gemini-gateway aistudio login` needs a desktop for its visible browser window. Here the same
sign-in runs in the gateway's own headless browser instead, and the operator drives it from
afar: the API hands out screenshots of the login window and passes clicks, typing and keys on
to it. Once AI Studio shows its prompt box (the login worked), `finish` saves the window's
storage state as the profile, which then serves like any imported one.

A login window belongs to nobody's page: its context is not hooked and takes no calls. Windows
left alone for `IDLE_SECONDS` are closed; at most `MAX_WINDOWS` are open at once.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gemini_gateway.aistudio import page_spec
from gemini_gateway.aistudio.browser import BrowserUnavailable
from gemini_gateway.aistudio.profiles import check_name
from gemini_gateway.errors import GatewayError, RequestError

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

    from gemini_gateway.aistudio.service import AiStudioService

IDLE_SECONDS = 15 * 60
MAX_WINDOWS = 3
WIDTH, HEIGHT = 1024, 768
MAX_TEXT = 1000  # characters typed in one request
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
        context = await browser.new_context(
            storage_state=str(existing) if existing else None,
            viewport={"width": WIDTH, "height": HEIGHT},
            locale="en-US",
        )
        try:
            page = await context.new_page()
            await page.goto(
                page_spec.new_chat_url(self.service.config.base_url, None), wait_until="domcontentloaded"
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await context.close()
            raise
        window = LoginWindow(secrets.token_urlsafe(12), name, context, page)
        self.windows[window.id] = window
        return await self.view(window)

    def window(self, window_id: str) -> LoginWindow:
        window = self.windows.get(window_id)
        if window is None:
            raise RequestError("no such login window: unknown, finished or closed", status_code=404)
        window.touched = time.monotonic()
        return window

    async def view(self, window: LoginWindow) -> dict[str, Any]:
        return {
            "id": window.id,
            "name": window.name,
            "url": window.page.url.split("?")[0],  # sign-in URLs carry long state; the path says enough
            "signed_in": await self.signed_in(window),
            "opened": window.opened,
            "viewport": {"width": WIDTH, "height": HEIGHT},
        }

    async def signed_in(self, window: LoginWindow) -> bool:
        if page_spec.is_login_url(window.page.url):
            return False
        prompt = window.page.locator(page_spec.SELECTORS.prompt).first
        return bool(await prompt.count()) and await prompt.is_visible()

    async def screenshot(self, window: LoginWindow) -> bytes:
        return await window.page.screenshot(type="png")

    async def act(self, window: LoginWindow, action: dict[str, Any]) -> dict[str, Any]:
        """One of `{"click": [x, y]}`, `{"type": "text"}`, `{"key": "Enter"}`."""
        page = window.page
        if "click" in action:
            point = action["click"]
            if (
                not isinstance(point, list)
                or len(point) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
                or not (0 <= point[0] <= WIDTH and 0 <= point[1] <= HEIGHT)
            ):
                raise RequestError("'click' must be [x, y] inside the window's viewport")
            await page.mouse.click(float(point[0]), float(point[1]))
        elif "type" in action:
            text = action["type"]
            if not isinstance(text, str) or len(text) > MAX_TEXT:
                raise RequestError(f"'type' must be a string of at most {MAX_TEXT} characters")
            await page.keyboard.type(text)
        elif "key" in action:
            key = action["key"]
            if key not in KEYS:
                raise RequestError(f"'key' must be one of {', '.join(sorted(KEYS))}")
            await page.keyboard.press(key)
        else:
            raise RequestError("give one of 'click', 'type' or 'key'")
        with contextlib.suppress(Exception):  # a click may start a navigation: let it settle
            await page.wait_for_load_state("domcontentloaded", timeout=5000)
        return await self.view(window)

    async def finish(self, window: LoginWindow) -> str:
        """Save the window's login as its profile and close the window."""
        if not await self.signed_in(window):
            raise RequestError("not signed in yet: AI Studio does not show its prompt box", status_code=409)
        state: dict[str, Any] = await window.context.storage_state()  # type: ignore[assignment]
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

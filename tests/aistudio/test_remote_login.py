"""The remote sign-in window (aistudio/remote_login.py) while its page is busy: a navigation under
way, a window closed by another request while a call on it is running. The operator's page asks
for state and screenshots all the time, so neither may ever answer a 500.

The full sign-in through the API is in test_page_failover.py, through the admin UI in
tests/admin/test_aistudio_login_browser.py.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import orjson
import pytest

from gemini_gateway.aistudio import remote_login
from gemini_gateway.aistudio.remote_login import LoginWindow, RemoteLogins
from gemini_gateway.errors import RequestError, WindowBusy
from tests.aistudio.conftest import ADMIN, CHROMIUM, page_gateway, profile_state, wait_for
from tests.aistudio.standin_server import StandinState

pytest.importorskip("playwright.async_api")
chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test-browser.sh)"
)


@chromium
def test_state_and_screenshots_during_a_sign_in_navigation_and_a_close_never_answer_500(
    standin: tuple[str, StandinState], site: StandinState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = standin
    # Short tries: a page query waits for the navigation under way, as long as it takes.
    monkeypatch.setattr(remote_login, "STEP_SECONDS", 0.4)
    monkeypatch.setattr(remote_login, "LOAD_WAIT_MS", 200)
    monkeypatch.setattr(remote_login, "SHOT_TIMEOUT_MS", 400)
    with page_gateway(tmp_path, url, {"carol": None}) as gateway:
        (tmp_path / "profiles" / "carol.json").write_bytes(orjson.dumps(profile_state(url, "expired")))
        api = f"{gateway.url}/api/aistudio/logins"
        window = httpx.post(api, json={"name": "carol"}, headers=ADMIN, timeout=30).json()
        one = f"{api}/{window['id']}"
        assert httpx.get(api, headers=ADMIN).json()["logins"] == [
            {
                "id": window["id"],
                "name": "carol",
                "url": window["url"],
                "opened": window["opened"],
                "idle_seconds": pytest.approx(0, abs=30),
            }
        ]
        for action in ({"click": [250, 215]}, {"type": "carol@example.com"}):
            assert httpx.post(f"{one}/input", json=action, headers=ADMIN, timeout=30).status_code == 200, (
                action
            )

        # Enter signs in; the stand-in holds its last step: a page that is not the sign-in page,
        # with a navigation under way (page queries wait for it).
        site.sign_in_go.clear()
        assert httpx.post(f"{one}/input", json={"key": "Enter"}, headers=ADMIN, timeout=30).status_code == 200
        wait_for(
            lambda: httpx.get(one, headers=ADMIN, timeout=30).json()["url"].endswith("/standin/continue"),
            what="the page between sign-in and AI Studio",
        )
        state = httpx.get(one, headers=ADMIN, timeout=30)
        assert state.status_code == 200, state.text
        assert state.json()["loading"] and not state.json()["signed_in"]
        shot = httpx.get(f"{one}/screenshot", headers=ADMIN, timeout=30)
        assert shot.status_code == 200 and shot.content.startswith(b"\x89PNG"), shot.status_code
        refused = httpx.post(f"{one}/finish", headers=ADMIN, timeout=30)
        assert refused.status_code == 503 and refused.json()["error"]["status"] == "UNAVAILABLE"

        # Let it go on while the calls go on: the new page loads under them.
        with ThreadPoolExecutor(2) as pool:
            polls = [pool.submit(_poll, f"{one}{tail}", 6) for tail in ("", "/screenshot")]
            site.sign_in_go.set()
            answers = [status for poll in polls for status in poll.result()]
        assert set(answers) <= {200, 503}, answers
        wait_for(lambda: httpx.get(one, headers=ADMIN, timeout=30).json()["signed_in"], what="signed in")

        # A screenshot the page cannot give yet (its web font is held) when another request closes
        # the window: the screenshot's answer is the closed window's 404.
        (tmp_path / "profiles" / "dave.json").write_bytes(orjson.dumps(profile_state(url, "expired")))
        site.font_go.clear()  # for the sign-in page dave's expired login lands on
        monkeypatch.setattr(remote_login, "SHOT_TIMEOUT_MS", 60_000)  # no quicker picture this time
        second = httpx.post(api, json={"name": "dave"}, headers=ADMIN, timeout=30).json()
        entered = threading.Event()
        original = RemoteLogins.screenshot

        async def screenshot(self: RemoteLogins, window: LoginWindow) -> bytes:
            entered.set()
            return await original(self, window)

        monkeypatch.setattr(RemoteLogins, "screenshot", screenshot)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.get, f"{api}/{second['id']}/screenshot", headers=ADMIN, timeout=30)
            assert entered.wait(30)
            assert httpx.delete(f"{api}/{second['id']}", headers=ADMIN, timeout=30).status_code == 200
            gone = pending.result()
        assert gone.status_code == 404 and gone.json()["error"]["status"] == "NOT_FOUND", gone.text
        assert [w["name"] for w in httpx.get(api, headers=ADMIN).json()["logins"]] == ["carol"]


def _poll(address: str, times: int) -> list[int]:
    with httpx.Client(headers=ADMIN, timeout=30) as client:
        return [client.get(address).status_code for _ in range(times)]


# The retry rules on their own, with a stand-in page -------------------------------------------


class FakePage:
    """Fails its step `failures` times with Playwright's navigation error, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.closed = False
        self.load_waits = 0

    def is_closed(self) -> bool:
        return self.closed

    async def wait_for_load_state(self, state: str, timeout: float) -> None:
        self.load_waits += 1

    async def step(self) -> str:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("Execution context was destroyed, most likely because of a navigation")
        return "answer"


def _logins(page: FakePage) -> tuple[RemoteLogins, LoginWindow]:
    logins = RemoteLogins(SimpleNamespace())  # type: ignore[arg-type]
    window = LoginWindow("w1", "carol", SimpleNamespace(close=_nothing), page)  # type: ignore[arg-type]
    logins.windows[window.id] = window
    return logins, window


async def _nothing() -> None:
    return None


async def test_a_step_is_tried_again_once_after_the_new_document_is_there() -> None:
    page = FakePage(failures=1)
    logins, window = _logins(page)
    assert await logins._on_page(window, page.step) == "answer"
    assert page.load_waits == 1

    page = FakePage(failures=2)
    logins, window = _logins(page)
    with pytest.raises(WindowBusy) as busy:
        await logins._on_page(window, page.step)
    assert busy.value.status_code == 503 and "Execution context was destroyed" in busy.value.message
    assert "w1" in logins.windows  # busy is not gone

    page = FakePage(failures=1)
    logins, window = _logins(page)
    with pytest.raises(WindowBusy):
        await logins._on_page(window, page.step, tries=1)  # input: never sent twice


async def test_a_step_on_a_window_closed_meanwhile_is_a_404() -> None:
    page = FakePage(failures=1)
    logins, window = _logins(page)

    async def closed_under_it() -> str:
        page.closed = True
        return await page.step()

    with pytest.raises(RequestError) as gone:
        await logins._on_page(window, closed_under_it)
    assert gone.value.status_code == 404 and "w1" not in logins.windows
    with pytest.raises(RequestError):  # and so is any step after
        await logins._on_page(window, page.step)


async def test_a_step_that_hangs_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote_login, "STEP_SECONDS", 0.05)
    page = FakePage(failures=0)
    logins, window = _logins(page)

    async def hangs() -> str:
        await asyncio.sleep(3600)  # as a page query does while a navigation never ends
        return "never"

    with pytest.raises(WindowBusy):
        await logins._on_page(window, hangs)
    assert page.load_waits == 1

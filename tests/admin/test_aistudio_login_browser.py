"""The AI Studio page's remote sign-in, in Debian's headless Chromium, against the stand-in site.

An operator with no desktop on the server signs a profile in through the admin UI: the sign-in
window (the gateway's own headless browser) shows as a picture; a click on the picture lands on the
stand-in's email field (scaled from the picture to the window), text is typed both from the relay
field and from the keyboard with the picture focused, Enter signs in, Finish saves the profile,
which joins the pool. Then the keyboard alone and axe-core (both themes) on the page, and Chinese.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.admin.admin_page import DESKTOP, signed_in_page
from tests.admin.conftest import CHROMIUM
from tests.admin.test_browser import shot
from tests.admin.test_browser_care import axe_problems, focused
from tests.admin.test_i18n import problems as language_problems
from tests.aistudio.conftest import ADMIN, page_gateway, profile_state
from tests.aistudio.standin_server import StandinState, create_standin_app
from tests.conftest import RunningGateway
from tests.servers import serve_in_thread

pytest.importorskip("playwright.async_api")
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test-browser.sh)"),
]
EMAIL_FIELD = (250, 215)  # where the stand-in's sign-in page has its email field, in the window


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("aistudio-ui")


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    with serve_in_thread(create_standin_app(StandinState())) as url:
        yield url


@pytest.fixture(scope="module")
def site(data: Path, standin: str) -> Iterator[RunningGateway]:
    with page_gateway(data, standin, {"alice": None}) as gateway:
        yield gateway


def expired(data: Path, standin: str, name: str) -> None:
    """A profile whose saved login has expired: the stand-in sends its window to sign in."""
    (data / "profiles" / f"{name}.json").write_bytes(orjson.dumps(profile_state(standin, "expired")))


def studio_page(browser: Any, site: RunningGateway, **options: Any) -> tuple[Any, Any, list[str]]:
    context, page, errors = signed_in_page(
        browser, site.url, timeout_ms=15_000, csp=True, viewport=DESKTOP, **options
    )
    page.evaluate("location.hash = '#/aistudio'")
    page.wait_for_selector('.page[data-page="aistudio"] .studio-profiles tbody tr[data-profile="alice"]')
    return context, page, errors


def wait_for_window(page: Any) -> str:
    page.wait_for_selector(".remote-login")
    # The first picture in place: its natural size is the window's viewport.
    page.wait_for_function(
        "() => { const img = document.querySelector('.remote-shot'); return img && img.naturalWidth === 1024; }"
    )
    window_id: str = page.evaluate("location.hash.split('/').pop()")
    return window_id


def test_sign_a_profile_in_by_clicking_and_typing_through_the_picture(
    browser: Any, site: RunningGateway, data: Path, standin: str
) -> None:
    expired(data, standin, "carol")  # a server has no desktop to sign carol in again on
    context, page, errors = studio_page(browser, site)  # the page's own CSP, not bypassed
    try:
        page.click('.studio-profiles tr[data-profile="carol"] button[name=sign_in_again]')
        window_id = wait_for_window(page)
        assert page.inner_text(".remote-login header").startswith("Sign-in window · carol")
        assert "not signed in yet" in page.inner_text(".remote-login header")
        assert page.is_disabled("button[name=finish]")
        shot(page, "aistudio-sign-in-window")
        # Left for the profiles: the open window is listed there, and found again from the list.
        page.evaluate("location.hash = '#/aistudio'")
        page.locator(f'.studio-windows li[data-window="{window_id}"] a', has_text="Resume").click()
        assert wait_for_window(page) == window_id

        box = page.locator(".remote-shot").bounding_box()
        assert box["width"] < 1024  # scaled: the click is placed back in the window's coordinates
        x, y = EMAIL_FIELD
        page.mouse.click(box["x"] + x * box["width"] / 1024, box["y"] + y * box["height"] / 768)
        page.fill("input[name=relay_text]", "carol@example")
        page.keyboard.press("Enter")  # submits the relay field: typed into the window
        page.wait_for_function("() => document.querySelector('input[name=relay_text]').value === ''")
        page.locator(".remote-screen").focus()
        page.keyboard.type(".com")  # keys pressed on the focused picture are relayed too
        page.click("button[name=key_Enter]")
        # Generous: six actions in the gateway's own browser, on a machine that may be busy.
        page.locator(".remote-login header .badge.ok", has_text="signed in").wait_for(timeout=45_000)
        assert page.is_enabled("button[name=finish]")
        shot(page, "aistudio-signed-in")
        page.click("button[name=finish]")
        page.wait_for_selector(".toast >> text=Profile carol saved: it serves now")
        page.wait_for_selector('.studio-profiles tbody tr[data-profile="carol"]')
        assert "signed in" in page.inner_text('.studio-profiles tr[data-profile="carol"]')
        assert httpx.get(f"{site.url}/api/aistudio/logins/{window_id}", headers=ADMIN).status_code == 404

        cookies = orjson.loads((data / "profiles" / "carol.json").read_bytes())["cookies"]
        assert {c["name"]: c["value"] for c in cookies}["SID"] == "carol"
        # The saved login is a profile of the pool now (the API test shows one serving at once).
        listed = httpx.get(f"{site.url}/api/aistudio/profiles", headers=ADMIN).json()["profiles"]
        carol = next(p for p in listed if p["name"] == "carol")
        assert carol["credential"] is not None and not carol["expired"]
    finally:
        context.close()
    assert errors == [], errors


def test_the_sign_in_page_by_keyboard_with_axe_in_both_themes_and_in_chinese(
    browser: Any, site: RunningGateway, data: Path, standin: str
) -> None:
    expired(data, standin, "dave")
    # bypass_csp: axe is injected as a script of the test's own (the test above keeps the CSP).
    context, page, errors = studio_page(browser, site, bypass_csp=True, color_scheme="dark")
    try:
        for theme in ("dark", "light"):
            page.emulate_media(color_scheme=theme)
            assert axe_problems(page) == [], theme
        page.locator("input[name=profile_name]").focus()
        page.keyboard.type("dave")
        page.keyboard.press("Enter")
        page.wait_for_selector(".remote-login")
        page.wait_for_function("() => document.querySelector('.remote-shot').naturalWidth === 1024")
        for theme in ("dark", "light"):
            page.emulate_media(color_scheme=theme)
            assert axe_problems(page) == [], theme

        # Tab from the page's heading: the picture, the relay field, its button, the keys, Close.
        page.locator(".remote-login").evaluate("el => el.querySelector('h2').setAttribute('tabindex', '-1')")
        page.locator(".remote-login h2").focus()
        seen = []
        for _ in range(12):
            page.keyboard.press("Tab")
            el = focused(page)
            seen.append(
                page.evaluate(
                    "document.activeElement.getAttribute('name') || document.activeElement.className"
                )
            )
            if el["text"].startswith("Close without saving"):
                break
        assert seen[0] == "remote-screen" and "relay_text" in seen and "key_Enter" in seen, seen
        assert "finish" not in seen  # disabled until signed in
        page.keyboard.press("Enter")  # Close without saving, then confirm with the keyboard
        page.wait_for_selector(".modal footer")
        page.locator(".modal footer button.danger").focus()
        page.keyboard.press("Enter")
        page.wait_for_selector(".toast >> text=Sign-in window closed")
        page.wait_for_selector('.studio-profiles tbody tr[data-profile="alice"]')
        kept = orjson.loads((data / "profiles" / "dave.json").read_bytes())["cookies"]
        assert [c["value"] for c in kept] == ["expired"]  # closed without saving: as it was

        # The same page in Chinese: no English left, no key missing, in both views.
        page.evaluate("localStorage.setItem('gw-lang', 'zh')")
        page.reload()
        page.wait_for_selector('.studio-profiles tbody tr[data-profile="alice"]')
        assert language_problems(page, "zh") == []
        page.fill("input[name=profile_name]", "erin")  # a new profile: signed in at once by the stand-in
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('.remote-shot')?.naturalWidth === 1024")
        assert language_problems(page, "zh") == []
        window_id = page.evaluate("location.hash.split('/').pop()")
        assert httpx.delete(f"{site.url}/api/aistudio/logins/{window_id}", headers=ADMIN).status_code == 200
        page.locator(".notice.warn", has_text="登录窗口已关闭").wait_for()  # the page sees it gone
    finally:
        context.close()
    assert errors == [], errors

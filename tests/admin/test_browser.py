"""The admin UI in a real headless Chromium against a real gateway over loopback.

The flows an operator runs: sign in (and fail with a wrong token), add a key and see it in the
pool, chat in the playground and watch the answer stream, find that request in the request
browser and open it, change settings and see them take effect, create and revoke a client
token, watch the live log. Screenshots of every page at 1400x900 and 390x844 go to
test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gemini_gateway.app import create_app
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.settings import Settings
from tests.admin.admin_page import DESKTOP, go, login
from tests.admin.helpers import USER_TOKEN, bearer
from tests.conftest import ADMIN_TOKEN, KEYS, RunningGateway
from tests.recorder.conftest import wait_for_records
from tests.servers import serve_in_thread

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NEW_KEY = "AIzaSyBrowserAddedKey-000000-4242"
PAGES = ["dashboard", "pool", "requests", "live", "playground", "tokens", "settings", "api"]
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: tuple[str, FakeState]
) -> Iterator[RunningGateway]:
    values: dict[str, Any] = {
        "gemini_api_keys": KEYS,
        "gemini_base_url": fake_upstream[0],
        "admin_token": ADMIN_TOKEN,
        "gateway_tokens": [USER_TOKEN],
        "data_dir": tmp_path_factory.mktemp("ui") / "data",
        "recording_batch_ms": 20,
        "gemini_api_key_tier": "",  # the fake has no quota (see tests/conftest.py)
        "max_retries": 3,  # as if set in .env: the UI must say when a stored value overrides it
    }
    app = create_app(Settings(_env_file=None, **values))  # type: ignore[call-arg]
    fake = fake_upstream[1]
    # One key rate limited for the pro model for an hour: the pool shows a cooldown per model.
    fake.add_fault(KEYS[2], "429", count=1, model="gemini-2.5-pro", retry_delay="3600s")
    with serve_in_thread(app) as url:
        for i in range(6):  # some traffic for the dashboard and the request browser
            httpx.post(
                f"{url}/v1/chat/completions",
                json={
                    "model": ["gemini-2.5-flash", "gemini-2.5-pro"][i % 2],
                    "messages": [{"role": "user", "content": f"warm-up {i}"}],
                },
                headers=bearer(USER_TOKEN),
            )
        # The dashboard draws what is recorded; the writer (a process of its own here, as in
        # `serve` on this 2-CPU machine) may still be starting.
        wait_for_records(url, 6, timeout=30)
        yield RunningGateway(url, app)


class Problems(list[str]):
    """Uncaught script errors and CSP violations seen by a page."""


@pytest.fixture(scope="module")
def problems() -> Problems:
    return Problems()


def _watch(page: Any, problems: Problems) -> None:
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )


@pytest.fixture(scope="module")
def page(browser: Any, site: RunningGateway, problems: Problems) -> Iterator[Any]:
    context = browser.new_context(
        viewport=DESKTOP, color_scheme="dark", permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    _watch(page, problems)
    page.goto(f"{site.url}/admin/")
    yield page
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(150)  # let charts lay out after their ResizeObserver
    page.evaluate("document.getElementById('toasts').replaceChildren()")  # earlier steps' toasts
    page.screenshot(path=str(ARTIFACTS / f"{name}-{page.viewport_size['width']}.png"))


def test_wrong_token_is_refused_then_login(page: Any, site: RunningGateway) -> None:
    page.wait_for_selector("input[name=token]")
    shot(page, "login")
    page.fill("input[name=token]", "not-the-admin-token")
    page.click("form button[type=submit]")
    page.wait_for_selector("text=That token is not right.")
    assert page.locator(".shell").count() == 0
    shot(page, "login-error")
    login(page)
    go(page, "dashboard")
    page.wait_for_selector(".kpi .value")
    assert page.locator(".kpi").first.inner_text().startswith("REQUESTS")
    page.wait_for_selector(".chart svg path")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["gw_session"]["httpOnly"] and cookies["gw_session"]["value"] != ADMIN_TOKEN
    shot(page, "dashboard")


def test_add_a_key_and_see_it_in_the_pool(page: Any, site: RunningGateway) -> None:
    login(page)
    go(page, "pool")
    page.wait_for_selector(".pool-table tbody tr")
    assert page.locator(".pool-table tbody tr").count() == 3
    page.click("text=Add keys")
    page.fill(".modal textarea", f"# pasted\n{NEW_KEY}\n")
    page.click(".modal button[type=submit]")
    row = page.locator(".pool-table tbody tr", has_text="AIza...4242")
    row.wait_for()
    assert "stored" in row.inner_text() and "valid" in row.inner_text()  # validated against the upstream
    assert NEW_KEY not in page.content()
    assert any(c.label == "AIza...4242" for c in site.gateway.pool)
    shot(page, "pool")


def test_playground_streams_and_shows_the_credential(
    page: Any, site: RunningGateway, fake_upstream: tuple[str, FakeState]
) -> None:
    fake = fake_upstream[1]
    fake.config.merge({"stream_chunks": 10, "chunk_delay_ms": 120})
    try:
        login(page)
        go(page, "playground")
        page.wait_for_selector("select[aria-label=Model] option[value='gemini-2.5-flash']", state="attached")
        page.select_option("select[aria-label=Model]", "gemini-2.5-flash")
        page.fill("textarea[aria-label=Message]", "stream me a story from the browser")
        page.keyboard.press("Enter")
        bubble = page.locator(".chat-msg.assistant .bubble").last
        # While streaming: part of the answer is shown and the caret still blinks.
        page.wait_for_function(
            "() => { const b = [...document.querySelectorAll('.chat-msg.assistant .bubble')].pop();"
            " return b && b.classList.contains('caret') && b.textContent.length > 0; }"
        )
        partial = bubble.inner_text()
        page.wait_for_selector(".chat-msg.assistant .meta .usage")
        final = bubble.inner_text()
        assert len(partial) < len(final) and final.startswith(partial[:5])
        assert "stream me a story from the browser" in final  # the fake echoes the prompt
        meta = page.locator(".chat-msg.assistant .meta").last.inner_text()
        assert re.search(r"served by (fake|AIza)\.\.\.\d{4}", meta), meta
        assert re.search(r"\d+ in · \d+ out · \d+ total", meta), meta
        shot(page, "playground")
    finally:
        fake.reset(config=True)


def test_find_the_request_and_open_it(page: Any, site: RunningGateway) -> None:
    login(page)
    go(page, "requests")
    page.fill("input[name=client]", "admin:ui")
    page.wait_for_function(
        "() => { const rows = [...document.querySelectorAll('.requests-table tbody tr.clickable')];"
        " return rows.length > 0 && rows.every((r) => r.textContent.includes('admin:ui')); }"
    )
    row = page.locator(".requests-table tbody tr.clickable", has_text="gemini-2.5-flash").first
    row.wait_for()
    assert "stream" in row.inner_text()
    shot(page, "requests")
    row.click()
    drawer = page.locator(".drawer")
    drawer.locator("text=Response (stream merged into one answer)").wait_for()
    assert "stream me a story from the browser" in drawer.inner_text()
    assert drawer.locator("table tbody tr").count() >= 1  # the attempts
    shot(page, "request-detail")
    drawer.locator("button", has_text="Copy as curl").click()
    curl = page.evaluate("navigator.clipboard.readText()")
    assert curl.startswith("curl -X POST") and "/v1/chat/completions" in curl and "$GATEWAY_TOKEN" in curl
    assert ADMIN_TOKEN not in curl and "stream me a story" in curl
    page.keyboard.press("Escape")
    assert page.locator(".drawer").count() == 0


def test_change_settings_and_see_them_apply(page: Any, site: RunningGateway) -> None:
    login(page)
    go(page, "settings")
    page.select_option("select[name=pool_strategy]", "round_robin")
    page.fill("input[name=max_retries]", "5")
    page.wait_for_selector("text=2 unsaved changes")
    page.click(".savebar button.primary")
    page.wait_for_selector(".toast >> text=MAX_RETRIES: applied now")
    row = page.locator(".setting[data-name=max_retries]")
    assert "stored" in row.inner_text()
    warning = row.locator(".override").inner_text()
    assert "overrides the environment" in warning and "MAX_RETRIES is 3 in the environment" in warning
    assert site.gateway.dispatcher.max_retries == 5 and site.gateway.pool.strategy == "round_robin"
    shot(page, "settings")
    go(page, "pool")
    page.wait_for_selector("text=strategy: round robin")
    go(page, "settings")
    page.wait_for_selector(".setting[data-name=max_retries]")
    assert "settings.change" in page.locator("table").last.inner_text()  # audited


def test_create_and_revoke_a_client_token(page: Any, site: RunningGateway) -> None:
    login(page)
    go(page, "tokens")
    page.fill("input[name=name]", "browser-ci")
    page.fill("input[name=rate_limit]", "30")
    page.click("text=Create token")
    field = page.locator(".modal input[aria-label='New token']")
    field.wait_for()
    token = field.input_value()
    assert token.startswith("gw-")
    shot(page, "token-created")
    page.click(".modal >> text=Done")
    chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{site.url}/v1/chat/completions", json=chat, headers=bearer(token)).status_code == 200
    row = page.locator(".tokens-table tbody tr", has_text="browser-ci")
    assert "30/min" in row.inner_text() and token not in page.content()
    shot(page, "tokens")
    row.locator("text=Revoke").click()
    page.click(".modal button.danger")
    page.locator(".tokens-table tbody tr", has_text="browser-ci").locator("text=revoked").wait_for()
    assert httpx.post(f"{site.url}/v1/chat/completions", json=chat, headers=bearer(token)).status_code == 403


def test_live_log_shows_requests_as_they_happen(page: Any, site: RunningGateway) -> None:
    login(page)
    go(page, "live")
    page.wait_for_selector(".conn >> text=live")
    chat = {"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "for the live log"}]}
    httpx.post(f"{site.url}/v1/chat/completions", json=chat, headers=bearer(USER_TOKEN))
    line = page.locator(".log-line[data-kind=request]", has_text="gemini-2.5-pro").last
    line.wait_for()
    assert "POST /v1/chat/completions" in line.inner_text() and "→ 200" in line.inner_text()
    shot(page, "live")


def test_api_reference_reads_the_openapi_document(page: Any) -> None:
    login(page)
    go(page, "api")
    page.wait_for_selector(".op")
    page.fill("input[aria-label='Filter operations']", "keys/import")
    visible = page.locator(".op:not(.hidden)")
    assert visible.count() == 1
    visible.locator("summary").click()
    visible.locator("text=Request body (text/plain)").wait_for()
    page.fill("input[aria-label='Filter operations']", "")
    page.locator(".op", has_text="/api/settings").first.locator("summary").click()
    shot(page, "api")


def test_every_page_at_phone_width(browser: Any, site: RunningGateway, problems: Problems) -> None:
    context = browser.new_context(viewport=PHONE, color_scheme="dark", is_mobile=True, has_touch=True)
    phone = context.new_page()
    phone.set_default_timeout(10_000)
    _watch(phone, problems)
    try:
        phone.goto(f"{site.url}/admin/")
        phone.wait_for_selector("input[name=token]")
        shot(phone, "login")
        login(phone)
        for name in PAGES:
            go(phone, name)
            phone.wait_for_timeout(250)
            overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} is wider than the phone by {overflow}px"
            shot(phone, name)
        phone.click("button[aria-label=Menu]")
        phone.wait_for_selector(".shell.menu-open")
        shot(phone, "menu")
    finally:
        context.close()


def test_light_theme_and_no_script_errors(page: Any, problems: Problems) -> None:
    login(page)
    go(page, "dashboard")
    page.click("text=Theme")
    page.wait_for_selector("html[data-theme=light]")
    page.wait_for_selector(".kpi .value")
    page.screenshot(path=str(ARTIFACTS / "dashboard-light-1400.png"))
    page.click("text=Theme")
    assert problems == [], problems

"""The admin UI for daily operation, in Debian's headless Chromium against a real gateway.

Keyboard-only walks (rows opened with Enter, dialogs that hold and give back focus, no hidden
menu in the tab order at phone width), an axe-core scan of every page (vendored in
tests/admin/vendor, no CDN), credential care on the Pool page, counts that the UI's own calls do
not inflate, and the live log's history. One browser and one page for the whole module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gemini_gateway.app import create_app
from gemini_gateway.fake_upstream import FakeState
from tests.admin.admin_page import ALL_PAGES, DESKTOP, go, signed_in_page
from tests.admin.conftest import admin_settings
from tests.admin.helpers import USER_TOKEN, admin_client, bearer
from tests.conftest import ADMIN_TOKEN, KEYS, RunningGateway
from tests.recorder.conftest import wait_for_records
from tests.servers import serve_in_thread

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "care"}]}

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: tuple[str, FakeState]
) -> Iterator[RunningGateway]:
    app = create_app(admin_settings(tmp_path_factory, fake_upstream[0], "care", recording_batch_ms=20))
    with serve_in_thread(app) as url:
        for _ in range(3):
            httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=bearer(USER_TOKEN))
        wait_for_records(url, 3, timeout=30)
        yield RunningGateway(url, app)


@pytest.fixture(scope="module")
def page(browser: Any, site: RunningGateway) -> Iterator[Any]:
    # bypass_csp: axe is injected as a script of the test's own; test_browser.py checks the CSP.
    context, page, errors = signed_in_page(
        browser, site.url, viewport=DESKTOP, color_scheme="dark", bypass_csp=True
    )
    yield page
    context.close()
    assert errors == [], errors


def focused(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """() => { const el = document.activeElement;
        return { tag: el.tagName.toLowerCase(), text: (el.textContent || '').trim().slice(0, 60),
                 inModal: Boolean(el.closest('.modal, .drawer')), inSidebar: Boolean(el.closest('.sidebar')),
                 row: el.matches('.requests-table tbody tr.clickable'), id: el.dataset ? el.dataset.id || null : null }; }"""
    )
    return result


def test_request_rows_open_with_enter_and_the_drawer_holds_focus(page: Any) -> None:
    go(page, "requests")
    page.wait_for_selector(".requests-table tbody tr.clickable")
    page.locator("input[name=credential]").focus()
    for _ in range(20):  # Tab from the filters until a row has focus
        page.keyboard.press("Tab")
        if focused(page)["row"]:
            break
    row = focused(page)
    assert row["row"], row
    page.keyboard.press("Enter")
    page.wait_for_selector(".drawer button:has-text('Copy as curl')")
    for _ in range(8):  # Tab and Shift+Tab stay inside the drawer
        page.keyboard.press("Tab")
        assert focused(page)["inModal"], focused(page)
    for _ in range(4):
        page.keyboard.press("Shift+Tab")
        assert focused(page)["inModal"], focused(page)
    page.keyboard.press("Escape")
    assert page.locator(".drawer").count() == 0
    back = focused(page)
    assert back["row"] and back["id"] == row["id"], back


def test_add_keys_dialog_focuses_the_textarea_traps_tab_and_gives_focus_back(page: Any) -> None:
    go(page, "pool")
    page.locator("button", has_text="Add keys").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".modal textarea")
    assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
    for _ in range(7):
        page.keyboard.press("Tab")
        assert focused(page)["inModal"], focused(page)
    page.keyboard.press("Escape")
    assert page.locator(".modal").count() == 0
    assert "Add keys" in focused(page)["text"]


def test_at_phone_width_the_first_tab_skips_the_hidden_menu(browser: Any, site: RunningGateway) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        phone.goto(f"{site.url}/admin/")
        phone.fill("input[name=token]", ADMIN_TOKEN)
        phone.keyboard.press("Enter")
        phone.wait_for_selector(".page .page-head")
        phone.evaluate("document.activeElement.blur()")
        phone.keyboard.press("Tab")
        first = focused(phone)
        assert not first["inSidebar"], first
        phone.click("button[aria-label=Menu]")
        phone.wait_for_selector(".shell.menu-open")
        assert focused(phone)["inSidebar"]  # the opened menu takes focus, Escape gives it back
        phone.keyboard.press("Escape")
        assert phone.locator(".shell.menu-open").count() == 0
        assert phone.evaluate("document.activeElement.getAttribute('aria-label')") == "Menu"
    finally:
        context.close()


def axe_problems(page: Any) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, { resultTypes: ['violations'] })).violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' ' + ((n.any[0] || {}).message || '').slice(0, 90)) }))"""
    )
    return [f"{v['id']} ({v['impact']}): {v['nodes']}" for v in found]


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_axe_finds_nothing_serious_on_any_page(page: Any, theme: str) -> None:
    page.emulate_media(color_scheme=theme)
    page.evaluate("localStorage.removeItem('gw-theme')")
    page.reload()
    page.wait_for_selector(".shell")
    problems: dict[str, list[str]] = {}
    for name in ALL_PAGES:
        go(page, name)
        page.wait_for_timeout(200)  # charts and lists filled in
        if found := axe_problems(page):
            problems[name] = found
    go(page, "pool")
    page.click("text=Add keys")
    page.wait_for_selector(".modal textarea")
    page.wait_for_timeout(300)  # the fade-in done: half-transparent text is not what is read
    if found := axe_problems(page):
        problems["add-keys dialog"] = found
    page.keyboard.press("Escape")
    assert problems == {}, problems


def test_the_login_page_passes_axe(browser: Any, site: RunningGateway) -> None:
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    login = context.new_page()
    try:
        login.goto(f"{site.url}/admin/")
        login.wait_for_selector("input[name=token]")
        assert axe_problems(login) == []
    finally:
        context.close()


def test_the_scan_can_fail(page: Any) -> None:
    """The scan sees a real violation: an unlabelled field and a button with no name."""
    go(page, "dashboard")
    page.evaluate(
        "document.querySelector('.page').append(Object.assign(document.createElement('input'), {id: 'bad'}),"
        " document.createElement('button'))"
    )
    assert any(p.startswith("button-name") for p in axe_problems(page))
    page.evaluate("location.reload()")
    page.wait_for_selector(".shell")


def _pool_row(page: Any, label_end: str) -> Any:
    return page.locator(".pool-table tbody tr", has_text=label_end)


def test_pool_care_name_reenable_validate_filter_bulk_export(
    page: Any, site: RunningGateway, fake_upstream: tuple[str, FakeState]
) -> None:
    fake = fake_upstream[1]
    fake.add_fault(KEYS[0], "invalid_key", count=2)
    try:
        for _ in range(4):  # the gateway takes KEYS[0] out: API_KEY_INVALID
            httpx.post(f"{site.url}/v1/chat/completions", json=CHAT, headers=bearer(USER_TOKEN))
    finally:
        fake.clear_faults()
    go(page, "pool")
    failed = _pool_row(page, KEYS[0][-4:])
    failed.locator(".badge", has_text="failed").wait_for()
    assert failed.locator("button", has_text="Re-enable").count() == 1
    # Validate: valid now, so the failure is cleared; no "failed" left beside "valid".
    failed.locator("button", has_text="Validate").click()
    failed.locator(".badge", has_text="valid").wait_for()
    page.wait_for_function(
        f"() => {{ const r = [...document.querySelectorAll('.pool-table tbody tr')].find((x) => x.textContent.includes('{KEYS[0][-4:]}'));"
        " return r && !r.textContent.includes('failed ') && r.querySelector('.badge.ok'); }"
    )
    assert "Re-enable" not in failed.inner_text()
    # Name it: shown on the pool row, the dashboard tile, and offered by the filter.
    failed.locator("button", has_text="Name").click()
    assert page.evaluate("document.activeElement.name") == "credential_name"
    page.keyboard.type("primary key")
    page.keyboard.press("Enter")
    _pool_row(page, "primary key").wait_for()
    page.fill("input[name=filter]", "primary")
    page.wait_for_function("document.querySelectorAll('.pool-table tbody tr').length === 1")
    page.fill("input[name=filter]", "")
    page.select_option("select[name=health]", "disabled")
    page.locator(".pool-table td.empty").wait_for()
    page.select_option("select[name=health]", "")
    # Bulk: disable two selected, then enable them again.
    for key in KEYS[1:3]:
        _pool_row(page, key[-4:]).locator("input.select").check()
    page.click("text=Disable selected")
    page.wait_for_function(
        "document.querySelectorAll('.pool-table .badge:not(.ok)').length && [...document.querySelectorAll('.pool-table tbody tr')].filter((r) => r.textContent.includes('Enable') && !r.textContent.includes('Re-enable')).length === 2"
    )
    assert sum(not c.enabled for c in site.gateway.pool) == 2
    page.click("text=Enable selected")
    page.wait_for_function(
        "[...document.querySelectorAll('.pool-table tbody tr button')].every((b) => b.textContent !== 'Enable')"
    )
    assert all(c.enabled for c in site.gateway.pool)
    with page.expect_download() as download:
        page.click("text=Export")
    exported = Path(download.value.path()).read_text()
    assert "primary key" in exported and all(key not in exported for key in KEYS)
    go(page, "dashboard")
    page.locator(".tile", has_text="primary key").wait_for()


DUPLICATES = """() => { const seen = new Map();
    for (const el of document.querySelectorAll('.log-line')) seen.set(el.textContent, (seen.get(el.textContent) || 0) + 1);
    return [...seen].filter(([, n]) => n > 1).map(([t]) => t); }"""


def test_live_log_opens_with_history_and_shows_each_line_once(page: Any, site: RunningGateway) -> None:
    before = {"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "before the viewer"}]}
    assert (
        httpx.post(f"{site.url}/v1/chat/completions", json=before, headers=bearer(USER_TOKEN)).status_code
        == 200
    )
    go(page, "dashboard")  # nobody watches the live log while the request runs
    for _ in range(2):  # the first connection, then a second one after a reload
        go(page, "live")
        page.wait_for_selector(".conn >> text=live")
        page.locator(".log-line[data-kind=request]", has_text="gemini-2.5-pro").first.wait_for()
        assert page.locator(".log-line[data-kind=request]", has_text="gemini-2.5-pro").count() == 1
        assert page.evaluate(DUPLICATES) == []
        page.reload()
        page.wait_for_selector(".shell")


def test_browsing_the_ui_adds_no_traffic(page: Any, site: RunningGateway) -> None:
    """The Tokens and Playground pages list models; that is not client traffic in the counts."""
    client = admin_client(site.url)

    def total() -> int:
        rows = client.get("/api/stats", params={"group_by": "none", "bucket": "none"}).json()["rows"]
        return int(rows[0]["requests"]) if rows else 0

    def settle(expected: int) -> None:
        deadline = time.monotonic() + 30
        while total() < expected and time.monotonic() < deadline:
            time.sleep(0.05)

    counted = total()
    for name in ["tokens", "playground", "dashboard", "pool", "requests", "settings", "tokens", "playground"]:
        go(page, name)
        page.wait_for_timeout(100)
    page.locator("select[aria-label=Model] option[value='gemini-2.5-flash']").wait_for(state="attached")
    # One real request after the browsing: once it is counted, anything the UI caused before it is too.
    httpx.post(f"{site.url}/v1/chat/completions", json=CHAT, headers=bearer(USER_TOKEN))
    settle(counted + 1)
    assert total() == counted + 1
    assert client.get("/api/logs", params={"client": "admin:ui"}).json()["items"] == []


def test_settings_search_and_changed_from_default(page: Any, site: RunningGateway) -> None:
    admin_client(site.url).put("/api/settings", json={"values": {"max_retries": 4}}).raise_for_status()
    go(page, "settings")
    page.wait_for_selector(".setting[data-name=max_retries]")
    total = page.locator(".setting").count()
    assert total > 20
    page.fill("input[name=settings_search]", "retries")
    visible = page.locator(".setting:not(.hidden)")
    assert 1 <= visible.count() < total
    assert all("retries" in t.lower() for t in visible.all_inner_texts())
    page.fill("input[name=settings_search]", "")
    page.check("input[name=changed_only]")
    names = [el.get_attribute("data-name") for el in page.locator(".setting:not(.hidden)").all()]
    assert "max_retries" in names and len(names) < total
    assert all(
        el.get_attribute("data-source") != "default" for el in page.locator(".setting:not(.hidden)").all()
    )
    page.uncheck("input[name=changed_only]")

"""The Pool page after real traffic, in Debian's headless Chromium: quota used / limit / reset per
credential x model (a limit learned from a 429's QuotaFailure), each credential's error history,
the healer's next re-check of a key the gateway took out, what a credential's project holds, and
an outbound proxy set from the page (shown masked, stored, applied, taken back).

The numbers on the page are checked against the same moment's `/api/keys`, which the pool
computes; the page must show them, not compute its own. One browser and one page for the module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gemini_gateway.app import create_app
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import credential_id
from tests.admin.admin_page import DESKTOP, signed_in_page
from tests.admin.conftest import admin_settings
from tests.admin.helpers import USER_TOKEN, admin_client, bearer
from tests.admin.test_browser_care import axe_problems
from tests.conftest import KEYS, RunningGateway
from tests.servers import serve_in_thread

MODEL = "gemini-2.5-flash"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "quota"}]}
LIMITED, PROXIED, BROKEN = KEYS  # a 429 with QuotaFailure; a proxy set on the page; API_KEY_INVALID
PROXY = "socks5://alice:pr0xy-s3cret@127.0.0.1:9"
LONG_TEXT = "The heron stands in the shallows and waits for the fish to come. " * 120  # > 1024 tokens

HELD: dict[str, str] = {}  # the cached content the module's traffic created

pytestmark = pytest.mark.timeout(120)


def wait_until(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: tuple[str, FakeState]
) -> Iterator[RunningGateway]:
    fake = fake_upstream[1]
    # A short healer interval: the broken key is taken up (and re-checked, still refused) at once.
    settings = admin_settings(tmp_path_factory, fake_upstream[0], "pool-care", heal_interval_seconds=0.5)
    app = create_app(settings)
    with serve_in_thread(app) as url:
        running = RunningGateway(url, app)
        pool = running.gateway.pool
        limited, broken = (
            pool.get(credential_id("api_key", LIMITED)),
            pool.get(credential_id("api_key", BROKEN)),
        )
        assert limited is not None and broken is not None
        fake.add_fault(LIMITED, "429", count=1, model=MODEL)
        fake.add_fault(BROKEN, "invalid_key")  # every call, the healer's checks too
        try:
            deadline = time.monotonic() + 30
            while not (limited.errors and broken.disabled_reason):
                assert time.monotonic() < deadline, "the faults were never met"
                answer = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=bearer(USER_TOKEN))
                assert answer.status_code == 200, answer.text  # another key answers each time
            for _ in range(2):  # traffic after the faults: counted on the keys still serving
                httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=bearer(USER_TOKEN))
            cache = httpx.post(
                f"{url}/v1beta/cachedContents",
                json={
                    "model": f"models/{MODEL}",
                    "contents": [{"role": "user", "parts": [{"text": LONG_TEXT}]}],
                },
                headers={"x-goog-api-key": USER_TOKEN},
            )
            assert cache.status_code == 200, cache.text
            HELD["cache"] = cache.json()["name"]
            yield running
        finally:
            fake.clear_faults()


@pytest.fixture(scope="module")
def page(browser: Any, site: RunningGateway) -> Iterator[Any]:
    # bypass_csp: axe is injected as a script of the test's own; test_browser.py checks the CSP.
    context, page, errors = signed_in_page(browser, site.url, viewport=DESKTOP, bypass_csp=True)
    yield page
    context.close()
    assert errors == [], errors


def open_pool(page: Any) -> None:
    page.evaluate("location.hash = '#/dashboard'")
    page.wait_for_selector('.page[data-page="dashboard"] .page-head')
    page.evaluate("location.hash = '#/pool'")
    page.wait_for_selector(".pool-table tbody tr[data-id]")


def row(page: Any, key: str) -> Any:
    return page.locator(f'.pool-table tbody tr[data-id="{credential_id("api_key", key)}"]')


def details(page: Any, key: str) -> Any:
    panel = page.locator(f'.pool-table tr.care-row[data-detail-for="{credential_id("api_key", key)}"]')
    if not panel.count():
        row(page, key).locator("button.details-toggle").click()
    panel.wait_for()
    assert row(page, key).locator("button.details-toggle").get_attribute("aria-expanded") == "true"
    return panel


def api_rows(site: RunningGateway) -> dict[str, dict[str, Any]]:
    rows = admin_client(site.url).get("/api/keys").json()["credentials"]
    return {r["id"]: r for r in rows}


def test_quota_used_limit_and_reset_per_credential_and_model(page: Any, site: RunningGateway) -> None:
    open_pool(page)
    rows = api_rows(site)
    limited = rows[credential_id("api_key", LIMITED)]["quota"][MODEL]
    # The 429's QuotaFailure named the per-minute request limit, 10; the refused call was refunded.
    assert limited["rpm"]["limit"] == 10 and limited["rpm"]["source"] == "learned"
    line = row(page, LIMITED).locator(f'.quota-line[data-model="{MODEL}"]')
    assert line.locator('[data-dim="rpm"]').inner_text() == f"req/min {limited['rpm']['used']} / 10"
    cell = details(page, LIMITED).locator(f'.quota-grid-row[data-model="{MODEL}"] [data-dim="rpm"]')
    assert f"{limited['rpm']['used']} / 10" in cell.inner_text()
    assert "limit from Google's 429" in cell.inner_text()
    # The keys that served: every call counted, each shown with when its window resets.
    served = [rows[credential_id("api_key", k)]["quota"].get(MODEL) for k in (LIMITED, PROXIED)]
    calls = sum(q["rpm"]["used"] for q in served if q)
    assert calls >= 3  # every answered call
    for key, quota in zip((LIMITED, PROXIED), served, strict=True):
        if not quota or not quota["rpm"]["used"]:
            continue
        dims = details(page, key).locator(f'.quota-grid-row[data-model="{MODEL}"]')
        rpm = dims.locator('[data-dim="rpm"]').inner_text()
        assert str(quota["rpm"]["used"]) in rpm
        seconds = int(re.search(r"resets in (\d+)s", rpm).group(1))  # type: ignore[union-attr]
        assert 0 <= seconds <= 60
        assert str(quota["rpd"]["used"]) in dims.locator('[data-dim="rpd"]').inner_text()
        assert re.search(r"resets in [\d.]+[smh]", dims.locator('[data-dim="rpd"]').inner_text())
        assert dims.locator('[data-dim="tpm"]').inner_text().split()[0] == str(quota["tpm"]["used"])


def test_error_history_and_the_healers_next_check(page: Any, site: RunningGateway) -> None:
    healer = site.gateway.healer
    assert healer is not None
    broken_id = credential_id("api_key", BROKEN)
    wait_until(lambda: healer.next_check(broken_id) is not None, "the healer to take the broken key up")
    open_pool(page)
    errors = details(page, LIMITED).locator(".error-list li")
    assert errors.count() == 1
    text = errors.first.inner_text()
    assert "429" in text and MODEL in text and "quota" in text.lower()
    broken = row(page, BROKEN)
    assert broken.locator(".badge", has_text="failed").count()
    recheck = broken.locator(".recheck").inner_text()
    assert re.fullmatch(r"re-checked in \d+s( · \d+ re-checks? found it still refused)?", recheck), recheck
    seconds = int(re.search(r"\d+", recheck).group())  # type: ignore[union-attr]
    assert seconds <= 8 * 0.5 * 2  # API_KEY_INVALID waits 4 x the interval, doubled per failed check
    shown = [t for t in details(page, BROKEN).locator(".error-list li").all_inner_texts()]
    assert shown and all("400" in t for t in shown) and all(BROKEN not in t for t in shown)
    assert BROKEN not in page.content() and LIMITED not in page.content()
    pool = admin_client(site.url).get("/api/pool").json()["credentials"]
    assert next(c for c in pool if c["id"] == broken_id)["next_check"] is not None


def test_what_a_credentials_project_holds(page: Any, site: RunningGateway) -> None:
    name = HELD["cache"]
    owner = next(r for r in api_rows(site).values() if r["holds"])
    assert owner["holds"]["cachedContents"] == {"count": 1, "names": [name]}
    key = next(k for k in KEYS if credential_id("api_key", k) == owner["id"])
    open_pool(page)
    held = details(page, key).locator('.holds li[data-kind="cachedContents"]')
    assert name in held.inner_text() and "\u00d7 1" in held.inner_text()


def test_a_proxy_set_on_the_page_is_masked_stored_and_taken_back(page: Any, site: RunningGateway) -> None:
    cid = credential_id("api_key", PROXIED)
    credential = site.gateway.pool.get(cid)
    assert credential is not None and credential.proxy is None
    open_pool(page)
    details(page, PROXIED).locator("button[name=set_proxy]").click()
    assert page.evaluate("document.activeElement.name") == "credential_proxy"
    page.keyboard.type("ftp://nowhere")
    page.keyboard.press("Enter")
    page.locator(".modal [role=alert]", has_text="Not saved").wait_for()
    assert credential.proxy is None
    page.fill("input[name=credential_proxy]", PROXY)
    page.keyboard.press("Enter")
    row(page, PROXIED).locator(".proxy-line", has_text="via socks5://***@127.0.0.1:9").wait_for()
    assert credential.proxy == PROXY  # applied at once: the backends send its calls through it
    assert "pr0xy-s3cret" not in page.content()
    panel = details(page, PROXIED)
    assert panel.locator(".proxy-value").inner_text() == "socks5://***@127.0.0.1:9"
    assert "set here" in panel.inner_text()
    client = admin_client(site.url)
    settings = {s["name"]: s for s in client.get("/api/settings").json()["settings"]}
    assert settings["credential_proxies"]["source"] == "stored" and "s3cret" not in str(settings)
    audit = client.get("/api/audit").json()["entries"]
    assert any(e["action"] == "keys.proxy" for e in audit) and "s3cret" not in str(audit)
    # A direct connection, then back to no setting of its own.
    details(page, PROXIED).locator("button[name=set_proxy]").click()
    page.click(".modal button[name=proxy_direct]")
    row(page, PROXIED).locator(".proxy-line", has_text="direct connection").wait_for()
    assert credential.proxy is None and site.gateway.settings.credential_proxies == {cid: ""}
    details(page, PROXIED).locator("button[name=set_proxy]").click()
    page.click(".modal button[name=proxy_forget]")
    page.wait_for_function(
        f"""() => {{ const r = document.querySelector('.pool-table tr[data-id="{cid}"]');
            return r && !r.querySelector('.proxy-line'); }}"""
    )
    assert site.gateway.settings.credential_proxies == {}
    answer = httpx.post(f"{site.url}/v1/chat/completions", json=CHAT, headers=bearer(USER_TOKEN))
    assert answer.status_code == 200


def test_the_proxy_route_refuses_what_it_cannot_use(site: RunningGateway) -> None:
    client = admin_client(site.url)
    cid = credential_id("api_key", PROXIED)
    bad = client.put(f"/api/keys/{cid}/proxy", json={"proxy": "http://user:hunter2@"})
    assert bad.status_code == 422 and "hunter2" not in bad.text
    assert client.put("/api/keys/api_key:000000000000/proxy", json={"proxy": None}).status_code == 404
    assert client.put(f"/api/keys/{cid}/proxy", json={}).status_code == 400


def test_details_and_the_proxy_dialog_by_keyboard_and_axe(page: Any, site: RunningGateway) -> None:
    open_pool(page)
    toggle = row(page, LIMITED).locator("button.details-toggle")
    if toggle.get_attribute("aria-expanded") == "true":
        toggle.click()
    row(page, LIMITED).locator("button.details-toggle").focus()
    page.keyboard.press("Enter")
    panel = page.locator(f'.care-row[data-detail-for="{credential_id("api_key", LIMITED)}"]')
    panel.wait_for()
    # The redraw keeps the focus on the toggle, which now says the details are open.
    assert page.evaluate("document.activeElement.getAttribute('aria-expanded')") == "true"
    for _ in range(12):  # on to the panel's Proxy button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "set_proxy":
            break
    assert page.evaluate("document.activeElement.name") == "set_proxy"
    page.keyboard.press("Enter")
    page.wait_for_selector(".modal input[name=credential_proxy]")
    assert page.evaluate("document.activeElement.name") == "credential_proxy"
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("Boolean(document.activeElement.closest('.modal'))")
    page.wait_for_timeout(300)  # the fade-in done: half-transparent text is not what is read
    assert axe_problems(page) == []
    page.keyboard.press("Escape")
    assert page.locator(".modal").count() == 0
    assert page.evaluate("document.activeElement.name") == "set_proxy"
    for key in KEYS:
        details(page, key)
    for theme in ("dark", "light"):
        page.emulate_media(color_scheme=theme)
        assert axe_problems(page) == [], theme


def test_an_export_imported_again_restores_names_and_states_and_adds_no_key(
    page: Any, site: RunningGateway, tmp_path: Any
) -> None:
    """Export then Import file on the Pool page: the export holds no key, so importing it puts
    names and enabled states back; it is never read as a key list (each word a junk key)."""
    client = admin_client(site.url)
    cid = credential_id("api_key", PROXIED)
    client.patch(f"/api/keys/{cid}", json={"name": "night shift"}).raise_for_status()
    open_pool(page)
    row(page, PROXIED).locator(".cred-name", has_text="night shift").wait_for()
    with page.expect_download() as download:
        page.click("text=Export")
    exported = tmp_path / "pool.json"
    exported.write_text(Path(download.value.path()).read_text())
    client.patch(f"/api/keys/{cid}", json={"name": None}).raise_for_status()
    client.post(f"/api/keys/{cid}/disable").raise_for_status()
    size = len(site.gateway.pool)
    page.set_input_files("input[name=import_keys]", str(exported))
    page.locator(".toast", has_text="restored on 3 credentials").wait_for()
    row(page, PROXIED).locator(".cred-name", has_text="night shift").wait_for()
    credential = site.gateway.pool.get(cid)
    assert credential is not None and credential.enabled and len(site.gateway.pool) == size
    # Through the API, the export is refused with a reason; a JSON list of keys is a key list.
    refused = client.post("/api/keys/import", content=exported.read_bytes())
    assert refused.status_code == 400 and "not a list of keys" in refused.json()["error"]["message"]
    keys = tmp_path / "keys.json"
    keys.write_text('["fake-key-json-list-0101", "fake-key-json-list-0102"]')
    page.set_input_files("input[name=import_keys]", str(keys))
    page.locator(".toast", has_text="2 added").wait_for()
    assert len(site.gateway.pool) == size + 2
    row(page, "fake-key-json-list-0101").wait_for()

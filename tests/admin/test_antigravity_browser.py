"""Antigravity accounts on the Pool page, in Debian's headless Chromium against the fake Google.

A Gemini CLI account of a consumer tier, refused since 2026-06-18, shows why it is out of service
and what to do; its notice's button signs the same Google account in as Antigravity (the pasted
address way, for a redirect that never reaches the gateway); the new account's details show its
tier and each model's remaining quota and reset. Also the loopback way from the page's own button.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.admin.admin_page import DESKTOP, go, signed_in_page
from tests.admin.test_browser import shot
from tests.admin.test_oauth_browser import no_token_in, row_of
from tests.conftest import ADMIN_TOKEN, RunningGateway, running_gateway
from tests.oauth.helpers import ADMIN, AG_CLIENT_ID, account_json, antigravity_settings, generate

pytestmark = pytest.mark.timeout(90)
EMAIL = "pro-consumer@example.com"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: tuple[str, FakeState]
) -> Iterator[RunningGateway]:
    folder = tmp_path_factory.mktemp("antigravity-ui")
    values = antigravity_settings(
        fake_upstream[0], folder / "creds", admin_token=ADMIN_TOKEN, data_dir=folder / "data"
    )
    with running_gateway(values) as running:
        yield running


@pytest.fixture
def page(browser: Any, site: RunningGateway, fake: FakeState) -> Iterator[Any]:
    fake.oauth.consent = True  # the fake authorization page asks before it redirects
    context, page, errors = signed_in_page(
        browser, site.url, path="/admin/#/pool", viewport=DESKTOP, color_scheme="light"
    )
    go(page, "pool")
    yield page
    context.close()
    assert errors == []


def pool_row(url: str, label: str, kind: str) -> dict[str, Any]:
    rows = httpx.get(f"{url}/api/pool", headers=ADMIN).json()["credentials"]
    return next(c for c in rows if c["label"] == label and c["kind"] == kind)


def wait_until(condition: Any, what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def details(page: Any, label: str, kind_text: str) -> Any:
    """Open the details row of the credential `label` of that kind; returns the details row."""
    row = page.locator(".pool-table tbody tr[data-id]", has_text=label).filter(has_text=kind_text)
    row.wait_for()
    cid = row.get_attribute("data-id")
    row.locator("button.details-toggle").click()
    care = page.locator(f'.pool-table tr.care-row[data-detail-for="{cid}"]')
    care.wait_for()
    return care


def test_a_refused_consumer_account_says_why_and_signs_in_again_as_antigravity(
    page: Any, site: RunningGateway, fake: FakeState, fake_url: str
) -> None:
    added = httpx.post(f"{site.url}/api/oauth/accounts", json=account_json(fake, EMAIL), headers=ADMIN)
    assert added.status_code == 201
    fake.oauth.add_account(EMAIL, onboarded=True, tier="g1-pro-tier")  # Google AI Pro
    fake.oauth.account(EMAIL).quota_left = {"gemini-2.5-pro": 0, "gemini-2.5-flash": 50}
    fake.oauth.consumer_cutoff = True
    generate(site.url)  # Code Assist refuses the Gemini CLI account: it is taken out of service
    assert (pool_row(site.url, EMAIL, "oauth")["disabled_reason"] or "").startswith(
        "CONSUMER_TIER_UNSUPPORTED"
    )

    page.reload()
    row = page.locator(".pool-table tbody tr[data-id]", has_text=EMAIL)
    assert "consumer account refused to Gemini CLI" in row.inner_text()
    care = details(page, EMAIL, "Google account")
    notice = care.locator(".consumer-notice")
    assert "AI Pro (g1-pro-tier) account" in notice.inner_text()
    assert "sign the same Google account in as an Antigravity account" in notice.inner_text()
    assert "UNSUPPORTED_CLIENT" in care.locator(".account-care").inner_text()
    shot(page, "pool-consumer-refused")

    # Its notice's button: the Antigravity login, here with a redirect that cannot be reached.
    redirected: list[str] = []

    def unreachable(route: Any) -> None:
        if "consent=allow" not in route.request.url:
            route.continue_()
            return
        redirected.append(route.fetch(max_redirects=0).headers["location"])
        route.fulfill(status=502, content_type="text/plain", body="This site can't be reached")

    page.context.route(f"{fake_url}/o/oauth2/v2/auth*", unreachable)
    notice.locator("button[name=add_antigravity]").click()
    page.locator(".modal h2", has_text="Add Antigravity account").wait_for()
    with page.context.expect_page() as opened:
        page.click(".modal button:has-text('Sign in with Google')")
    consent = opened.value
    consent.wait_for_selector("text=wants to access your Google Account")
    consent.fill("input[name=login_hint]", EMAIL)
    consent.click("button:has-text('Allow')")
    consent.wait_for_selector("text=This site can't be reached")
    assert len(redirected) == 1 and "code=" in redirected[0]
    page.fill(".modal input[name=code]", redirected[0])
    page.click(".modal button:has-text('Finish')")
    page.wait_for_selector(f".toast >> text={EMAIL} added to the pool")
    assert fake.oauth.exchanges_by_client == {AG_CLIENT_ID: 1}  # Antigravity's client, not Gemini CLI's

    # The same Google account serves again, as Antigravity; its models and quota are known then.
    assert generate(site.url).status_code == 200
    wait_until(lambda: pool_row(site.url, EMAIL, "antigravity")["account"].get("models"), "its models")
    page.reload()
    care = details(page, EMAIL, "Antigravity account")
    account = care.locator(".account-care")
    account.locator(".tier-name", has_text="AI Pro (g1-pro-tier)").wait_for()
    pro = account.locator('.model-quota-row[data-model="gemini-2.5-pro"]').inner_text()
    flash = account.locator('.model-quota-row[data-model="gemini-2.5-flash"]').inner_text()
    assert "0% left" in pro and re.search(r"resets in (4\.9|5\.0)h", pro), pro
    assert re.search(r"\b(49|50)(\.0)?% left", flash), flash  # fetched before or after the call
    assert account.locator('.model-quota-row[data-model="gemini-3-pro-preview"]').count() == 1
    assert care.locator(".consumer-notice").count() == 0
    no_token_in(page.content(), fake)
    shot(page, "pool-antigravity-details")


def test_add_an_antigravity_account_with_the_page_button(
    page: Any, site: RunningGateway, fake: FakeState
) -> None:
    page.click(".page-head button[name=add_antigravity]")
    page.locator(".modal h2", has_text="Add Antigravity account").wait_for()
    with page.context.expect_page() as opened:
        page.click(".modal button:has-text('Sign in with Google')")
    consent = opened.value
    consent.wait_for_selector("text=wants to access your Google Account")
    consent.fill("input[name=login_hint]", "ag-loopback@example.com")
    page.wait_for_selector(".modal >> text=Waiting for Google")
    consent.click("button:has-text('Allow')")
    consent.wait_for_selector("text=Added ag-loopback@example.com to the gateway")
    page.wait_for_selector(".toast >> text=ag-loopback@example.com added to the pool")
    assert page.locator(".modal").count() == 0
    assert "Antigravity account" in row_of(page, "ag-loopback@example.com").inner_text()
    assert fake.oauth.exchanges_by_client == {AG_CLIENT_ID: 1}
    # Removed through its own row: the management API finds Antigravity accounts too.
    row_of(page, "ag-loopback@example.com").locator("button.danger").click()
    page.click(".modal footer button.danger")
    page.wait_for_selector(".toast >> text=ag-loopback@example.com removed")
    assert not [c for c in site.gateway.pool if c.label == "ag-loopback@example.com"]

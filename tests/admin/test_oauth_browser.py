"""Add Google account on the Pool page, in a real headless Chromium, against the fake Google.

The button starts the login through /api/oauth/login and opens the fake authorization page (with
its consent screen) in a new tab; Allow sends that tab back to the gateway's callback, which
stores the account, and the dialog sees it and closes. Also: Cancel on the consent screen, and
the copy-paste way for a redirect that never reaches the gateway, and setting an account's Google
Cloud project from its row. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.oauth.manager import manager_of
from tests.admin.admin_page import DESKTOP, signed_in_page
from tests.admin.test_browser import ARTIFACTS, shot
from tests.conftest import ADMIN_TOKEN, KEYS, RunningGateway, running_gateway
from tests.oauth.helpers import ADMIN, account_json, oauth_settings

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: tuple[str, FakeState]
) -> Iterator[RunningGateway]:
    folder = tmp_path_factory.mktemp("oauth-ui")
    values = oauth_settings(
        fake_upstream[0],
        folder / "creds",
        gemini_api_keys=KEYS[:1],
        gemini_base_url=fake_upstream[0],
        admin_token=ADMIN_TOKEN,
        data_dir=folder / "data",
    )
    with running_gateway(values) as running:
        yield running


@pytest.fixture
def page(browser: Any, site: RunningGateway, fake: FakeState) -> Iterator[Any]:
    fake.oauth.consent = True  # the fake authorization page asks before it redirects
    context, page, errors = signed_in_page(browser, site.url, viewport=DESKTOP, color_scheme="dark")
    page.evaluate("location.hash = '#/pool'")
    page.wait_for_selector(".pool-table tbody tr")
    yield page
    context.close()
    assert errors == []


def open_sign_in(page: Any, email: str) -> Any:
    """Click the button, then Sign in with Google: the fake consent page opens in a new tab."""
    page.click("button:has-text('Add Google account')")
    page.fill(".modal input[name=project_id]", "")
    with page.context.expect_page() as opened:
        page.click(".modal button:has-text('Sign in with Google')")
    consent = opened.value
    consent.wait_for_selector("text=wants to access your Google Account")
    consent.fill("input[name=login_hint]", email)
    return consent


def row_of(page: Any, label: str) -> Any:
    row = page.locator(".pool-table tbody tr", has_text=label)
    row.wait_for()
    return row


def no_token_in(text: str, fake: FakeState) -> None:
    assert not [token for token in fake.oauth.issued if token in text]


def test_add_google_account_with_the_button(page: Any, site: RunningGateway, fake: FakeState) -> None:
    consent = open_sign_in(page, "ui-login@example.com")
    page.wait_for_selector(".modal >> text=Waiting for Google")
    shot(page, "pool-google-login")
    consent.click("button:has-text('Allow')")
    consent.wait_for_selector("text=Added ui-login@example.com to the gateway")
    assert consent.url.startswith(f"{site.url}/admin/oauth2callback?")
    consent.screenshot(path=str(ARTIFACTS / "google-login-callback-1400.png"))

    page.wait_for_selector(".toast >> text=ui-login@example.com added to the pool")
    assert page.locator(".modal").count() == 0
    row = row_of(page, "ui-login@example.com")
    assert "Google account" in row.inner_text() and "stored" in row.inner_text()  # kind oauth, source store
    account = next(c for c in site.gateway.pool if c.label == "ui-login@example.com")
    assert account.kind == "oauth" and fake.oauth.exchanges == 1
    no_token_in(page.content(), fake)
    no_token_in(consent.content(), fake)
    shot(page, "pool-with-google-account")


def test_cancel_on_the_consent_page_says_so(page: Any, fake: FakeState) -> None:
    consent = open_sign_in(page, "changed-mind@example.com")
    consent.click("button:has-text('Cancel')")
    consent.wait_for_selector("text=Login failed: Google refused the login: access_denied")
    page.wait_for_selector(".modal .notice.bad >> text=access_denied")
    page.wait_for_selector(".modal button:has-text('Start again')")
    assert page.locator(".pool-table tbody tr", has_text="changed-mind@example.com").count() == 0
    assert fake.oauth.exchanges == 0


def test_paste_the_address_when_the_redirect_does_not_reach_the_gateway(
    page: Any, site: RunningGateway, fake: FakeState, fake_url: str
) -> None:
    redirected: list[str] = []

    def unreachable(route: Any) -> None:
        """Google's answer to Allow redirects to an address this browser cannot open (another machine)."""
        if "consent=allow" not in route.request.url:
            route.continue_()
            return
        answer = route.fetch(max_redirects=0)
        redirected.append(answer.headers["location"])
        route.fulfill(status=502, content_type="text/plain", body="This site can't be reached")

    page.context.route(f"{fake_url}/o/oauth2/v2/auth*", unreachable)
    consent = open_sign_in(page, "pasted-ui@example.com")
    consent.click("button:has-text('Allow')")
    consent.wait_for_selector("text=This site can't be reached")
    assert len(redirected) == 1 and "code=" in redirected[0]
    stale = re.sub(r"state=[^&]+", "state=of-an-older-attempt", redirected[0])
    page.fill(".modal input[name=code]", stale)
    page.click(".modal button:has-text('Finish')")
    page.wait_for_selector(".modal .notice.bad >> text=another login attempt")  # the login goes on
    page.fill(".modal input[name=code]", redirected[0])
    page.click(".modal button:has-text('Finish')")
    page.wait_for_selector(".toast >> text=pasted-ui@example.com added to the pool")
    assert "store" in row_of(page, "pasted-ui@example.com").inner_text()
    assert any(c.label == "pasted-ui@example.com" for c in site.gateway.pool)


def test_set_and_clear_the_project_of_an_account(page: Any, site: RunningGateway, fake: FakeState) -> None:
    email = "project-ui@example.com"
    added = httpx.post(f"{site.url}/api/oauth/accounts", json=account_json(fake, email), headers=ADMIN)
    assert added.status_code == 201
    cid = added.json()["added"][0]["id"]
    tokens = manager_of(site.gateway).accounts[cid].tokens
    page.reload()
    assert "project not found yet" in row_of(page, email).inner_text()

    row_of(page, email).locator("button:has-text('Project')").click()
    page.fill(".modal input[name=project_id]", "My Project")
    page.click(".modal button:has-text('Save')")
    page.wait_for_selector(".modal .notice.bad >> text=is not a Google Cloud project id")
    assert tokens.project_id is None  # refused, and the dialog stays open to fix it
    shot(page, "pool-google-project-refused")
    page.fill(".modal input[name=project_id]", " puffin-research-42 ")
    page.click(".modal button:has-text('Save')")
    page.wait_for_selector(".toast >> text=project set to puffin-research-42")
    assert page.locator(".modal").count() == 0
    row_of(page, email).locator("text=project puffin-research-42").wait_for()
    assert tokens.project_id == "puffin-research-42"

    row_of(page, email).locator("button:has-text('Project')").click()
    assert page.input_value(".modal input[name=project_id]") == "puffin-research-42"
    shot(page, "pool-google-project")
    page.click(".modal button:has-text('Find it automatically')")
    page.wait_for_selector(".toast >> text=the project is found again at its next call")
    row_of(page, email).locator("text=project not found yet").wait_for()
    assert tokens.project_id is None

    # The account goes away while the dialog is open: the answer says so in the dialog.
    row_of(page, email).locator("button:has-text('Project')").click()
    assert httpx.delete(f"{site.url}/api/oauth/accounts/{cid}", headers=ADMIN).status_code == 200
    page.fill(".modal input[name=project_id]", "puffin-research-43")
    page.click(".modal button:has-text('Save')")
    page.wait_for_selector(f".modal .notice.bad >> text=no OAuth account '{cid}'")
    page.click(".modal button:has-text('Cancel')")
    assert page.locator(".modal").count() == 0

"""Antigravity accounts: signed in against the fake OAuth server, serving every dialect through the
official SDKs, with the models and per-model quota fetchAvailableModels tells."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
from google import genai

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.oauth import flavors
from gemini_gateway.oauth.cli import run_login
from gemini_gateway.settings import Settings
from tests.conftest import GatewayFactory
from tests.oauth.helpers import (
    ADMIN,
    AG_CLIENT_ID,
    AG_CLIENT_SECRET,
    MODEL,
    antigravity_settings,
    generate,
    pool_view,
)

EMAIL = "pro-user@example.com"


def login(fake: FakeState, fake_url: str, tmp_path: Path, *, paste: bool = False) -> Path:
    """An Antigravity login by the CLI: loopback (a browser following the redirect) or copy-paste."""
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", **antigravity_settings(fake_url, tmp_path / "creds")
    )  # type: ignore[call-arg]
    fake.oauth.login_email = EMAIL
    printed: list[str] = []

    def browser(url: str) -> None:
        landed = httpx.get(url, follow_redirects=True, timeout=10)
        assert landed.status_code == 200 and "Login complete" in landed.text

    def pasted() -> str:
        url = next(line for text in printed for line in text.splitlines() if line.startswith("http"))
        return httpx.get(url, follow_redirects=False, timeout=10).headers["location"]

    return run_login(
        settings,
        opener=None if paste else browser,
        read_line=pasted,
        echo=printed.append,
        wait_seconds=10,
        flavor=flavors.antigravity(settings),
    )


def antigravity_account(url: str, deadline: float = 60.0) -> dict[str, Any]:
    """The Antigravity account's view once its models are known (polled: they come in the background)."""
    end = time.monotonic() + deadline
    while True:
        row = next(c for c in pool_view(url)["credentials"] if c["kind"] == "antigravity")
        if row["account"].get("models") or time.monotonic() > end:
            return row["account"]  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_an_antigravity_login_serves_every_dialect_of_a_consumer_account(
    fake: FakeState, fake_url: str, tmp_path: Path, gateway_factory: GatewayFactory
) -> None:
    fake.oauth.consumer_cutoff = True  # Google AI Pro: refused to Gemini CLI, served to Antigravity
    fake.oauth.add_account(EMAIL, tier="g1-pro-tier")
    path = login(fake, fake_url, tmp_path)

    assert path.name == f"antigravity_creds_{EMAIL}.json"
    saved = orjson.loads(path.read_bytes())
    assert saved["code_assist_project"] == fake.oauth.account(EMAIL).project and saved["refresh_token"]
    assert fake.oauth.exchanges_by_client == {AG_CLIENT_ID: 1}  # the Antigravity client, with PKCE
    scopes = fake.oauth.scopes_asked[-1].split()
    assert "https://www.googleapis.com/auth/cclog" in scopes and len(scopes) == 5

    settings = antigravity_settings(fake_url, tmp_path / "creds", pool_strategy="round_robin")
    with gateway_factory(**settings) as running:
        url = running.url
        google = genai.Client(api_key="x", http_options={"base_url": url, "api_version": "v1beta"})
        chunks = list(google.models.generate_content_stream(model=MODEL, contents="Stream about petrels"))
        assert "petrels" in "".join(c.text or "" for c in chunks).lower()
        assert (
            "auks" in (google.models.generate_content(model=MODEL, contents="About auks").text or "").lower()
        )

        chat = openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0)
        answer = chat.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "About terns"}]
        )
        assert "terns" in (answer.choices[0].message.content or "").lower()

        claude = anthropic.Anthropic(api_key="x", base_url=url, max_retries=0)
        with claude.messages.stream(
            model=MODEL, max_tokens=128, messages=[{"role": "user", "content": "Stream about skuas"}]
        ) as events:
            assert "skuas" in "".join(events.text_stream).lower()

        served = [c for c in fake.calls if c.version == "v1internal"]
        assert {c.key for c in served} == {EMAIL} and len(served) == 4
        account = antigravity_account(url)  # models fetched in the background after the first call
        assert account["tier"] == "g1-pro-tier" and account["tier_name"] == "Google AI Pro"
        assert set(account["models"]) == set(fake.oauth.antigravity_models)
        flash = account["models"][MODEL]
        assert flash["remaining_fraction"] == 1.0 and flash["reset_time"].endswith("Z")
        assert not [
            s
            for s in (*fake.oauth.issued, AG_CLIENT_SECRET)
            if s in httpx.get(f"{url}/api/pool", headers=ADMIN).text
        ]


def test_a_model_with_no_quota_left_rests_until_its_reset_without_a_call(
    fake: FakeState, fake_url: str, tmp_path: Path, gateway_factory: GatewayFactory
) -> None:
    fake.oauth.add_account(EMAIL, tier="free-tier")
    fake.oauth.account(EMAIL).quota_left = {"gemini-2.5-pro": 0, MODEL: 50}
    login(fake, fake_url, tmp_path, paste=True)

    with gateway_factory(**antigravity_settings(fake_url, tmp_path / "creds")) as running:
        assert generate(running.url).status_code == 200  # then its models are fetched in the background
        antigravity_account(running.url)
        row = next(c for c in pool_view(running.url)["credentials"] if c["kind"] == "antigravity")
        assert row["account"]["models"]["gemini-2.5-pro"]["remaining_fraction"] == 0.0
        assert row["account"]["models"][MODEL]["remaining_fraction"] in (0.49, 0.5)  # fetched before or after
        wait = fake.oauth.quota_reset - time.time()
        assert abs(row["cooldowns"]["gemini-2.5-pro"] - wait) < 60

        calls_before = len(fake.calls)
        refused = generate(running.url, model="gemini-2.5-pro")
        assert refused.status_code == 429
        assert abs(int(refused.headers["retry-after"]) - wait) < 60  # the reset Google announced
        assert len(fake.calls) == calls_before  # never sent: the quota was known to be spent
        assert generate(running.url, model="gemini-2.5-flash-lite").status_code >= 400  # not listed


def test_the_fake_refuses_a_half_made_antigravity_envelope(fake: FakeState, fake_url: str) -> None:
    fake.oauth.add_account(EMAIL, onboarded=True)
    token, _ = fake.oauth.issue_access_token(EMAIL)
    body = {
        "model": MODEL,
        "project": fake.oauth.account(EMAIL).project,
        "userAgent": "antigravity",
        "requestType": "agent",
        "requestId": "agent-1",
        "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    }
    answer = httpx.post(
        f"{fake_url}/v1internal:generateContent", json=body, headers={"authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 400 and "sessionId" in answer.json()["error"]["message"]


def test_the_management_api_signs_an_antigravity_account_in(
    fake: FakeState, fake_url: str, tmp_path: Path, gateway_factory: GatewayFactory
) -> None:
    fake.oauth.login_email = "admin-added@example.com"
    with gateway_factory(**antigravity_settings(fake_url, tmp_path / "creds")) as running:
        started = httpx.post(
            f"{running.url}/api/oauth/login", headers=ADMIN, json={"mode": "manual", "kind": "antigravity"}
        )
        assert started.status_code == 201 and started.json()["redirect_uri"].endswith("/oauth-callback")
        landed = httpx.get(started.json()["auth_url"], follow_redirects=False).headers["location"]
        done = httpx.post(
            f"{running.url}/api/oauth/login/{started.json()['state']}", headers=ADMIN, json={"code": landed}
        )
        assert done.status_code == 201 and done.json()["kind"] == "antigravity"
        assert fake.oauth.exchanges_by_client == {AG_CLIENT_ID: 1}
        listed = httpx.get(f"{running.url}/api/oauth/accounts", headers=ADMIN).json()
        assert [a["label"] for a in listed["antigravity"]["accounts"]] == ["admin-added@example.com"]
        assert generate(running.url).status_code == 200

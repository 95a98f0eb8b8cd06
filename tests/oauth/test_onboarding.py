"""Project discovery and onboarding, as Gemini CLI does it: once per account, cached and written back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import GatewayFactory
from tests.oauth.helpers import (
    ADMIN,
    MODEL,
    account_json,
    credential_by_label,
    generate,
    oauth_settings,
    write_account,
)


async def test_a_new_account_is_onboarded_once_and_the_project_kept(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    fake.oauth.onboard_polls = 3  # the operation says "not done" twice before the project exists
    path = write_account(tmp_path / "creds", account_json(fake, "new@example.com", onboarded=False))
    settings = oauth_settings(fake_url, tmp_path / "creds")
    with gateway_factory(**settings) as running:
        body = {"contents": [{"role": "user", "parts": [{"text": "Hello from a new account"}]}]}
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post(f"/v1beta/models/{MODEL}:generateContent", json=body) for _ in range(10))
            )
        assert [a.status_code for a in answers] == [200] * 10
        assert (fake.oauth.load_calls, fake.oauth.onboard_calls, fake.oauth.operation_polls) == (1, 1, 3)
        project = fake.oauth.account("new@example.com").project
        assert project and project.startswith("fake-project-")
        account = credential_by_label(running.url, "new@example.com")["account"]
        assert (account["project"], account["tier"], account["project_explicit"]) == (
            project,
            "free-tier",
            False,
        )

    saved = orjson.loads(path.read_bytes())
    assert (saved["code_assist_project"], saved["code_assist_tier"]) == (project, "free-tier")
    with gateway_factory(**settings) as running:  # a restart reads the project back: no setup calls
        assert generate(running.url).status_code == 200
        assert fake.oauth.load_calls == 1


def test_an_onboarded_account_is_only_loaded(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    write_account(tmp_path / "creds", account_json(fake, "old@example.com", onboarded=True))
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        assert generate(running.url).status_code == 200
        assert (fake.oauth.load_calls, fake.oauth.onboard_calls) == (1, 0)


def test_an_explicit_project_overrides_discovery(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    data = account_json(fake, "pro@example.com", onboarded=True, project_id="my-own-project")
    fake.oauth.account("pro@example.com").user_projects.add("my-own-project")
    write_account(tmp_path / "creds", data)
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        assert generate(running.url).status_code == 200
        account = credential_by_label(running.url, "pro@example.com")["account"]
        assert (account["project"], account["project_explicit"]) == ("my-own-project", True)


def test_the_project_can_be_set_through_the_api(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    path = write_account(tmp_path / "creds", account_json(fake, "api@example.com", onboarded=True))
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        assert generate(running.url).status_code == 200
        cid = credential_by_label(running.url, "api@example.com")["id"]
        answer = httpx.patch(
            f"{running.url}/api/oauth/accounts/{cid}",
            json={"project_id": "not-allowed-project"},
            headers=ADMIN,
        )
        assert answer.status_code == 200 and answer.json()["account"]["project_explicit"]
        refused = generate(running.url)  # the fake refuses projects the account may not use
        assert refused.status_code == 403 and "not-allowed-project" in refused.json()["error"]["message"]
        assert orjson.loads(path.read_bytes())["project_id"] == "not-allowed-project"


def test_a_cleared_project_is_found_again_and_a_malformed_one_refused(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    write_account(tmp_path / "creds", account_json(fake, "team@example.com", onboarded=True))
    fake.oauth.account("team@example.com").user_projects.add("team-project-7")
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        assert generate(running.url).status_code == 200
        own = credential_by_label(running.url, "team@example.com")["account"]["project"]
        address = (
            f"{running.url}/api/oauth/accounts/{credential_by_label(running.url, 'team@example.com')['id']}"
        )
        assert httpx.patch(address, json={"project_id": "team-project-7"}, headers=ADMIN).status_code == 200
        assert generate(running.url).status_code == 200
        assert credential_by_label(running.url, "team@example.com")["account"]["project"] == "team-project-7"

        refused = httpx.patch(address, json={"project_id": "Team Project"}, headers=ADMIN)
        assert refused.status_code == 400 and "not a Google Cloud project id" in refused.text
        assert httpx.patch(address, json={"project_id": None}, headers=ADMIN).status_code == 200
        assert generate(running.url).status_code == 200
        account = credential_by_label(running.url, "team@example.com")["account"]
        assert (account["project"], account["project_explicit"]) == (own, False)
        assert own != "team-project-7" and fake.oauth.load_calls == 3


def test_an_account_that_needs_verification_is_disabled_with_the_link(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    data = account_json(fake, "check@example.com", onboarded=False)
    fake.oauth.account("check@example.com").validation_required = True
    write_account(tmp_path / "creds", data)
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        answer = generate(running.url)
        assert answer.status_code == 403
        reason = credential_by_label(running.url, "check@example.com")["disabled_reason"]
        assert reason.startswith("ACCOUNT_NOT_ELIGIBLE") and "https://accounts.google.com/" in reason
        assert fake.oauth.onboard_calls == 0

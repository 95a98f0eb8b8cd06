"""Gemini CLI accounts after Google's 2026-06-18 change: consumer tiers refused, disabled with the
reason and what to do, never retried; Standard accounts keep serving; every tier shown."""

from __future__ import annotations

from pathlib import Path

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.oauth.tiers import read_tiers, refusal_message
from tests.conftest import GatewayFactory
from tests.oauth.helpers import account_json, credential_by_label, generate, oauth_settings, write_account

FRESH, SET_UP, STANDARD = "fresh@example.com", "pro@example.com", "work@example.com"


def test_consumer_accounts_are_disabled_with_the_reason_and_standard_ones_serve(
    fake: FakeState, fake_url: str, tmp_path: Path, gateway_factory: GatewayFactory
) -> None:
    creds = tmp_path / "creds"
    write_account(creds, account_json(fake, FRESH, onboarded=False))  # free tier, never set up
    set_up = account_json(fake, SET_UP)  # Google AI Pro, set up before the change: its project is cached
    fake.oauth.add_account(SET_UP, onboarded=True, tier="g1-pro-tier")
    set_up["code_assist_project"] = fake.oauth.account(SET_UP).project
    write_account(creds, set_up)
    write_account(creds, account_json(fake, STANDARD, project_id="acme-dev"))
    fake.oauth.add_account(STANDARD, onboarded=True, project="acme-dev", tier="standard-tier")
    fake.oauth.consumer_cutoff = True

    with gateway_factory(**oauth_settings(fake_url, creds, pool_strategy="round_robin")) as running:
        for _ in range(6):
            assert generate(running.url).status_code == 200  # whoever is refused, Standard answers
        loads = fake.oauth.load_calls
        for _ in range(4):
            assert generate(running.url).status_code == 200
        assert fake.oauth.load_calls == loads  # the refused are not asked again, call after call

        for email, tier in ((FRESH, "free-tier"), (SET_UP, "g1-pro-tier")):
            row = credential_by_label(running.url, email)
            reason = row["disabled_reason"] or ""
            assert reason.startswith("CONSUMER_TIER_UNSUPPORTED"), reason
            assert f"({tier})" in reason and "Standard or Enterprise" in reason
            assert "creds login --antigravity" in reason and "no longer supported" in reason  # Google's words
            assert row["account"]["tier"] == tier and row["account"]["tiers"]["consumer"] is True
            assert row["account"]["tiers"]["ineligible"][0]["reason"] == "UNSUPPORTED_CLIENT"
        work = credential_by_label(running.url, STANDARD)
        assert work["disabled_reason"] is None and work["account"]["tier"] == "standard-tier"
        assert work["account"]["tier_name"] == "Gemini Code Assist"
        served = {c.key for c in fake.calls if c.version == "v1internal" and c.method == "generateContent"}
        assert STANDARD in served


def test_the_refusal_reads_google_s_ineligible_tier() -> None:
    loaded = {
        "currentTier": {"id": "free-tier", "name": "Gemini Code Assist for individuals"},
        "paidTier": {"id": "g1-ultra-tier", "name": "Google AI Ultra"},
        "ineligibleTiers": [
            {
                "reasonCode": "UNSUPPORTED_CLIENT",
                "reasonMessage": "This client is no longer supported.",
                "tierId": "free-tier",
            }
        ],
    }
    tiers = read_tiers(loaded)
    assert tiers.effective == "g1-ultra-tier" and tiers.consumer and tiers.name == "Google AI Ultra"
    refused = tiers.refusal()
    assert refused == ("free-tier", "This client is no longer supported.")
    message = refusal_message(tiers, *refused)
    assert message.startswith("a Google AI Ultra (g1-ultra-tier) account") and "Antigravity" in message
    assert read_tiers({"currentTier": {"id": "standard-tier"}}).refusal() is None

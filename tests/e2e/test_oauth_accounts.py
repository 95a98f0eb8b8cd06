"""Every client dialect over OAuth accounts only (the official SDKs), and no token anywhere it could leak."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import orjson
import pytest
from google import genai

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import ADMIN_TOKEN, GatewayFactory, RunningGateway
from tests.oauth.helpers import (
    ADMIN,
    CLIENT_SECRET,
    MODEL,
    account_json,
    oauth_settings,
    strict_client,
    write_account,
)
from tests.recorder.conftest import CLIENT_TOKEN, RECORDING, record, wait_for_records

ACCOUNTS = ("north@example.com", "south@example.com")


@pytest.fixture
def accounts_gateway(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> Iterator[RunningGateway]:
    """Two accounts and no key; the first is new (onboarded on first use) and its token has expired."""
    strict_client(fake)
    for index, email in enumerate(ACCOUNTS):
        write_account(tmp_path / "creds", account_json(fake, email, expired=index == 0, onboarded=index == 1))
    settings = oauth_settings(fake_url, tmp_path / "creds", **RECORDING, pool_strategy="round_robin")
    with gateway_factory(**settings) as running:
        yield running


def test_streams_in_every_dialect_over_accounts_and_no_secret_leaks(
    accounts_gateway: RunningGateway, fake: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = accounts_gateway.url
    fake.config.stream_chunks = 5

    google = genai.Client(api_key=CLIENT_TOKEN, http_options={"base_url": url, "api_version": "v1beta"})
    chunks = list(google.models.generate_content_stream(model=MODEL, contents="Stream about gannets"))
    assert len(chunks) >= 2 and "gannets" in "".join(c.text or "" for c in chunks).lower()
    assert google.models.count_tokens(model=MODEL, contents="one two three").total_tokens

    chat = openai.OpenAI(api_key=CLIENT_TOKEN, base_url=f"{url}/v1", max_retries=0)
    stream = chat.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Stream about cormorants"}], stream=True
    )
    deltas = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "cormorants" in "".join(deltas).lower()

    claude = anthropic.Anthropic(api_key=CLIENT_TOKEN, base_url=url, max_retries=0)
    with claude.messages.stream(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "Stream about shearwaters"}]
    ) as events:
        text = "".join(events.text_stream)
        final = events.get_final_message()
    assert "shearwaters" in text.lower() and final.stop_reason == "end_turn"

    served = [c for c in fake.calls if c.version == "v1internal"]
    assert {c.key for c in served} == set(ACCOUNTS)  # both accounts served, no key exists
    assert fake.oauth.refreshes == 1 and fake.oauth.onboard_calls == 1  # north: expired and new

    secrets = [*fake.oauth.issued, CLIENT_SECRET, CLIENT_TOKEN, ADMIN_TOKEN]
    items = wait_for_records(url, 4)
    details = [record(url, item["id"]) for item in items]
    assert {d["credential"] for d in details} <= set(ACCOUNTS)
    views = [
        httpx.get(f"{url}/api/pool", headers=ADMIN).text,
        httpx.get(f"{url}/api/oauth/accounts", headers=ADMIN).text,
        httpx.get(f"{url}/api/keys", headers=ADMIN).text,
        orjson.dumps(details).decode(),
        caplog.text,
    ]
    for place, text in zip(("pool", "oauth", "keys", "records", "logs"), views, strict=True):
        leaked = [s[:12] for s in secrets if s in text]
        assert not leaked, f"secrets in {place}: {leaked}"
    data_dir = accounts_gateway.gateway.settings.data_dir
    for path in [
        p for p in data_dir.rglob("*") if p.is_file() and p.name not in ("admin-token", "secret.key")
    ]:
        content = path.read_bytes()
        assert not [s for s in secrets if s.encode() in content], path


def test_openai_and_anthropic_non_stream_over_accounts(accounts_gateway: RunningGateway) -> None:
    chat = openai.OpenAI(api_key=CLIENT_TOKEN, base_url=f"{accounts_gateway.url}/v1", max_retries=0)
    answer = chat.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "About grebes"}])
    assert "grebes" in (answer.choices[0].message.content or "").lower()
    assert answer.usage is not None and answer.usage.total_tokens > 0
    claude = anthropic.Anthropic(api_key=CLIENT_TOKEN, base_url=accounts_gateway.url, max_retries=0)
    message = claude.messages.create(
        model=MODEL, max_tokens=128, messages=[{"role": "user", "content": "About loons"}]
    )
    assert "loons" in "".join(b.text for b in message.content if b.type == "text").lower()
    counted = claude.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "a b c d"}])
    assert counted.input_tokens > 0
    served = sorted(m.removeprefix("models/") for m in accounts_gateway.gateway.settings.code_assist_models)
    # MODEL_SUFFIXES (on by default) adds suffixed variants (-search, and for thinking models
    # -nothinking and the effort levels) after the models themselves, each of a served model.
    listed = [m.id for m in chat.models.list()]
    assert listed[: len(served)] == served
    suffixes = ("-search", "-nothinking", "-search-nothinking", "-minimal", "-low", "-medium", "-high")
    for variant in listed[len(served) :]:
        assert any(variant == model + suffix for model in served for suffix in suffixes), variant
    assert {f"{model}-search" for model in served} <= set(listed)
    assert "gemini-2.5-pro-nothinking" in listed and "gemini-2.5-pro-high" in listed

"""The Code Assist backend: its envelope, and failover between accounts and keys over loopback."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
import pytest

from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.backends.code_assist import count_tokens_envelope, generate_envelope, unwrap
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.classify import classify_error, next_pacific_midnight, parse_go_duration
from tests.conftest import KEYS, GatewayFactory
from tests.oauth.helpers import (
    ADMIN,
    MODEL,
    account_json,
    credential_by_label,
    generate,
    oauth_settings,
    write_account,
)

REQUEST = b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0.2}}'


def test_generate_envelope_splices_the_request_unchanged() -> None:
    wrapped = orjson.loads(generate_envelope(UpstreamCall("generateContent", MODEL, REQUEST), "proj-1"))
    assert (wrapped["model"], wrapped["project"]) == (MODEL, "proj-1")
    assert wrapped["request"] == orjson.loads(REQUEST) and len(wrapped["user_prompt_id"]) == 32


def test_count_tokens_envelope_takes_contents_from_either_form() -> None:
    plain = count_tokens_envelope(
        UpstreamCall("countTokens", MODEL, b'{"contents":[{"parts":[{"text":"a"}]}]}')
    )
    nested = count_tokens_envelope(
        UpstreamCall("countTokens", MODEL, orjson.dumps({"generateContentRequest": orjson.loads(REQUEST)}))
    )
    assert orjson.loads(plain)["request"] == {
        "model": f"models/{MODEL}",
        "contents": [{"parts": [{"text": "a"}]}],
    }
    assert orjson.loads(nested)["request"]["contents"][0]["parts"][0]["text"] == "hi"
    snake = count_tokens_envelope(  # proto3 JSON's field name, as Google accepts it
        UpstreamCall("countTokens", MODEL, orjson.dumps({"generate_content_request": orjson.loads(REQUEST)}))
    )
    assert orjson.loads(snake) == orjson.loads(nested)


def test_unwrap_takes_the_response_and_keeps_the_trace_as_id() -> None:
    wrapped = b'{"response":{"candidates":[],"modelVersion":"m"},"traceId":"abc123"}'
    assert orjson.loads(unwrap(wrapped)) == {"candidates": [], "modelVersion": "m", "responseId": "abc123"}
    error = b'{"error":{"code":429,"message":"slow down"}}'
    assert unwrap(error) == error


def test_every_rpc_over_an_account(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    write_account(tmp_path / "creds", account_json(fake, "rpc@example.com"))
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        url = f"{running.url}/v1beta/models/{MODEL}"
        body = {"contents": [{"role": "user", "parts": [{"text": "Stream about kestrels"}]}]}
        unary = httpx.post(f"{url}:generateContent", json=body).json()
        assert "kestrels" in unary["candidates"][0]["content"]["parts"][0]["text"] and "response" not in unary
        with httpx.stream("POST", f"{url}:streamGenerateContent?alt=sse", json=body) as stream:
            events = [orjson.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
        assert len(events) == 4 and all("candidates" in e for e in events)
        assert events[-1]["candidates"][0]["finishReason"] == "STOP"
        tokens = httpx.post(f"{url}:countTokens", json=body).json()
        assert tokens["totalTokens"] > 0
        models = httpx.get(f"{running.url}/v1beta/models").json()["models"]
        assert f"models/{MODEL}" in [m["name"] for m in models]
        assert [c.method for c in fake.calls] == ["generateContent", "streamGenerateContent", "countTokens"]


def test_models_accounts_do_not_serve_go_to_keys(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    write_account(tmp_path / "creds", account_json(fake, "narrow@example.com"))
    settings = oauth_settings(
        fake_url, tmp_path / "creds", gemini_api_keys=KEYS, oauth_routing="prefer_accounts"
    )
    with gateway_factory(**settings) as running:
        assert generate(running.url).status_code == 200
        assert generate(running.url, model="gemini-2.0-flash").status_code == 200  # not in CODE_ASSIST_MODELS
        embed = {"content": {"parts": [{"text": "x"}]}}
        assert httpx.post(
            f"{running.url}/v1beta/models/gemini-embedding-001:embedContent", json=embed
        ).is_success
        assert fake.calls[0].key == "narrow@example.com"
        assert len(fake.calls) == 3 and {c.key for c in fake.calls[1:]} <= set(KEYS)
        models = httpx.get(f"{running.url}/v1beta/models", params={"pageSize": 1000}).json()["models"]
        assert len(models) > 5  # with keys in the pool, the full list comes from a key


def test_unservable_model_in_an_accounts_only_pool(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    write_account(tmp_path / "creds", account_json(fake, "only@example.com"))
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        answer = generate(running.url, model="gemini-embedding-001")
        assert answer.status_code == 404 and "gemini-embedding-001" in answer.json()["error"]["message"]
        assert fake.calls == []


def test_a_429_on_one_account_fails_over_to_another_account(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    for email in ("first@example.com", "second@example.com"):
        write_account(tmp_path / "creds", account_json(fake, email))
    fake.add_fault("first@example.com", "429", retry_delay="40s")
    with gateway_factory(
        **oauth_settings(fake_url, tmp_path / "creds", pool_strategy="round_robin")
    ) as running:
        for _ in range(2):  # round robin reaches the first account once: its 429 fails over
            assert generate(running.url).status_code == 200
        first = credential_by_label(running.url, "first@example.com")
        assert first["cooldowns"] and 35 < first["cooldowns"][MODEL] <= 40  # RetryInfo honoured, per model
        assert first["failures"] >= 1
        for _ in range(3):  # while the first cools down, only the second serves
            assert generate(running.url).status_code == 200
        assert credential_by_label(running.url, "second@example.com")["successes"] >= 3
        assert not credential_by_label(running.url, "first@example.com")["successes"]
        assert [c.key for c in fake.calls].count("first@example.com") == 1


def test_a_429_on_an_account_fails_over_to_a_key(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    write_account(tmp_path / "creds", account_json(fake, "busy@example.com"))
    fake.add_fault("busy@example.com", "429", quota_id="GenerateRequestsPerDayPerProjectPerModel-FreeTier")
    settings = oauth_settings(
        fake_url, tmp_path / "creds", gemini_api_keys=KEYS[:1], oauth_routing="prefer_accounts"
    )
    with gateway_factory(**settings) as running:
        answer = generate(running.url)
        assert answer.status_code == 200 and answer.headers["x-gateway-credential"] != "busy@example.com"
        assert [c.key for c in fake.calls] == ["busy@example.com", KEYS[0]]
        busy = credential_by_label(running.url, "busy@example.com")
        until_midnight = next_pacific_midnight(time.time()) - time.time()
        assert abs(busy["cooldowns"][MODEL] - until_midnight) < 5  # a daily quota: until Pacific midnight
        stats = httpx.get(f"{running.url}/api/load-balancing", headers=ADMIN).json()["instances"]
        assert {i["kind"] for i in stats} == {"api_key", "oauth"}


def test_a_stream_cut_before_its_first_event_fails_over_and_after_it_breaks(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    for email in ("cut@example.com", "whole@example.com"):
        write_account(tmp_path / "creds", account_json(fake, email))
    settings = oauth_settings(fake_url, tmp_path / "creds", pool_strategy="round_robin")
    body = {"contents": [{"role": "user", "parts": [{"text": "Stream about auks"}]}]}
    with gateway_factory(**settings) as running:
        url = f"{running.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
        fake.add_fault("cut@example.com", "cut", after_chunks=0)
        for _ in range(2):  # one of the two reaches the cut account and fails over before any byte
            with httpx.stream("POST", url, json=body) as stream:
                assert stream.status_code == 200 and "auks" in stream.read().decode()
        fake.clear_faults()
        fake.add_fault(None, "cut", after_chunks=1)
        received = b""
        with httpx.stream("POST", url, json=body) as stream, pytest.raises(httpx.RemoteProtocolError):
            for piece in stream.iter_raw():
                received += piece
        assert b'"error"' in received and b"finishReason" not in received  # never a clean finish


def test_code_assist_quota_reset_delay_sets_the_cooldown() -> None:
    payload = {
        "code": 429,
        "message": "You have exhausted your capacity on this model.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "QUOTA_EXHAUSTED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {"quotaResetDelay": "13h19m1.5s", "quotaResetTimeStamp": "2026-01-01T00:00:00Z"},
            }
        ],
    }
    verdict = classify_error(429, payload, now=1000.0, backoff_level=0, base_cooldown=5, max_cooldown=600)
    assert verdict.retry and verdict.cooldown_until == 1000.0 + 13 * 3600 + 19 * 60 + 1.5
    assert parse_go_duration("539.477ms") == pytest.approx(0.539477) and parse_go_duration("1x") is None

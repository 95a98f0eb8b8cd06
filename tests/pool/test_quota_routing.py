"""Quota-aware routing through a running gateway: calls over a known limit never reach upstream."""

from __future__ import annotations

import httpx
import openai
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS, GatewayFactory
from tests.oauth.helpers import ADMIN, generate

MODEL = "gemini-2.5-flash"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_calls_over_the_tier_limit_are_held_back_with_the_earliest_reset(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    settings = {
        "gemini_api_keys": KEYS[:2],
        "quota_tiers": {"tiny": {MODEL: {"rpm": 3}}},
        "gemini_api_key_tier": "tiny",
    }
    clock = Clock()
    with gateway_factory(**settings) as running:
        running.gateway.pool.clock = clock
        statuses, retry_after = [], []
        for _ in range(8):  # a second apart on the pool's clock
            answer = generate(running.url)
            statuses.append(answer.status_code)
            retry_after.append(answer.headers.get("retry-after"))
            clock.now += 1
        pool = httpx.get(f"{running.url}/api/pool", headers=ADMIN).json()["credentials"]
        sdk = openai.OpenAI(base_url=f"{running.url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.RateLimitError) as refused:
            sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert statuses == [200] * 6 + [429] * 2
    # the first key's first call (at 0 s) leaves its window first: at 60 s
    assert retry_after[6:] == ["54", "53"]
    assert refused.value.response.headers["retry-after"] == "52"
    served = [c.key for c in fake.calls if c.method == "generateContent"]
    assert sorted(served) == sorted(KEYS[:2] * 3)  # no call over the limit reached upstream
    for credential in pool:
        rpm = credential["quota"][MODEL]["rpm"]
        assert credential["tier"] == "tiny"
        assert (rpm["used"], rpm["limit"], rpm["source"]) == (3, 3, "tier:tiny")
        assert rpm["resets_in"] in (52.0, 53.0)  # the first call of each key, at 0 s and 1 s

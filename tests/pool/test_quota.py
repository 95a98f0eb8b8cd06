"""Quota per credential x model, counted by the pool with its injected clock."""

from __future__ import annotations

from datetime import datetime

import pytest

from gemini_gateway.errors import NoCredentialAvailable
from gemini_gateway.pool.classify import PACIFIC, classify_error
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.pool.quota import estimated_tokens, input_tokens
from gemini_gateway.pool.quota_tiers import DEFAULT_TIERS, merge_tiers, tier_limits

MODEL = "gemini-2.5-flash"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def quota_pool(
    limits: dict[str, int], keys: int = 1, now: float = 1_000_000.0
) -> tuple[CredentialPool, Clock]:
    clock = Clock(now)
    pool = CredentialPool("round_robin", clock=clock)
    pool.replace("api_key", [Credential("api_key", f"quota-key-{i}-secret") for i in range(keys)])
    pool.set_quotas({"test": {MODEL: limits}}, {"api_key": "test"}, {})
    return pool, clock


def call(pool: CredentialPool, tokens: int = 10) -> Credential:
    credential, charge = pool.take(MODEL, tokens=tokens)
    pool.release(credential, MODEL, None, charge=charge)
    return credential


def test_rpm_is_a_sliding_window() -> None:
    pool, clock = quota_pool({"rpm": 2})
    call(pool)
    clock.now += 30
    call(pool)
    with pytest.raises(NoCredentialAvailable) as spent:
        pool.take(MODEL, tokens=10)
    assert spent.value.status_code == 429 and spent.value.retry_after == pytest.approx(30)
    clock.now += 30  # the first call has left the window, the second has not
    call(pool)
    with pytest.raises(NoCredentialAvailable):
        pool.take(MODEL, tokens=10)
    assert pool.take("gemini-2.5-pro", tokens=10)[0]  # other models have their own count


def test_tpm_counts_estimates_corrected_by_usage() -> None:
    pool, _ = quota_pool({"tpm": 1000})
    credential, charge = pool.take(MODEL, tokens=900)
    pool.settle(charge, 300)  # the answer said 300 input tokens
    pool.release(credential, MODEL, None, charge=charge)
    call(pool, tokens=700)
    with pytest.raises(NoCredentialAvailable) as spent:
        pool.take(MODEL, tokens=1)
    assert spent.value.retry_after == pytest.approx(60)
    view = pool.view()[0]["quota"][MODEL]["tpm"]
    assert (view["used"], view["limit"], view["source"]) == (1000, 1000, "tier:test")


def test_rpd_resets_at_pacific_midnight() -> None:
    evening = datetime(2026, 3, 14, 23, 58, 0, tzinfo=PACIFIC).timestamp()
    pool, clock = quota_pool({"rpd": 2}, now=evening)
    call(pool)
    call(pool)
    with pytest.raises(NoCredentialAvailable) as spent:
        pool.take(MODEL, tokens=10)
    midnight = datetime(2026, 3, 15, 0, 0, 0, tzinfo=PACIFIC).timestamp()
    assert spent.value.retry_after == pytest.approx(midnight - evening)
    assert pool.view()[0]["quota"][MODEL]["rpd"]["resets_at"] == midnight
    clock.now = midnight - 1
    with pytest.raises(NoCredentialAvailable):
        pool.take(MODEL, tokens=10)
    clock.now = midnight
    call(pool)
    assert pool.view()[0]["quota"][MODEL]["rpd"]["used"] == 1


def test_a_429_refunds_the_call_and_teaches_the_limit_it_names() -> None:
    pool, clock = quota_pool({})
    payload = {
        "code": 429,
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaValue": "2"},
                    {"quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier", "quotaValue": "5000"},
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
        ],
    }
    call(pool)
    credential, charge = pool.take(MODEL, tokens=10)
    verdict = classify_error(429, payload, now=clock.now, backoff_level=0, base_cooldown=1, max_cooldown=9)
    pool.release(credential, MODEL, verdict, "quota", charge)
    quota = pool.view()[0]["quota"][MODEL]
    assert (quota["rpm"]["used"], quota["rpm"]["limit"], quota["rpm"]["source"]) == (1, 2, "learned")
    assert (quota["tpm"]["limit"], quota["tpm"]["source"]) == (5000, "learned")
    clock.now += 2  # the cooldown is over; one call more fits under the learned 2 a minute
    call(pool)
    with pytest.raises(NoCredentialAvailable):
        pool.take(MODEL, tokens=10)


def test_calls_that_do_not_count_are_not_held_back() -> None:
    pool, _ = quota_pool({"rpm": 1})
    call(pool)
    assert pool.acquire(MODEL)  # countTokens, models.get: no estimate, no quota check
    assert estimated_tokens("countTokens", b"x" * 400) is None
    assert estimated_tokens("generateContent", b"x" * 400) == 100


def test_usage_is_read_from_the_answer() -> None:
    body = b'{"candidates":[],"usageMetadata":{"promptTokenCount": 42,"totalTokenCount":50}}'
    assert input_tokens(body) == 42
    assert input_tokens(b'{"candidates":[]}') is None


def test_tier_table_override_and_model_families() -> None:
    table = merge_tiers(
        DEFAULT_TIERS, {"free": {"gemini-2.5-flash": {"rpm": 3}}, "mine": {"gemma": {"rpd": 9}}}
    )
    assert tier_limits(table, "free", "gemini-2.5-flash") == {"rpm": 3, "tpm": 250_000, "rpd": 250}
    assert tier_limits(table, "free", "gemini-2.5-flash-lite")["rpm"] == 15  # its own entry, not flash's
    assert tier_limits(table, "free", "gemini-2.5-flash-preview-09-2025")["rpm"] == 3  # the family's
    assert tier_limits(table, "mine", "gemma-3-27b-it")["rpd"] == 9
    assert tier_limits(table, "free", "unknown-model") == {} and tier_limits(table, None, MODEL) == {}
    assert DEFAULT_TIERS["free"]["gemini-2.5-flash"]["rpm"] == 10  # the defaults are not edited
    with pytest.raises(ValueError, match="rpx"):
        merge_tiers(DEFAULT_TIERS, {"free": {MODEL: {"rpx": 1}}})

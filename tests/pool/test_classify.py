from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gemini_gateway.pool.classify import (
    classify_error,
    classify_transport,
    next_pacific_midnight,
    parse_duration,
)

NOW = 1_800_000_000.0
KW = {"now": NOW, "backoff_level": 0, "base_cooldown": 5.0, "max_cooldown": 600.0}


def quota_error(quota_id: str, retry_delay: str | None) -> dict:
    details: list[dict] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaMetric": "generativelanguage.googleapis.com/x", "quotaId": quota_id}],
        }
    ]
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    return {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": details}


def error_info(reason: str) -> dict:
    return {
        "code": 400,
        "message": "API key not valid.",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
            }
        ],
    }


@pytest.mark.parametrize(
    "reason", ["API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "SERVICE_DISABLED", "CONSUMER_SUSPENDED"]
)
@pytest.mark.parametrize("status", [400, 403])
def test_bad_key_reasons_disable_and_retry(reason: str, status: int) -> None:
    verdict = classify_error(status, error_info(reason), **KW)
    assert verdict.retry and verdict.disable_reason is not None and reason in verdict.disable_reason


def test_retry_info_sets_the_cooldown() -> None:
    verdict = classify_error(
        429, quota_error("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "56s"), **KW
    )
    assert verdict.retry and verdict.cooldown_until == NOW + 56
    assert verdict.disable_reason is None


def test_daily_quota_cools_until_pacific_midnight() -> None:
    verdict = classify_error(
        429, quota_error("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "20s"), **KW
    )
    assert verdict.cooldown_until is not None
    reset = datetime.fromtimestamp(verdict.cooldown_until, ZoneInfo("America/Los_Angeles"))
    assert (reset.hour, reset.minute, reset.second) == (0, 0, 0)
    assert 0 < verdict.cooldown_until - NOW <= 24 * 3600


def test_429_without_retry_info_backs_off_exponentially() -> None:
    payload = {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}
    waits = [
        classify_error(
            429, payload, now=NOW, backoff_level=level, base_cooldown=5, max_cooldown=30
        ).cooldown_until
        for level in range(5)
    ]
    assert [w - NOW for w in waits if w] == [5, 10, 20, 30, 30]


def test_retry_in_message_is_used_when_details_are_missing() -> None:
    payload = {
        "code": 429,
        "message": "Quota exceeded. Please retry in 12.5s.",
        "status": "RESOURCE_EXHAUSTED",
    }
    assert classify_error(429, payload, **KW).cooldown_until == NOW + 12.5


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_retry_without_cooldown(status: int) -> None:
    verdict = classify_error(status, {"code": status}, **KW)
    assert verdict.retry and verdict.cooldown_until is None and verdict.disable_reason is None


@pytest.mark.parametrize("status", [400, 403, 404, 413])
def test_request_errors_are_not_the_keys_fault(status: int) -> None:
    payload = {"code": status, "message": "bad field", "status": "INVALID_ARGUMENT"}
    verdict = classify_error(status, payload, **KW)
    assert not verdict.retry and not verdict.counts_as_failure and verdict.disable_reason is None


@pytest.mark.parametrize("status", [403, 404])
def test_an_accounts_refusal_of_a_model_marks_it_not_entitled(status: int) -> None:
    payload = {"code": status, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
    verdict = classify_error(status, payload, **KW, account=True)
    assert verdict.retry and not verdict.counts_as_failure and verdict.cooldown_until is None
    assert verdict.unentitled_until is not None and verdict.unentitled_until > NOW
    bad = classify_error(403, {**error_info("VALIDATION_REQUIRED"), "code": 403}, **KW, account=True)
    assert bad.disable_reason is not None and bad.unentitled_until is None  # the account, not the model


def test_transport_errors_never_disable() -> None:
    verdict = classify_transport("TimeoutError")
    assert verdict.retry and verdict.disable_reason is None and verdict.cooldown_until is None


def test_parse_duration() -> None:
    assert parse_duration("3.5s") == 3.5
    assert parse_duration("bogus") is None


def test_pacific_midnight_is_in_the_future_and_within_a_day() -> None:
    for offset in range(0, 86400 * 3, 3600 * 7):
        reset = next_pacific_midnight(NOW + offset)
        assert 0 < reset - (NOW + offset) <= 25 * 3600


def test_interactions_api_codes_are_read_without_google_rpc_details() -> None:
    """The Interactions API's errors carry a string code and no details."""
    daily = classify_error(429, {"code": "quota_exceeded", "message": "daily quota"}, **KW)
    assert daily.cooldown_until == next_pacific_midnight(NOW) and daily.refund
    minute = classify_error(429, {"code": "rate_limit_exceeded", "message": "slow down"}, **KW)
    assert minute.cooldown_until == NOW + 5.0
    bad_key = classify_error(401, {"code": "authentication", "message": "API key not valid."}, **KW)
    assert bad_key.disable_reason and bad_key.disable_reason.startswith("API_KEY_INVALID")
    request = classify_error(400, {"code": "invalid_request", "message": "input is required"}, **KW)
    assert not request.retry and request.disable_reason is None

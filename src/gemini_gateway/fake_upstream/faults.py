"""The error answers scripted faults produce, shaped like Google's own.

Faults that change timing or the connection ("slow", "cut", "hang") are carried out by the app;
this module only builds the error bodies of the others.
"""

from __future__ import annotations

from gemini_gateway.fake_upstream.errors import (
    TYPE_PREFIX,
    FakeApiError,
    Json,
    bad_request,
    consumer_suspended,
    error_info,
    key_invalid,
)
from gemini_gateway.fake_upstream.state import Fault

RATE_LIMITS_URL = "https://ai.google.dev/gemini-api/docs/rate-limits"
_SERVER_ERRORS = {
    "500": "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    "502": "Bad Gateway",
    "503": "The model is overloaded. Please try again later.",
    "504": "Deadline expired before operation could complete.",
}
TIMING_FAULTS = frozenset({"slow", "cut", "hang"})


def empty_answer(model: str | None) -> Json:
    """The empty 200 the live API sometimes gives (seen on gemini-2.5-pro): one candidate with no
    parts, finishReason STOP, and the usage of a prompt that was read."""
    return {
        "candidates": [{"content": {"role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": model or "",
        "responseId": "empty-answer-0000",
    }


def fault_error(
    fault: Fault, model: str | None, version: str, rpc: str, key: str | None = None
) -> FakeApiError:
    """The error a non-timing fault answers with, for a call of `rpc` on `model` made with `key`."""
    kind = fault.kind
    if kind == "429":
        return quota_exceeded(fault, model)
    if kind in _SERVER_ERRORS:
        return FakeApiError(int(kind), fault.message or _SERVER_ERRORS[kind])
    if kind == "invalid_key":
        error = key_invalid()
    elif kind == "suspended":
        error = consumer_suspended(key or "")
    elif kind == "blocked":
        method = f"google.ai.generativelanguage.{version}.GenerativeService.{rpc[:1].upper()}{rpc[1:]}"
        error = FakeApiError(
            403,
            f"Requests to this API generativelanguage.googleapis.com method {method} are blocked.",
            details=[
                error_info("API_KEY_SERVICE_BLOCKED", methodName=method, consumer="projects/000000000000")
            ],
        )
    elif kind == "bad_request":
        message = "Request contains an invalid argument."
        error = FakeApiError(400, message, details=[bad_request("contents", message)])
    else:
        raise ValueError(f"{kind!r} is not an error fault")
    if fault.message:
        error.message = fault.message
    return error


def quota_exceeded(fault: Fault, model: str | None) -> FakeApiError:
    """429 RESOURCE_EXHAUSTED with QuotaFailure, Help and (unless retry_delay is None) RetryInfo."""
    quota_id = fault.quota_id
    daily = "PerDay" in quota_id or "Daily" in quota_id
    tokens = "Token" in quota_id
    metric = "generativelanguage.googleapis.com/generate_content_free_tier_" + (
        "input_token_count" if tokens else "requests"
    )
    limit = "250000" if tokens else ("250" if daily else "10")
    message = fault.message or (
        "You exceeded your current quota, please check your plan and billing details. For more information "
        f"on this error, head to: {RATE_LIMITS_URL}. To monitor your current usage, head to: "
        f"https://ai.dev/usage?tab=rate-limit. \n* Quota exceeded for metric: {metric}, limit: {limit}"
        + (f", model: {model}" if model else "")
    )
    dimensions = {"location": "global", **({"model": model} if model else {})}
    details: list[Json] = [
        {
            "@type": TYPE_PREFIX + "QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": dimensions,
                    "quotaValue": limit,
                }
            ],
        },
        {
            "@type": TYPE_PREFIX + "Help",
            "links": [{"description": "Learn more about Gemini API quotas", "url": RATE_LIMITS_URL}],
        },
    ]
    if fault.retry_delay is not None:
        if not fault.message:
            message += f"\nPlease retry in {fault.retry_delay}."
        details.append({"@type": TYPE_PREFIX + "RetryInfo", "retryDelay": fault.retry_delay})
    return FakeApiError(429, message, details=details)

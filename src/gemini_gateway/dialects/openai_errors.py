"""GatewayError -> OpenAI's `{"error":{"message","type","param","code"}}` envelope.

Headers (`retry-after`) come from `exc.headers()`; routes/errors.py adds them.
"""

from __future__ import annotations

import orjson

from gemini_gateway.dialects.common import JSON, ParamError
from gemini_gateway.errors import GatewayError, UpstreamError

_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("not_found_error", "model_not_found"),
    408: ("api_error", "timeout"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("api_error", "server_error"),
    502: ("api_error", "bad_gateway"),
    503: ("api_error", "service_unavailable"),
    504: ("api_error", "timeout"),
}


def openai_error_object(exc: GatewayError) -> JSON:
    status = exc.status_code
    kind, code = _TYPES.get(status) or (
        ("api_error", None) if status >= 500 else ("invalid_request_error", None)
    )
    if status == 429 and _daily_quota(exc):
        # A daily quota will not clear by retrying in a second; OpenAI says so with this type.
        kind = code = "insufficient_quota"
    if status == 404 and isinstance(exc, UpstreamError) and "model" not in exc.message.lower():
        code = "not_found"
    param = exc.param if isinstance(exc, ParamError) else None
    return {"message": exc.message, "type": kind, "param": param, "code": code}


def render_openai_error(exc: GatewayError) -> tuple[int, bytes]:
    return exc.status_code, orjson.dumps({"error": openai_error_object(exc)})


def _daily_quota(exc: GatewayError) -> bool:
    if not isinstance(exc, UpstreamError):
        return False
    for detail in exc.details:
        for violation in detail.get("violations") or ():
            quota_id = str(violation.get("quotaId", "")) if isinstance(violation, dict) else ""
            if "PerDay" in quota_id or "Daily" in quota_id:
                return True
    return False

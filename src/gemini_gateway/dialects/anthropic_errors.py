"""GatewayError -> Anthropic's `{"type":"error","error":{"type","message"}}` envelope.

Field errors name the field the way Anthropic does (`messages.1.content.0.type: ...`, not
`messages[1]...`): clients such as Claude Code match Anthropic's wording to pick a fallback.
"""

from __future__ import annotations

import re

import orjson

from gemini_gateway.dialects.common import JSON, ParamError
from gemini_gateway.errors import GatewayError

_INDEX = re.compile(r"\[(\d+)\]")
_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_object(exc: GatewayError) -> JSON:
    status = exc.status_code
    kind = _TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": kind, "message": anthropic_message(exc)}


def anthropic_message(exc: GatewayError) -> str:
    if not isinstance(exc, ParamError) or not exc.param:
        return exc.message
    detail = exc.message.removeprefix(f"{exc.param}: ")
    field = _INDEX.sub(r".\1", exc.param)
    return f"{field}: {detail}"


def render_anthropic_error(exc: GatewayError) -> tuple[int, bytes]:
    return exc.status_code, orjson.dumps({"type": "error", "error": anthropic_error_object(exc)})

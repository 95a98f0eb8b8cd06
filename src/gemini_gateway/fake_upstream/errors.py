"""Google's error envelope (`google.rpc.Status` as JSON) and the errors the fake raises.

The fake builds these bodies itself instead of reusing the gateway's helpers on purpose: it is
the independent stand-in for Google that the gateway is tested against, so a change in the
gateway's own rendering must not silently change what "Google" sends.
"""

from __future__ import annotations

from typing import Any

import orjson

Json = dict[str, Any]

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# The Interactions API answers errors in its own shape, `{"error": {"code": <string>, "message"}}`
# (Google's "API errors" page for the Interactions API; google-genai's `Error` model types `code` as
# a string), never google.rpc.Status. The codes by HTTP status:
INTERACTION_CODES = {
    400: "invalid_request",
    401: "authentication",
    402: "payment_required",
    403: "permission_denied",
    404: "not_found",
    409: "aborted",
    416: "out_of_range",
    429: "rate_limit_exceeded",
    499: "cancelled",
    500: "api_error",
    501: "unimplemented",
    502: "service_unavailable",
    503: "service_unavailable",
    504: "deadline_exceeded",
}
SERVICE = "generativelanguage.googleapis.com"
TYPE_PREFIX = "type.googleapis.com/google.rpc."


def error_body(
    code: int, message: str, status: str | None = None, details: list[Json] | None = None
) -> bytes:
    """The JSON envelope Google sends with every error status (pretty-printed, as Google does)."""
    error: Json = {"code": code, "message": message, "status": status or STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    return orjson.dumps({"error": error}, option=orjson.OPT_INDENT_2)


class FakeApiError(Exception):
    """An error answer: raised anywhere while handling a call, rendered once by the app."""

    def __init__(
        self, code: int, message: str, status: str | None = None, details: list[Json] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.details = details

    def body(self) -> bytes:
        return error_body(self.code, self.message, self.status, self.details)

    def interaction_answer(self) -> tuple[int, bytes]:
        """(HTTP status, body) of this error on the Interactions API: its string codes, no details.
        A bad or missing API key is 401 `authentication` there (its error table says so)."""
        reasons = {str(d.get("reason")) for d in self.details or () if d.get("reason")}
        status = 401 if reasons & {"API_KEY_INVALID", "API_KEY_EXPIRED"} else self.code
        code = INTERACTION_CODES.get(status, "api_error" if status >= 500 else "invalid_request")
        if self.status == "FAILED_PRECONDITION":
            code = "failed_precondition"
        elif status == 404 and self.message.startswith("models/"):
            code = "model_not_found"
        elif status == 429 and b"PerDay" in orjson.dumps(self.details or []):
            code = "quota_exceeded"
        return status, orjson.dumps(
            {"error": {"code": code, "message": self.message}}, option=orjson.OPT_INDENT_2
        )


def error_info(reason: str, **metadata: str) -> Json:
    return {
        "@type": TYPE_PREFIX + "ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": SERVICE, **metadata},
    }


def bad_request(field: str | None, description: str) -> Json:
    violation = {"field": field, "description": description} if field else {"description": description}
    return {"@type": TYPE_PREFIX + "BadRequest", "fieldViolations": [violation]}


def invalid_argument(message: str, field: str | None = None) -> FakeApiError:
    """400 for a problem with the request itself, with a BadRequest detail when a field is known."""
    return FakeApiError(400, message, details=[bad_request(field, message)] if field else None)


def invalid_json(detail: str, field: str | None = None) -> FakeApiError:
    message = f"Invalid JSON payload received. {detail}"
    return FakeApiError(400, message, details=[bad_request(field, message)])


def unknown_field(name: str, path: str) -> FakeApiError:
    where = f" at '{path}'" if path else ""
    return invalid_json(f'Unknown name "{name}"{where}: Cannot find field.', path or None)


def model_not_found(model_id: str, version: str, method: str) -> FakeApiError:
    return FakeApiError(
        404,
        f"models/{model_id} is not found for API version {version}, or is not supported for {method}. "
        "Call ListModels to see the list of available models and their supported methods.",
    )


def route_not_found() -> FakeApiError:
    return FakeApiError(404, "Method not found.")


def missing_key() -> FakeApiError:
    return FakeApiError(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


def key_invalid() -> FakeApiError:
    message = "API key not valid. Please pass a valid API key."
    localized = {"@type": TYPE_PREFIX + "LocalizedMessage", "locale": "en-US", "message": message}
    return FakeApiError(400, message, details=[error_info("API_KEY_INVALID"), localized])


def consumer_suspended(key: str) -> FakeApiError:
    """403 for a suspended key: Google names the key itself, in full, in the message."""
    message = f"Permission denied: Consumer 'api_key:{key}' has been suspended."
    localized = {"@type": TYPE_PREFIX + "LocalizedMessage", "locale": "en-US", "message": message}
    suspended = error_info("CONSUMER_SUSPENDED", consumer="projects/993395320710")
    return FakeApiError(403, message, details=[suspended, localized])


def oauth_unsupported() -> FakeApiError:
    return FakeApiError(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential. "
        "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        details=[error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED", method="GenerativeService")],
    )

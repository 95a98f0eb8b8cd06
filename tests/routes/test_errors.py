"""The one place errors are rendered: each dialect's envelope, with the same status and headers."""

from __future__ import annotations

import orjson
import pytest

from gemini_gateway.errors import NoCredentialAvailable, RequestError, UpstreamError, google_error_body
from gemini_gateway.routes.errors import Dialect, dialect_of_path, render_error


@pytest.mark.parametrize("dialect", ["gemini", "openai", "anthropic"])
def test_retry_after_and_status_are_the_same_in_every_dialect(dialect: Dialect) -> None:
    reply = render_error(NoCredentialAvailable("every key is cooling", retry_after=2.2), dialect)
    assert reply.status == 429
    assert (b"retry-after", b"3") in reply.headers
    assert b"every key is cooling" in reply.body


def test_each_dialect_gets_its_own_envelope() -> None:
    exc = RequestError("bad temperature")
    gemini = orjson.loads(render_error(exc, "gemini").body)
    openai = orjson.loads(render_error(exc, "openai").body)
    anthropic = orjson.loads(render_error(exc, "anthropic").body)
    assert gemini["error"]["status"] == "INVALID_ARGUMENT"
    assert openai["error"]["type"] == "invalid_request_error"
    assert anthropic == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "bad temperature"},
    }
    assert (b"retry-after", b"3") not in render_error(exc, "gemini").headers


def test_google_clients_get_the_upstreams_own_error_body() -> None:
    body = google_error_body(403, "permission denied", "PERMISSION_DENIED")
    reply = render_error(UpstreamError(403, body), "gemini")
    assert (reply.status, reply.body) == (403, body)


def test_an_unknown_path_is_answered_in_the_dialect_its_prefix_names() -> None:
    assert dialect_of_path("/anthropic/v1/nope") == "anthropic"
    assert dialect_of_path("/openai/v1/nope") == "openai"
    assert dialect_of_path("/hf/v1/nope") == "openai"
    assert dialect_of_path("/v1beta/nope") == "gemini"

"""The redactor: every form Google and clients print a secret in is masked; nothing else changes."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

import orjson
import pytest

from gemini_gateway.errors import UpstreamError
from gemini_gateway.redaction import REDACTOR, SecretRedactor, mask_secret

SECRET = "pool/key+with=odd:chars-8c1e4f"  # a registered secret with characters URLs encode


@pytest.fixture
def redactor() -> SecretRedactor:
    redactor = SecretRedactor()
    redactor.add(SECRET)
    return redactor


def fully_encoded(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode())


@pytest.mark.parametrize(
    "printed",
    [
        f"Permission denied: Consumer 'api_key:{SECRET}' has been suspended.",
        f'{{"metadata": {{"consumer": "api_key:{SECRET}"}}}}',
        f"GET /v1beta/models?key={quote(SECRET, safe='')}&alt=sse",
        f"GET /v1beta/models?key={quote(SECRET, safe='').lower()}",
        f"form: k={quote_plus(SECRET)}",
        f"fully encoded: {fully_encoded(SECRET)}",
        "mixed: " + SECRET[:5] + fully_encoded(SECRET[5:12]) + SECRET[12:],
        "json-escaped: " + SECRET.replace("/", "\\/"),
    ],
)
def test_a_registered_secret_is_masked_in_every_printed_form(redactor: SecretRedactor, printed: str) -> None:
    clean = redactor.redact(printed)
    assert SECRET[4:-4] not in clean and quote(SECRET[4:-4], safe="") not in clean
    assert mask_secret(SECRET) in clean  # masked, not dropped: the text still tells keys apart
    assert redactor.redact(clean) == clean  # a second pass changes nothing


@pytest.mark.parametrize(
    ("printed", "secret"),
    [
        (
            "Consumer 'api_key:AIzaSyUnregistered0000000000000000000001'",
            "AIzaSyUnregistered0000000000000000000001",
        ),
        ("Bearer ya29.a0AfH6SMBunregisteredAccessToken", "ya29.a0AfH6SMBunregisteredAccessToken"),
        ('{"refresh_token": "1//0gUnregisteredRefreshToken"}', "1//0gUnregisteredRefreshToken"),
        ("refresh_token=1%2F%2F0gUnregisteredRefreshToken", "0gUnregisteredRefreshToken"),
        ("token gw-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "gw-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
        ("https://host/v1beta/files?upload_id=1&key=some-unregistered-key", "some-unregistered-key"),
        ("https://host/x?api-key=another-unregistered", "another-unregistered"),
    ],
)
def test_secret_shaped_tokens_are_masked_unregistered(printed: str, secret: str) -> None:
    assert secret not in SecretRedactor().redact(printed)


def test_the_token_a_caller_presented_is_masked_where_given(redactor: SecretRedactor) -> None:
    presented = "client-presented-token-77aa"
    assert presented not in redactor.redact(f"x-goog-user-project: {presented}", {presented})
    assert redactor.redact(f"x-goog-user-project: {presented}") == f"x-goog-user-project: {presented}"


def test_ordinary_text_and_binary_bodies_pass_unchanged(redactor: SecretRedactor) -> None:
    text = "monkey=banana&pageToken=abc; the key is not here; 100% sure (%zz)"
    assert redactor.redact(text) == text
    body = b"\x89PNG\r\n\x1a\n\xff\xfe" + SECRET.encode() + b"\x00\xc3"
    clean = redactor.redact_bytes(body)
    assert SECRET.encode() not in clean
    assert clean.startswith(b"\x89PNG\r\n\x1a\n\xff\xfe") and clean.endswith(b"\x00\xc3")


def test_an_upstream_error_is_masked_as_it_is_made() -> None:
    key = "pool-key-in-an-error-5e6f7a8b9c"
    REDACTOR.add(key)
    message = f"Permission denied: Consumer 'api_key:{key}' has been suspended."
    details = [{"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "message": message}]
    body = orjson.dumps(
        {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED", "details": details}}
    )
    error = UpstreamError(403, body)
    assert key not in error.message and key.encode() not in error.body and key not in repr(error.payload)
    assert error.google_status == "PERMISSION_DENIED" and error.details[0]["message"] == error.message

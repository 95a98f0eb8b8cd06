"""Credential files in the three shapes found in the wild, and the file the gateway writes back."""

from __future__ import annotations

import base64

import orjson
import pytest

from gemini_gateway.oauth.account import OAuthAccount, OAuthCredential
from gemini_gateway.oauth.sources import EnvSource, load_env
from gemini_gateway.oauth.tokens import CredentialFormatError, email_from_id_token, parse_tokens


def id_token(claims: dict[str, object]) -> str:
    payload = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    return f"eyJhbGciOiJub25lIn0.{payload}.sig"


def test_gemini_cli_shape() -> None:
    tokens = parse_tokens(
        {
            "access_token": "ya29.a0-access",
            "refresh_token": "1//0g-refresh",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "token_type": "Bearer",
            "id_token": id_token({"email": "cli@example.com"}),
            "expiry_date": 1_900_000_000_123,
        }
    )
    assert (tokens.access_token, tokens.refresh_token, tokens.email) == (
        "ya29.a0-access",
        "1//0g-refresh",
        "cli@example.com",
    )
    assert tokens.expiry == pytest.approx(1_900_000_000.123)
    written = tokens.to_json()
    assert written["expiry_date"] == 1_900_000_000_123 and "id_token" not in written


def test_geminicli2api_and_gcli2api_shapes() -> None:
    python_style = parse_tokens(
        {
            "token": "ya29.python",
            "refresh_token": "1//python",
            "scopes": ["a", "b"],
            "client_id": "own-client",
            "client_secret": "own-secret",
            "expiry": "2030-01-01T00:00:00",
            "project_id": "my-project",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )
    assert python_style.access_token == "ya29.python" and python_style.scope == "a b"
    assert python_style.expiry == 1_893_456_000.0  # naive ISO is UTC, as google-auth writes it
    assert (python_style.client_id, python_style.project_id) == ("own-client", "my-project")
    assert python_style.to_json()["token_uri"] == "https://oauth2.googleapis.com/token"  # unknown fields kept
    gcli = parse_tokens({"access_token": "ya29.x", "refresh_token": "1//y", "expiry": "2030-01-01T00:00:00Z"})
    assert gcli.expiry == 1_893_456_000.0


def test_unusable_credentials() -> None:
    with pytest.raises(CredentialFormatError, match="refresh_token"):
        parse_tokens({"access_token": "ya29.only"})
    with pytest.raises(CredentialFormatError):
        parse_tokens(["not", "an", "object"])
    assert load_env("[not json") == []
    assert [t.email for t, _ in load_env('{"refresh_token": "1//z", "email": "one@example.com"}')] == [
        "one@example.com"
    ]
    assert email_from_id_token("garbage") is None


def test_label_and_view_never_show_tokens() -> None:
    tokens = parse_tokens({"refresh_token": "1//secret-refresh", "access_token": "ya29.secret-access"})
    credential = OAuthCredential(OAuthAccount(tokens, EnvSource(0)), frozenset({"gemini-2.5-pro"}))
    assert credential.label.startswith("oauth ")
    shown = orjson.dumps(credential.view(0.0)).decode()
    assert "secret" not in shown and credential.secret == ""
    assert credential.serves("gemini-2.5-pro") and not credential.serves("gemini-2.0-flash")

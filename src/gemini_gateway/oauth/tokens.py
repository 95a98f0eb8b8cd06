"""An OAuth account's tokens as credential files hold them, in the shapes found in the wild.

Three producers write these files (see the Code Assist reference, section 5):

- gemini-cli      `access_token`, `refresh_token`, `scope`, `token_type`, `id_token`, `expiry_date` (epoch ms)
- geminicli2api   `token`, `refresh_token`, `scopes[]`, `client_id`, `client_secret`, `expiry` (ISO-8601), `project_id`
- gcli2api        `access_token` or `token`, `refresh_token`, `client_id`, `client_secret`, `project_id`, `expiry`

All three are read; the gateway writes gemini-cli's shape back (so gemini-cli can still use a file
it made), plus what it learned: `email`, and the Code Assist project and tier it found.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)
# Fields this module reads and writes itself; everything else in a file is kept as it was.
_KNOWN = frozenset(
    {
        "access_token",
        "token",
        "refresh_token",
        "scope",
        "scopes",
        "token_type",
        "id_token",
        "expiry_date",
        "expiry",
        "email",
        "client_id",
        "client_secret",
        "project_id",
        "project",
        "code_assist_project",
        "code_assist_tier",
    }
)


class CredentialFormatError(ValueError):
    """A credential file or JSON entry the gateway cannot use (the message never holds a token)."""


@dataclass(slots=True)
class OAuthTokens:
    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expiry: float = 0.0  # epoch seconds; 0 when unknown, which makes the first use refresh
    scope: str | None = None
    token_type: str = "Bearer"
    email: str | None = None
    client_id: str | None = None  # the client the refresh token was issued to, when the file says
    client_secret: str | None = field(default=None, repr=False)
    project_id: str | None = None  # set by the user: overrides the discovered project
    code_assist_project: str | None = None  # what project discovery / onboarding found (a cache)
    code_assist_tier: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def secrets(self) -> list[str]:
        """Every secret held, for the log redactor."""
        return [s for s in (self.refresh_token, self.access_token, self.client_secret) if s]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data.update(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "scope": self.scope or " ".join(SCOPES),
                "token_type": self.token_type,
                "expiry_date": int(self.expiry * 1000) if self.expiry else None,
            }
        )
        optional = {
            "email": self.email,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "project_id": self.project_id,
            "code_assist_project": self.code_assist_project,
            "code_assist_tier": self.code_assist_tier,
        }
        data.update({k: v for k, v in optional.items() if v})
        return data

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2)


def parse_tokens(data: object) -> OAuthTokens:
    """One credential object in any of the three shapes."""
    if not isinstance(data, dict):
        raise CredentialFormatError("a credential must be a JSON object")
    refresh = data.get("refresh_token")
    if not isinstance(refresh, str) or not refresh.strip():
        raise CredentialFormatError("no refresh_token: without it the account cannot stay logged in")
    access = data.get("access_token") or data.get("token")
    scopes = data.get("scopes")
    scope = data.get("scope") or (" ".join(str(s) for s in scopes) if isinstance(scopes, list) else None)
    email = _text(data.get("email"))
    if email is None and isinstance(data.get("id_token"), str):
        email = email_from_id_token(data["id_token"])
    return OAuthTokens(
        refresh_token=refresh.strip(),
        access_token=access if isinstance(access, str) and access else None,
        expiry=parse_expiry(data),
        scope=_text(scope),
        token_type=_text(data.get("token_type")) or "Bearer",
        email=email,
        client_id=_text(data.get("client_id")),
        client_secret=_text(data.get("client_secret")),
        project_id=_text(data.get("project_id")) or _text(data.get("project")),
        code_assist_project=_text(data.get("code_assist_project")),
        code_assist_tier=_text(data.get("code_assist_tier")),
        extra={k: v for k, v in data.items() if k not in _KNOWN},
    )


def parse_token_list(text: str) -> list[OAuthTokens]:
    """OAUTH_CREDS_JSON: a JSON list of credential objects (a single object is accepted too)."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CredentialFormatError(f"not JSON ({exc.msg} at position {exc.pos})") from None
    items = data if isinstance(data, list) else [data]
    return [parse_tokens(item) for item in items]


def parse_expiry(data: dict[str, Any]) -> float:
    """`expiry_date` (epoch ms, gemini-cli) or `expiry` (ISO-8601, Python google-auth) as epoch seconds."""
    millis = data.get("expiry_date")
    if isinstance(millis, int | float) and not isinstance(millis, bool):
        return float(millis) / 1000
    iso = data.get("expiry")
    if isinstance(iso, str) and iso:
        try:
            moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        except ValueError:
            return 0.0
        if moment.tzinfo is None:  # google-auth writes naive UTC
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return 0.0


def email_from_id_token(id_token: str) -> str | None:
    """The `email` claim of an ID token. Not verified: it came straight from the token endpoint
    over TLS and only names the account for people; nothing is authorised by it."""
    parts = id_token.split(".")
    if len(parts) < 2:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    return _text(claims.get("email")) if isinstance(claims, dict) else None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None

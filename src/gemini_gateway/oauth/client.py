"""The OAuth client side: the token endpoint (refresh, code exchange), PKCE and the authorization URL.

Errors, drawn as a tree:

    OAuthError            the token endpoint refused (`error` is OAuth's code, e.g. invalid_client)
     └── RefreshRevoked   `invalid_grant` on a refresh: the user revoked access or the token expired
    OAuthUnreachable      no answer from the token endpoint (timeout, connection, 5xx)

Messages name the OAuth error code and Google's description, never a token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import orjson

from gemini_gateway.errors import UpstreamUnreachable
from gemini_gateway.oauth.tokens import SCOPES, OAuthTokens, email_from_id_token
from gemini_gateway.transport.base import Transport

TOKEN_TIMEOUT = 30.0  # seconds for one call of the token endpoint, all of it


class OAuthError(Exception):
    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status


class RefreshRevoked(OAuthError):
    """The refresh token no longer works; only a new login brings the account back."""


class OAuthUnreachable(Exception):
    pass


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """Which OAuth client the gateway is, and where Google's endpoints are (settings)."""

    client_id: str | None
    client_secret: str | None = field(repr=False)
    token_url: str
    auth_url: str
    scopes: tuple[str, ...] = SCOPES  # what the login asks for (Antigravity asks for two more)

    def for_tokens(self, tokens: OAuthTokens) -> OAuthClient:
        """A refresh token belongs to the client it was issued to: a file naming one wins."""
        if tokens.client_id and tokens.client_id != self.client_id:
            return OAuthClient(
                tokens.client_id, tokens.client_secret, self.token_url, self.auth_url, self.scopes
            )
        return self


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str = field(repr=False)
    expiry: float
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    email: str | None = None

    def apply(self, tokens: OAuthTokens) -> None:
        tokens.access_token, tokens.expiry = self.access_token, self.expiry
        if self.refresh_token:  # Google rarely rotates it; when it does, the old one stops working
            tokens.refresh_token = self.refresh_token
        if self.scope:
            tokens.scope = self.scope
        if self.email and not tokens.email:
            tokens.email = self.email


@dataclass(frozen=True, slots=True)
class PKCE:
    verifier: str = field(repr=False)
    challenge: str

    @classmethod
    def new(cls) -> PKCE:
        verifier = secrets.token_urlsafe(64)[:96]  # RFC 7636: 43-128 unreserved characters
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorization_url(client: OAuthClient, redirect_uri: str, state: str, pkce: PKCE) -> str:
    """Where the user logs in; `prompt=consent` makes Google issue a refresh token every time."""
    params = {
        "client_id": client.client_id or "",
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(client.scopes),
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": state,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in client.auth_url else "?"
    return client.auth_url + separator + urlencode(params)


async def refresh(transport: Transport, client: OAuthClient, refresh_token: str) -> TokenGrant:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    try:
        return await _token_request(transport, client, form)
    except OAuthError as exc:
        if exc.error == "invalid_grant":
            raise RefreshRevoked(exc.error, exc.description, exc.status) from None
        raise


async def exchange_code(
    transport: Transport, client: OAuthClient, code: str, redirect_uri: str, verifier: str
) -> TokenGrant:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    grant = await _token_request(transport, client, form)
    if not grant.refresh_token:
        raise OAuthError(
            "no_refresh_token", "the login gave no refresh token; remove the app's access and retry"
        )
    return grant


async def _token_request(transport: Transport, client: OAuthClient, form: dict[str, str]) -> TokenGrant:
    if not client.client_id:
        raise OAuthError("invalid_client", "no OAuth client id: set OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET")
    form = {**form, "client_id": client.client_id}
    if client.client_secret:
        form["client_secret"] = client.client_secret
    started = time.time()
    headers = {"accept": "application/json", "content-type": "application/x-www-form-urlencoded"}
    try:
        reply = await transport.request(
            "POST", client.token_url, headers, urlencode(form).encode(), total_timeout=TOKEN_TIMEOUT
        )
    except UpstreamUnreachable as exc:
        raise OAuthUnreachable(f"the OAuth token endpoint did not answer ({exc.message})") from None
    status, body = reply.status, reply.body
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if status >= 500:
        raise OAuthUnreachable(f"the OAuth token endpoint answered {status}")
    if status >= 400 or not isinstance(data.get("access_token"), str):
        error = str(data.get("error") or f"http_{status}")
        raise OAuthError(error, str(data.get("error_description") or "")[:200], status)
    lifetime = data.get("expires_in")
    lifetime = float(lifetime) if isinstance(lifetime, int | float) else 3599.0
    id_token = data.get("id_token")
    return TokenGrant(
        access_token=data["access_token"],
        expiry=started + lifetime,  # from before the request: never later than Google's own clock
        refresh_token=data.get("refresh_token") if isinstance(data.get("refresh_token"), str) else None,
        scope=data.get("scope") if isinstance(data.get("scope"), str) else None,
        email=email_from_id_token(id_token) if isinstance(id_token, str) else None,
    )

"""The OAuth installed-app login, for the CLI and for the management API.

Both start a `PendingLogin` (state + PKCE verifier + redirect URI), send the user to Google's
authorization URL, and exchange the code that comes back. The code comes back either

- to a loopback address: the CLI's temporary server on 127.0.0.1 (`oauth.loopback`), or the
  gateway's own `/oauth2callback` when the admin UI runs on a loopback address; or
- by hand: headless servers use a redirect URI that shows the code (OAUTH_MANUAL_REDIRECT_URI),
  and the user pastes it, or the whole address the browser ended on (`code_from_paste`).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from gemini_gateway.oauth.client import PKCE, OAuthClient, authorization_url, exchange_code
from gemini_gateway.oauth.tokens import OAuthTokens
from gemini_gateway.transport.base import Transport

LOGIN_TTL = 600.0  # seconds a started login waits for its code
CALLBACK_PATH = "/oauth2callback"
DONE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>gemini-gateway login</title>"
    "<p>Login complete. You can close this tab.</p>"
)


class LoginError(Exception):
    """The login cannot finish; the message tells the user why (never holds a code or token)."""


@dataclass(frozen=True, slots=True)
class PendingLogin:
    state: str
    pkce: PKCE = field(repr=False)
    redirect_uri: str
    url: str
    project_id: str | None
    started: float
    kind: str = "oauth"  # the flavor of account it signs in (oauth/flavors.py)


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """How a login ended: the account it added, or why it failed (never a code or token)."""

    credential_id: str | None
    error: str | None
    ended: float


class PendingLogins:
    """Logins started through the management API, waiting for their code; single use, expiring.

    How each ended is kept as long, so the admin UI that started a login can learn whether the
    redirect, which arrives in another browser tab, added the account.
    """

    def __init__(self) -> None:
        self._items: dict[str, PendingLogin] = {}
        self._ended: dict[str, LoginOutcome] = {}

    def start(
        self, client: OAuthClient, redirect_uri: str, project_id: str | None = None, kind: str = "oauth"
    ) -> PendingLogin:
        self._prune()
        pending = dataclasses.replace(new_login(client, redirect_uri, project_id), kind=kind)
        self._items[pending.state] = pending
        return pending

    def get(self, state: str) -> PendingLogin:
        """The login waiting under `state`, left waiting."""
        pending = self._items.get(state)
        if pending is None or time.monotonic() - pending.started >= LOGIN_TTL:
            raise LoginError("this login is unknown, was finished already, or expired: start it again")
        return pending

    def take(self, state: str) -> PendingLogin:
        pending = self.get(state)
        del self._items[state]
        return pending

    def end(self, state: str, *, credential_id: str | None = None, error: str | None = None) -> None:
        self._prune()
        self._ended[state] = LoginOutcome(credential_id, error, time.monotonic())

    def status(self, state: str) -> PendingLogin | LoginOutcome | None:
        """The login still waiting, or how it ended; None when unknown or expired."""
        self._prune()
        return self._items.get(state) or self._ended.get(state)

    def _prune(self) -> None:
        now = time.monotonic()
        self._items = {s: p for s, p in self._items.items() if now - p.started < LOGIN_TTL}
        self._ended = {s: o for s, o in self._ended.items() if now - o.ended < LOGIN_TTL}


def new_login(client: OAuthClient, redirect_uri: str, project_id: str | None = None) -> PendingLogin:
    if not client.client_id:
        raise LoginError(
            "no OAuth client: set OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET (Gemini CLI's installed-app "
            "pair, or your own Desktop-app client); for Antigravity, ANTIGRAVITY_CLIENT_ID and its secret"
        )
    state, pkce = secrets.token_urlsafe(24), PKCE.new()
    url = authorization_url(client, redirect_uri, state, pkce)
    return PendingLogin(state, pkce, redirect_uri, url, project_id, time.monotonic())


def code_from_paste(text: str, state: str) -> str:
    """The code from what a user pasted: the code itself, or the redirect address holding it."""
    text = text.strip().strip("\"'")
    if not text:
        raise LoginError("nothing was pasted")
    if "code=" not in text and "error=" not in text:
        return text
    query = parse_qs(urlsplit(text).query or text.partition("?")[2] or text)
    if "error" in query:
        raise LoginError(f"Google refused the login: {query['error'][0]}")
    if query.get("state", [state])[0] != state:
        raise LoginError("that address belongs to another login attempt (its state does not match)")
    codes = query.get("code")
    if not codes or not codes[0]:
        raise LoginError("no code in what was pasted")
    return codes[0]


async def finish_login(
    transport: Transport, client: OAuthClient, pending: PendingLogin, code: str
) -> OAuthTokens:
    """Exchange the code (with the PKCE verifier) for the account's tokens."""
    grant = await exchange_code(transport, client, code, pending.redirect_uri, pending.pkce.verifier)
    assert grant.refresh_token is not None  # exchange_code insists on one
    tokens = OAuthTokens(
        refresh_token=grant.refresh_token, client_id=client.client_id, project_id=pending.project_id
    )
    grant.apply(tokens)
    return tokens

"""A fake Google OAuth server: the authorization endpoint and the token endpoint.

It stands in for `accounts.google.com/o/oauth2/v2/auth` and `oauth2.googleapis.com/token`:

- GET  /o/oauth2/v2/auth  "logs in" `login_email` (or `login_hint`) at once and redirects back to
  `redirect_uri` with `?code=&state=`, remembering the PKCE challenge for the exchange; with
  `consent = True` it first shows a consent page (an account field, Allow and Cancel) for browser
  tests, and Cancel redirects back with `?error=access_denied`;
- POST /token             `authorization_code` (PKCE checked) and `refresh_token` grants, answering
  like Google (`invalid_grant` for a revoked refresh token or a wrong verifier).

Accounts and their Code Assist status live here too (`FakeAccount`), shared with the fake Code
Assist service (`code_assist.py`), which accepts only access tokens issued here. Tokens look like
Google's (`ya29.` access, `1//` refresh) so the gateway's pattern redaction applies to them as well.

    oauth = state.oauth
    refresh = oauth.add_account("ann@example.com", onboarded=True)
    oauth.revoke(refresh)          # the next refresh answers invalid_grant
    oauth.refreshes                # how many refresh grants succeeded
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from gemini_gateway.fake_upstream import asgi
from gemini_gateway.fake_upstream.asgi import Receive, Scope, Send

AUTH_PATHS = frozenset({"/o/oauth2/v2/auth", "/o/oauth2/auth"})
TOKEN_PATH = "/token"
SCOPES = "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email"


@dataclass(slots=True)
class FakeAccount:
    """A Google account as the fake OAuth and Code Assist services see it."""

    email: str
    tier: str = "free-tier"
    project: str | None = None  # the Code Assist project, once onboarded
    onboarded: bool = False
    validation_required: bool = False  # loadCodeAssist answers VALIDATION_REQUIRED
    user_projects: set[str] = field(default_factory=set)  # projects it may name explicitly
    # Models this account's tier does not include (preview models): Code Assist answers 404 for them.
    denied_models: set[str] = field(default_factory=set)
    # Antigravity: requests left per model in the current window (absent: unlimited); see antigravity.py
    quota_left: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Code:
    email: str
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str
    scope: str


class FakeOAuth:
    """Accounts, issued tokens and counters; thread-safe (the test thread reads, the server writes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.client_id: str | None = None  # when set, the token endpoint insists on it ...
            self.client_secret: str | None = None  # ... and on this secret
            self.token_lifetime = 3599.0
            self.refresh_delay_ms = 0.0  # widens the window in which concurrent refreshes could race
            self.login_email = "new-user@example.com"
            self.consent = False  # show a consent page before redirecting (browser tests)
            self.onboard_polls = 1  # operation GETs answered `done: false` before the project exists
            # Google's 2026-06-18 change: consumer tiers refused to all but Antigravity clients
            self.consumer_cutoff = False
            self.antigravity_models = ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview"]
            self.quota_limit = 100  # Antigravity requests per model per window (for remainingFraction)
            self.quota_reset = time.time() + 5 * 3600  # when the window ends
            self.exchanges_by_client: Counter[str] = Counter()  # code exchanges per OAuth client id
            self.scopes_asked: list[str] = []  # the scope of every authorization request
            self.accounts: dict[str, FakeAccount] = {}
            self.refreshes = 0
            self.refreshes_by_token: Counter[str] = Counter()
            self.exchanges = 0
            self.load_calls = 0
            self.onboard_calls = 0
            self.operation_polls = 0
            self._refresh_owner: dict[str, str] = {}  # refresh token -> email
            self._revoked: set[str] = set()
            self._access: dict[str, tuple[str, float]] = {}  # access token -> (email, expires at)
            self._codes: dict[str, _Code] = {}
            self.operations: dict[str, list[Any]] = {}  # name -> [email, polls left, tier, project]
            self.issued: list[str] = []  # every token handed out, for tests that look for leaks

    # -- accounts and tokens ---------------------------------------------------------------

    def add_account(
        self,
        email: str,
        *,
        onboarded: bool = False,
        project: str | None = None,
        tier: str = "free-tier",
        validation_required: bool = False,
    ) -> str:
        """Create (or update) an account; returns a new refresh token for it."""
        with self._lock:
            account = self.accounts.get(email) or FakeAccount(email)
            account.tier, account.onboarded = tier, onboarded or project is not None
            account.project = project or (project_of(email) if onboarded else None)
            account.validation_required = validation_required
            self.accounts[email] = account
            return self._new_refresh(email)

    def account(self, email: str) -> FakeAccount:
        return self.accounts[email]

    def issue_access_token(self, email: str, lifetime: float | None = None) -> tuple[str, float]:
        """An access token for `email` (negative lifetime: already expired); returns (token, expiry)."""
        with self._lock:
            return self._new_access(email, self.token_lifetime if lifetime is None else lifetime)

    def revoke(self, refresh_token: str) -> None:
        """The refresh token stops working (Google: the user removed access, or it expired)."""
        with self._lock:
            self._revoked.add(refresh_token)
            email = self._refresh_owner.get(refresh_token)
            self._access = {t: v for t, v in self._access.items() if v[0] != email}

    def revoke_access_tokens(self, email: str) -> None:
        """The account's access tokens stop working before their expiry; its refresh token still works."""
        with self._lock:
            self._access = {t: v for t, v in self._access.items() if v[0] != email}

    def account_of(self, access_token: str | None) -> FakeAccount | None:
        """The account a valid, unexpired access token belongs to."""
        if not access_token:
            return None
        entry = self._access.get(access_token)
        if entry is None or entry[1] <= time.time():
            return None
        return self.accounts.get(entry[0])

    def _new_refresh(self, email: str) -> str:
        token = "1//fake-" + secrets.token_urlsafe(24)
        self._refresh_owner[token] = email
        self.issued.append(token)
        return token

    def _new_access(self, email: str, lifetime: float) -> tuple[str, float]:
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        self.issued.append(token)
        expiry = time.time() + lifetime
        self._access[token] = (email, expiry)
        return token, expiry

    def _grant(self, email: str, client_id: str, scope: str) -> dict[str, Any]:
        token, _ = self._new_access(email, self.token_lifetime)
        return {
            "access_token": token,
            "expires_in": int(self.token_lifetime),
            "scope": scope,
            "token_type": "Bearer",
            "id_token": id_token(email, client_id),
        }

    # -- grants ----------------------------------------------------------------------------

    def authorize(self, params: dict[str, str]) -> str:
        """The redirect target after an (immediate) login; raises ValueError on a bad request."""
        redirect_uri = params.get("redirect_uri", "")
        if params.get("response_type") != "code" or not redirect_uri or not params.get("client_id"):
            raise ValueError("Required parameter is missing: response_type, client_id or redirect_uri")
        if self.client_id is not None and params["client_id"] != self.client_id:
            raise ValueError("The OAuth client was not found.")
        if params.get("consent") == "deny":
            answer = {"error": "access_denied", **({"state": params["state"]} if "state" in params else {})}
            return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(answer)
        email = params.get("login_hint") or self.login_email
        self.scopes_asked.append(params.get("scope", ""))
        with self._lock:
            if email not in self.accounts:
                self.accounts[email] = FakeAccount(email)
            code = "4/fake-" + secrets.token_urlsafe(16)
            self._codes[code] = _Code(
                email,
                params["client_id"],
                redirect_uri,
                params.get("code_challenge"),
                params.get("code_challenge_method", "plain"),
                params.get("scope", SCOPES),
            )
        answer = {"code": code, "scope": params.get("scope", SCOPES)}
        if "state" in params:
            answer["state"] = params["state"]
        return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(answer)

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The token endpoint's answer (status, JSON) to one form-encoded request."""
        client_id = form.get("client_id", "")
        if not client_id or (
            self.client_id is not None
            and (client_id != self.client_id or form.get("client_secret") != self.client_secret)
        ):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        grant = form.get("grant_type")
        with self._lock:
            if grant == "refresh_token":
                refresh = form.get("refresh_token", "")
                email = self._refresh_owner.get(refresh)
                if email is None or refresh in self._revoked:
                    return 400, _invalid_grant("Token has been expired or revoked.")
                self.refreshes += 1
                self.refreshes_by_token[refresh] += 1
                return 200, self._grant(email, client_id, SCOPES)
            if grant == "authorization_code":
                return self._exchange(form, client_id)
        return 400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant}"}

    def _exchange(self, form: dict[str, str], client_id: str) -> tuple[int, dict[str, Any]]:
        code = self._codes.pop(form.get("code", ""), None)
        if code is None or code.client_id != client_id:
            return 400, _invalid_grant("Malformed auth code.")
        if form.get("redirect_uri") != code.redirect_uri:
            return 400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"}
        if code.challenge is not None and not _pkce_ok(code, form.get("code_verifier")):
            return 400, _invalid_grant("Invalid code verifier.")
        self.exchanges += 1
        self.exchanges_by_client[client_id] += 1
        grant = self._grant(code.email, client_id, code.scope)
        grant["refresh_token"] = self._new_refresh(code.email)
        return 200, grant

    def refresh_delay(self) -> float:
        return self.refresh_delay_ms / 1000


def project_of(email: str) -> str:
    return "fake-project-" + hashlib.sha256(email.encode()).hexdigest()[:8]


def _invalid_grant(description: str) -> dict[str, str]:
    return {"error": "invalid_grant", "error_description": description}


def _pkce_ok(code: _Code, verifier: str | None) -> bool:
    if not verifier:
        return False
    if code.method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") == code.challenge
    return verifier == code.challenge


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def id_token(email: str, client_id: str) -> str:
    """An unsigned JWT with the claims the gateway reads (Google's are RS256-signed)."""
    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": client_id,
        "sub": hashlib.sha256(email.encode()).hexdigest()[:21],
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    return ".".join([_b64(b'{"alg":"none","typ":"JWT"}'), _b64(orjson.dumps(claims)), "fake-signature"])


def consent_page(path: str, params: dict[str, str], email: str) -> str:
    """A stand-in for Google's account chooser and consent screen: the form repeats the request."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k not in ("login_hint", "consent")
    )
    client = html.escape(params.get("client_id", ""))
    return (
        "<!doctype html><meta charset=utf-8><title>Sign in - Fake Google Accounts</title>"
        f"<h1>Fake Google</h1><p>{client} wants to access your Google Account</p>"
        f'<form method="get" action="{html.escape(path)}">{hidden}'
        f'<label>Account <input name="login_hint" value="{html.escape(params.get("login_hint") or email)}">'
        '</label> <button name="consent" value="allow">Allow</button> '
        '<button name="consent" value="deny">Cancel</button></form>'
    )


async def handle_oauth(oauth: FakeOAuth, scope: Scope, receive: Receive, send: Send) -> None:
    path, method = scope["path"], scope["method"]
    if path in AUTH_PATHS and method == "GET":
        params = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        if oauth.consent and params.get("consent") not in ("allow", "deny"):
            page = consent_page(path, params, oauth.login_email)
            await _send(send, 200, page.encode(), b"text/html; charset=utf-8")
            return
        try:
            location = oauth.authorize(params)
        except ValueError as exc:
            await _send(send, 400, str(exc).encode(), b"text/plain; charset=utf-8")
            return
        await send(
            {"type": "http.response.start", "status": 302, "headers": [(b"location", location.encode())]}
        )
        await send({"type": "http.response.body", "body": b""})
        return
    if path == TOKEN_PATH and method == "POST":
        form = dict(parse_qsl((await asgi.read_body(receive)).decode("utf-8")))
        if form.get("grant_type") == "refresh_token" and oauth.refresh_delay_ms:
            await asyncio.sleep(oauth.refresh_delay())
        status, answer = oauth.token(form)
        await _send(send, status, orjson.dumps(answer), b"application/json; charset=utf-8")
        return
    await _send(send, 404, b'{"error":"not_found"}', b"application/json")


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

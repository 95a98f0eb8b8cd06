"""Who is calling: client tokens in the four forms clients send them, and the admin token."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

from gemini_gateway.brake import Brake
from gemini_gateway.errors import ClientRateLimited, RequestError

Tier = Literal["admin", "user"]
# Where a caller already authenticated another way (the admin UI's session) is put in the ASGI scope.
SCOPE_IDENTITY = "gateway.identity"
# The shared bucket's answer for this request (gemini_gateway.shared.gate): seconds to wait, 0 to go.
SCOPE_RATE = "gateway.rate"


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    id: str  # safe to log and record; never the token
    tier: Tier
    models: frozenset[str] | None = None  # allow-list, None = any model
    rate_limit: int | None = None  # requests per minute, None = unlimited

    def check_model(self, model: str) -> None:
        if self.models is not None and model not in self.models:
            raise RequestError(f"this client token may not use the model '{model}'", status_code=403)


ANONYMOUS = ClientIdentity(id="anonymous", tier="user")


class RateLimiter:
    """A token bucket per client: `limit` requests a minute, refilled continuously, bursts up to `limit`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client id -> (tokens left, when)
        # Replicas counting alone (their shared Redis unreachable) each take this share of a limit.
        self.divisor = 1

    def check(self, identity: ClientIdentity, shared: float | None = None) -> None:
        limit = identity.rate_limit
        if not limit:
            return
        if shared is not None:  # counted in the bucket every replica shares
            if shared > 0:
                raise ClientRateLimited(
                    f"this client token is limited to {limit} requests per minute; retry in {math.ceil(shared)}s",
                    shared,
                )
            return
        limit = max(1, limit // self.divisor)
        now = self.clock()
        tokens, then = self._buckets.get(identity.id, (float(limit), now))
        tokens = min(float(limit), tokens + (now - then) * limit / 60.0)
        if tokens < 1.0:
            self._buckets[identity.id] = (tokens, now)
            wait = (1.0 - tokens) * 60.0 / limit
            raise ClientRateLimited(
                f"this client token is limited to {limit} requests per minute; retry in {math.ceil(wait)}s",
                wait,
            )
        self._buckets[identity.id] = (tokens - 1.0, now)


def client_address(scope: Mapping[str, Any]) -> str:
    """The caller's address (a trusted proxy's X-Forwarded-For already applied, see forwarded.py)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_from_scope(scope: Mapping[str, Any]) -> str | None:
    """The client token from `Authorization: Bearer`, `x-goog-api-key`, `x-api-key` or `?key=`."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
        elif name in (b"x-goog-api-key", b"x-api-key") and value:
            return value.decode("latin-1").strip()
    query: bytes = scope.get("query_string", b"")
    # find, not `in`: on CPython 3.11 `bytes in bytes` first tries the needle as an int, raising and
    # clearing a TypeError on every request.
    if query.find(b"key=") >= 0:
        for param, given in parse_qsl(query.decode("latin-1")):
            if param == "key" and given:
                return given
    return None


# Digests of tokens that identified a caller, so a client's every call is not a SHA-256 (2 % of a
# call's CPU). Only tokens that matched are kept: a wrong one is never remembered, so senders of
# made-up tokens cannot fill it. Bounded all the same (stored tokens are many); emptied when full.
_KNOWN_DIGESTS_MAX = 256


class Authenticator:
    """Checks client and admin tokens by digest, so no token is compared in clear; the tokens
    kept in clear are those that identified a caller (`_known`, as the environment's are in the
    settings), so a client presenting one again is not hashed again."""

    def __init__(self, gateway_tokens: Iterable[str], admin_token: str | None) -> None:
        self._clients: dict[str, ClientIdentity] = {}
        self._configured = False  # GATEWAY_TOKENS named any token, even one that is also the admin's
        for token in gateway_tokens:
            digest = token_digest(token)
            self._clients[digest] = ClientIdentity(id=f"token:{digest[:8]}", tier="user")
            self._configured = True
        self._admin_digest = token_digest(admin_token) if admin_token else None
        if self._admin_digest:
            self._clients[self._admin_digest] = ClientIdentity(id="admin", tier="admin")
        self._known: dict[str, str] = {}  # token -> digest, of tokens that identified a caller
        self.limiter = RateLimiter()
        self.brake = Brake()

    @property
    def open(self) -> bool:
        """No client tokens configured: the API answers anyone (allowed only on loopback)."""
        if self._configured:
            return False
        return not any(identity.tier == "user" for identity in self._clients.values())

    def wrong_token(self, scope: Mapping[str, Any], token: str, refusal: RequestError) -> RequestError:
        """What to answer a wrong token with: `refusal`, or a 429 once its sender is braked."""
        braked = self.brake.wrong(client_address(scope), token)
        return refusal if braked is None else ClientRateLimited(braked.message, braked.wait)

    def register(self, digest: str, identity: ClientIdentity) -> None:
        self._clients[digest] = identity

    def revoke(self, digest: str) -> None:
        self._clients.pop(digest, None)

    def identify(self, token: str | None) -> ClientIdentity | None:
        if token is None:
            return None
        digest = self._known.get(token)
        if digest is not None:  # a revoked token's digest is simply no longer in _clients
            return self._clients.get(digest)
        digest = token_digest(token)
        identity = self._clients.get(digest)
        if identity is not None:
            if len(self._known) >= _KNOWN_DIGESTS_MAX:
                self._known.clear()
            self._known[token] = digest
        return identity

    def client(self, scope: Mapping[str, Any]) -> ClientIdentity:
        """The caller of an API route, or RequestError 401 (no token) / 403 (wrong token)."""
        identity: ClientIdentity | None = scope.get(SCOPE_IDENTITY)
        token = None
        if identity is None:
            token = token_from_scope(scope)
            identity = self.identify(token)
        if identity is not None:
            if identity.rate_limit:
                self.limiter.check(identity, scope.get(SCOPE_RATE))
            return identity
        if self.open:
            return ANONYMOUS
        if token is None:
            raise RequestError(
                "missing client token: send it as 'Authorization: Bearer <token>', 'x-goog-api-key', "
                "'x-api-key' or '?key='",
                status_code=401,
            )
        refusal = RequestError("the client token is not valid for this gateway", status_code=403)
        raise self.wrong_token(scope, token, refusal)

    def admin(self, scope: Mapping[str, Any]) -> ClientIdentity:
        """The caller of an admin route: an admin UI session, the admin token or an admin-tier token."""
        identity: ClientIdentity | None = scope.get(SCOPE_IDENTITY)
        if identity is None:
            token = token_from_scope(scope)
            if token is None:
                if self._admin_digest is None:
                    raise RequestError("the admin API is disabled: set ADMIN_TOKEN", status_code=403)
                raise RequestError("missing admin token", status_code=401)
            identity = self.identify(token)
            if identity is None:
                raise self.wrong_token(scope, token, RequestError("admin token required", status_code=403))
        if identity.tier != "admin":
            raise RequestError("this token may call the model API only, not the admin API", status_code=403)
        return identity

"""Who is calling: client tokens in the four forms clients send them, and the admin token."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

from gemini_gateway.errors import RequestError

Tier = Literal["admin", "user"]


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    id: str  # safe to log and record; never the token
    tier: Tier
    models: frozenset[str] | None = None  # allow-list, None = any model

    def check_model(self, model: str) -> None:
        if self.models is not None and model not in self.models:
            raise RequestError(f"this client token may not use the model '{model}'", status_code=403)


ANONYMOUS = ClientIdentity(id="anonymous", tier="user")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_from_scope(scope: dict[str, Any]) -> str | None:
    """The client token from `Authorization: Bearer`, `x-goog-api-key`, `x-api-key` or `?key=`."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
        elif name in (b"x-goog-api-key", b"x-api-key") and value:
            return value.decode("latin-1").strip()
    query = scope.get("query_string", b"")
    if b"key=" in query:
        for key, value in parse_qsl(query.decode("latin-1")):
            if key == "key" and value:
                return value
    return None


class Authenticator:
    """Checks client and admin tokens by digest, so no token is compared or kept in clear longer than needed."""

    def __init__(self, gateway_tokens: Iterable[str], admin_token: str | None) -> None:
        self._clients: dict[str, ClientIdentity] = {}
        for token in gateway_tokens:
            digest = token_digest(token)
            self._clients[digest] = ClientIdentity(id=f"token:{digest[:8]}", tier="user")
        self._admin_digest = token_digest(admin_token) if admin_token else None
        if self._admin_digest:
            self._clients[self._admin_digest] = ClientIdentity(id="admin", tier="admin")

    @property
    def open(self) -> bool:
        """No client tokens configured: the API answers anyone (allowed only on loopback)."""
        return not any(identity.tier == "user" for identity in self._clients.values())

    def register(self, digest: str, identity: ClientIdentity) -> None:
        self._clients[digest] = identity

    def revoke(self, digest: str) -> None:
        self._clients.pop(digest, None)

    def identify(self, token: str | None) -> ClientIdentity | None:
        if token is None:
            return None
        return self._clients.get(token_digest(token))

    def client(self, scope: dict[str, Any]) -> ClientIdentity:
        """The caller of an API route, or RequestError 401 (no token) / 403 (wrong token)."""
        token = token_from_scope(scope)
        identity = self.identify(token)
        if identity is not None:
            return identity
        if self.open:
            return ANONYMOUS
        if token is None:
            raise RequestError(
                "missing client token: send it as 'Authorization: Bearer <token>', 'x-goog-api-key', "
                "'x-api-key' or '?key='",
                status_code=401,
            )
        raise RequestError("the client token is not valid for this gateway", status_code=403)

    def admin(self, scope: dict[str, Any]) -> ClientIdentity:
        if self._admin_digest is None:
            raise RequestError("the admin API is disabled: set ADMIN_TOKEN", status_code=403)
        token = token_from_scope(scope)
        if token is None:
            raise RequestError("missing admin token", status_code=401)
        if not hmac.compare_digest(token_digest(token), self._admin_digest):
            raise RequestError("admin token required", status_code=403)
        return ClientIdentity(id="admin", tier="admin")

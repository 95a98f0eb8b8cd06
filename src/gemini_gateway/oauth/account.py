"""One logged-in Google account, and the pool credential that stands for it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from gemini_gateway.oauth.tiers import tier_name
from gemini_gateway.pool.credential import Credential, credential_id, mask_secret

if TYPE_CHECKING:
    from gemini_gateway.oauth.tiers import TierReport
    from gemini_gateway.oauth.tokens import OAuthTokens

KIND = "oauth"  # Gemini CLI accounts; Antigravity ones are "antigravity" (oauth/flavors.py)


class Source(Protocol):
    """Where an account's tokens came from, and where refreshed ones are written back."""

    kind: str  # "file", "env" or "store"

    def describe(self) -> str: ...

    async def save(self, tokens: OAuthTokens) -> None: ...


def account_id(tokens: OAuthTokens, kind: str = KIND) -> str:
    """The email names the account across re-logins; without one, the refresh token does."""
    return credential_id(kind, tokens.email or tokens.refresh_token)


class OAuthAccount:
    """Tokens plus the in-flight refresh and project setup, each shared by every request that needs it.

    `refreshing` / `setting_up` hold the one task doing that work; concurrent requests await the
    same task instead of starting their own, so a token is refreshed exactly once.
    """

    def __init__(self, tokens: OAuthTokens, source: Source, kind: str = KIND) -> None:
        self.tokens = tokens
        self.source = source
        self.kind = kind
        self.id = account_id(tokens, kind)
        self.refreshing: asyncio.Task[None] | None = None
        self.setting_up: asyncio.Task[None] | None = None
        self.refreshes = 0
        self.last_refresh: float | None = None
        self.tiers: TierReport | None = None  # what loadCodeAssist said, once asked
        # Antigravity: model -> {display_name, remaining_fraction, reset_time} from fetchAvailableModels
        self.available: dict[str, dict[str, Any]] | None = None
        self.available_at: float = 0.0
        self.fetching: asyncio.Task[None] | None = None

    @property
    def label(self) -> str:
        if self.tokens.email:
            return self.tokens.email
        client = self.tokens.client_id
        return (
            f"{self.kind} {mask_secret(client)}" if client else f"{self.kind} {self.id.partition(':')[2][:6]}"
        )

    def needs_refresh(self, now: float, skew: float) -> bool:
        return not self.tokens.access_token or self.tokens.expiry - skew <= now

    def invalidate_access_token(self) -> None:
        """Upstream refused the token before its expiry (revoked session): refresh on next use."""
        self.tokens.expiry = 0.0

    @property
    def project(self) -> str | None:
        """The project requests go to, once known: the discovered one, unless an explicit one changed."""
        tokens = self.tokens
        found = tokens.code_assist_project
        if found and (tokens.project_id is None or found == tokens.project_id):
            return found
        return None

    def view(self, now: float) -> dict[str, Any]:
        """Facts about the account for operators; no token, not even masked."""
        expires = self.tokens.expiry - now if self.tokens.access_token and self.tokens.expiry else None
        view: dict[str, Any] = {
            "email": self.tokens.email,
            "source": self.source.kind,
            "origin": self.source.describe(),
            "project": self.project or self.tokens.project_id,
            "project_explicit": self.tokens.project_id is not None,
            "tier": self.tokens.code_assist_tier,
            "tier_name": self.tiers.name
            if self.tiers is not None
            else tier_name(self.tokens.code_assist_tier),
            "tiers": self.tiers.view() if self.tiers is not None else None,
            "token_expires_in": round(expires) if expires is not None else None,
            "refreshes": self.refreshes,
            "last_refresh": self.last_refresh,
        }
        if self.available is not None:
            view["models"] = self.available
            view["models_fetched_at"] = self.available_at
        return view


class OAuthCredential(Credential):
    """The pool's view of an account: usable only for the models Code Assist serves it.

    `models` is the configured list; an account that said which models it may use (Antigravity's
    fetchAvailableModels) serves those instead.
    """

    __slots__ = ("account", "default_models")

    def __init__(self, account: OAuthAccount, models: frozenset[str]) -> None:
        super().__init__(kind=account.kind, secret="", id=account.id, label=account.label)
        self.account = account
        self.default_models = models

    @property
    def models(self) -> frozenset[str]:
        available = self.account.available
        return frozenset(available) if available else self.default_models

    def serves(self, model: str | None) -> bool:
        return model is None or model in self.models

    def view(self, now: float) -> dict[str, Any]:
        return {**super().view(now), "account": self.account.view(now)}

"""The OAuth accounts of one gateway: loading them into the pool, fresh tokens, projects, persistence.

Found at `gateway.oauth`. The Code Assist backend asks it for `(access token, project)`
before every call; admin/oauth_api.py adds and removes accounts through it.

Failures become the errors the dispatcher already understands, so accounts fail over, cool down
and get disabled exactly like keys (the ErrorInfo reasons below are in pool/classify.py):

    refresh token revoked (invalid_grant)   401 REFRESH_TOKEN_REVOKED  -> disabled with the reason
    client id/secret refused or missing     401 OAUTH_CLIENT_REJECTED  -> disabled with the reason
    account needs a person (verification)   403 ACCOUNT_NOT_ELIGIBLE   -> disabled with the reason
    token endpoint unreachable / 5xx        UpstreamUnreachable        -> tried on another credential
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from gemini_gateway import __version__
from gemini_gateway.errors import UpstreamError, UpstreamUnreachable, google_error_body
from gemini_gateway.oauth import sources
from gemini_gateway.oauth.account import OAuthAccount, OAuthCredential, Source, account_id
from gemini_gateway.oauth.client import OAuthClient, OAuthError, OAuthUnreachable, RefreshRevoked, refresh
from gemini_gateway.oauth.login import PendingLogins
from gemini_gateway.oauth.onboarding import AccountNotEligible, CodeAssistEndpoint, discover_project
from gemini_gateway.oauth.tokens import OAuthTokens
from gemini_gateway.redaction import REDACTOR

if TYPE_CHECKING:
    from gemini_gateway.context import Gateway
    from gemini_gateway.pool.pool import CredentialPool
    from gemini_gateway.settings import Settings
    from gemini_gateway.store.database import Database
    from gemini_gateway.store.secrets import SecretBox

log = logging.getLogger("gemini_gateway.oauth")
# Disable reasons that a restart clears: a new login, client setting or verification may have fixed them.
RETRIED_AFTER_RESTART = (
    "REFRESH_TOKEN_REVOKED",
    "OAUTH_CLIENT_REJECTED",
    "ACCOUNT_NOT_ELIGIBLE",
    "VALIDATION_REQUIRED",
)


def oauth_client(settings: Settings) -> OAuthClient:
    # Empty values (a copied .env.example) mean "not set".
    secret = settings.oauth_client_secret.get_secret_value() if settings.oauth_client_secret else None
    client_id = (settings.oauth_client_id or "").strip() or None
    return OAuthClient(client_id, secret or None, settings.oauth_token_url, settings.oauth_auth_url)


class OAuthManager:
    def __init__(self, settings: Settings, pool: CredentialPool) -> None:
        self.settings = settings
        self.pool = pool
        self.client = oauth_client(settings)
        if self.client.client_secret:
            REDACTOR.add(self.client.client_secret)
        self.models = frozenset(m.removeprefix("models/") for m in settings.code_assist_models)
        self.accounts: dict[str, OAuthAccount] = {}
        self.endpoint: CodeAssistEndpoint | None = None
        self.database: Database | None = None
        self.box: SecretBox | None = None
        self.logins = PendingLogins()  # logins started through the management API

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, gateway: Gateway, box: SecretBox | None) -> None:
        """Build the endpoint and load every account source (the store after the files and env)."""
        assert gateway.transports is not None
        settings = self.settings
        self.endpoint = CodeAssistEndpoint(
            gateway.transports.http,
            settings.code_assist_base_url,
            settings.code_assist_user_agent or f"gemini-gateway/{__version__}",
        )
        self.database, self.box = gateway.database, box
        await self.reload()

    async def reload(self) -> int:
        """(Re)read the folder, the environment and the store; accounts already loaded keep their state."""
        found: list[tuple[OAuthTokens, Source]] = []
        found += sources.load_folder(self.settings.resolved_oauth_creds_dir)
        listed = self.settings.oauth_creds_json.get_secret_value() if self.settings.oauth_creds_json else ""
        found += await self._load_env(listed)
        if self.database is not None and self.box is not None:
            try:
                found += await sources.load_store(self.database, self.box)
            except Exception as exc:  # a store that fails now: keep the accounts the files gave
                log.error("could not load OAuth accounts from the store: %s", type(exc).__name__)
        fresh = [cid for cid in (self._register(t, s) for t, s in found) if cid is not None]
        await self._restore_state(fresh)
        log.info("OAuth accounts: %d loaded (%d new)", len(self.accounts), len(fresh))
        return len(fresh)

    async def _load_env(self, listed: str) -> list[tuple[OAuthTokens, Source]]:
        entries = sources.load_env(listed) if listed.strip() else []
        if self.database is None or self.box is None:
            return list(entries)
        try:
            return list(await sources.load_env_copies(self.database, self.box, entries))
        except Exception as exc:  # the entries themselves still work; they just refresh once more
            log.error("could not load the stored tokens of OAUTH_CREDS_JSON: %s", type(exc).__name__)
            return list(entries)

    def _register(self, tokens: OAuthTokens, source: Source) -> str | None:
        """Add an account to the pool; None when one with the same id is there already."""
        account = OAuthAccount(tokens, source)
        if account.id in self.accounts and self.pool.get(account.id) is not None:
            return None
        for secret in tokens.secrets():
            REDACTOR.add(secret)
        self.accounts[account.id] = account
        self.pool.add(OAuthCredential(account, self.models))
        return account.id

    async def _restore_state(self, ids: list[str]) -> None:
        if self.database is not None and ids:
            try:
                saved = await self.database.load_pool_state()
            except Exception as exc:  # counters are nice to keep, not worth failing a start over
                log.warning("could not restore OAuth account state: %s", type(exc).__name__)
                saved = {}
            self.pool.restore_state({cid: saved[cid] for cid in ids if cid in saved})
        for cid in ids:
            credential = self.pool.get(cid)
            reason = credential.disabled_reason if credential is not None else None
            if credential is not None and reason and reason.startswith(RETRIED_AFTER_RESTART):
                credential.disabled_reason = None

    # -- run-time changes ------------------------------------------------------------------

    async def add(self, tokens: OAuthTokens, actor: str) -> tuple[OAuthCredential, bool]:
        """Add an account (a login or a pasted file): (its credential, whether it is new).

        Kept encrypted in the store when there is one, else as a file in OAUTH_CREDS_DIR. A login
        for an account already present replaces its tokens and enables it again.
        """
        cid = account_id(tokens)
        existing = self.accounts.get(cid)
        if existing is not None and self.pool.get(cid) is not None:
            for secret in tokens.secrets():
                REDACTOR.add(secret)
            existing.tokens = tokens
            await self._save(existing)
            self.pool.set_enabled(existing.id, True)
            credential = self.pool.get(existing.id)
            assert isinstance(credential, OAuthCredential)
            return credential, False
        if self.database is not None and self.box is not None:
            label = OAuthAccount(tokens, sources.EnvSource(-1)).label
            source: Source = await sources.insert_store(self.database, self.box, cid, label, tokens, actor)
        else:
            path = self.settings.resolved_oauth_creds_dir / sources.file_name_for(tokens.email)
            source = sources.FileSource(path)
            await source.save(tokens)
        self.accounts.pop(cid, None)
        self._register(tokens, source)
        credential = self.pool.get(cid)
        assert isinstance(credential, OAuthCredential)
        return credential, True

    async def remove(self, credential_id: str) -> OAuthAccount | None:
        """Take an account out of the pool (and the store); a file or env entry is left alone."""
        account = self.accounts.pop(credential_id, None)
        if account is None:
            return None
        self.pool.remove(credential_id)
        if isinstance(account.source, sources.StoreSource):
            await sources.delete_store(account.source.database, credential_id)
        elif isinstance(account.source, sources.EnvSource):
            await account.source.forget()
        return account

    def views(self) -> list[dict[str, Any]]:
        now = time.time()
        rows = []
        for account in self.accounts.values():
            credential = self.pool.get(account.id)
            if credential is not None:
                rows.append(credential.view(now))
        return rows

    # -- the request path ------------------------------------------------------------------

    async def access_token(self, account: OAuthAccount) -> str:
        """A token valid for at least the refresh skew; refreshed once however many callers wait."""
        if account.needs_refresh(time.time(), self.settings.oauth_refresh_skew_seconds):
            task = account.refreshing
            if task is None:
                task = account.refreshing = asyncio.create_task(self._refresh(account))
                task.add_done_callback(lambda _: setattr(account, "refreshing", None))
                task.add_done_callback(_retrieve)
            try:
                await asyncio.shield(task)
            except RefreshRevoked as exc:
                raise _unusable(
                    401,
                    "REFRESH_TOKEN_REVOKED",
                    f"the login of {account.label} was revoked or has expired ({exc.description or exc.error}); "
                    "log in again with `gemini-gateway creds login`",
                ) from None
            except OAuthError as exc:
                raise _unusable(
                    401, "OAUTH_CLIENT_REJECTED", f"refreshing {account.label} failed: {exc}"
                ) from None
            except OAuthUnreachable as exc:
                raise UpstreamUnreachable(str(exc)) from None
        assert account.tokens.access_token is not None
        return account.tokens.access_token

    async def project(self, account: OAuthAccount) -> str:
        """The account's Code Assist project, discovered (and onboarded) once, then cached."""
        project = account.project
        if project is not None:
            return project
        task = account.setting_up
        if task is None:
            task = account.setting_up = asyncio.create_task(self._setup(account))
            task.add_done_callback(lambda _: setattr(account, "setting_up", None))
            task.add_done_callback(_retrieve)
        try:
            await asyncio.shield(task)
        except AccountNotEligible as exc:
            raise _unusable(403, "ACCOUNT_NOT_ELIGIBLE", f"{account.label}: {exc}") from None
        assert account.project is not None
        return account.project

    async def _refresh(self, account: OAuthAccount) -> None:
        assert self.endpoint is not None
        client = self.client.for_tokens(account.tokens)
        grant = await refresh(self.endpoint.transport, client, account.tokens.refresh_token)
        grant.apply(account.tokens)
        REDACTOR.add(account.tokens.refresh_token)  # a no-op unless Google rotated it
        credential = self.pool.get(account.id)
        if credential is not None:
            credential.label = account.label  # the grant's ID token may have named the account
        account.refreshes += 1
        account.last_refresh = time.time()
        log.info("refreshed the access token of %s", account.label)
        await self._save(account)

    async def _setup(self, account: OAuthAccount) -> None:
        assert self.endpoint is not None
        token = await self.access_token(account)
        found = await discover_project(
            self.endpoint,
            token,
            account.tokens.project_id,
            poll_seconds=self.settings.code_assist_onboard_poll_seconds,
            max_wait=self.settings.code_assist_onboard_timeout_seconds,
        )
        account.tokens.code_assist_project, account.tokens.code_assist_tier = found.project, found.tier
        log.info("%s uses Code Assist project %s (%s)", account.label, found.project, found.tier or "tier?")
        await self._save(account)

    async def _save(self, account: OAuthAccount) -> None:
        try:
            await account.source.save(account.tokens)
        except Exception as exc:  # the call can still be served; the next refresh tries to save again
            log.warning("could not save the tokens of %s: %s", account.label, type(exc).__name__)


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a shared task's failure as seen even when every waiter was cancelled."""
    if not task.cancelled():
        task.exception()


def _unusable(status: int, reason: str, message: str) -> UpstreamError:
    detail = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "gemini-gateway",
    }
    return UpstreamError(status, google_error_body(status, message, details=[detail]))


def manager_of(gateway: Gateway) -> OAuthManager:
    manager = gateway.oauth
    assert manager is not None, "create_app builds the OAuth manager"
    return manager

"""The OAuth accounts of one gateway: loading them into the pool, fresh tokens, projects, persistence.

Found at `gateway.oauth`. The Code Assist backend asks it for `(access token, project)`
before every call; admin/oauth_api.py adds and removes accounts through it.

Failures become the errors the dispatcher already understands, so accounts fail over, cool down
and get disabled exactly like keys (the ErrorInfo reasons below are in pool/classify.py):

    refresh token revoked (invalid_grant)   401 REFRESH_TOKEN_REVOKED  -> disabled with the reason
    client id/secret refused or missing     401 OAUTH_CLIENT_REJECTED  -> disabled with the reason
    account needs a person (verification)   403 ACCOUNT_NOT_ELIGIBLE   -> disabled with the reason
    consumer tier refused (UNSUPPORTED_CLIENT) 403 CONSUMER_TIER_UNSUPPORTED -> disabled, not retried
    token endpoint unreachable / 5xx        UpstreamUnreachable        -> tried on another credential

One manager per flavor (oauth/flavors.py): `gateway.oauth` holds the Gemini CLI accounts,
`gateway.antigravity` the Antigravity ones (an `AntigravityManager`, oauth/antigravity.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from gemini_gateway.errors import UpstreamError, UpstreamUnreachable, google_error_body
from gemini_gateway.oauth import sources
from gemini_gateway.oauth.account import OAuthAccount, OAuthCredential, Source, account_id
from gemini_gateway.oauth.client import OAuthError, OAuthUnreachable, RefreshRevoked, refresh
from gemini_gateway.oauth.flavors import Flavor, gemini_cli
from gemini_gateway.oauth.login import PendingLogins
from gemini_gateway.oauth.onboarding import CodeAssistEndpoint, discover_project
from gemini_gateway.oauth.tiers import CONSUMER_TIER_UNSUPPORTED, AccountNotEligible, ConsumerTierRefused
from gemini_gateway.oauth.tokens import OAuthTokens
from gemini_gateway.redaction import REDACTOR

if TYPE_CHECKING:
    from gemini_gateway.context import Gateway
    from gemini_gateway.pool.pool import CredentialPool
    from gemini_gateway.settings import Settings
    from gemini_gateway.store.database import Database
    from gemini_gateway.store.secrets import SecretBox
    from gemini_gateway.transport.base import Transport

log = logging.getLogger("gemini_gateway.oauth")
# Disable reasons that a restart clears: a new login, client setting or verification may have fixed them.
# CONSUMER_TIER_UNSUPPORTED is not among them: Google's cut-off does not end; a new login (or an
# operator's enable, after the account got a Standard licence) brings such an account back.
RETRIED_AFTER_RESTART = (
    "REFRESH_TOKEN_REVOKED",
    "OAUTH_CLIENT_REJECTED",
    "ACCOUNT_NOT_ELIGIBLE",
    "VALIDATION_REQUIRED",
)


class OAuthManager:
    def __init__(self, settings: Settings, pool: CredentialPool, flavor: Flavor | None = None) -> None:
        self.settings = settings
        self.pool = pool
        self.flavor = flavor = flavor or gemini_cli(settings)
        self.kind = flavor.kind
        self.client = flavor.client
        if self.client.client_secret:
            REDACTOR.add(self.client.client_secret)
        self.models = flavor.models
        self.accounts: dict[str, OAuthAccount] = {}
        self.endpoint: CodeAssistEndpoint | None = None
        self.database: Database | None = None
        self.box: SecretBox | None = None
        self.logins = PendingLogins()  # logins started through the management API

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, gateway: Gateway, box: SecretBox | None) -> None:
        """Build the endpoint and load every account source (the store after the files and env)."""
        assert gateway.transports is not None
        self.endpoint = self.endpoint_for(gateway.transports.http)
        self.database, self.box = gateway.database, box
        await self.reload()

    async def reload(self) -> int:
        """(Re)read the folder, the environment and the store; accounts already loaded keep their state."""
        found: list[tuple[OAuthTokens, Source]] = []
        found += sources.load_folder(self.flavor.creds_dir, f"{self.flavor.file_prefix}*.json")
        found += await self._load_env(self.flavor.creds_json)
        if self.database is not None and self.box is not None:
            try:
                found += await sources.load_store(self.database, self.box, self.kind)
            except Exception as exc:  # a store that fails now: keep the accounts the files gave
                log.error("could not load OAuth accounts from the store: %s", type(exc).__name__)
        fresh = [cid for cid in (self._register(t, s) for t, s in found) if cid is not None]
        await self._restore_state(fresh)
        log.info("%s accounts: %d loaded (%d new)", self.flavor.name, len(self.accounts), len(fresh))
        return len(fresh)

    async def sync_store(self) -> None:
        """Another replica added, signed in again, re-targeted or removed an account kept in the
        store: make this replica's accounts of the store match it (files and env entries stay)."""
        if self.database is None or self.box is None:
            return
        stored = {
            s.credential_id: (t, s) for t, s in await sources.load_store(self.database, self.box, self.kind)
        }
        for cid, held in list(self.accounts.items()):
            if isinstance(held.source, sources.StoreSource) and cid not in stored:
                del self.accounts[cid]
                self.pool.remove(cid)
        fresh: list[str] = []
        for cid, (tokens, source) in stored.items():
            account = self.accounts.get(cid)
            credential = self.pool.get(cid)
            if account is None or credential is None:
                registered = self._register(tokens, source)
                if registered is not None:
                    fresh.append(registered)
                continue
            if (tokens.refresh_token, tokens.project_id) != (
                account.tokens.refresh_token,
                account.tokens.project_id,
            ):
                # A new sign-in (or project) there: its tokens here, as that replica's add() does.
                for secret in tokens.secrets():
                    REDACTOR.add(secret)
                account.tokens = tokens
                credential.disabled_reason = None
        await self._restore_state(fresh)

    def endpoint_for(self, transport: Transport) -> CodeAssistEndpoint:
        """How this flavor's client reaches Code Assist (the CLI's login builds one too)."""
        flavor = self.flavor
        return CodeAssistEndpoint(transport, flavor.base_url, flavor.user_agent, flavor.ide_type)

    async def _load_env(self, listed: str) -> list[tuple[OAuthTokens, Source]]:
        variable = f"{self.kind.upper()}_CREDS_JSON"
        entries = sources.load_env(listed, self.kind, variable) if listed.strip() else []
        if self.database is None or self.box is None:
            return list(entries)
        try:
            copy_kind = self.flavor.env_copy_kind
            return list(await sources.load_env_copies(self.database, self.box, entries, copy_kind))
        except Exception as exc:  # the entries themselves still work; they just refresh once more
            log.error("could not load the stored tokens of OAUTH_CREDS_JSON: %s", type(exc).__name__)
            return list(entries)

    def _register(self, tokens: OAuthTokens, source: Source) -> str | None:
        """Add an account to the pool; None when one with the same id is there already."""
        account = OAuthAccount(tokens, source, self.kind)
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
        cid = account_id(tokens, self.kind)
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
            label = OAuthAccount(tokens, sources.EnvSource(-1), self.kind).label
            source: Source = await sources.insert_store(
                self.database, self.box, cid, label, tokens, actor, self.kind
            )
        else:
            path = self.flavor.creds_dir / sources.file_name_for(tokens.email, self.flavor.file_prefix)
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
                    f"log in again with `{self.flavor.login_command}`",
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
        except ConsumerTierRefused as exc:
            raise _unusable(403, CONSUMER_TIER_UNSUPPORTED, f"{account.label}: {exc}") from None
        except AccountNotEligible as exc:
            raise _unusable(403, "ACCOUNT_NOT_ELIGIBLE", f"{account.label}: {exc}") from None
        assert account.project is not None
        return account.project

    async def recheck_tier(self, account: OAuthAccount) -> None:
        """Code Assist refused a model call as it refuses consumer tiers since 2026-06-18: forget
        the project and ask `loadCodeAssist` again, which names the tier and raises the reason."""
        account.tokens.code_assist_project = None
        await self.project(account)

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
        try:
            found = await discover_project(
                self.endpoint,
                token,
                account.tokens.project_id,
                poll_seconds=self.settings.code_assist_onboard_poll_seconds,
                max_wait=self.settings.code_assist_onboard_timeout_seconds,
            )
        except ConsumerTierRefused as exc:
            account.tiers, account.tokens.code_assist_tier = exc.tiers, exc.tiers.shown
            log.warning(
                "%s: Code Assist refuses this consumer account to %s", account.label, self.flavor.name
            )
            raise
        account.tokens.code_assist_project, account.tokens.code_assist_tier = found.project, found.tier
        account.tiers = found.tiers
        log.info("%s uses Code Assist project %s (%s)", account.label, found.project, found.tier or "tier?")
        await self._save(account)
        await self.after_setup(account, token)

    async def after_setup(self, account: OAuthAccount, token: str) -> None:
        """What a flavor learns about an account once its project is known (Antigravity: its models)."""

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


def manager_of(gateway: Gateway, kind: str = "oauth") -> OAuthManager:
    """The manager of one flavor's accounts: "oauth" (Gemini CLI) or "antigravity"."""
    manager = gateway.antigravity if kind == "antigravity" else gateway.oauth
    assert manager is not None, "create_app builds the OAuth managers"
    return manager

"""Antigravity accounts: the models each may use and what is left of its quota per model.

Antigravity asks `POST {base}:fetchAvailableModels {"project": "<id>"}` and gets

    {"models": {"gemini-2.5-flash": {"displayName": "Gemini 2.5 Flash",
                                     "quotaInfo": {"remainingFraction": 0.8,
                                                   "resetTime": "2026-07-01T12:00:00Z"}}, ...}}

The manager asks once the project is known, then again every ANTIGRAVITY_MODELS_REFRESH_SECONDS
(in the background, never holding a call up). What it learns:

- the account serves exactly the models listed (`OAuthCredential.models`);
- a model whose `remainingFraction` is 0 rests until its `resetTime` (a per-model cooldown in the
  pool), so no call is sent that is bound to be refused;
- `/api/pool` shows every model with its remaining fraction and reset time (`account.models`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from gemini_gateway.errors import GatewayError
from gemini_gateway.oauth.account import OAuthAccount
from gemini_gateway.oauth.manager import OAuthManager
from gemini_gateway.timestamps import rfc3339_seconds

log = logging.getLogger("gemini_gateway.oauth")


class AntigravityManager(OAuthManager):
    async def after_setup(self, account: OAuthAccount, token: str) -> None:
        await self.fetch_models(account, token)

    def refresh_models_soon(self, account: OAuthAccount) -> None:
        """Fetch the account's models again in the background when the last answer is old."""
        stale = time.time() - account.available_at >= self.settings.antigravity_models_refresh_seconds
        if not stale or account.fetching is not None or account.project is None:
            return
        task = account.fetching = asyncio.create_task(self._fetch_quietly(account))
        task.add_done_callback(lambda _: setattr(account, "fetching", None))

    async def _fetch_quietly(self, account: OAuthAccount) -> None:
        try:
            await self.fetch_models(account, await self.access_token(account))
        except (GatewayError, OSError) as exc:  # the next call tries again; serving goes on meanwhile
            account.available_at = time.time()
            log.warning("fetchAvailableModels failed for %s: %s", account.label, exc)

    async def fetch_models(self, account: OAuthAccount, token: str) -> None:
        assert self.endpoint is not None and account.project is not None
        answer = await self.endpoint.call(token, "fetchAvailableModels", {"project": account.project})
        available = read_models(answer)
        account.available, account.available_at = available, time.time()
        credential = self.pool.get(account.id)
        if credential is not None:
            for model, info in available.items():
                reset = info.get("reset_at")
                if info.get("remaining_fraction") == 0 and isinstance(reset, float) and reset > time.time():
                    self.pool.cool(credential, model, reset)
        log.info("%s may use %d models", account.label, len(available))


def read_models(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """fetchAvailableModels' `models` map as {model id: what operators see}."""
    models = answer.get("models")
    found: dict[str, dict[str, Any]] = {}
    for model_id, info in models.items() if isinstance(models, dict) else []:
        if not isinstance(model_id, str) or not model_id or not isinstance(info, dict):
            continue
        quota_info = info.get("quotaInfo")
        quota: dict[str, Any] = quota_info if isinstance(quota_info, dict) else {}
        fraction = quota.get("remainingFraction")
        reset = quota.get("resetTime")
        found[model_id.removeprefix("models/")] = {
            "display_name": info.get("displayName") if isinstance(info.get("displayName"), str) else None,
            # Google leaves remainingFraction out when nothing is left (proto3 drops zeros)
            "remaining_fraction": float(fraction)
            if isinstance(fraction, int | float)
            else 0.0
            if reset
            else None,
            "reset_time": reset if isinstance(reset, str) else None,
            "reset_at": rfc3339_seconds(reset),
        }
    return found

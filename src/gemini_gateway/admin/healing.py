"""The pool's healer wired to the gateway: keys re-checked with models.list, comebacks audited."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gemini_gateway.admin.audit import Actor, audit
from gemini_gateway.admin.credentials import validate_key
from gemini_gateway.context import Gateway
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.healer import Healer

log = logging.getLogger("gemini_gateway.admin")
SYSTEM = Actor(id="system:healer", address="-")


def build_healer(gateway: Gateway) -> Healer:
    async def check_key(credential: Credential) -> bool | None:
        result = await validate_key(gateway, credential.secret)
        valid = result.get("valid")
        return None if valid is None else bool(valid)

    async def healed(credential: Credential, reason: str) -> None:
        log.info("credential %s works again (was disabled: %s)", credential.label, reason[:120])
        if gateway.database is not None:
            await audit(gateway.database, SYSTEM, "pool.heal", credential.id, reason[:200], credential.label)

    return Healer(gateway.pool, {"api_key": check_key}, healed, gateway.settings.heal_interval_seconds)


def start_healer(gateway: Gateway) -> asyncio.Task[None]:
    healer = gateway.healer = build_healer(gateway)
    return asyncio.create_task(healer.run(gateway.settings.heal_interval_seconds))


async def stop_healer(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

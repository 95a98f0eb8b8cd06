"""Credential state changes as messages between replicas: made from a credential, applied to a pool.

Pure functions, no I/O: the Redis state sends what `describe` makes and feeds what it receives
to `apply`. Applying never calls back into the pool's observer, so a change is not echoed.
"""

from __future__ import annotations

from typing import Any

from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool

Event = dict[str, Any]


def describe(credential: Credential, what: str, key: str | None) -> Event:
    """What changed on `credential`: "cool" (for model `key`), "disabled", "healed" or "enabled"."""
    event: Event = {"type": what, "cid": credential.id}
    if what == "cool" and key is not None:
        event.update(
            key=key,
            until=credential.cooldowns.get(key, 0.0),
            level=credential.backoff_level.get(key, 0),
            unentitled=credential.unentitled.get(key),
        )
    elif what == "disabled":
        event["reason"] = credential.disabled_reason
    elif what == "enabled":
        event["enabled"] = credential.enabled
    return event


def apply(pool: CredentialPool, event: Event) -> bool:
    """Bring the local copy of a credential in line with another replica's change; False if unknown."""
    credential = pool.get(str(event.get("cid")))
    if credential is None:
        return False
    what = event.get("type")
    if what == "learned":
        pool.quotas.adopt(credential.id, str(event["model"]), dict(event.get("limits") or {}))
    elif what == "cool":
        key = str(event["key"])
        credential.cooldowns[key] = max(credential.cooldowns.get(key, 0.0), float(event["until"]))
        credential.backoff_level[key] = max(credential.backoff_level.get(key, 0), int(event.get("level", 0)))
        if event.get("unentitled") is not None:
            credential.unentitled[key] = float(event["unentitled"])
    elif what == "disabled":
        credential.disabled_reason = event.get("reason") or "disabled by another replica"
    elif what == "healed":
        credential.disabled_reason = None
    elif what == "enabled":
        apply_switch(credential, bool(event["enabled"]))
    return True


def apply_switch(credential: Credential, enabled: bool) -> None:
    """The operator's choice, as CredentialPool.set_enabled makes it."""
    if credential.enabled != enabled:
        credential.switch(enabled)


def learned(credential_id: str, model: str, limits: dict[str, int]) -> Event:
    """Limits a 429 taught (pool.quota.QuotaBook.learn), for every replica to honour."""
    return {"type": "learned", "cid": credential_id, "model": model, "limits": limits}


def cooldown_fields(credential: Credential) -> dict[str, float]:
    """The cooldowns a replica hands to Redis when it resynchronises after an outage."""
    return {key: until for key, until in credential.cooldowns.items()}

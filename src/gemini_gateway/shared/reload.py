"""What a replica reloads from the store when another one announces an admin change."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from gemini_gateway.admin import repo, runtime
from gemini_gateway.admin.credentials import KEY_KINDS
from gemini_gateway.admin.state import admin_state
from gemini_gateway.admin.stored import identity_of, rebuilt, valid_stored
from gemini_gateway.context import Gateway
from gemini_gateway.errors import RequestError
from gemini_gateway.pool.credential import Credential
from gemini_gateway.redaction import REDACTOR
from gemini_gateway.shared import records
from gemini_gateway.shared.events import apply_switch
from gemini_gateway.store import secrets

log = logging.getLogger("gemini_gateway.shared")


async def tokens(gateway: Gateway) -> None:
    assert gateway.database is not None
    state = admin_state(gateway)
    for row in await repo.load_tokens(gateway.database):
        if row.revoked_at is None:
            gateway.auth.register(row.digest, identity_of(row))
        else:
            gateway.auth.revoke(row.digest)
            state.sessions.drop_identity(identity_of(row).id)


async def settings(gateway: Gateway) -> None:
    assert gateway.database is not None
    state = admin_state(gateway)
    stored = await repo.load_settings(gateway.database)
    valid = valid_stored(state, stored, report=False)
    # A stored value this replica cannot take (another key, a newer version's) was logged at
    # start-up: the value it holds stays, and a clash of values keeps what serves.
    kept = {n: v for n, v in state.stored_settings.items() if n in stored and n not in valid}
    valid = {**kept, **valid}
    try:
        settings = rebuilt(state, valid)
    except RequestError:
        return
    current = gateway.settings
    # Values stored or reset on another replica, which the components that copied them must take.
    names = [n for n in {**state.stored_settings, **valid} if getattr(settings, n) != getattr(current, n)]
    runtime.apply(gateway, settings, names)
    state.stored_settings.clear()
    state.stored_settings.update((name, getattr(settings, name)) for name in valid)


async def keys(gateway: Gateway) -> None:
    assert gateway.database is not None
    state = admin_state(gateway)
    rows = {r.credential_id: r for r in await secrets.load_secrets(gateway.database) if r.kind in KEY_KINDS}
    for cid in [c for c in state.stored_credentials if c not in rows]:
        gateway.pool.remove(cid)
        state.stored_credentials.discard(cid)
    for cid, row in rows.items():
        if cid in state.stored_credentials or state.box is None:
            continue
        secret = state.box.decrypt(row.ciphertext)
        if secret is None:
            continue
        REDACTOR.add(secret)
        gateway.pool.add(Credential(kind=row.kind, secret=secret))
        state.stored_credentials.add(cid)
    state.names = await repo.load_names(gateway.database)


async def switches(gateway: Gateway) -> None:
    assert gateway.database is not None
    for cid, enabled in (await records.load_switches(gateway.database)).items():
        credential = gateway.pool.get(cid)
        if credential is not None:
            apply_switch(credential, enabled)


async def accounts(gateway: Gateway) -> None:
    """Gemini CLI and Antigravity accounts another replica added, signed in again or removed."""
    for manager in (gateway.oauth, gateway.antigravity):
        if manager is not None:
            await manager.sync_store()


TOPICS: dict[str, Callable[[Gateway], Awaitable[None]]] = {
    "tokens": tokens,
    "settings": settings,
    "keys": keys,
    "switches": switches,
    "accounts": accounts,
}

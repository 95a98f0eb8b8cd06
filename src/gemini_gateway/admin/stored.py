"""What start-up loads from the store for the management side: the settings stored in the admin
UI and the client tokens made there.

Apart from the `/api/settings` and `/api/tokens` routes: the serving path loads these at every
start, and those routes (FastAPI) are imported only once an admin request comes (see app.py).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from gemini_gateway.admin import repo, runtime
from gemini_gateway.admin.state import AdminState
from gemini_gateway.admin.tables import ClientToken
from gemini_gateway.auth import ClientIdentity
from gemini_gateway.context import Gateway
from gemini_gateway.errors import RequestError
from gemini_gateway.settings import ConfigurationError, Settings, with_stored

log = logging.getLogger("gemini_gateway.admin")

ENCRYPTED = "$encrypted"


def from_store(state: AdminState, value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {ENCRYPTED} and state.box is not None:
        clear = state.box.decrypt(str(value[ENCRYPTED]))
        if clear is None:
            raise ValueError("encrypted under another key")
        return orjson.loads(clear)
    return value


def rebuilt(state: AdminState, stored: dict[str, Any]) -> Settings:
    """The settings built again from their sources, `stored` being the admin UI's values."""
    try:
        return with_stored(state.base, stored)
    except ConfigurationError as exc:
        raise RequestError("; ".join(exc.problems), status_code=422) from None


def valid_stored(state: AdminState, raw: dict[str, Any], *, report: bool) -> dict[str, Any]:
    """The stored values that validate, each over the environment's settings and the values before
    it (one may name another's tier); a bad one is skipped (logged when `report`), never fatal."""
    valid: dict[str, Any] = {}
    checked = state.base
    for name, stored in raw.items():
        try:
            value = from_store(state, stored)
            checked = runtime.validate(checked, {name: value})
        except (RequestError, ValueError) as exc:
            if report:
                message = exc.message if isinstance(exc, RequestError) else str(exc)
                log.error("ignoring the stored value of %s: %s", name, message)
            continue
        valid[name] = value
    return valid


async def load_stored_settings(gateway: Gateway, state: AdminState) -> list[str]:
    """Build the settings again with the values stored in the database (at start-up)."""
    assert gateway.database is not None
    valid = valid_stored(state, await repo.load_settings(gateway.database), report=True)
    try:
        settings = rebuilt(state, valid)
    except RequestError as exc:  # values fine alone that clash together: keep the environment's
        log.error("ignoring the stored settings: %s", exc.message)
        return []
    applied = list(valid)
    runtime.apply(gateway, settings, applied)
    state.stored_settings.update((name, getattr(settings, name)) for name in applied)
    overridden = [n for n in applied if n in state.env_fields]
    if overridden:
        log.warning(
            "values stored in the admin UI override the environment for: %s (reset them there to use "
            "the environment again)",
            ", ".join(n.upper() for n in overridden),
        )
    return applied


def identity_of(row: ClientToken) -> ClientIdentity:
    return ClientIdentity(
        id=f"token:{row.digest[:8]}",
        tier="admin" if row.tier == "admin" else "user",
        models=frozenset(row.models) if row.models else None,
        rate_limit=row.rate_limit,
    )


async def load_tokens(gateway: Gateway) -> int:
    """Register the stored, unrevoked tokens with the Authenticator (at start-up)."""
    assert gateway.database is not None
    rows = [r for r in await repo.load_tokens(gateway.database) if r.revoked_at is None]
    for row in rows:
        gateway.auth.register(row.digest, identity_of(row))
    return len(rows)

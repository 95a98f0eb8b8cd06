"""`/api/settings` and `/api/audit`: runtime settings, edited with validation, stored and audited."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gemini_gateway.admin import repo, runtime
from gemini_gateway.admin.deps import Actor, AdminActor, DatabaseDep, GatewayDep, StateDep, audit
from gemini_gateway.admin.state import AdminState
from gemini_gateway.admin.stored import ENCRYPTED, rebuilt
from gemini_gateway.context import Gateway
from gemini_gateway.errors import RequestError
from gemini_gateway.routes.responses import JSONBody
from gemini_gateway.settings import Settings
from gemini_gateway.store.database import Database

router = APIRouter(prefix="/api", tags=["admin: settings"])
log = logging.getLogger("gemini_gateway.admin")


class SettingsChange(BaseModel):
    values: dict[str, Any] = Field(description="Setting name -> new value, e.g. {'max_retries': 5}")


def _to_store(state: AdminState, name: str, value: Any) -> Any:
    """Secret-bearing settings (a proxy URL with a password) are stored encrypted like keys."""
    if runtime.spec_of(name).secret and state.box is not None:
        return {ENCRYPTED: state.box.encrypt(orjson.dumps(value).decode())}
    return value


@router.get("/settings")
async def list_settings(gateway: GatewayDep, actor: AdminActor, state: StateDep) -> JSONBody:
    """Every setting: current value (secrets masked), source (default, env, stored), and whether
    an edit takes effect at once. `overrides_env` marks stored values that hide an environment value."""
    return JSONBody({"settings": runtime.describe(gateway, state), "store": gateway.database is not None})


@router.put("/settings")
async def change_settings(
    body: SettingsChange, gateway: GatewayDep, actor: AdminActor, state: StateDep, database: DatabaseDep
) -> JSONBody:
    """Validate every value with the Settings class, store them, apply them, audit each change."""
    if not body.values:
        raise RequestError("no values given")
    changes = await store_settings(gateway, state, database, actor, body.values)
    return JSONBody({"changed": changes, "settings": runtime.describe(gateway, state)})


async def store_settings(
    gateway: Gateway, state: AdminState, database: Database, actor: Actor, values: dict[str, Any]
) -> list[dict[str, Any]]:
    """Validate `values`, store those that change, apply them and audit each; what changed and
    whether it took effect now. Other admin routes that edit a setting (a credential's proxy) go
    through here too, so the value is stored, encrypted and audited the same way."""
    candidate = runtime.validate(gateway.settings, values)
    # Only real changes are stored: saving the environment's own value must not pin it over .env.
    names = [n for n in values if getattr(candidate, n) != getattr(gateway.settings, n)]
    settings = rebuilt(state, {**state.stored_settings, **{n: getattr(candidate, n) for n in names}})
    old = {n: runtime.display(n, getattr(gateway.settings, n)) for n in names}
    stored = {n: _to_store(state, n, runtime.stored_form(settings, n)) for n in names}
    await repo.save_settings(database, stored, actor.id)
    effect = runtime.apply(gateway, settings, names)
    for name in names:
        state.stored_settings[name] = getattr(settings, name)
        new = runtime.display(name, getattr(settings, name))
        await audit(database, actor, "settings.change", name, old[name], new)
    return [{"name": n, "applied_now": effect[n], "restart_needed": not effect[n]} for n in names]


@router.delete("/settings/{name}")
async def reset_setting(
    name: str, gateway: GatewayDep, actor: AdminActor, state: StateDep, database: DatabaseDep
) -> JSONBody:
    """Forget the stored value: the environment's (or the default) applies again."""
    if name not in Settings.model_fields:
        raise RequestError(f"no setting {name!r}", status_code=404)
    if name not in state.stored_settings:
        raise RequestError(f"{name} has no stored value to reset", status_code=409)
    old = runtime.display(name, getattr(gateway.settings, name))
    settings = rebuilt(state, {n: v for n, v in state.stored_settings.items() if n != name})
    await repo.delete_setting(database, name)
    effect = runtime.apply(gateway, settings, [name])
    del state.stored_settings[name]
    await audit(database, actor, "settings.reset", name, old, runtime.display(name, getattr(settings, name)))
    return JSONBody(
        {
            "changed": [{"name": name, "applied_now": effect[name], "restart_needed": not effect[name]}],
            "settings": runtime.describe(gateway, state),
        }
    )


@router.get("/audit")
async def audit_log(
    actor: AdminActor,
    database: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(description="entries older than this id", ge=1, le=2**63 - 1)] = None,
) -> JSONBody:
    """Who changed what and when, newest first; secrets appear masked."""
    entries = await repo.list_audit(database, limit=limit, before=before)
    return JSONBody({"entries": entries, "next_before": entries[-1]["id"] if len(entries) == limit else None})

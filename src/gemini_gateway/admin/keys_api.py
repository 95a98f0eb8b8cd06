"""`/api/keys`: the pool's credentials for operators: list, add, import, validate, enable, reset, remove."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from gemini_gateway.admin import repo
from gemini_gateway.admin.credentials import (
    KEY_KINDS,
    PROXY_KINDS,
    add_keys,
    credential_rows,
    json_keys,
    parse_keys,
    reset_counters,
    source_of,
    validate_key,
)
from gemini_gateway.admin.deps import Actor, AdminActor, DatabaseDep, GatewayDep, StateDep, audit
from gemini_gateway.admin.settings_api import store_settings
from gemini_gateway.admin.state import AdminState
from gemini_gateway.context import Gateway
from gemini_gateway.errors import RequestError
from gemini_gateway.pool.credential import Credential
from gemini_gateway.routes.responses import JSONBody
from gemini_gateway.shared.records import save_switch
from gemini_gateway.store import secrets
from gemini_gateway.store.database import Database
from gemini_gateway.transport.build import redact_proxy

router = APIRouter(prefix="/api/keys", tags=["admin: keys"])
MAX_IMPORT_BYTES = 1024 * 1024


class AddKeys(BaseModel):
    keys: str | list[str] = Field(description="One key, a list, or pasted text (any separators, # comments)")
    kind: str = Field("api_key", description="Upstream kind the keys are for")


class ValidateKey(BaseModel):
    # Printable ASCII without spaces, as `parse_keys` accepts: anything else cannot be a key, and a
    # control character would not even make it into the upstream request's header.
    key: str = Field(min_length=1, max_length=512, pattern=r"^\s*[\x21-\x7e]+\s*$")


class ProxyChange(BaseModel):
    proxy: str | None = Field(
        max_length=2048,
        description="http://, https://, socks4:// or socks5:// URL; '' for a direct connection; "
        "null to forget this credential's entry in CREDENTIAL_PROXIES (its `key|proxy` one, if any, applies)",
    )


class CredentialPatch(BaseModel):
    name: str | None = Field(
        max_length=100, description="The operator's name for the credential; empty or null forgets it"
    )


def _credential(gateway: Gateway, credential_id: str) -> Credential:
    credential = gateway.pool.get(credential_id)
    if credential is None:
        raise RequestError(f"no credential {credential_id!r} in the pool", status_code=404)
    return credential


def _row(gateway: Gateway, state: AdminState, credential_id: str) -> dict[str, Any]:
    return next(r for r in credential_rows(gateway, state) if r["id"] == credential_id)


@router.get("")
async def list_keys(gateway: GatewayDep, actor: AdminActor, state: StateDep) -> JSONBody:
    """Every credential of every kind, masked, with health, counters, cooldowns and its source."""
    rows = credential_rows(gateway, state)
    summary = {
        "total": len(rows),
        "ok": sum(1 for r in rows if r["health"] == "ok"),
        "cooling": sum(1 for r in rows if r["health"] == "cooling"),
        "failed": sum(1 for r in rows if r["health"] == "failed"),
        "disabled": sum(1 for r in rows if r["health"] == "disabled"),
        "in_flight": sum(r["in_flight"] for r in rows),
    }
    return JSONBody({"strategy": gateway.pool.strategy, "summary": summary, "credentials": rows})


async def _add(
    gateway: Gateway, state: AdminState, database: Database, actor: Actor, kind: str, text: str
) -> JSONBody:
    if kind not in KEY_KINDS:
        raise RequestError(f"keys can be added for {', '.join(KEY_KINDS)}, not {kind!r}")
    keys, rejected = parse_keys(json_keys(text))
    if not keys:
        raise RequestError(f"no key found ({rejected} entries were not key-shaped)")
    added, existing = await add_keys(gateway, state, kind, keys, actor.id)
    if added:
        labels = [c.label for cid in added if (c := gateway.pool.get(cid)) is not None]
        await audit(database, actor, "keys.add", ",".join(added)[:200], None, labels)
    rows = [_row(gateway, state, cid) for cid in added]
    return JSONBody({"added": rows, "existing": existing, "rejected": rejected}, status_code=201)


@router.post("", status_code=201)
async def add(
    body: AddKeys, gateway: GatewayDep, actor: AdminActor, state: StateDep, database: DatabaseDep
) -> JSONBody:
    """Add one or many keys (stored encrypted); answers their masked rows, never the keys."""
    text = body.keys if isinstance(body.keys, str) else "\n".join(body.keys)
    return await _add(gateway, state, database, actor, body.kind, text)


@router.post(
    "/import",
    status_code=201,
    openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def import_file(
    request: Request,
    gateway: GatewayDep,
    actor: AdminActor,
    state: StateDep,
    database: DatabaseDep,
    kind: str = "api_key",
) -> JSONBody:
    """Import keys from an uploaded text file sent as the request body (one or more per line)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_IMPORT_BYTES:
            raise RequestError("the file is larger than 1 MB", status_code=413)
    return await _add(gateway, state, database, actor, kind, data.decode("utf-8", "replace"))


@router.post("/validate")
async def validate_unsaved(body: ValidateKey, gateway: GatewayDep, actor: AdminActor) -> JSONBody:
    """Check a key against the upstream (models.list) before adding it."""
    return JSONBody(await validate_key(gateway, body.key.strip()))


@router.post("/reset")
async def reset_all(gateway: GatewayDep, actor: AdminActor, database: DatabaseDep) -> JSONBody:
    """Reset counters, last errors and cooldowns of every credential."""
    for credential in gateway.pool:
        reset_counters(credential)
    gateway.pool.dirty = True
    await audit(database, actor, "keys.reset", "*")
    return JSONBody({"reset": len(gateway.pool)})


@router.post("/{credential_id}/validate")
async def validate(
    credential_id: str, gateway: GatewayDep, actor: AdminActor, state: StateDep, database: DatabaseDep
) -> JSONBody:
    """Check a pooled key against the upstream; the result is kept on its row, and a key found
    valid is put back in service if the gateway had taken it out (API_KEY_INVALID...)."""
    credential = _credential(gateway, credential_id)
    if credential.kind not in KEY_KINDS:
        raise RequestError(f"credentials of kind {credential.kind!r} cannot be validated with a key")
    result = await validate_key(gateway, credential.secret)
    credential.meta["validation"] = result
    if result["valid"] is True and credential.enabled and credential.disabled_reason is not None:
        # The upstream accepts the key now: the failure the gateway recorded is over.
        reason = credential.disabled_reason
        gateway.pool.set_enabled(credential_id, True)
        await audit(database, actor, "keys.recover", credential.label, reason, None)
    return JSONBody({**result, "credential": _row(gateway, state, credential_id)})


async def _set_enabled(
    credential_id: str, enabled: bool, gateway: Gateway, actor: Actor, state: AdminState, database: Database
) -> JSONBody:
    credential = _credential(gateway, credential_id)
    before = credential.enabled
    await save_switch(database, credential_id, enabled, actor.id)  # its own record: no snapshot undoes it
    gateway.pool.set_enabled(credential_id, enabled)
    await audit(
        database, actor, "keys.enable" if enabled else "keys.disable", credential.label, before, enabled
    )
    return JSONBody(_row(gateway, state, credential_id))


@router.post("/{credential_id}/enable")
async def enable(
    credential_id: str, gateway: GatewayDep, actor: AdminActor, state: StateDep, database: DatabaseDep
) -> JSONBody:
    """Put a credential back in service (clears its disabled reason and cooldowns)."""
    return await _set_enabled(credential_id, True, gateway, actor, state, database)


@router.post("/{credential_id}/disable")
async def disable(
    credential_id: str, gateway: GatewayDep, actor: AdminActor, state: StateDep, database: DatabaseDep
) -> JSONBody:
    """Take a credential out of service; it stays in the pool (and stays disabled after restarts)."""
    return await _set_enabled(credential_id, False, gateway, actor, state, database)


@router.post("/{credential_id}/reset")
async def reset(
    credential_id: str, gateway: GatewayDep, actor: AdminActor, state: StateDep, database: DatabaseDep
) -> JSONBody:
    """Reset one credential's counters, last error and cooldowns."""
    credential = _credential(gateway, credential_id)
    reset_counters(credential)
    gateway.pool.dirty = True
    await audit(database, actor, "keys.reset", credential.label)
    return JSONBody(_row(gateway, state, credential_id))


@router.put("/{credential_id}/proxy")
async def set_proxy(
    credential_id: str,
    body: ProxyChange,
    gateway: GatewayDep,
    actor: AdminActor,
    state: StateDep,
    database: DatabaseDep,
) -> JSONBody:
    """Send this credential's calls through its own proxy: its entry in CREDENTIAL_PROXIES,
    stored encrypted like that setting and applied at once. The answer shows it masked."""
    credential = _credential(gateway, credential_id)
    if credential.kind not in PROXY_KINDS:
        raise RequestError(
            f"credentials of kind {credential.kind!r} reach Google from where they run; "
            f"a proxy can be set for {', '.join(PROXY_KINDS)}"
        )
    proxies = dict(gateway.settings.credential_proxies)
    if body.proxy is None:
        proxies.pop(credential_id, None)
    else:
        proxies[credential_id] = body.proxy.strip()
    before = redact_proxy(credential.proxy)
    changed = await store_settings(gateway, state, database, actor, {"credential_proxies": proxies})
    if changed:
        await audit(database, actor, "keys.proxy", credential.label, before, redact_proxy(credential.proxy))
    return JSONBody(_row(gateway, state, credential_id))


@router.patch("/{credential_id}")
async def rename(
    credential_id: str,
    body: CredentialPatch,
    gateway: GatewayDep,
    actor: AdminActor,
    state: StateDep,
    database: DatabaseDep,
) -> JSONBody:
    """Name a credential (shown beside its mask everywhere in the UI); an empty name forgets it."""
    credential = _credential(gateway, credential_id)
    name = " ".join((body.name or "").split()) or None
    before = state.names.get(credential_id)
    await repo.set_name(database, credential_id, name, actor.id)
    if name is None:
        state.names.pop(credential_id, None)
    else:
        state.names[credential_id] = name
    await audit(database, actor, "keys.name", credential.label, before, name)
    return JSONBody(_row(gateway, state, credential_id))


@router.delete("/{credential_id}")
async def remove(
    credential_id: str,
    gateway: GatewayDep,
    actor: AdminActor,
    state: StateDep,
    database: DatabaseDep,
) -> JSONBody:
    """Remove a credential. One from GEMINI_API_KEYS returns at the next start unless removed there."""
    credential = _credential(gateway, credential_id)
    source = source_of(state, credential_id)
    if source == "runtime":  # an executor tab or an OAuth account: its owner would only add it back
        raise RequestError(
            f"{credential.label} ({credential.kind}) is managed by its own page or connection; "
            "disable it here, or remove it where it was added",
            status_code=409,
        )
    if source == "stored":
        await secrets.delete_secret(database, credential_id)
        state.stored_credentials.discard(credential_id)
    gateway.pool.remove(credential_id)
    if state.names.pop(credential_id, None) is not None:
        await repo.set_name(database, credential_id, None, actor.id)
    await audit(database, actor, "keys.remove", credential.label, credential.label, None)
    note = (
        "it comes from GEMINI_API_KEYS and returns at the next start unless removed there; "
        "disable it to keep it out of service for good"
        if source == "env"
        else None
    )
    return JSONBody({"removed": credential_id, "source": source, "note": note})

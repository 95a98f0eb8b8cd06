"""`/api/import`: a file from gemini-balance, gcli2api / Gemini CLI or AIstudioProxyAPI, taken in.

The file is read by `admin.imports` (pure), then each part goes where the gateway keeps it: keys
into the pool (stored encrypted), tokens into the client tokens (digest only), Google accounts
through the OAuth manager, storage states through the AI Studio service. The answer holds masks,
hints and counts, never a secret in full.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gemini_gateway.admin import repo
from gemini_gateway.admin.credentials import add_keys
from gemini_gateway.admin.deps import Actor, AdminActor, DatabaseDep, GatewayDep, StateDep, audit
from gemini_gateway.admin.imports import ImportFormatError, ImportPlan, read_import
from gemini_gateway.admin.state import AdminState
from gemini_gateway.admin.stored import identity_of
from gemini_gateway.admin.tables import ClientToken
from gemini_gateway.admin.tokens import hint
from gemini_gateway.aistudio.profiles import ProfileError
from gemini_gateway.auth import token_digest
from gemini_gateway.context import Gateway
from gemini_gateway.errors import RequestError
from gemini_gateway.redaction import REDACTOR
from gemini_gateway.routes.responses import JSONBody
from gemini_gateway.store.database import Database

router = APIRouter(prefix="/api/import", tags=["admin: keys"])
MAX_IMPORT_CHARS = 1024 * 1024


class ImportFile(BaseModel):
    content: str = Field(max_length=MAX_IMPORT_CHARS, description="The file's text")
    kind: str = Field(
        "auto", description="auto (told from the content), gemini-balance, oauth, aistudio or keys"
    )
    filename: str | None = Field(None, max_length=255, description="Names an AI Studio profile")


@router.post("", status_code=201)
async def import_file(
    body: ImportFile, gateway: GatewayDep, actor: AdminActor, state: StateDep, database: DatabaseDep
) -> JSONBody:
    """Import a gemini-balance .env (API_KEYS, ALLOWED_TOKENS, AUTH_TOKEN), Gemini CLI / gcli2api
    credential files, an AIstudioProxyAPI auth profile, or a list of keys."""
    try:
        plan = read_import(body.content, body.kind, body.filename)
    except ImportFormatError as exc:
        raise RequestError(str(exc)) from None
    if plan.empty():
        raise RequestError(f"nothing to import in this file (read as {plan.kind})")
    result: dict[str, Any] = {"kind": plan.kind, "skipped_settings": plan.skipped_settings}
    result["keys"] = await _keys(gateway, state, database, actor, plan)
    result["tokens"] = await _tokens(gateway, database, actor, plan)
    result["accounts"] = await _accounts(gateway, database, actor, plan)
    result["profiles"] = await _profiles(gateway, database, actor, plan)
    return JSONBody(result, status_code=201)


async def _keys(
    gateway: Gateway, state: AdminState, database: Database, actor: Actor, plan: ImportPlan
) -> dict[str, Any]:
    if not plan.keys:
        return {"added": [], "existing": 0, "rejected": plan.rejected}
    added, existing = await add_keys(gateway, state, "api_key", plan.keys, actor.id)
    labels = [c.label for cid in added if (c := gateway.pool.get(cid)) is not None]
    if added:
        await audit(database, actor, "keys.import", plan.kind, None, labels)
    return {"added": labels, "existing": len(existing), "rejected": plan.rejected}


async def _tokens(gateway: Gateway, database: Database, actor: Actor, plan: ImportPlan) -> dict[str, Any]:
    added: list[dict[str, str]] = []
    existing = 0
    for name, token in plan.tokens:
        if gateway.auth.identify(token) is not None:  # already a client (or the admin) token
            existing += 1
            continue
        row = ClientToken(
            id=secrets.token_hex(6),
            digest=token_digest(token),
            name=name,
            tier="user",
            models=None,
            rate_limit=None,
            hint=hint(token),
            created_at=time.time(),
            created_by=actor.id,
        )
        await repo.add_token(database, row)
        REDACTOR.add(token)
        gateway.auth.register(row.digest, identity_of(row))
        await audit(database, actor, "tokens.import", name, None, {"tier": "user", "hint": row.hint})
        added.append({"name": name, "hint": row.hint})
    return {"added": added, "existing": existing}


async def _accounts(
    gateway: Gateway, database: Database, actor: Actor, plan: ImportPlan
) -> list[dict[str, Any]]:
    if not plan.accounts:
        return []
    manager = gateway.oauth
    if manager is None:
        raise RequestError("Google accounts (OAuth) are not part of this gateway", status_code=409)
    rows = []
    for tokens in plan.accounts:
        credential, new = await manager.add(tokens, actor.id)
        await audit(database, actor, "oauth.add" if new else "oauth.relogin", credential.label)
        rows.append({"id": credential.id, "label": credential.label, "new": new})
    return rows


async def _profiles(
    gateway: Gateway, database: Database, actor: Actor, plan: ImportPlan
) -> list[dict[str, Any]]:
    if not plan.profiles:
        return []
    service = gateway.aistudio
    if service is None:
        raise RequestError("AI Studio page automation is not part of this gateway", status_code=409)
    rows = []
    for name, storage in plan.profiles:
        try:
            instance = await service.save_profile(name, storage)
        except ProfileError as exc:
            raise RequestError(str(exc)) from None
        await audit(database, actor, "aistudio.import", name)
        rows.append({"name": name, "id": instance.credential.id, "cookies": len(storage["cookies"])})
    return rows

"""`/api/tokens`: client tokens with a tier, an optional model allow-list and rate limit.

A new token is answered once, in full, and only its sha256 digest is stored; the list shows a hint
(the last four characters). Tokens from GATEWAY_TOKENS and ADMIN_TOKEN are listed read-only.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from gemini_gateway.admin import repo
from gemini_gateway.admin.deps import AdminActor, DatabaseDep, GatewayDep, StateDep, audit
from gemini_gateway.admin.stored import identity_of
from gemini_gateway.admin.tables import ClientToken
from gemini_gateway.auth import token_digest
from gemini_gateway.context import Gateway
from gemini_gateway.errors import RequestError
from gemini_gateway.routes.responses import JSONBody
from gemini_gateway.store.database import Database

router = APIRouter(prefix="/api/tokens", tags=["admin: client tokens"])
TOKEN_PREFIX = "gw-"


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    tier: Literal["user", "admin"] = "user"
    models: list[str] | None = Field(None, description="Models it may use; null or empty: any")
    rate_limit: int | None = Field(None, ge=1, le=100_000, description="Requests per minute; null: no limit")

    @field_validator("models")
    @classmethod
    def _clean(cls, value: list[str] | None) -> list[str] | None:
        cleaned = sorted({m.strip().removeprefix("models/") for m in value or [] if m.strip()})
        return cleaned or None


def hint(token: str) -> str:
    return f"{TOKEN_PREFIX if token.startswith(TOKEN_PREFIX) else ''}…{token[-4:]}"


def _view(row: ClientToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "client_id": f"token:{row.digest[:8]}",
        "name": row.name,
        "tier": row.tier,
        "models": row.models,
        "rate_limit": row.rate_limit,
        "hint": row.hint,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "revoked_at": row.revoked_at,
        "source": "stored",
    }


def _env_tokens(gateway: Gateway) -> list[dict[str, Any]]:
    settings = gateway.settings
    listed = [
        {
            "id": None,
            "client_id": f"token:{token_digest(t.get_secret_value())[:8]}",
            "name": f"GATEWAY_TOKENS #{i + 1}",
            "tier": "user",
            "models": None,
            "rate_limit": None,
            "hint": hint(t.get_secret_value()),
            "created_at": None,
            "revoked_at": None,
            "source": "env",
        }
        for i, t in enumerate(settings.gateway_tokens)
    ]
    if settings.admin_token is not None:
        admin = settings.admin_token.get_secret_value()
        listed.append(
            {
                "id": None,
                "client_id": "admin",
                "name": "ADMIN_TOKEN",
                "tier": "admin",
                "models": None,
                "rate_limit": None,
                "hint": hint(admin),
                "created_at": None,
                "revoked_at": None,
                "source": "env",
            }
        )
    return listed


@router.get("")
async def list_tokens(gateway: GatewayDep, actor: AdminActor, database: DatabaseDep) -> JSONBody:
    """Every client token (hints only), stored ones first, then those from the environment."""
    stored = [_view(r) for r in await repo.load_tokens(database)]
    return JSONBody({"tokens": stored + _env_tokens(gateway), "open": gateway.auth.open})


@router.post("", status_code=201)
async def create(body: NewToken, gateway: GatewayDep, actor: AdminActor, database: DatabaseDep) -> JSONBody:
    """Make a token. The answer holds it in full, once: it is stored only as a digest."""
    was_open = gateway.auth.open
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ClientToken(
        id=secrets.token_hex(6),
        digest=token_digest(token),
        name=body.name.strip(),
        tier=body.tier,
        models=body.models,
        rate_limit=body.rate_limit,
        hint=hint(token),
        created_at=time.time(),
        created_by=actor.id,
    )
    await repo.add_token(database, row)
    gateway.auth.register(row.digest, identity_of(row))
    view = _view(row)
    await audit(
        database,
        actor,
        "tokens.create",
        row.name,
        None,
        {k: view[k] for k in ("tier", "models", "rate_limit", "hint")},
    )
    note = None
    if was_open and not gateway.auth.open:
        note = "the model API now requires a client token: callers without one get 401"
    return JSONBody({**view, "token": token, "note": note}, status_code=201)


@router.delete("/{token_id}")
async def revoke(
    token_id: str, gateway: GatewayDep, actor: AdminActor, database: DatabaseDep, state: StateDep
) -> JSONBody:
    """Revoke a stored token at once (its admin UI sessions end too)."""
    row = await _find(database, token_id)
    if row.revoked_at is None:
        await repo.revoke_token(database, token_id)
        gateway.auth.revoke(row.digest)
        state.sessions.drop_identity(identity_of(row).id)
        await audit(database, actor, "tokens.revoke", row.name, row.hint, None)
    note = None
    if gateway.auth.open:
        note = "no user token is left: the model API answers callers without a token again (loopback only)"
    return JSONBody({"revoked": token_id, "name": row.name, "note": note})


async def _find(database: Database, token_id: str) -> ClientToken:
    for row in await repo.load_tokens(database):
        if row.id == token_id:
            return row
    raise RequestError(
        f"no stored token {token_id!r} (tokens from GATEWAY_TOKENS are removed in the environment)",
        status_code=404,
    )

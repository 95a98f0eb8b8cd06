"""`/api/models`: the model names the gateway serves, for the UI's pickers.

The Tokens and Playground pages used to ask `/v1/models` with the session, which the recorder
counted as traffic of client "admin:ui": browsing moved the dashboard's numbers. This route shares
`/v1/models`' cache, and a listing it has to fetch goes to the upstream without being recorded.
"""

from __future__ import annotations

import time

from fastapi import APIRouter

from gemini_gateway.admin.deps import AdminActor, GatewayDep
from gemini_gateway.dialects.generation import suffixed_model_ids
from gemini_gateway.exchange import Exchange
from gemini_gateway.model_catalog import all_models
from gemini_gateway.routes.openai import MODELS_TTL
from gemini_gateway.routes.responses import JSONBody

router = APIRouter(prefix="/api", tags=["admin: models"])


@router.get("/models")
async def list_models(gateway: GatewayDep, actor: AdminActor) -> JSONBody:
    """Model ids as `/v1/models` lists them (upstream models, aliases, suffixed variants)."""
    cache = gateway.model_list
    now = time.monotonic()
    if now >= cache.expires:
        exchange = Exchange(dialect="admin", client_id=f"{actor.id}:ui")  # not handed to the recorder
        cache.models = await all_models(gateway, exchange)
        cache.expires = now + MODELS_TTL
    ids = [str(m.get("name", "")).removeprefix("models/") for m in cache.models]
    extra = list(gateway.settings.model_aliases)
    if gateway.settings.model_suffixes:
        extra += suffixed_model_ids(cache.models)
    return JSONBody({"models": [*ids, *(m for m in extra if m not in ids)]})

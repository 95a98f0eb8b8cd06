"""GET /v1/models and /v1/models/{id}: Gemini's model list in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Iterable

from gemini_gateway.dialects.common import JSON
from gemini_gateway.dialects.generation import strip_model_prefix


def render_model(model_id: str, *, created: int) -> JSON:
    return {"id": strip_model_prefix(model_id), "object": "model", "created": created, "owned_by": "google"}


def render_models(gemini: JSON | Iterable[JSON], *, created: int, extra_ids: Iterable[str] = ()) -> JSON:
    """`{"models":[...]}` (or the models themselves) -> OpenAI's list.

    Gemini models carry no creation time, so the caller chooses one `created` for all.
    `extra_ids` adds names the gateway serves on top (aliases, `-search` variants), deduplicated.
    """
    models = gemini.get("models") or [] if isinstance(gemini, dict) else gemini
    ids = [strip_model_prefix(str(m.get("name", ""))) for m in models if isinstance(m, dict)]
    ids = list(dict.fromkeys([i for i in ids if i] + [strip_model_prefix(i) for i in extra_ids]))
    return {"object": "list", "data": [render_model(i, created=created) for i in ids]}

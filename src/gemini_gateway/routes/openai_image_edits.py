"""POST /v1/images/edits: OpenAI's image edits, served by a Gemini image model (see
`dialects.openai_image_edits`); one generateContent per image asked for."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from gemini_gateway.dialects.openai_image_edits import parse_edit_request, parse_form
from gemini_gateway.routes.asgi import ASGIEndpoint, Receive, Scope, Send, header
from gemini_gateway.routes.dialect_flow import DialectRequest, run_dialect
from gemini_gateway.routes.openai import OPENAI, PREFIXES, answer_images


async def image_edits(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(scope, receive, send, OPENAI, _edit)


async def _edit(request: DialectRequest) -> None:
    settings = request.gateway.settings
    fields, files = parse_form(await request.read(), header(request.scope, b"content-type") or "")
    call = parse_edit_request(
        fields,
        files,
        aliases=settings.model_aliases,
        suffixes=settings.model_suffixes,
    )
    await answer_images(request, call)


def routes() -> list[BaseRoute]:
    return [
        Route(f"{prefix}/images/edits", ASGIEndpoint(image_edits), methods=["POST"]) for prefix in PREFIXES
    ]

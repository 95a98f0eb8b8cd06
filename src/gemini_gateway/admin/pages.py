"""The admin UI: one HTML page at `/admin` and its static ES modules, served as they are (no build)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
# Everything the page loads comes from this gateway; nothing from a CDN, no inline script.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> Response:
    return RedirectResponse("/admin/", status_code=307)


@router.get("/admin")
async def admin_bare() -> Response:
    return RedirectResponse("/admin/", status_code=307)


@router.api_route("/admin/", methods=["GET", "HEAD"])
async def admin_page() -> Response:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


class AdminStatic(StaticFiles):
    """Static files revalidated on each load (ETag, 304): a new version is seen without cache busting."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def static_app() -> Any:
    return AdminStatic(directory=STATIC)

"""A stand-in for AI Studio's Build environment on loopback: it serves the gateway's Build app as
AI Studio runs it, with the app's import map pointing `@google/genai` at build_env/genai.js, a
stand-in client that reaches the fake upstream with the environment's access and no key from
the app."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.servers import serve_in_thread

STANDIN = Path(__file__).parent / "build_env" / "genai.js"
SDK_IN_IMPORT_MAP = '"@google/genai": "https://aistudiocdn.com/@google/genai@^1.30.0"'
ENVIRONMENT_KEY = "ai-studio-build-environment"  # the account's access, on the environment's side
TYPES = {
    ".html": "text/html",
    ".tsx": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
}


@contextlib.contextmanager
def serve_build_environment(gateway_url: str, fake_url: str) -> Iterator[str]:
    """Yields the URL of the app's index.html in the stand-in environment."""
    files: dict[str, str] = {}
    for name in ("index.html", "index.tsx", "metadata.json", "executor.js", "ui.js"):
        answer = httpx.get(f"{gateway_url}/executor/build-app/{name}")
        answer.raise_for_status()
        files[name] = answer.text
    assert SDK_IN_IMPORT_MAP in files["index.html"], "the app's import map changed"
    files["index.html"] = files["index.html"].replace(SDK_IN_IMPORT_MAP, '"@google/genai": "/genai.js"')
    files["genai.js"] = (
        STANDIN.read_text().replace("__UPSTREAM__", fake_url).replace("__ENVIRONMENT_KEY__", ENVIRONMENT_KEY)
    )

    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:
            return Response("not found", status_code=404)
        return Response(files[name], media_type=TYPES[Path(name).suffix])

    app = Starlette(routes=[Route("/{name}", serve)])
    with serve_in_thread(app) as url:
        yield url + "/index.html"

"""Executors connect here: `/ws/executor`, plus the client they run (`/executor`, `/executor.user.js`).

The socket is accepted before it is judged, so a refused executor learns why: an `error` frame
and a close code with a readable reason (a refusal during the handshake would reach the browser
as a bare 403 it cannot show).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import zipfile
from collections.abc import MutableMapping
from functools import cache
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gemini_gateway import __version__
from gemini_gateway.auth import client_address, token_from_scope
from gemini_gateway.backends.executor_hub import ExecutorHub
from gemini_gateway.backends.executor_protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_MISSING_TOKEN,
    CLOSE_TIMEOUT,
    CLOSE_TRY_LATER,
    ProtocolError,
    RegisterInfo,
    decode,
    error_frame,
    parse_register,
)
from gemini_gateway.context import gateway_of
from gemini_gateway.routes import executor_relay

REGISTER_TIMEOUT_SECONDS = 10.0
JS = "text/javascript; charset=utf-8"
NO_CACHE = {"cache-control": "no-cache"}  # a reloaded tab must pick up a new client at once


def executor_hub(scope: MutableMapping[str, Any]) -> ExecutorHub:
    hub = gateway_of(dict(scope)).executors
    assert hub is not None, "create_app builds the executor hub"
    return hub


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def check_token(hub: ExecutorHub, token: str | None) -> str:
    """The token when it is one of the hub's; ProtocolError (with the close code) otherwise."""
    if not hub.tokens:
        raise ProtocolError(
            CLOSE_FORBIDDEN, "executors are disabled on this gateway: set EXECUTOR_TOKENS to enable them"
        )
    if token is None:
        raise ProtocolError(
            CLOSE_MISSING_TOKEN, "missing executor token: enter one of the gateway's EXECUTOR_TOKENS"
        )
    digest = _digest(token)
    # Compare every token (no early exit) so timing says nothing about which one nearly matched.
    matches = [hmac.compare_digest(digest, _digest(t)) for t in hub.tokens]
    if not any(matches):
        raise ProtocolError(CLOSE_FORBIDDEN, "the executor token is not valid for this gateway")
    return token


async def _handshake(websocket: WebSocket, hub: ExecutorHub) -> tuple[RegisterInfo, str]:
    """The executor's registration and the token it presented (in the frame or the header)."""
    if not hub.tokens:
        check_token(hub, None)  # refuse before waiting for a register that cannot succeed
    try:
        async with asyncio.timeout(REGISTER_TIMEOUT_SECONDS):
            message = await websocket.receive_text()
    except TimeoutError:
        raise ProtocolError(CLOSE_TIMEOUT, "no 'register' frame within 10 seconds") from None
    info = parse_register(decode(message))  # the version is judged first: old clients learn why
    token = info.token or token_from_scope(dict(websocket.scope))
    try:
        return info, check_token(hub, token)
    except ProtocolError as refusal:
        if refusal.code != CLOSE_FORBIDDEN or token is None:
            raise
        # A wrong token: braked like on every other door (gemini_gateway.brake).
        braked = gateway_of(dict(websocket.scope)).auth.brake.wrong(client_address(websocket.scope), token)
        if braked is None:
            raise
        raise ProtocolError(CLOSE_TRY_LATER, braked.message) from None


async def _refuse(websocket: WebSocket, error: ProtocolError) -> None:
    try:
        await websocket.send_text(error_frame(error.message, error.code).decode())
        # A close reason may hold at most 123 bytes of UTF-8.
        reason = error.message.encode()[:123].decode("utf-8", "ignore")
        await websocket.close(error.code, reason)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client left first; nobody to tell


async def executor_socket(websocket: WebSocket) -> None:
    hub = executor_hub(websocket.scope)
    await websocket.accept()
    try:
        info, token = await _handshake(websocket, hub)
    except ProtocolError as error:
        await _refuse(websocket, error)
        return
    except (WebSocketDisconnect, RuntimeError):
        return  # gone during the handshake
    await hub.serve(websocket, info, token)


# The client ---------------------------------------------------------------------------------


@cache
def client_file(name: str) -> str:
    return (resources.files("gemini_gateway") / "executor_client" / name).read_text("utf-8")


def _base_urls(request: Request) -> tuple[str, str]:
    http = str(request.base_url).rstrip("/")
    ws = "wss" + http[5:] if http.startswith("https:") else "ws" + http[4:]
    return http, ws + "/ws/executor"


async def page(request: Request) -> Response:
    return Response(client_file("page.html"), media_type="text/html; charset=utf-8", headers=NO_CACHE)


async def script(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ("executor.js", "ui.js"):
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(client_file(name), media_type=JS, headers=NO_CACHE)


async def userscript(request: Request) -> Response:
    """The same client as one Tampermonkey-style file, pointed back at this gateway."""
    http, ws = _base_urls(request)
    header = (
        client_file("userscript-header.js")
        .replace("{{VERSION}}", __version__)
        .replace("{{GATEWAY_HTTP}}", http)
        .replace("{{GATEWAY_WS}}", ws)
    )
    body = "\n".join(
        [header, client_file("executor.js"), client_file("ui.js"), client_file("userscript-boot.js")]
    )
    return Response(body.replace("{{GATEWAY_WS}}", ws), media_type=JS, headers=NO_CACHE)


# The AI Studio Build app: its own three files plus the executor core it imports. Served one by
# one (a test environment loads them into a browser) and as a zip to import into AI Studio.
BUILD_APP_FILES = {
    "index.html": "text/html; charset=utf-8",
    "index.tsx": JS,  # plain JavaScript inside, so a browser runs it as is
    "metadata.json": "application/json",
    "executor.js": JS,
    "ui.js": JS,
}


def build_app_file(name: str, ws_url: str) -> str:
    source = name if name in ("executor.js", "ui.js") else f"build_app/{name}"
    return client_file(source).replace("{{GATEWAY_WS}}", ws_url)


async def build_app(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in BUILD_APP_FILES:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        build_app_file(name, _base_urls(request)[1]), media_type=BUILD_APP_FILES[name], headers=NO_CACHE
    )


async def build_app_zip(request: Request) -> Response:
    ws_url = _base_urls(request)[1]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in BUILD_APP_FILES:
            archive.writestr(name, build_app_file(name, ws_url))
    headers = {**NO_CACHE, "content-disposition": 'attachment; filename="gemini-gateway-executor-app.zip"'}
    return Response(buffer.getvalue(), media_type="application/zip", headers=headers)


def routes() -> list[BaseRoute]:
    return [
        WebSocketRoute("/ws/executor", executor_socket),
        Route("/executor", page, methods=["GET"]),
        Route("/executor/build-app/{name}", build_app, methods=["GET"]),
        Route("/executor/build-app.zip", build_app_zip, methods=["GET"]),
        Route("/executor/{name}", script, methods=["GET"]),
        Route("/executor.user.js", userscript, methods=["GET"]),
        *executor_relay.routes(),  # calls other replicas relay to this one's tabs
    ]

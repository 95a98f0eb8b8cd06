"""Management API of AI Studio profiles (admin token): list, import, check, delete.

GET    /api/aistudio/profiles              profiles, their pages, locks, queues, last errors
POST   /api/aistudio/profiles              {"name": ..., "storage_state": {...}}: import a login
POST   /api/aistudio/profiles/{name}/check health check now (opens the page if needed)
DELETE /api/aistudio/profiles/{name}       stop serving it and delete its file

Remote login (aistudio/remote_login.py), for servers without a display:
GET    /api/aistudio/logins                the open sign-in windows (to find one again)
POST   /api/aistudio/logins                {"name": ...}: open a sign-in window for the profile
GET    /api/aistudio/logins/{id}           its address and whether AI Studio shows it signed in
GET    /api/aistudio/logins/{id}/screenshot  what the window shows (PNG)
POST   /api/aistudio/logins/{id}/input     {"click": [x, y]} | {"type": "..."} | {"key": "Enter"}
POST   /api/aistudio/logins/{id}/finish    save the login as the profile and close the window
DELETE /api/aistudio/logins/{id}           close the window without saving
"""

from __future__ import annotations

from typing import Any, cast

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gemini_gateway.aistudio.profiles import ProfileError, check_name
from gemini_gateway.aistudio.service import AiStudioService
from gemini_gateway.context import Gateway
from gemini_gateway.errors import RequestError
from gemini_gateway.routes.responses import JSONBody

router = APIRouter(prefix="/api/aistudio", tags=["aistudio"])


def _service(request: Request) -> AiStudioService:
    gateway: Gateway = request.app.state.gateway
    gateway.auth.admin(cast(dict[str, Any], request.scope))
    service = gateway.aistudio
    if service is None:
        raise RequestError("AI Studio page automation is not part of this gateway", status_code=404)
    return service


@router.get("/profiles")
async def list_profiles(request: Request) -> JSONBody:
    service = _service(request)
    return JSONBody({**service.status(), "profiles": service.profiles()})


@router.post("/profiles")
async def import_profile(request: Request) -> JSONBody:
    service = _service(request)
    body = await _json(request)
    name, state = body.get("name"), body.get("storage_state")
    if not isinstance(name, str):
        raise RequestError("give the profile a 'name'")
    try:
        instance = await service.save_profile(check_name(name), state)
    except ProfileError as exc:
        raise RequestError(str(exc)) from exc
    summary = service.store.summary(name)
    summary["credential"] = instance.credential.view(service.pool.clock())
    return JSONBody(summary, status_code=201)


@router.post("/profiles/{name}/check")
async def check_profile(request: Request, name: str) -> JSONBody:
    service = _service(request)
    instance = service.instance(name)
    if instance is None:
        raise RequestError(f"no AI Studio profile named {name}", status_code=404)
    health = await instance.check()
    return JSONBody({"name": name, "health": health, "state": instance.state})


@router.delete("/profiles/{name}")
async def delete_profile(request: Request, name: str) -> JSONBody:
    service = _service(request)
    try:
        check_name(name)
    except ProfileError as exc:
        raise RequestError(str(exc)) from exc
    if not await service.delete_profile(name):
        raise RequestError(f"no AI Studio profile named {name}", status_code=404)
    return JSONBody({"deleted": name})


@router.get("/logins")
async def list_logins(request: Request) -> JSONBody:
    return JSONBody({"logins": await _service(request).logins.listing()})


@router.post("/logins")
async def open_login(request: Request) -> JSONBody:
    service = _service(request)
    name = (await _json(request)).get("name")
    if not isinstance(name, str):
        raise RequestError("give the profile a 'name'")
    try:
        return JSONBody(await service.logins.open(name), status_code=201)
    except ProfileError as exc:
        raise RequestError(str(exc)) from exc


@router.get("/logins/{window_id}")
async def login_state(request: Request, window_id: str) -> JSONBody:
    logins = _service(request).logins
    return JSONBody(await logins.view(logins.window(window_id)))


@router.get("/logins/{window_id}/screenshot")
async def login_screenshot(request: Request, window_id: str) -> Response:
    logins = _service(request).logins
    image = await logins.screenshot(logins.window(window_id))
    return Response(image, media_type="image/png", headers={"cache-control": "no-store"})


@router.post("/logins/{window_id}/input")
async def login_input(request: Request, window_id: str) -> JSONBody:
    logins = _service(request).logins
    window = logins.window(window_id)
    return JSONBody(await logins.act(window, await _json(request)))


@router.post("/logins/{window_id}/finish")
async def finish_login(request: Request, window_id: str) -> JSONBody:
    service = _service(request)
    name = await service.logins.finish(service.logins.window(window_id))
    summary = service.store.summary(name)
    instance = service.instance(name)
    if instance is not None:
        summary["credential"] = instance.credential.view(service.pool.clock())
    return JSONBody(summary, status_code=201)


@router.delete("/logins/{window_id}")
async def close_login(request: Request, window_id: str) -> JSONBody:
    if not await _service(request).logins.close(window_id):
        raise RequestError("no such login window: unknown, finished or closed", status_code=404)
    return JSONBody({"closed": window_id})


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise RequestError("the body is not JSON") from exc
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    return body

"""Login, logout and the session the admin UI runs on; `/api/overview` for its header and dashboard."""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from gemini_gateway import __version__
from gemini_gateway.admin.deps import Actor, AdminActor, GatewayDep, StateDep, audit
from gemini_gateway.admin.guard import request_scheme, session_id
from gemini_gateway.admin.sessions import CSRF_COOKIE, SESSION_COOKIE, Session
from gemini_gateway.auth import SCOPE_IDENTITY, client_address
from gemini_gateway.errors import RequestError
from gemini_gateway.routes.responses import JSONBody

router = APIRouter(prefix="/api", tags=["admin: session"])
log = logging.getLogger("gemini_gateway.admin")


class Login(BaseModel):
    token: str = Field(min_length=1, max_length=4096, description="ADMIN_TOKEN or an admin-tier client token")


def _scope(request: Request) -> dict[str, Any]:
    return cast(dict[str, Any], request.scope)


def _session_body(session: Session) -> dict[str, Any]:
    return {
        "authenticated": True,
        "via": "session",
        "identity": session.identity.id,
        "csrf_token": session.csrf,
        "expires_at": session.expires,
    }


def _set_cookies(response: Response, request: Request, session: Session) -> None:
    secure = request_scheme(_scope(request)) == "https"
    max_age = max(1, int(session.expires - session.created))
    # The session id never reaches scripts; the CSRF value must (double submit), so it is readable.
    response.set_cookie(
        SESSION_COOKIE, session.id, max_age=max_age, httponly=True, samesite="strict", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE, session.csrf, max_age=max_age, httponly=False, samesite="strict", secure=secure
    )


@router.post("/session")
async def login(body: Login, request: Request, gateway: GatewayDep, state: StateDep) -> JSONBody:
    """Trade the admin token for a session cookie (HttpOnly, SameSite=Strict, Secure behind https).

    The right token always signs in; wrong ones answer 401, then 429 once braked (gemini_gateway.brake)."""
    address = client_address(_scope(request))
    token = body.token.strip()
    identity = gateway.auth.identify(token)
    if identity is None:
        log.warning("admin login with a wrong token from %s", address)
        raise gateway.auth.wrong_token(_scope(request), token, RequestError("wrong token", status_code=401))
    if identity.tier != "admin":
        raise RequestError("this is a client token; log in with the admin token", status_code=403)
    session = state.sessions.create(identity, address)
    await state.sessions.share(session)
    log.info("admin login (%s) from %s", identity.id, address)
    if gateway.database is not None:
        await audit(gateway.database, Actor(identity.id, address), "login")
    response = JSONBody(_session_body(session))
    _set_cookies(response, request, session)
    return response


@router.get("/session")
async def current_session(request: Request, actor: AdminActor, state: StateDep) -> JSONBody:
    """Who is logged in, and the CSRF token state-changing calls must send as `x-csrf-token`."""
    session = state.sessions.get(session_id(_scope(request)))
    if session is not None and _scope(request).get(SCOPE_IDENTITY) is session.identity:
        return JSONBody(_session_body(session))
    return JSONBody({"authenticated": True, "via": "token", "identity": actor.id})


@router.delete("/session")
async def logout(request: Request, gateway: GatewayDep, state: StateDep) -> JSONBody:
    """End the session and clear its cookies (needs the CSRF header, like every write)."""
    sid = session_id(_scope(request))
    session = state.sessions.get(sid)
    state.sessions.drop(sid)
    if session is not None and gateway.database is not None:
        await audit(gateway.database, Actor(session.identity.id, session.address), "logout")
    response = JSONBody({"authenticated": False})
    secure = request_scheme(_scope(request)) == "https"
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, samesite="strict", secure=secure, httponly=name == SESSION_COOKIE)
    return response


@router.get("/overview")
async def overview(gateway: GatewayDep, actor: AdminActor, state: StateDep) -> JSONBody:
    """The gateway at a glance: version, uptime, store, recorder, pool and access facts."""
    recorder = gateway.recorder
    now = gateway.pool.clock()
    credentials = list(gateway.pool)
    usable = sum(1 for c in credentials if c.usable(None, now))
    return JSONBody(
        {
            "version": __version__,
            "started_at": state.started,
            "uptime_seconds": round(time.time() - state.started, 1),
            "store": {"ok": gateway.database is not None, "error": gateway.store_error},
            "recorder": recorder.status() if recorder is not None else {"mode": "off"},
            "pool": {"total": len(credentials), "usable": usable, "strategy": gateway.pool.strategy},
            "access": {"open": gateway.auth.open, "sessions": len(state.sessions)},
            "you": actor.id,
        }
    )

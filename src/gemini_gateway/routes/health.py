"""Liveness and readiness.

Served without FastAPI (orchestrators ask often, and FastAPI is loaded for admin requests only:
see app.py); `api_router` describes the same endpoints for the OpenAPI page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.routing import Route

from gemini_gateway.context import Gateway
from gemini_gateway.routes.responses import JSONBody

if TYPE_CHECKING:
    from fastapi import APIRouter


async def health(request: Request) -> JSONBody:
    gateway: Gateway = request.app.state.gateway
    return JSONBody({"status": "ok", "replica": gateway.settings.resolved_replica_id})


async def ready(request: Request) -> JSONBody:
    gateway: Gateway = request.app.state.gateway
    problems: list[str] = []
    if gateway.database is None or gateway.store_error is not None:  # not reached, or still loading
        problems.append(f"store: {gateway.store_error or 'not started'}")
    else:
        try:
            await gateway.database.ping()
        except Exception as exc:  # any driver error means "not ready", with its name as the reason
            problems.append(f"store: unreachable ({type(exc).__name__})")
    shared = gateway.shared
    if shared is not None and (problem := shared.state.problem()) is not None:
        problems.append(problem)
    now = gateway.pool.clock()
    usable = [c for c in gateway.pool if c.usable(None, now)]
    if not len(gateway.pool):
        problems.append("pool: no upstream credentials configured")
    elif not usable:
        problems.append("pool: every credential is disabled, busy or cooling down")
    body = {
        "status": "ready" if not problems else "not ready",
        "problems": problems,
        "usable_credentials": len(usable),
        "replica": gateway.settings.resolved_replica_id,
    }
    return JSONBody(body, status_code=200 if not problems else 503)


def routes() -> list[Route]:
    found = [Route("/health", health, methods=["GET"]), Route("/health/ready", ready, methods=["GET"])]
    for route in found:
        route.methods = {"GET"}  # as FastAPI's routes had them: Starlette would add HEAD
    return found


def api_router() -> APIRouter:
    """The same endpoints as FastAPI routes: what the OpenAPI page documents."""
    from fastapi import APIRouter

    router = APIRouter(tags=["health"])
    router.add_api_route("/health", health, methods=["GET"])
    router.add_api_route("/health/ready", ready, methods=["GET"])
    return router

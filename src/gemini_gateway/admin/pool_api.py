"""Pool monitoring for operators: `/api/pool` plus the names seed users know."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gemini_gateway.admin.credentials import holdings_of, recheck_of
from gemini_gateway.context import Gateway
from gemini_gateway.routes.responses import JSONBody

router = APIRouter(prefix="/api", tags=["pool"])


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    gateway.auth.admin(request.scope)
    return gateway


def _offline(credential: dict[str, Any]) -> bool:
    """A credential behind a live connection (an executor tab) that is not connected: stale, closed."""
    return bool(credential.get("state", "connected") != "connected")


def _healthy(credential: dict[str, Any]) -> bool:
    return bool(
        credential["enabled"]
        and not credential["disabled_reason"]
        and not credential["cooldowns"]
        and not _offline(credential)
    )


def _summary(credentials: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "total": len(credentials),
        "enabled": sum(1 for c in credentials if c["enabled"] and not c["disabled_reason"]),
        "healthy": sum(1 for c in credentials if _healthy(c)),
        "cooling": sum(1 for c in credentials if c["cooldowns"]),
        "in_flight": sum(c["in_flight"] for c in credentials),
    }


def _meta(credential: dict[str, Any]) -> dict[str, Any]:
    """Facts a kind adds about its credentials (an AI Studio profile's page, lock and queue)."""
    return {"meta": credential["meta"]} if "meta" in credential else {}


@router.get("/pool")
async def pool(request: Request) -> JSONBody:
    """Every credential (masked) with in-flight count, counters, cooldowns per model, disabled
    reason, quota used / limit / reset per model, its last errors, its proxy (masked), what its
    project holds, and when the healer next re-checks it."""
    gateway = _gateway(request)
    holdings = holdings_of(gateway)
    credentials = [
        {**c, "healthy": _healthy(c), "holds": holdings.get(c["id"], {}), **recheck_of(gateway, c)}
        for c in gateway.pool.view()
    ]
    return JSONBody(
        {"strategy": gateway.pool.strategy, "summary": _summary(credentials), "credentials": credentials}
    )


@router.get("/load-balancing")
async def load_balancing(request: Request) -> JSONBody:
    """The same facts arranged as a load view: who is serving how much."""
    gateway = _gateway(request)
    credentials = gateway.pool.view()
    instances = [
        {
            "id": c["id"],
            "label": c["label"],
            "kind": c["kind"],
            "active_requests": c["in_flight"],
            "total_requests": c["successes"] + c["failures"],
            "successes": c["successes"],
            "failures": c["failures"],
            "healthy": _healthy(c),
            **({"state": c["state"]} if "state" in c else {}),
            **_meta(c),
        }
        for c in credentials
    ]
    return JSONBody({"strategy": gateway.pool.strategy, "instances": instances})


@router.get("/locks")
async def locks(request: Request) -> JSONBody:
    """Which credentials are held (in flight) or locked out (cooling, disabled, offline), and until when."""
    gateway = _gateway(request)
    credentials = gateway.pool.view()
    held = [
        {
            "id": c["id"],
            "label": c["label"],
            "in_flight": c["in_flight"],
            "max_concurrency": c["max_concurrency"],
            "cooldowns": c["cooldowns"],
            "disabled_reason": c["disabled_reason"],
            **({"state": c["state"]} if "state" in c else {}),
            **_meta(c),
        }
        for c in credentials
        if c["in_flight"] or c["cooldowns"] or c["disabled_reason"] or not c["enabled"] or _offline(c)
    ]
    return JSONBody({"locks": held, "summary": _summary(credentials)})

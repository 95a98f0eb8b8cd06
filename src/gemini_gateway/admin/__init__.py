"""Admin: the management API under `/api/`, the live log at `/ws/logs`, and the web UI at `/admin/`.

admin_middleware(gateway)     its state, the live log's observer and the edge middleware (the
                              guard and CORS, outermost: they wrap every route and the recorder)
install_admin(app, gateway)   routes and static files, on the FastAPI app that serves them (built
                              on the first management request: see app.py)
start_admin(gateway)          in the lifespan, once the store is open: stored settings,
                              client tokens and upstream credentials come back
load_admin_store(gateway)     the same loads, for a store that came after start-up
stop_admin(gateway)           detaches the live log

Only `install_admin` imports FastAPI and the route modules: a gateway that serves model calls
and nobody's admin UI never holds them (issue 16, idle memory).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute

from gemini_gateway.admin import repo
from gemini_gateway.admin.credentials import load_stored
from gemini_gateway.admin.guard import AdminGuard, ClientCors
from gemini_gateway.admin.live import HubLogHandler, RequestEvents, live_logs_endpoint
from gemini_gateway.admin.state import admin_state, new_state
from gemini_gateway.admin.stored import load_stored_settings, load_tokens
from gemini_gateway.context import Gateway
from gemini_gateway.store.secrets import load_box

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["admin_middleware", "install_admin", "load_admin_store", "start_admin", "stop_admin"]
log = logging.getLogger("gemini_gateway.admin")


def admin_middleware(gateway: Gateway) -> list[Middleware]:
    """Make the admin state; say which middleware go outermost, first the outer one."""
    state = new_state(gateway)
    gateway.observers.append(RequestEvents(state.hub))  # the live log: one event per API call
    # Requests are judged before any route or the recorder.
    return [Middleware(AdminGuard, gateway=gateway, state=state), Middleware(ClientCors, gateway=gateway)]


def install_admin(app: FastAPI, gateway: Gateway) -> None:
    from gemini_gateway.admin import (
        imports_api,
        keys_api,
        models_api,
        pages,
        session_api,
        settings_api,
        tokens,
    )

    state = admin_state(gateway)
    for router in (
        session_api.router,
        keys_api.router,
        imports_api.router,
        models_api.router,
        tokens.router,
        settings_api.router,
        pages.router,
    ):
        app.include_router(router)
    app.router.routes.append(WebSocketRoute("/ws/logs", live_logs_endpoint(state.hub)))
    app.mount("/admin/static", pages.static_app(), name="admin-static")


async def start_admin(gateway: Gateway) -> None:
    state = admin_state(gateway)
    state.hub.loop = asyncio.get_running_loop()
    handler = state.log_handler = HubLogHandler(state.hub)
    logging.getLogger().addHandler(handler)
    await load_admin_store(gateway)


async def load_admin_store(gateway: Gateway) -> None:
    """Stored settings, client tokens and upstream credentials (at start, or once the store came)."""
    state = admin_state(gateway)
    if gateway.database is None:
        log.warning("admin: no store, so stored settings, client tokens and added keys are unavailable")
        return
    state.box = load_box(gateway.settings)  # a bad ENCRYPTION_KEY stops the start: it is a config error
    try:
        await load_stored_settings(gateway, state)
        await load_tokens(gateway)
        await load_stored(gateway, state)
        state.names = await repo.load_names(gateway.database)
    except Exception as exc:  # a store that fails now: keep serving with what the environment gave
        log.error("admin: could not load stored settings, tokens or keys: %s", type(exc).__name__)


async def stop_admin(gateway: Gateway) -> None:
    state = admin_state(gateway)
    handler, state.log_handler = state.log_handler, None
    if handler is not None:
        logging.getLogger().removeHandler(handler)

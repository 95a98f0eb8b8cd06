"""The application factory: `create_app(settings)` builds everything; the lifespan does the I/O.

The app it makes answers in three parts, each loaded only as far as what it serves needs:
- the front door (routes/front_door.py): model calls, straight to their plain ASGI endpoints;
- the API app, a Starlette app with every other route of the model API (GETs, files, caches,
  executors), health and metrics, under the same middleware and error handlers;
- the admin app, FastAPI, for the management API and UI, its OpenAPI page and the live log: built
  on the first request to one of `ADMIN_PATHS`. FastAPI (with OpenTelemetry's API, which it
  imports), pydantic's request models and the admin's route modules cost ~9 MB that a gateway
  serving model calls never needs (issue 16).
The paths of the admin app and of the other two do not overlap, so the split routes every request
where a single router over all of them would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gemini_gateway import __version__
from gemini_gateway.admin import admin_middleware, load_admin_store, start_admin, stop_admin
from gemini_gateway.admin.healing import start_healer, stop_healer
from gemini_gateway.admin.state import admin_state
from gemini_gateway.affinity import new_affinity, start_affinity
from gemini_gateway.aistudio.service import AiStudioService
from gemini_gateway.auth import Authenticator
from gemini_gateway.backends.aistudio_page import AiStudioPageBackend
from gemini_gateway.backends.antigravity import AntigravityBackend
from gemini_gateway.backends.api_key import ApiKeyBackend
from gemini_gateway.backends.base import Backend
from gemini_gateway.backends.code_assist import CodeAssistBackend
from gemini_gateway.backends.executor import ExecutorBackend
from gemini_gateway.backends.executor_hub import ExecutorHub
from gemini_gateway.backends.vertex import VertexExpressBackend
from gemini_gateway.context import Gateway
from gemini_gateway.dispatch import Dispatcher
from gemini_gateway.errors import INTERNAL_MESSAGE, GatewayError, RequestError
from gemini_gateway.metrics import Metrics, metrics_route
from gemini_gateway.oauth import flavors
from gemini_gateway.oauth.antigravity import AntigravityManager
from gemini_gateway.oauth.manager import OAuthManager
from gemini_gateway.observe import ObserveMiddleware
from gemini_gateway.pool.credential import Credential, credential_id
from gemini_gateway.pool.pool import CredentialPool, configure_quotas
from gemini_gateway.pool.proxies import configure_proxies, split_proxies
from gemini_gateway.recorder import RecorderMiddleware, start_recorder, stop_recorder
from gemini_gateway.redaction import REDACTOR
from gemini_gateway.routes import anthropic, executor, gemini, health, openai
from gemini_gateway.routes.batches import routes as batch_routes
from gemini_gateway.routes.caches import routes as cache_routes
from gemini_gateway.routes.errors import dialect_of_path, error_response
from gemini_gateway.routes.file_search import routes as file_search_routes
from gemini_gateway.routes.files import routes as file_routes
from gemini_gateway.routes.front_door import FrontDoor
from gemini_gateway.routes.interactions import routes as interaction_routes
from gemini_gateway.routes.openai_image_edits import routes as image_edit_routes
from gemini_gateway.routes.operations import routes as operation_routes
from gemini_gateway.settings import Settings, load_settings
from gemini_gateway.shared import start_shared, stop_shared
from gemini_gateway.shared.gate import Gate, rate_gate
from gemini_gateway.store_link import keep_trying, open_store
from gemini_gateway.tracing import start_tracing
from gemini_gateway.transport.build import build_transports

log = logging.getLogger("gemini_gateway")


# The admin app's paths (each also with what follows a "/"), besides "/" itself: the management
# API, the UI and its static files, the OpenAPI page and document, the live log.
# tests/test_app_split.py checks every route of the admin app against them, and no other route.
ADMIN_PATHS = ("/api", "/admin", "/docs", "/openapi.json", "/ws/logs")


def is_admin_path(path: str) -> bool:
    return path == "/" or any(path == p or path.startswith(p + "/") for p in ADMIN_PATHS)


class GatewayApp:
    """The gateway's ASGI app: the front door, then the API app or the admin app (see above)."""

    def __init__(
        self,
        gateway: Gateway,
        routes: list[BaseRoute],
        middleware: list[Middleware],
        handlers: dict[Any, Any],
        lifespan: Any,
        build_admin: Any,
    ) -> None:
        self.state = State({"gateway": gateway})
        self.front_door = FrontDoor(routes, middleware)
        self.api = Starlette(
            routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan
        )
        self.api.state.gateway = gateway
        self.shared_gate: Gate | None = None  # the rate-limit bucket replicas share (shared.gate)
        self._build_admin: Callable[[], ASGIApp] = build_admin
        self._admin: ASGIApp | None = None

    @property
    def admin(self) -> ASGIApp:
        if self._admin is None:
            self._admin = self._build_admin()
        return self._admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.shared_gate is not None:
            await self.shared_gate(scope)
        if scope["type"] == "lifespan":
            await self.api(scope, receive, send)
            return
        scope["app"] = self  # handlers find the gateway there, as under Starlette
        if await self.front_door.serve(scope, receive, send):
            return
        if is_admin_path(scope["path"]):
            await self.admin(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def create_app(settings: Settings | None = None, *, migrate_in_child: bool = False) -> GatewayApp:
    """The gateway's ASGI app. `migrate_in_child`: a due store migration runs in a child process,
    so Alembic never enters this one (`serve` asks for it; tests start apps in-process, by the
    hundred, and migrate in a thread rather than pay a child's start each)."""
    settings = settings or load_settings()
    keys, key_proxies = split_proxies(k.get_secret_value() for k in settings.gemini_api_keys)
    tokens = [t.get_secret_value() for t in settings.gateway_tokens]
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    executor_tokens = [t.get_secret_value() for t in settings.executor_tokens]
    vertex_keys, vertex_proxies = split_proxies(k.get_secret_value() for k in settings.vertex_express_keys)
    for secret in [*keys, *vertex_keys, *tokens, *executor_tokens, *([admin] if admin else [])]:
        REDACTOR.add(secret)

    pool = CredentialPool(settings.pool_strategy)
    pool.routing, pool.account_weight = settings.oauth_routing, settings.oauth_weight
    configure_quotas(pool, settings)
    pool.own_proxies = {
        **{credential_id("api_key", k): p for k, p in key_proxies.items()},
        **{credential_id("vertex", k): p for k, p in vertex_proxies.items()},
    }
    configure_proxies(pool, settings)
    pool.replace("api_key", (Credential(kind="api_key", secret=k) for k in keys))
    pool.replace("vertex", (Credential(kind="vertex", secret=k) for k in vertex_keys))
    backends: dict[str, Backend] = {}
    # Calls naming a file or cached content go to the credential holding it: the affinity binds them.
    affinity = new_affinity(pool, backends)
    dispatcher = Dispatcher(
        pool,
        backends,
        max_retries=settings.max_retries,
        base_cooldown=settings.cooldown_base_seconds,
        max_cooldown=settings.cooldown_max_seconds,
        binder=affinity.bind,
        sticky_seconds=settings.sticky_seconds,
    )
    executors = ExecutorHub(pool, executor_tokens, settings.executor_heartbeat_seconds)
    accounts = OAuthManager(settings, pool)
    antigravity = AntigravityManager(settings, pool, flavors.antigravity(settings))
    antigravity.logins = accounts.logins  # one set of started logins; each knows its flavor
    pages = AiStudioService(settings, pool)
    gateway = Gateway(
        settings=settings,
        pool=pool,
        dispatcher=dispatcher,
        auth=Authenticator(tokens, admin),
        affinity=affinity,
        executors=executors,
        oauth=accounts,
        antigravity=antigravity,
        aistudio=pages,
    )
    pages.load_profiles()  # reads the profile folder only: no browser until a page is needed

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if not await open_store(gateway, migrate_in_child=migrate_in_child):
            log.error("store unavailable, serving without it until it answers: %s", gateway.store_error)
        await start_affinity(gateway)  # owners of files and cached contents, from the store
        await start_admin(gateway)  # settings stored in the admin UI apply before anything reads them
        settings = gateway.settings  # built again with the stored values (admin/stored.py)
        # The one place that chooses which transport serves which calls (see transport.build).
        transports = gateway.transports = build_transports(
            proxy=settings.upstream_proxy,
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_timeout,
        )
        backends["api_key"] = ApiKeyBackend(
            transports.models, transports.http, settings.gemini_base_url, transports.via
        )
        backends["executor"] = ExecutorBackend(executors, settings.upstream_timeout)
        backends["vertex"] = VertexExpressBackend(
            transports.models, transports.http, settings.vertex_base_url, transports.via
        )
        backends["oauth"] = CodeAssistBackend(accounts, transports.via)
        backends["antigravity"] = AntigravityBackend(antigravity, transports.via)
        backends["aistudio"] = AiStudioPageBackend(pages)
        await accounts.start(gateway, admin_state(gateway).box)  # files, OAUTH_CREDS_JSON, the store
        await antigravity.start(gateway, admin_state(gateway).box)  # the same, for Antigravity accounts
        await pages.start(transports.http)
        _warn_if_no_credentials(gateway)  # after every source (env, files, store) has filled the pool
        shared = await start_shared(gateway)  # replicas: switches, cooldowns, limits, admin changes
        if settings.redis_url is not None:
            app.shared_gate = rate_gate(gateway.auth, shared.state)
        saver = asyncio.create_task(_save_pool_periodically(gateway))
        healer = start_healer(gateway)  # health-disabled keys re-checked on a schedule
        await start_recorder(gateway)  # replays any spool a crash left behind
        waiting = None
        if gateway.database is None:  # tried again in the background, with /health/ready saying so
            waiting = asyncio.create_task(
                keep_trying(gateway, lambda: _attach_store(gateway), migrate_in_child=migrate_in_child)
            )
        _tune_gc()
        try:
            yield
        finally:
            if waiting is not None:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
            await stop_recorder(gateway)  # flushes the queue while the store is still open
            await stop_healer(healer)
            await stop_shared(gateway)
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
            await _save_pool(gateway)
            for backend in backends.values():
                await backend.aclose()
            await transports.aclose()
            if gateway.database is not None:
                await gateway.database.aclose()
            await stop_admin(gateway)
            if gateway.tracing is not None:  # the spans still batched go out before the process ends
                await asyncio.to_thread(gateway.tracing.shutdown)

    routes: list[BaseRoute] = [*health.routes()]
    # Before OpenAI's `GET /v1/models/{model:path}`: `GET /v1/models/{m}/operations/{id}`.
    routes.extend(operation_routes())
    # OpenAI's routes first: `GET /v1/models` is shared, and that handler sends Google clients on.
    routes.extend(openai.routes())
    routes.extend(image_edit_routes())
    routes.extend(anthropic.routes())
    # Before Gemini's and the Files API's: `models/{m}:batchGenerateContent`, `files/{id}:download`.
    routes.extend(batch_routes())
    routes.extend(file_search_routes())
    routes.extend(gemini.routes())
    routes.extend(file_routes())
    routes.extend(cache_routes())
    routes.extend(interaction_routes())
    routes.extend(executor.routes())
    metrics = gateway.metrics = Metrics()
    routes.append(metrics_route(gateway, metrics))
    # Only with OTEL_EXPORTER_OTLP_ENDPOINT: without it OpenTelemetry is never imported.
    tracing = gateway.tracing = start_tracing(
        settings.otel_exporter_otlp_endpoint, settings.resolved_replica_id
    )
    gateway.observers.append(metrics)
    if tracing is not None:
        gateway.observers.append(tracing)
    # First the outermost: the admin's guard and CORS wrap every route and the recorder (the admin
    # adds the live log's observer); the observers read the Exchange the recorder's tee fills.
    middleware = [
        *admin_middleware(gateway),
        Middleware(ObserveMiddleware, observers=gateway.observers),
        Middleware(RecorderMiddleware, gateway=gateway),  # the tee: every API route, no handler edits
    ]
    handlers = _error_handlers()
    app = GatewayApp(
        gateway, routes, middleware, handlers, lifespan, lambda: _admin_app(gateway, middleware, handlers)
    )
    return app


def _admin_app(gateway: Gateway, middleware: list[Middleware], handlers: dict[Any, Any]) -> ASGIApp:
    """The FastAPI app of the management API and UI, built on the first request it serves."""
    from fastapi import FastAPI

    from gemini_gateway.admin import (
        aistudio_api,
        install_admin,
        logs_api,
        oauth_api,
        oauth_callback,
        pool_api,
    )

    log.info("loading the admin app (first management request)")
    app = FastAPI(title="gemini-gateway", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.gateway = gateway
    app.include_router(health.api_router())  # for the OpenAPI page: the API app serves them
    app.include_router(pool_api.router)
    app.include_router(logs_api.router)
    app.include_router(oauth_api.router)
    app.include_router(oauth_callback.callback_router)
    app.include_router(aistudio_api.router)
    install_admin(app, gateway)
    for exc_class, handler in {**handlers, **_validation_handlers()}.items():
        app.add_exception_handler(exc_class, handler)
    app.user_middleware = list(middleware)
    return app


GC_GEN0_THRESHOLD = 20_000


def _tune_gc() -> None:
    """Make CPython's cyclic garbage collector cheap for a long-running server, once per process.

    Under load, the in-flight requests' objects (and the recorder's queue) trip the default gen-0
    threshold of 700 every few requests; each collection walks them again and promotes them until
    full collections scan the whole heap: a quarter of the gateway's CPU in bench/ profiles.
    Freezing what start-up built (modules, app, pool: ~125k objects) keeps it out of every
    collection, and a higher gen-0 threshold makes collections rarer. Cycles are still collected.
    """
    if gc.get_threshold()[0] >= GC_GEN0_THRESHOLD:
        return  # done already: tests start many apps in one process
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
    _trim_heap()


def _trim_heap() -> None:
    """Hand the heap that start-up freed (import-time temporaries, the store's first reads) back
    to the OS: glibc keeps freed memory below its top chunk for reuse, which an idle process
    never makes, and it counts in the RSS (~2 MB in bench/idle.py). Not glibc: nothing to do."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):  # musl, macOS and others have no malloc_trim
        return
    trim(0)


async def _attach_store(gateway: Gateway) -> None:
    """What start-up loads from the store, for a store that answered only later."""
    await start_affinity(gateway)
    await load_admin_store(gateway)
    for accounts in (gateway.oauth, gateway.antigravity):
        if accounts is not None:
            accounts.database, accounts.box = gateway.database, admin_state(gateway).box
            await accounts.reload()


def _warn_if_no_credentials(gateway: Gateway) -> None:
    if len(gateway.pool):
        return
    if gateway.settings.executor_tokens:
        log.info("no upstream credential yet: model calls answer 503 until an executor tab connects")
        return
    log.warning(
        "no upstream credentials (GEMINI_API_KEYS, VERTEX_EXPRESS_KEYS, OAuth accounts, AI Studio profiles, "
        "keys added in the admin UI): every model call will answer 503 until some are added"
    )


async def _save_pool(gateway: Gateway) -> None:
    if gateway.database is None or not gateway.pool.dirty:
        return
    kinds = {c.id: c.kind for c in gateway.pool}
    states = {cid: (kinds[cid], state) for cid, state in gateway.pool.export_state().items()}
    try:
        await gateway.database.save_pool_state(states)
    except Exception as exc:  # the store may be down; state is saved again on the next tick
        gateway.pool.dirty = True
        log.warning("could not save pool state: %s", type(exc).__name__)


async def _save_pool_periodically(gateway: Gateway) -> None:
    while True:
        await asyncio.sleep(gateway.settings.pool_state_flush_seconds)
        await _save_pool(gateway)


def _error_handlers() -> dict[Any, Any]:
    # Routes that do not answer errors themselves (admin API, health, unknown paths) answer in
    # Google's envelope, as the Gemini routes do.
    async def gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_response(exc, dialect_of_path(request.url.path))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        path = request.url.path
        if exc.status_code == 404:
            message = f"the route {request.method} {path} does not exist"
            return error_response(GatewayError(message, status_code=404), dialect_of_path(path))
        if exc.status_code == 405:
            message = f"method {request.method} is not allowed on {path}"
            return error_response(GatewayError(message, status_code=405), dialect_of_path(path))
        return error_response(
            GatewayError(str(exc.detail), status_code=exc.status_code), dialect_of_path(path)
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(GatewayError(INTERNAL_MESSAGE), dialect_of_path(request.url.path))

    return {GatewayError: gateway_error, HTTPException: http_error, Exception: unexpected}


def _validation_handlers() -> dict[Any, Any]:
    """FastAPI's own: a management request whose body or parameters do not fit its model."""
    from fastapi.exceptions import RequestValidationError

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        return error_response(RequestError(f"Invalid request: {problems}"), "gemini")

    return {RequestValidationError: validation_error}

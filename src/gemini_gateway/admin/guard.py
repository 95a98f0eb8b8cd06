"""Plain ASGI middleware at the edge: who an admin request comes from, and CORS for the client API.

`AdminGuard` turns a valid session cookie into an identity in the scope (which `Authenticator.admin`
and `.client` honour), refuses cross-origin admin requests, demands the CSRF header on every
cookie-authenticated write. Wrong tokens are braked where they are checked (`Authenticator`, see
gemini_gateway.brake). `ClientCors` answers browsers for the model API only, with the origins of the
CORS_ORIGINS setting; admin paths never get CORS headers.

The scheme and host are the request's own: `X-Forwarded-*` and `Forwarded` are never read here, as
any client can send them. `forwarded.TrustedProxies` (under `serve`) puts a trusted proxy's values
into the scope's scheme and Host header before this runs.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

from starlette.middleware.cors import CORSMiddleware

from gemini_gateway.admin.sessions import CSRF_HEADER, SESSION_COOKIE, Session
from gemini_gateway.auth import SCOPE_IDENTITY, ClientIdentity, token_from_scope
from gemini_gateway.errors import GatewayError
from gemini_gateway.routes.asgi import Receive, Scope, Send
from gemini_gateway.routes.errors import send_error

if TYPE_CHECKING:
    from gemini_gateway.admin.state import AdminState
    from gemini_gateway.context import Gateway

# Only the admin's own socket: /ws/executor is called from AI Studio tabs, cross-origin by design.
ADMIN_PREFIXES = ("/api/", "/ws/logs")
NOT_CLIENT_API = ("/api/", "/ws/", "/admin", "/docs", "/openapi.json", "/health")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXPOSED_HEADERS = ["x-gateway-credential", "x-gateway-overhead-ms", "retry-after"]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def request_scheme(scope: Scope) -> str:
    """http or https, as the client used it (a trusted proxy's word already applied to the scope)."""
    scheme = str(scope.get("scheme", "http"))
    return {"ws": "http", "wss": "https"}.get(scheme, scheme)


def session_id(scope: Scope) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw or SESSION_COOKIE not in raw:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(raw)
    except Exception:  # a malformed Cookie header is the client's problem: treat it as absent
        return None
    morsel = cookie.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None


def cross_origin(scope: Scope) -> bool:
    """True when a browser says the request comes from another site than this gateway."""
    if (_header(scope, b"sec-fetch-site") or "").lower() == "cross-site":
        return True
    origin = _header(scope, b"origin")
    if origin is None:
        return False
    host = _header(scope, b"host") or ""
    return origin.rstrip("/").lower() != f"{request_scheme(scope)}://{host}".lower()


class AdminGuard:
    def __init__(self, app: Any, gateway: Gateway, state: AdminState) -> None:
        self.app = app
        self.gateway = gateway
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sid = session_id(scope)
        if scope["path"].startswith(ADMIN_PREFIXES):
            if sid is not None and self.state.sessions.shared is not None:
                await self.state.sessions.find(sid)  # a session another replica made
            refusal = self._admin(scope, sid)
            if refusal is not None:
                await _refuse(scope, send, *refusal)
                return
        elif sid is not None:
            await self.client_session(scope, sid)
        await self.app(scope, receive, send)

    async def client_session(self, scope: Scope, sid: str) -> None:
        """A model API request that came with a session cookie (`sid`): the admin's playground
        calls the model API with the session, and must prove the page sent it. The front door
        calls this itself for the model calls it serves (for a request without a cookie, which
        has nothing to prove, there is nothing to do)."""
        if self.state.sessions.shared is not None:
            await self.state.sessions.find(sid)  # a session another replica made
        if token_from_scope(scope) is not None:
            return
        session = self.state.sessions.get(sid)
        if (
            session is not None
            and not cross_origin(scope)
            and session.csrf_matches(_header(scope, CSRF_HEADER.encode()))
        ):
            scope[SCOPE_IDENTITY] = playground_identity(session)

    def _admin(self, scope: Scope, sid: str | None) -> tuple[int, str] | None:
        if cross_origin(scope):
            return 403, "cross-origin requests to the admin API are refused"
        if token_from_scope(scope) is not None:
            return None  # the route checks it (Authenticator.admin), braking wrong ones
        session: Session | None = self.state.sessions.get(sid)
        if session is None:
            return None  # the route answers 401 (or serves the login itself)
        writes = scope["type"] == "http" and scope.get("method", "GET") not in SAFE_METHODS
        if writes and not session.csrf_matches(_header(scope, CSRF_HEADER.encode())):
            return 403, "missing or wrong CSRF token (send the x-csrf-token header)"
        scope[SCOPE_IDENTITY] = session.identity
        return None


def playground_identity(session: Session) -> ClientIdentity:
    return ClientIdentity(id=f"{session.identity.id}:ui", tier=session.identity.tier)


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        # Before the handshake is accepted, a close is answered as HTTP 403 by the server.
        await send({"type": "websocket.close", "code": 4403, "reason": message[:120]})
        return
    await send_error(send, GatewayError(message, status_code=status), "gemini")


class ClientCors:
    """CORS for the model API with the origins currently in settings (rebuilt when they change)."""

    def __init__(self, app: Any, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway
        self._origins: list[str] | None = None
        self._cors: CORSMiddleware | None = None

    def _middleware(self) -> CORSMiddleware | None:
        origins = self.gateway.settings.cors_origins
        if origins is not self._origins:  # an edit assigns a new list: identity is enough to notice
            self._origins = origins
            self._cors = (
                CORSMiddleware(
                    self.app,
                    allow_origins=list(origins),
                    allow_methods=["GET", "POST", "OPTIONS"],
                    allow_headers=["*"],
                    expose_headers=EXPOSED_HEADERS,
                    max_age=600,
                )
                if origins
                else None
            )
        return self._cors

    def idle_for(self, scope: Scope) -> bool:
        """True when CORS has nothing to do for this HTTP request: no origins are set, the path is
        not the model API's, or no browser sent it (no Origin header), so `send` needs no wrapper.
        The front door asks it to serve such model calls without this middleware."""
        if self._middleware() is None or scope["path"].startswith(NOT_CLIENT_API):
            return True
        return all(key != b"origin" for key, _ in scope["headers"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cors = self._middleware() if scope["type"] == "http" else None
        if cors is None or scope["path"].startswith(NOT_CLIENT_API):
            await self.app(scope, receive, send)
            return
        await cors(scope, receive, send)  # type: ignore[arg-type]  # starlette's looser Send type

"""The outermost ASGI app: model calls go straight to their handler, everything else to FastAPI.

Every model call (`:generateContent`, chat completions, messages, ...) is a plain ASGI endpoint
that needs no dependency injection, request object or exception translation: it answers every
error itself, in its caller's dialect. Routing it through FastAPI still costs a walk over some
hundred routes with a regex each, plus five wrapper layers, which bench/ profiles put at a tenth
of the gateway's CPU per call (and FastAPI asks OpenTelemetry whether it is configured on every
request). So the front door matches those routes itself (a dict for fixed paths, a few regexes
for `models/{target}`) and runs them through the same user middleware (admin guard, CORS, live
events, the recorder) as FastAPI would; any other request (admin UI, GETs, docs, unknown paths)
goes through FastAPI unchanged.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from gemini_gateway.admin.guard import ADMIN_PREFIXES, AdminGuard, ClientCors, session_id
from gemini_gateway.errors import INTERNAL_MESSAGE, GatewayError
from gemini_gateway.observe import Finished, ObserveMiddleware, observed, tell
from gemini_gateway.recorder.middleware import (
    CaptureReceive,
    RecorderMiddleware,
    ResponseTee,
    begin_capture,
    end_capture,
    failure_of,
)
from gemini_gateway.routes import asgi
from gemini_gateway.routes.asgi import ASGIEndpoint
from gemini_gateway.routes.errors import dialect_of_path, send_error

log = logging.getLogger("gemini_gateway")

Params = dict[str, str]
Handler = Callable[[asgi.Scope, asgi.Receive, asgi.Send], Awaitable[None]]


class HotRoutes:
    """The POST routes served by plain ASGI endpoints, in the router's order of precedence."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.fixed: dict[str, ASGIEndpoint] = {}
        patterns: list[tuple[str, re.Pattern[str], ASGIEndpoint]] = []
        claimed: set[str] = set()
        for route in routes:
            if not isinstance(route, Route) or not isinstance(route.app, ASGIEndpoint):
                continue
            if "POST" not in (route.methods or ()) or route.path in claimed:
                continue  # the first route for a path wins, as in Starlette's router
            claimed.add(route.path)
            if route.param_convertors:
                if any(c.regex != "[^/]+" for c in route.param_convertors.values()):
                    continue  # `{x:path}` and typed params: leave those to the router
                patterns.append((route.path, route.path_regex, route.app))
            else:
                self.fixed[route.path] = route.app
        # A linear walk over every pattern cost ~17 regex matches per model call once batches,
        # interactions and file search stores had theirs. A route whose only parameter is in its
        # last segment can match only paths whose parent is its literal prefix, so those are
        # indexed by that prefix; the rest are tried for every path. Each index keeps the
        # router's order over both kinds, so precedence is Starlette's.
        rest: list[int] = []
        by_parent: dict[str, list[int]] = {}
        for i, (path, _, _) in enumerate(patterns):
            parent, _, last = path.rpartition("/")
            if "{" in parent or "}" not in last:
                rest.append(i)
            else:
                by_parent.setdefault(parent + "/", []).append(i)
        self.rest: list[Candidate] = [
            (None, regex, endpoint) for _, regex, endpoint in (patterns[i] for i in rest)
        ]
        self.by_parent = {
            parent: [
                (_last_segment(patterns[i][0]) if i in indexed else None, *patterns[i][1:])
                for i in sorted([*indexed, *rest])
            ]
            for parent, indexed in by_parent.items()
        }

    def match(self, path: str) -> tuple[ASGIEndpoint, Params] | None:
        endpoint = self.fixed.get(path)
        if endpoint is not None:
            return endpoint, {}
        cut = path.rfind("/") + 1
        candidates = self.by_parent.get(path[:cut], self.rest)
        simple = not path.endswith("\n")  # a regex's `$` also matches before a final newline
        for last, regex, endpoint in candidates:
            if last is not None and simple:
                # A route indexed by this parent whose last segment is `{name}suffix`: the path
                # is its match when that segment ends with the suffix and leaves a name before it.
                # Most calls are tried against a few such routes (`:batchGenerateContent`, ...)
                # before theirs, so this spares their regexes.
                name, suffix = last
                if len(path) - cut > len(suffix) and path.endswith(suffix):
                    return endpoint, {name: path[cut : len(path) - len(suffix)]}
                continue
            found = regex.match(path)
            if found is not None:
                return endpoint, found.groupdict()
        return None


# A route of the index: its last segment as (parameter name, literal suffix) when it is that
# simple, else None (its regex decides); then its regex and endpoint.
Candidate = tuple[tuple[str, str] | None, re.Pattern[str], ASGIEndpoint]
_SIMPLE_LAST = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}([^{}/]*)")


def _last_segment(path: str) -> tuple[str, str] | None:
    found = _SIMPLE_LAST.fullmatch(path.rpartition("/")[2])
    return (found.group(1), found.group(2)) if found is not None else None


async def _call_matched(scope: Scope, receive: Receive, send: Send) -> None:
    # The ASGIEndpoint's handler itself (HotRoutes takes only those): one coroutine fewer a call.
    await scope["endpoint"].handler(scope, receive, send)


class FrontDoor:
    """Serves the hot routes through `middleware`; `serve` says False for anything else."""

    def __init__(self, routes: Sequence[BaseRoute], middleware: Sequence[Middleware]) -> None:
        self.hot = HotRoutes(routes)
        chain: Any = _call_matched
        for cls, args, kwargs in reversed(middleware):  # as Starlette stacks them: first is outermost
            chain = cls(chain, *args, **kwargs)
        self.chain = chain
        self.direct = DirectCalls.of(chain)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        matched = self.hot.match(scope["path"])
        if matched is None:
            return False
        scope["endpoint"], scope["path_params"] = matched
        direct = self.direct
        if direct is not None and direct.takes(scope):  # type: ignore[arg-type]
            # starlette's types are looser (MutableMapping) than the handlers' (dict)
            await direct.serve(scope, receive, send, matched[0].handler)  # type: ignore[arg-type]
            return True
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.chain(scope, receive, watch)
        except Exception:
            _failed(scope)
            if started:
                raise
            await send_error(send, GatewayError(INTERNAL_MESSAGE), dialect_of_path(scope["path"]))
        return True


def _failed(scope: Scope) -> None:
    # What Starlette's ServerErrorMiddleware would do: a bug becomes a 500 in Google's envelope
    # with the traceback in the log only; after the first byte, the server can only drop the
    # connection.
    log.exception("unexpected error on %s %s", scope["method"], scope["path"])


class DirectCalls:
    """The gateway's middleware (admin guard, client CORS, observe, the recorder's tee) done in one
    frame for a model call, with one wrapper of `send` (a `ResponseTee`) in place of three.

    Every wake-up of a stream resumes each coroutine between the server and the relay, and every
    response message passed each middleware's `send` wrapper: for a streamed call those frames
    were a measurable share of the gateway's CPU (bench/, issue 16). Here the same steps run in
    the same order with the same outcome: the guard's session check, the observers' status and
    first-byte time, the recorder's capture (sealed before the last byte leaves) and its hand-over,
    then the observers told. A request that CORS must answer for (a browser's, when origins are
    set) goes through the middleware chain instead, as does every request when the middleware is
    not the gateway's own (`of` gives None then).
    """

    __slots__ = ("cors", "guard", "observe", "recording")

    def __init__(
        self, guard: AdminGuard, cors: ClientCors, observe: ObserveMiddleware, recording: RecorderMiddleware
    ) -> None:
        self.guard = guard
        self.cors = cors
        self.observe = observe
        self.recording = recording

    @classmethod
    def of(cls, chain: Any) -> DirectCalls | None:
        """The direct way through `chain`, when it is exactly the gateway's middleware."""
        kinds = (AdminGuard, ClientCors, ObserveMiddleware, RecorderMiddleware)
        layers: list[Any] = []
        for kind in kinds:
            if type(chain) is not kind:
                return None
            layers.append(chain)
            chain = chain.app
        if chain is not _call_matched:
            return None
        return cls(*layers)

    def takes(self, scope: asgi.Scope) -> bool:
        return self.cors.idle_for(scope) and not scope["path"].startswith(ADMIN_PREFIXES)

    async def serve(
        self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send, handler: Handler
    ) -> None:
        sid = session_id(scope)
        if sid is not None:
            await self.guard.client_session(scope, sid)
        observers = self.observe.observers
        if observers and not observed(scope):
            observers = ()
        started = time.perf_counter()
        recorder = self.recording.gateway.recorder
        activity = None if recorder is None else recorder.activity
        capture = None if recorder is None else begin_capture(recorder, scope)
        tee = ResponseTee(send, capture, recorder)
        if activity is not None:
            activity.enter()
        try:
            try:
                await handler(scope, receive if capture is None else CaptureReceive(receive, capture), tee)
            except BaseException as exc:
                if capture is not None:
                    capture.failure = failure_of(exc)
                raise
            finally:
                if capture is not None and recorder is not None:
                    end_capture(recorder, capture)
                if activity is not None:
                    activity.leave()
                if observers:
                    tell(observers, Finished.now(scope, tee.status, started, tee.first_body))
        except Exception:
            _failed(scope)
            if tee.status is not None:
                raise
            await send_error(send, GatewayError(INTERNAL_MESSAGE), dialect_of_path(scope["path"]))

"""The CLI login's temporary HTTP server on a loopback address (`gemini-gateway creds login`).

Apart from `oauth.login`, which the gateway imports: this is aiohttp's server, needed by the CLI only.
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web

from gemini_gateway.oauth.login import CALLBACK_PATH, DONE_PAGE, LoginError


class LoopbackReceiver:
    """A temporary HTTP server on a loopback address that receives the redirect with the code."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, path: str = CALLBACK_PATH) -> None:
        self.host, self.port, self.path = host, port, path
        self.redirect_uri = ""
        self._expected = ""
        self._code: asyncio.Future[str] | None = None
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> LoopbackReceiver:
        self._code = asyncio.get_running_loop().create_future()
        app = web.Application()
        app.router.add_get(self.path, self._callback)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Binding our own socket tells the port before the server starts (port 0: any free one).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        await web.SockSite(self._runner, sock).start()
        self.redirect_uri = f"http://{self.host}:{sock.getsockname()[1]}{self.path}"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def expect(self, state: str) -> None:
        self._expected = state

    async def wait(self, seconds: float) -> str:
        assert self._code is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._code), seconds)
        except TimeoutError:
            raise LoginError(f"no login came back within {seconds:g}s") from None

    async def _callback(self, request: web.Request) -> web.Response:
        assert self._code is not None
        query = request.query
        if self._code.done():
            return web.Response(status=409, text="This login is finished already.")
        if query.get("state") != self._expected:
            # Not our redirect (a stale tab, another program): ignore it and keep waiting.
            return web.Response(status=400, text="Unknown login state.")
        if "error" in query:
            self._code.set_exception(LoginError(f"Google refused the login: {query['error']}"))
            return web.Response(status=400, text=f"Login refused: {query['error']}")
        code = query.get("code")
        if not code:
            return web.Response(status=400, text="No code in the redirect.")
        self._code.set_result(code)
        return web.Response(text=DONE_PAGE, content_type="text/html")

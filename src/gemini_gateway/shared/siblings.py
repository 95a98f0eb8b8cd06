"""A worker of `serve --workers N` listens on a loopback port of its own, for its siblings only.

The workers share the public port, so a relay another replica sends for a tab reaches any of
them; the one that does not hold the tab passes it on to the worker that does, at the address
this module opens (routes/executor_relay.py). Only the relay routes are served here, and only
signed requests are answered, as on the public port.

`serve` hands its workers a group id in `WORKER_GROUP_ENV`: two workers with the same id are
processes of one `serve`, on one machine, so one's loopback address reaches the other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

    from gemini_gateway.context import Gateway

log = logging.getLogger("gemini_gateway.shared")

WORKER_GROUP_ENV = "GATEWAY_WORKER_GROUP"


def worker_group() -> str:
    """The id this process shares with its sibling workers; empty when it runs alone."""
    return os.environ.get(WORKER_GROUP_ENV, "")


class SiblingPort:
    """The relay routes on 127.0.0.1 at a free port, in this process's event loop."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.url = ""
        self._server: uvicorn.Server | None = None

    async def start(self) -> str:
        import uvicorn
        from starlette.applications import Starlette

        from gemini_gateway.routes import executor_relay
        from gemini_gateway.server.http import HttpProtocol

        app = Starlette(routes=executor_relay.routes())
        app.state.gateway = self.gateway  # what routes find through gateway_of(scope)
        config = uvicorn.Config(
            app,
            lifespan="off",
            http=HttpProtocol,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=2,
        )
        config.load()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)  # as Server.serve sets it; "off": nothing runs
        await server.startup(sockets=[sock])
        self._server = server
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        log.info("relays for this worker's executor tabs are passed on to %s", self.url)
        return self.url

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(Exception):
                await server.shutdown()

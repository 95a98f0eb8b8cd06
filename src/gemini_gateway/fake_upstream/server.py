"""Running the fake as a standalone server (`gemini-gateway fake-upstream`)."""

from __future__ import annotations

import uvicorn

from gemini_gateway.fake_upstream.app import create_fake_app
from gemini_gateway.fake_upstream.state import FakeState

# Hanging calls ("hang" fault) would otherwise hold shutdown until their clients give up.
SHUTDOWN_GRACE_SECONDS = 1


def uvicorn_config(state: FakeState, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    """The server settings the fake is measured with: uvloop, httptools, no access log."""
    return uvicorn.Config(
        create_fake_app(state),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        server_header=False,
        proxy_headers=False,  # nothing sits in front of the fake; the middleware only costs time
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


def serve_fake(
    host: str = "127.0.0.1",
    port: int = 8090,
    *,
    valid_keys: set[str] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the fake Gemini upstream until interrupted.

    `valid_keys=None` accepts any non-empty API key. Point clients at
    `http://{host}:{port}` (e.g. `genai.Client(http_options={"base_url": ...})`); script faults
    and read the call log through the /_fake control routes.
    """
    uvicorn.Server(uvicorn_config(FakeState(valid_keys), host, port, log_level)).run()

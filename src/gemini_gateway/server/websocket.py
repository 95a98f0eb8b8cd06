"""The websocket protocol uvicorn hands an upgraded connection to, imported on the first upgrade.

uvicorn's default (`ws="auto"`) imports its websocket protocol, and with it the `websockets`
library (~2 MiB resident), as the server starts. The gateway's one websocket is the admin UI's
live log (`/ws/logs`), which many gateways never serve, and idle memory is a target of its own
(bench/README.md, "Idle memory"). `serve` names this class instead: uvicorn makes one per
upgraded connection, with the same arguments, and gets the protocol `auto` would have chosen.
"""

from __future__ import annotations

import asyncio
from typing import Any


class LazyWebSocketProtocol:
    def __new__(cls, *args: Any, **kwargs: Any) -> asyncio.Protocol:  # type: ignore[misc]
        from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

        if AutoWebSocketsProtocol is None:  # uvicorn[standard], a dependency, brings `websockets`
            raise RuntimeError("no websocket library is installed for uvicorn")
        protocol: asyncio.Protocol = AutoWebSocketsProtocol(*args, **kwargs)
        return protocol

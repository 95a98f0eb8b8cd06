"""Browser executors as a backend: calls run in a connected tab, results come back over its socket.

The tab forwards the canonical (Gemini-native) call to Gemini with its own access and sends each
GenerateContentResponse back as it arrives, so this backend only moves bytes between the task
queue the hub fills and the dispatcher. Failures map onto the common errors:

- the tab is gone before any payload        UpstreamUnreachable  -> the dispatcher fails over
- the tab is gone after a payload           StreamCut
- the tab reports Google's error answer     UpstreamError (status and body as Google sent them)
- nothing arrives for `idle_timeout`        UpstreamUnreachable / StreamCut with status 504

Giving a task up (client disconnect, timeout) sends `cancel` to the tab, which aborts its fetch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from gemini_gateway.backends.base import UpstreamCall, UpstreamReply
from gemini_gateway.backends.executor_hub import ExecutorConnection, ExecutorHub, ExecutorTask
from gemini_gateway.backends.executor_protocol import ALL_CAPABILITIES
from gemini_gateway.errors import GatewayError, StreamCut, UpstreamUnreachable
from gemini_gateway.pool.credential import Credential


class ExecutorBackend:
    kind: ClassVar[str] = "executor"

    def __init__(self, hub: ExecutorHub, idle_timeout: float) -> None:
        self.hub = hub
        self.idle_timeout = idle_timeout

    def supports(self, method: str) -> bool:
        return method in ALL_CAPABILITIES

    async def aclose(self) -> None:
        await self.hub.aclose()

    async def unary(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        connection = self.hub.connection_of(credential)
        task = connection.start(call)
        body = b""
        try:
            while (item := await next_item(connection, task, self.idle_timeout)) is not None:
                body = item  # a unary answer is one chunk; a second would replace, never merge
        except BaseException:
            # Cancelled (client gone) or failed: make sure the tab stops spending quota on it.
            connection.cancel(task, "the gateway gave the call up")
            raise
        return UpstreamReply(200, body)

    async def stream(self, call: UpstreamCall, credential: Credential) -> ExecutorEventStream:
        # Returns at once: the tab's verdict (first chunk or error) is the first event, which the
        # dispatcher awaits inside its failover loop, so errors there still fail over.
        connection = self.hub.connection_of(credential)
        return ExecutorEventStream(connection, connection.start(call), self.idle_timeout)


class ExecutorEventStream:
    def __init__(self, connection: ExecutorConnection, task: ExecutorTask, idle_timeout: float) -> None:
        self.connection = connection
        self.task = task
        self.idle_timeout = idle_timeout

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events()

    async def _events(self) -> AsyncIterator[bytes]:
        while (item := await next_item(self.connection, self.task, self.idle_timeout)) is not None:
            yield item

    async def aclose(self) -> None:
        self.connection.cancel(self.task, "the client went away")


async def next_item(connection: ExecutorConnection, task: ExecutorTask, idle: float) -> bytes | None:
    """The task's next payload, None when done; raises the task's error or a timeout."""
    try:
        async with asyncio.timeout(idle):
            item = await task.queue.get()
    except TimeoutError:
        connection.cancel(task, "timed out")
        message = f"executor {connection.name} sent nothing for {idle:g}s"
        raise (StreamCut if task.chunks else UpstreamUnreachable)(message, status_code=504) from None
    if isinstance(item, GatewayError):
        raise item
    return item

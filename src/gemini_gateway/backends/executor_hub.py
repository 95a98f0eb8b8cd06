"""Connected executors: one WebSocket each, one pool credential each, their tasks and health.

`ExecutorHub.serve` runs a registered connection until it ends; meanwhile the connection's
credential is in the pool, so the dispatcher can pick it like any API key. Tasks are started by
`ExecutorBackend` (backends/executor.py) and fed here from the socket: every task owns a queue
of payloads ending in `None` (done) or an error.

Health: the gateway sends a heartbeat every `heartbeat_seconds` and the client answers. Silence
(no frame of any kind) for 1.5 intervals marks the executor stale (the pool stops choosing it);
for 3 intervals closes the connection, which fails its tasks over.

A tab that reconnects under the same name with the same token gets its credential's state back
(cooldowns, backoff, counters, an operator's disable), so a reload does not reset a 429 cooldown.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.backends.executor_protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_TIMEOUT,
    RESOURCE_SCOPES,
    ProtocolError,
    RegisterInfo,
    cancel_frame,
    chunk_payload,
    decode,
    heartbeat_frame,
    registered_frame,
    resource_task_frame,
    task_error,
    task_frame,
)
from gemini_gateway.backends.executor_relay import RelayNonces
from gemini_gateway.errors import CallRefused, GatewayError, StreamCut, UpstreamUnreachable
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool

log = logging.getLogger("gemini_gateway.executors")

STALE_AFTER = 1.5  # heartbeat intervals of silence before the pool stops choosing an executor
DROP_AFTER = 3.0  # ... before the connection is closed and its tasks fail over
KEEP_STATE_SECONDS = 86400.0  # how long a departed executor's state waits for it to come back
KEEP_STATE_MAX = 256  # departed executors remembered at most (the oldest are forgotten first)

TaskItem = bytes | GatewayError | None


class ExecutorTask:
    """One call running in a tab; the backend reads `queue` until `None` or an error."""

    __slots__ = ("chunks", "finished", "id", "method", "model", "queue", "stream")

    def __init__(self, task_id: str, method: str, model: str | None, stream: bool = False) -> None:
        self.id = task_id
        self.stream = stream
        self.method = method
        self.model = model
        self.queue: asyncio.Queue[TaskItem] = asyncio.Queue()
        self.chunks = 0  # payloads received; after the first, losing the tab cuts the stream
        self.finished = False


class ExecutorCredential(Credential):
    """A pool credential backed by a live connection; there is no secret to store or mask."""

    __slots__ = ("connection",)

    def __init__(self, connection: ExecutorConnection, credential_id: str, name: str, limit: int) -> None:
        super().__init__(kind="executor", secret="", id=credential_id, label=name, max_concurrency=limit)
        self.connection = connection

    def serves(self, model: str | None) -> bool:
        models = self.connection.info.models
        return model is None or not models or model in models or model in RESOURCE_SCOPES

    def offers(self, method: str, model: str | None) -> bool:
        return self.connection.offers(method, model)

    def usable(self, model: str | None, now: float) -> bool:
        if self.connection.closed or self.connection.stale:
            return False
        return super().usable(model, now)

    def view(self, now: float) -> dict[str, Any]:
        view = super().view(now)
        view.update(self.connection.view())
        return view


class ExecutorConnection:
    def __init__(
        self,
        websocket: WebSocket,
        info: RegisterInfo,
        credential_id: str,
        name: str,
        heartbeat_seconds: float,
    ) -> None:
        self.websocket = websocket
        self.info = info
        self.name = name
        self.heartbeat_seconds = heartbeat_seconds
        self.token_digest = ""  # of the token it registered with; set by the hub
        self.credential = ExecutorCredential(self, credential_id, name, info.max_concurrency)
        self.tasks: dict[str, ExecutorTask] = {}
        self.outbox: asyncio.Queue[bytes | tuple[bytes, asyncio.Future[None]]] = asyncio.Queue()
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.connected_since = time.time()
        self.last_heartbeat: float | None = None
        self.last_seen = time.monotonic()
        self.served = 0
        self.failed = 0
        self.cancelled = 0
        self.last_error: str | None = None
        self.refused: set[tuple[str, str | None]] = set()  # (method, model) the tab said it cannot run
        self._ids = itertools.count(1)
        self._stale_noted = False

    @property
    def stale(self) -> bool:
        """Silent (no frame of any kind) for more than STALE_AFTER heartbeat intervals."""
        return time.monotonic() - self.last_seen > STALE_AFTER * self.heartbeat_seconds

    def offers(self, method: str, model: str | None) -> bool:
        return method in self.info.capabilities and (method, model) not in self.refused

    # Called by the backend ------------------------------------------------------------------

    def start(self, call: UpstreamCall) -> ExecutorTask:
        if self.closed:
            raise UpstreamUnreachable(f"executor {self.name} has disconnected")
        if not self.offers(call.method, call.model):
            raise CallRefused(f"executor {self.name} does not offer {call.method} for {call.model}")
        task = ExecutorTask(str(next(self._ids)), call.method, call.model, call.stream)
        self.tasks[task.id] = task
        self.outbox.put_nowait(task_frame(task.id, call))
        return task

    def start_resource(self, method: str, scope: str, fields: dict[str, Any]) -> ExecutorTask:
        """A Files API or cachedContents task (backends/executor_resources.py builds `fields`)."""
        if self.closed:
            raise UpstreamUnreachable(f"executor {self.name} has disconnected")
        if not self.offers(method, scope):
            raise CallRefused(f"executor {self.name} does not offer {method}")
        task = ExecutorTask(str(next(self._ids)), method, scope)
        self.tasks[task.id] = task
        self.outbox.put_nowait(resource_task_frame(task.id, method, fields))
        return task

    async def send_now(self, frame: bytes, wait_seconds: float) -> None:
        """Send `frame` and wait until it is on the socket: an upload relayed to a slow tab holds
        the client back instead of piling up in the gateway's memory."""
        if self.closed:
            raise UpstreamUnreachable(f"executor {self.name} has disconnected")
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.outbox.put_nowait((frame, sent))
        try:
            async with asyncio.timeout(wait_seconds):
                await sent
        except TimeoutError:
            message = f"executor {self.name} took no data for {wait_seconds:g}s"
            raise UpstreamUnreachable(message, status_code=504) from None

    def cancel(self, task: ExecutorTask, reason: str) -> None:
        """Stop a task the gateway no longer wants; a no-op once it finished."""
        if self.tasks.pop(task.id, None) is None:
            return
        task.finished = True
        self.cancelled += 1
        if not self.closed:
            self.outbox.put_nowait(cancel_frame(task.id, reason))

    # Frames from the tab --------------------------------------------------------------------

    def receive(self, message: dict[str, Any]) -> None:
        self.last_seen = time.monotonic()
        kind = message["type"]
        if kind == "heartbeat":
            self.last_heartbeat = time.time()
            return
        if kind not in ("chunk", "done", "error"):
            return  # unknown types are ignored, so newer clients can add some
        task = self.tasks.get(str(message.get("id")))
        if task is None:
            return  # a task cancelled (or timed out) here that the tab had not stopped yet
        if kind == "chunk":
            task.chunks += 1
            task.queue.put_nowait(chunk_payload(message))
        elif kind == "done":
            self._finish(task, None)
            self.served += 1
        else:
            error = task_error(message, self.name)
            if isinstance(error, CallRefused):
                # Not a failure: the tab cannot run this; the pool stops offering it to the tab.
                self.refused.add((task.method, task.model))
            else:
                self.last_error = error.message[:300]
                self.failed += 1
            self._finish(task, error)

    def _finish(self, task: ExecutorTask, item: TaskItem) -> None:
        del self.tasks[task.id]
        task.finished = True
        task.queue.put_nowait(item)

    def fail_all(self, why: str) -> None:
        """The tab is gone: tasks with nothing received yet fail over, the others are cut."""
        for task in list(self.tasks.values()):
            message = f"executor {self.name} {why}"
            self._finish(task, StreamCut(message) if task.chunks else UpstreamUnreachable(message))

    # The connection's life ------------------------------------------------------------------

    async def run(self) -> None:
        self.outbox.put_nowait(registered_frame(self.credential.id, self.name, self.heartbeat_seconds))
        workers = [
            asyncio.create_task(self._read(), name=f"executor-read-{self.name}"),
            asyncio.create_task(self._write(), name=f"executor-write-{self.name}"),
            asyncio.create_task(self._watch(self.heartbeat_seconds), name=f"executor-watch-{self.name}"),
        ]
        try:
            await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.closed = True
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.fail_all(self.close_reason or "disconnected")
            while not self.outbox.empty():  # frames someone waits for (send_now) never leave now
                item = self.outbox.get_nowait()
                if isinstance(item, tuple) and not item[1].done():
                    item[1].set_exception(UpstreamUnreachable(f"executor {self.name} has disconnected"))
            if self.close_code is not None:
                with contextlib.suppress(Exception):  # the socket may already be gone
                    await self.websocket.close(self.close_code, self.close_reason[:120])

    async def _read(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.close_reason = f"disconnected (code {message.get('code', 1005)})"
                return
            text = message.get("text")
            try:
                self.receive(decode(text if text is not None else message.get("bytes") or b""))
            except ProtocolError as exc:
                # One bad frame should not take down the tab's other tasks: log it and go on.
                self.last_error = exc.message
                log.warning("executor %s sent a bad frame: %s", self.name, exc.message)

    async def _write(self) -> None:
        while True:
            item = await self.outbox.get()
            frame, sent = item if isinstance(item, tuple) else (item, None)
            try:
                await self.websocket.send({"type": "websocket.send", "text": frame.decode()})
            except BaseException:
                if sent is not None and not sent.done():
                    sent.set_exception(UpstreamUnreachable(f"executor {self.name} has disconnected"))
                raise
            if sent is not None and not sent.done():
                sent.set_result(None)

    async def _watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            silent = time.monotonic() - self.last_seen
            if silent > DROP_AFTER * interval:
                self.close_code = CLOSE_TIMEOUT
                self.close_reason = f"missed heartbeats (silent for {silent:.1f}s)"
                log.warning("executor %s %s; closing it", self.name, self.close_reason)
                return
            if self.stale and not self._stale_noted:
                log.warning("executor %s missed a heartbeat; not choosing it until it answers", self.name)
            self._stale_noted = self.stale
            self.outbox.put_nowait(heartbeat_frame())

    def view(self) -> dict[str, Any]:
        """Executor facts for /api/pool, next to the generic credential fields."""
        return {
            "state": "closed" if self.closed else "stale" if self.stale else "connected",
            "connected_since": self.connected_since,
            "last_heartbeat": self.last_heartbeat,
            "tasks_served": self.served,
            "tasks_failed": self.failed,
            "tasks_cancelled": self.cancelled,
            "protocol": self.info.protocol,
            "client": self.info.client,
            "models": sorted(self.info.models),
            "meta": {"keeper": self.info.keeper} if self.info.keeper is not None else {},
        }


class DepartedExecutor:
    """What a gone executor leaves behind for its return: its credential's state, and whose it was."""

    __slots__ = ("left_at", "state", "token_digest")

    def __init__(self, state: dict[str, Any], token_digest: str, left_at: float) -> None:
        self.state = state
        self.token_digest = token_digest
        self.left_at = left_at


class ExecutorHub:
    """Registry of live executors; adds and removes their credentials in the pool."""

    def __init__(
        self,
        pool: CredentialPool,
        tokens: list[str],
        heartbeat_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.tokens = tokens
        self.heartbeat_seconds = heartbeat_seconds
        self.clock = clock
        self.connections: dict[str, ExecutorConnection] = {}
        self.departed: dict[str, DepartedExecutor] = {}  # credential id -> state, oldest first
        # While replicas share executors (shared/executors.py): told of each tab that comes or goes,
        # and the key that signs calls other replicas relay to this one's tabs (routes/executor.py).
        self.on_change: Callable[[], None] | None = None
        self.relay_secret: bytes | None = None
        self.relay_nonces = RelayNonces()  # shared/executors.py hands it the shared state's memory
        # A worker of `serve --workers N`: the id its siblings share (routes/executor_relay.py passes a
        # relay for a sibling's tab on to it); empty in a gateway of one process.
        self.worker_group = ""

    def connection_of(self, credential: Credential) -> ExecutorConnection:
        connection = getattr(credential, "connection", None)
        if not isinstance(connection, ExecutorConnection):
            raise UpstreamUnreachable(f"credential {credential.label} is not a connected executor")
        return connection

    def _free_name(self, wanted: str) -> tuple[str, str]:
        # Two tabs may ask for one name; the second gets a suffix instead of evicting the first,
        # so tabs that share a saved name cannot knock each other off in a reconnect loop.
        for n in itertools.count(1):
            name = wanted if n == 1 else f"{wanted}-{n}"
            credential_id = f"executor:{name}"
            if self.pool.get(credential_id) is None and credential_id not in self.connections:
                return credential_id, name
        raise AssertionError("unreachable")

    async def serve(self, websocket: WebSocket, info: RegisterInfo, token: str) -> None:
        """Run a registered executor until its connection ends; `token` is the one it presented."""
        credential_id, name = self._free_name(info.name)
        connection = ExecutorConnection(websocket, info, credential_id, name, self.heartbeat_seconds)
        token_digest = connection.token_digest = hashlib.sha256(token.encode()).hexdigest()
        restored = self._restore(connection.credential, token_digest) or self._inherit(connection, info.name)
        self.connections[credential_id] = connection
        self.pool.add(connection.credential)
        self._changed()
        log.info(
            "executor %s connected (max %d in flight)%s",
            name,
            info.max_concurrency,
            "; its earlier state is restored" if restored else "",
        )
        try:
            await connection.run()
        finally:
            self.pool.remove(credential_id)
            self.connections.pop(credential_id, None)
            self._keep(connection.credential, token_digest)
            self._changed()
            log.info("executor %s gone: %s", name, connection.close_reason or "closed")

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _keep(self, credential: ExecutorCredential, token_digest: str) -> None:
        now = self.clock()
        self.departed.pop(credential.id, None)  # re-inserted last: the dict stays oldest first
        # The operator's enable/disable is not part of the persistent state (it is a record of its own
        # in the store), but a tab that reconnects is the same credential: it keeps that choice too.
        state = {**credential.persistent_state(), "enabled": credential.enabled}
        self.departed[credential.id] = DepartedExecutor(state, token_digest, now)
        for cid, departed in list(self.departed.items()):
            if len(self.departed) <= KEEP_STATE_MAX and now - departed.left_at <= KEEP_STATE_SECONDS:
                break
            del self.departed[cid]

    def _inherit(self, connection: ExecutorConnection, wanted: str) -> bool:
        """A tab back before the gateway noticed its old connection drop gets a suffixed name; it
        starts with the cooldowns of that connection, which is most likely itself."""
        twin = self.connections.get(f"executor:{wanted}")
        if twin is None or twin.token_digest != connection.token_digest:
            return False
        connection.credential.cooldowns.update(twin.credential.cooldowns)
        connection.credential.backoff_level.update(twin.credential.backoff_level)
        return True

    def _restore(self, credential: ExecutorCredential, token_digest: str) -> bool:
        """Give a returning executor its state back; only to one with the token it left with."""
        departed = self.departed.get(credential.id)
        if departed is None or departed.token_digest != token_digest:
            return False
        del self.departed[credential.id]
        if self.clock() - departed.left_at > KEEP_STATE_SECONDS:
            return False
        credential.restore_state(departed.state)
        # A verdict on the tab's access (an invalid key) is left behind: a reload may have fixed it.
        credential.disabled_reason = None
        return True

    async def aclose(self) -> None:
        for connection in list(self.connections.values()):
            connection.fail_all("is closing: the gateway shuts down")
            with contextlib.suppress(Exception):
                await connection.websocket.close(CLOSE_GOING_AWAY, "the gateway is shutting down")

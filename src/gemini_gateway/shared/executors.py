"""Executor tabs shared by replicas: a registry of who holds which tab, kept in every pool.

Each replica writes a line per tab connected to it (its credential id -> name, models,
capabilities, concurrency, cooldowns, the replica and the URL that reaches it, and when the line
expires) and rewrites it every `REFRESH_SECONDS`; a line not rewritten for `TTL_SECONDS` (its
replica died) is ignored and pruned. Every replica mirrors the other replicas' lines into its
pool as `RemoteExecutorCredential`s, which the executor backend relays to the owner
(backends/executor_relay.py). A worker of `serve --workers N` also names its own loopback port and
its `serve`'s group in its lines, where a sibling that took a relay for its tab passes it on
(shared/siblings.py).

Where the lines live: a Redis hash (`{prefix}:executors`) with REDIS_URL, the store's
`pool_state` table otherwise (rows "~executor:<id>", which the pool's own saver never touches).
With Redis a tab that comes or goes is announced at once (an "executors" event); without, the
others see it at their next refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from sqlalchemy import delete, select

from gemini_gateway.backends.executor_relay import (
    SIGN_PURPOSE,
    ExecutorRelay,
    RelayNonces,
    RemoteExecutorCredential,
)
from gemini_gateway.shared.records import _put
from gemini_gateway.shared.siblings import SiblingPort, worker_group
from gemini_gateway.store.models import PoolState

if TYPE_CHECKING:
    from gemini_gateway.backends.executor import ExecutorBackend
    from gemini_gateway.backends.executor_hub import ExecutorConnection, ExecutorHub
    from gemini_gateway.context import Gateway
    from gemini_gateway.shared.redis_state import RedisState
    from gemini_gateway.store.database import Database

log = logging.getLogger("gemini_gateway.shared")

REFRESH_SECONDS = 2.0
TTL_SECONDS = 6.0  # three refreshes missed: the replica holding the tab is taken as gone
ROW_PREFIX = "~executor:"  # + the name: credential ids ("executor:" + name) would not fit 64 characters
ROW_KIND = "executor_tab"  # not "executor": the pool's snapshot rows of executors have that kind
CID_PREFIX = "executor:"
Entry = dict[str, Any]


class Registry(Protocol):
    async def announce(self) -> None: ...

    async def put(self, entries: dict[str, Entry]) -> None: ...

    async def drop(self, ids: list[str]) -> None: ...

    async def entries(self) -> dict[str, Entry]: ...


class RedisRegistry:
    def __init__(self, state: RedisState) -> None:
        self.state = state
        self.key = f"{state.prefix}:executors"

    async def announce(self) -> None:
        """Tell the other replicas to look now (directly: also at shutdown, when the state's own
        queue is no longer written)."""
        message = {"type": "executors", "from": self.state.replica}
        await self.state.client.publish(self.state.channel, orjson.dumps(message))

    async def put(self, entries: dict[str, Entry]) -> None:
        if entries:
            await self.state.client.hset(self.key, mapping={k: orjson.dumps(v) for k, v in entries.items()})

    async def drop(self, ids: list[str]) -> None:
        if ids:
            await self.state.client.hdel(self.key, *ids)

    async def entries(self) -> dict[str, Entry]:
        raw = await self.state.client.hgetall(self.key)
        return {_text(k): orjson.loads(v) for k, v in raw.items()}


class StoreRegistry:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def announce(self) -> None:
        return None  # the others find the rows at their next refresh

    async def put(self, entries: dict[str, Entry]) -> None:
        for cid, entry in entries.items():
            await _put(self.database, _row_id(cid), ROW_KIND, entry)

    async def drop(self, ids: list[str]) -> None:
        if ids:
            async with self.database.sessions.begin() as session:
                rows = [_row_id(cid) for cid in ids]
                await session.execute(delete(PoolState).where(PoolState.credential_id.in_(rows)))

    async def entries(self) -> dict[str, Entry]:
        async with self.database.sessions() as session:
            rows = (await session.execute(select(PoolState).where(PoolState.kind == ROW_KIND))).scalars()
            return {CID_PREFIX + r.credential_id.removeprefix(ROW_PREFIX): dict(r.state) for r in rows}


def entry_of(
    connection: ExecutorConnection, replica: str, url: str, now: float, sibling: tuple[str, str] = ("", "")
) -> Entry:
    """The tab's line; `sibling` (group, loopback URL) for a worker of `serve --workers N`."""
    credential = connection.credential
    group, local = sibling
    return {
        "replica": replica,
        "url": url,
        **({"group": group, "local": local} if group and local else {}),
        "name": connection.name,
        "models": sorted(connection.info.models),
        "capabilities": sorted(connection.info.capabilities),
        "max_concurrency": connection.info.max_concurrency,
        "cooldowns": {m: t for m, t in credential.cooldowns.items() if t > now},
        "expires": now + TTL_SECONDS,
    }


def own_url(connection: ExecutorConnection) -> str:
    """The address the tab reached this replica at: where other replicas reach it too, unless
    REPLICA_URL says otherwise (a balancer in between, a published port)."""
    server = connection.websocket.scope.get("server") or ("127.0.0.1", 80)
    host, port = str(server[0]), int(server[1])
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ExecutorDirectory:
    """Keeps this replica's tabs in the registry and the other replicas' tabs in the pool."""

    def __init__(self, gateway: Gateway, replica: str, registry: Registry) -> None:
        self.gateway = gateway
        self.replica = replica
        self.registry = registry
        self.written: set[str] = set()
        self.siblings: SiblingPort | None = None  # this worker's own port, under `serve --workers N`
        self._announce_after = False  # a tab of this replica came or went: tell the others
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def hub(self) -> ExecutorHub:
        assert self.gateway.executors is not None
        return self.gateway.executors

    def poke(self) -> None:
        """Refresh now (a tab came or went, here or on another replica)."""
        self._wake.set()

    def local_changed(self) -> None:
        self._announce_after = True
        self._wake.set()

    async def refresh(self) -> None:
        now = time.time()
        configured = self.gateway.settings.replica_url
        sibling = (self.hub.worker_group, self.siblings.url) if self.siblings is not None else ("", "")
        mine = {
            cid: entry_of(c, self.replica, configured or own_url(c), now, sibling)
            for cid, c in self.hub.connections.items()
            if not c.closed
        }
        gone = [cid for cid in self.written if cid not in mine]
        await self.registry.drop(gone)
        await self.registry.put(mine)
        self.written = set(mine)
        if self._announce_after:
            self._announce_after = False
            await self.registry.announce()
        self.mirror(await self.registry.entries(), now)

    def mirror(self, entries: dict[str, Entry], now: float) -> None:
        """Make the pool's remote tabs exactly the live lines of other replicas."""
        pool = self.gateway.pool
        live: set[str] = set()
        for cid, entry in entries.items():
            if entry.get("replica") == self.replica or float(entry.get("expires", 0)) <= now:
                continue
            present = pool.get(cid)
            if present is None:
                present = pool.add(RemoteExecutorCredential(cid, entry))
                log.info("executor %s on replica %s: calls for it are relayed", cid, entry.get("replica"))
            elif not isinstance(present, RemoteExecutorCredential):
                continue  # a tab of that name connected here: this replica's own wins
            else:
                present.update(entry)
            for model, until in dict(entry.get("cooldowns") or {}).items():
                present.cooldowns[model] = max(present.cooldowns.get(model, 0.0), float(until))
            live.add(cid)
        for credential in pool:
            if isinstance(credential, RemoteExecutorCredential) and credential.id not in live:
                pool.remove(credential.id)
                log.info("executor %s on replica %s is gone", credential.id, credential.owner)

    async def prune(self, entries: dict[str, Entry], now: float) -> None:
        stale = [cid for cid, e in entries.items() if float(e.get("expires", 0)) + TTL_SECONDS <= now]
        await self.registry.drop(stale)

    async def run(self) -> None:
        rounds = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.refresh()
                rounds += 1
                if rounds % 30 == 0:
                    await self.prune(await self.registry.entries(), time.time())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or the store is away: try at the next refresh
                log.warning("executor registry: could not refresh: %s", type(exc).__name__)

    async def start(self) -> None:
        self.hub.on_change = self.local_changed
        with contextlib.suppress(Exception):  # Redis or the store may be down; the loop retries
            await self.refresh()
        self._task = asyncio.create_task(self.run(), name="shared-executors")

    async def stop(self) -> None:
        self.hub.on_change = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.registry.drop(sorted(self.written))
            await self.registry.announce()


def relay_secret(gateway: Gateway) -> bytes | None:
    """REPLICA_SECRET, else a key derived from the secret key every replica shares."""
    from gemini_gateway.admin.state import admin_state

    configured = gateway.settings.replica_secret
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value().encode()
    box = admin_state(gateway).box
    return box.derive(SIGN_PURPOSE) if box is not None else None


async def start_executors(gateway: Gateway, replica: str, state: Any) -> ExecutorDirectory | None:
    """Share this replica's tabs with the others (when executors are on and there is somewhere to
    keep the registry and a key to sign relays with)."""
    from gemini_gateway.backends.executor import ExecutorBackend

    hub = gateway.executors
    backend = gateway.dispatcher.backends.get("executor")
    if hub is None or not hub.tokens or not isinstance(backend, ExecutorBackend):
        return None
    secret = relay_secret(gateway)
    registry: Registry
    if state.kind == "redis":
        registry = RedisRegistry(state)
    elif gateway.database is not None:
        registry = StoreRegistry(gateway.database)
    else:
        return None
    if secret is None:
        log.warning("executors: no secret key to sign relays with; tabs serve only their own replica")
        return None
    hub.relay_secret = secret
    hub.relay_nonces = RelayNonces(state.first_use)
    attach_relay(backend, secret)
    directory = ExecutorDirectory(gateway, replica, registry)
    if worker_group():
        # Workers share the public port: a relay for this worker's tab may reach a sibling, which
        # passes it on here (routes/executor_relay.py).
        directory.siblings = SiblingPort(gateway)
        await directory.siblings.start()
        hub.worker_group = worker_group()
    await directory.start()
    return directory


def attach_relay(backend: ExecutorBackend, secret: bytes) -> None:
    backend.relay = ExecutorRelay(secret, backend.idle_timeout)


async def stop_executors(gateway: Gateway, directory: ExecutorDirectory | None) -> None:
    from gemini_gateway.backends.executor import ExecutorBackend

    if directory is None:
        return
    await directory.stop()
    if directory.siblings is not None:
        await directory.siblings.stop()
    backend = gateway.dispatcher.backends.get("executor")
    if isinstance(backend, ExecutorBackend) and backend.relay is not None:
        relay, backend.relay = backend.relay, None
        await relay.aclose()
    for credential in gateway.pool:
        if isinstance(credential, RemoteExecutorCredential):
            gateway.pool.remove(credential.id)


def _row_id(cid: str) -> str:
    return ROW_PREFIX + cid.removeprefix(CID_PREFIX)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

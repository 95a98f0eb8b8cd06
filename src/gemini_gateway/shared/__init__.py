"""State that several replicas of the gateway share (issue 20), behind one interface.

start_shared(gateway)   in the lifespan once the pool is full: picks LocalState or RedisState
                        (REDIS_URL), applies the operator's switches from the store, and keeps
                        this replica in step: credential changes pushed into the pool, admin
                        changes reloaded (Redis pub/sub, and a poll of the store's change stamps,
                        which also serves replicas without Redis; on PostgreSQL without Redis,
                        LISTEN/NOTIFY instead of the poll)
changed(database, what) after an admin write (called from admin.deps.audit): stamp + announce
stop_shared(gateway)    in the lifespan's end
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from gemini_gateway.shared import events, records
from gemini_gateway.shared.executors import ExecutorDirectory, start_executors, stop_executors
from gemini_gateway.shared.load import LoadShare
from gemini_gateway.shared.pg_notify import PgListener
from gemini_gateway.shared.state import LocalState, SharedState

if TYPE_CHECKING:
    from gemini_gateway.context import Gateway
    from gemini_gateway.store.database import Database

__all__ = ["SERVICE", "Shared", "changed", "shared_of", "start_shared", "stop_shared"]
log = logging.getLogger("gemini_gateway.shared")
SERVICE = "shared"

# Admin actions (as audited) -> what other replicas reload.
TOPICS = {
    "tokens.create": "tokens",
    "tokens.revoke": "tokens",
    "settings.change": "settings",
    "settings.reset": "settings",
    "keys.add": "keys",
    "keys.remove": "keys",
    "keys.name": "keys",
    "keys.enable": "switches",
    "keys.disable": "switches",
    # Gemini CLI / Antigravity accounts (admin/oauth_api.py, the account import)
    "oauth.add": "accounts",
    "oauth.relogin": "accounts",
    "oauth.project": "accounts",
    "oauth.remove": "accounts",
}
_BY_DATABASE: weakref.WeakKeyDictionary[Database, Shared] = weakref.WeakKeyDictionary()


class Shared:
    """This replica's link to the others: the chosen state, and what it reloads when told."""

    def __init__(self, gateway: Gateway, replica: str) -> None:
        self.gateway = gateway
        self.replica = replica
        self.state: SharedState = LocalState()
        self.stamps: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self.listener: PgListener | None = None
        self._listening: asyncio.Task[None] | None = None
        self.executors: ExecutorDirectory | None = None  # other replicas' tabs, relayed to
        self.load: LoadShare | None = None  # in-flight counts and turns, with Redis only

    # -- Receiver (redis_state.Receiver) --------------------------------------------------------

    def event(self, event: events.Event) -> None:
        what = event.get("type")
        if what == "changed":
            self.spawn(self.reload(str(event.get("topic"))))
        elif what == "session_end":
            if self.gateway.admin is not None:
                self.gateway.admin.sessions.forget_key(str(event.get("key")))
        elif what == "wrong":
            self.gateway.auth.brake.note([str(k) for k in event.get("keys", [])])
        elif what == "executors":
            if self.executors is not None:
                self.executors.poke()
        elif what == "load":
            if self.load is not None:
                self.load.received(event)
        else:
            events.apply(self.gateway.pool, event)

    def snapshot(self) -> list[events.Event]:
        now = time.time()
        found: list[events.Event] = []
        for credential in self.gateway.pool:
            for key, until in list(credential.cooldowns.items()):
                if until > now:
                    found.append(events.describe(credential, "cool", key))
            if credential.disabled_reason is not None:
                found.append(events.describe(credential, "disabled", None))
        for cid, model, limits in self.gateway.pool.quotas.learned_limits():
            found.append(events.learned(cid, model, limits))
        return found

    def degraded(self, replicas: int | None) -> None:
        self.gateway.auth.limiter.divisor = replicas or 1
        self.gateway.pool.quotas.divisor = replicas or 1
        if self.load is not None:
            if replicas is None:
                self.load.resend()
            else:
                self.load.forget()

    # -- admin changes -------------------------------------------------------------------------

    def spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def changed(self, topic: str) -> None:
        database = self.gateway.database
        if database is not None:
            self.stamps[topic] = await records.stamp(database, topic, self.replica)
        self.state.announce(topic)

    async def reload(self, topic: str) -> None:
        from gemini_gateway.shared import reload

        try:
            await reload.TOPICS[topic](self.gateway)
        except KeyError:
            return
        except Exception as exc:  # the store may be down: the next stamp or announcement retries
            log.warning("could not reload %s changed on another replica: %s", topic, type(exc).__name__)

    async def poll(self, every: float) -> None:
        """Find admin changes other replicas stamped in the store (the only way without Redis on
        SQLite and MySQL; on PostgreSQL only while its notifications are not listened to)."""
        while True:
            await asyncio.sleep(every)
            if self.listener is not None and self.listener.listening:
                continue
            await self.catch_up()

    async def catch_up(self) -> None:
        """Reload what the store's change stamps say changed since this replica last looked."""
        database = self.gateway.database
        assert database is not None
        try:
            stamps = await records.load_stamps(database)
        except Exception:  # the store is down: the recorder says so; try again later
            return
        for topic, value in stamps.items():
            if self.stamps.get(topic) != value:
                self.stamps[topic] = value
                await self.reload(topic)

    def notified(self, topic: str, stamp: str) -> None:
        """A NOTIFY from another replica (pg_notify.PgListener)."""
        if self.stamps.get(topic) != stamp:
            self.stamps[topic] = stamp
            self.spawn(self.reload(topic))

    async def start(self) -> None:
        database = self.gateway.database
        if database is not None:
            await apply_switches(self.gateway, database)
            self.stamps = await records.load_stamps(database)
            if records.announces(database) and self.gateway.settings.redis_url is None:
                self.listener = PgListener(database.url, self.replica, self.notified, self.catch_up)
                self._listening = asyncio.create_task(self.listener.run(), name="shared-pg-listen")
            self._poller = asyncio.create_task(self.poll(self.gateway.settings.shared_poll_seconds))
        await self.state.start()
        self.executors = await start_executors(self.gateway, self.replica, self.state)

    async def stop(self) -> None:
        await stop_executors(self.gateway, self.executors)
        self.executors = None
        if self.load is not None:
            self.load.close()
            self.load = None
        for task in (self._poller, self._listening):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for task in list(self._tasks):
            task.cancel()
        await self.state.aclose()


async def apply_switches(gateway: Gateway, database: Database) -> None:
    """The operator's enable/disable per credential; a disable from an older pool snapshot (which
    kept it there) becomes a record of its own, so the next snapshot cannot lose it."""
    switches = await records.load_switches(database)
    for credential in gateway.pool:
        chosen = switches.get(credential.id)
        if chosen is None and not credential.enabled:
            await records.save_switch(database, credential.id, False, "pool snapshot")
        elif chosen is not None:
            events.apply_switch(credential, chosen)


def shared_of(gateway: Gateway) -> Shared | None:
    return gateway.shared


async def start_shared(gateway: Gateway) -> Shared:
    settings = gateway.settings
    replica = settings.resolved_replica_id
    shared = gateway.shared = Shared(gateway, replica)
    if settings.redis_url is not None:
        from gemini_gateway.shared.redis_state import RedisState

        state = RedisState(settings.redis_url.get_secret_value(), replica, shared)
        shared.state = state
        # Only with Redis: one process has no one to tell, and its pool stays exactly as fast.
        gateway.pool.observer = lambda credential, what, key: state.send(
            events.describe(credential, what, key)
        )
        gateway.pool.quotas.shared = state  # RPM/TPM/RPD counted across replicas
        # In-flight counts and turns: sent in batches, so no call waits for Redis.
        shared.load = LoadShare(gateway.pool, state.send)
        gateway.pool.on_load = shared.load.changed
        brake = gateway.auth.brake
        brake.on_wrong = lambda keys: state.send({"type": "wrong", "keys": keys})
    if gateway.database is not None:
        _BY_DATABASE[gateway.database] = shared
    await shared.start()
    if settings.redis_url is not None and state.brake_salt:
        gateway.auth.brake.salt = state.brake_salt
    admin = gateway.admin
    if admin is not None:
        admin.sessions.shared = shared.state if settings.redis_url is not None else None
        if admin.box is not None:  # upload ids sealed under the key every replica shares
            from gemini_gateway.affinity.resources import affinity_of

            affinity_of(gateway).uploads.box = admin.box
    log.info("shared state: %s (replica %s)", shared.state.kind, replica)
    return shared


async def stop_shared(gateway: Gateway) -> None:
    shared, gateway.shared = gateway.shared, None
    if shared is not None:
        gateway.pool.observer = None
        gateway.pool.on_load = None
        gateway.pool.quotas.shared = None
        await shared.stop()


async def changed(database: Database, action: str) -> None:
    """After an admin write: the store is stamped and the other replicas told to reload."""
    topic = TOPICS.get(action)
    shared = _BY_DATABASE.get(database)
    if topic is not None and shared is not None:
        await shared.changed(topic)

"""Admin changes announced through PostgreSQL (LISTEN/NOTIFY), for replicas on a PostgreSQL store
without Redis: the store's own push instead of polling its change stamps.

The writer stamps the change and NOTIFYs in one transaction (`records.stamp`), so a listener is
told only once the stamp is committed. Each replica listens on a connection of its own (asyncpg,
as the store's driver; outside the engine's pool, so a listener never goes back to it), and
catches up on the stamps whenever it (re)connects: what was announced while it was not listening
is found there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy.engine import make_url

log = logging.getLogger("gemini_gateway.shared")

CHANNEL = "gemini_gateway_changed"
RETRY_SECONDS = 1.0
CHECK_SECONDS = 10.0  # a connection lost without a close (a dead peer) is found by this check


def listen_url(store_url: str) -> str:
    """The store's URL as asyncpg takes it (without SQLAlchemy's driver name)."""
    return make_url(store_url).set(drivername="postgresql").render_as_string(hide_password=False)


def payload(topic: str, stamp: str, replica: str) -> str:
    return orjson.dumps({"topic": topic, "stamp": stamp, "from": replica}).decode()


class PgListener:
    """Calls `on_change(topic, stamp)` for each change another replica announces, and `catch_up()`
    after each (re)connection; `listening` says whether a connection is up."""

    def __init__(
        self,
        store_url: str,
        replica: str,
        on_change: Callable[[str, str], None],
        catch_up: Callable[[], Awaitable[None]],
    ) -> None:
        self.url = listen_url(store_url)
        self.replica = replica
        self.on_change = on_change
        self.catch_up = catch_up
        self.listening = False

    def _notified(self, connection: Any, pid: int, channel: str, data: str) -> None:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(message, dict) and message.get("from") != self.replica:
            self.on_change(str(message.get("topic")), str(message.get("stamp")))

    async def run(self) -> None:
        import asyncpg  # type: ignore[import-untyped]  # the store's driver: present with PostgreSQL

        while True:
            connection: Any = None
            lost = asyncio.Event()
            try:
                connection = await asyncpg.connect(self.url, timeout=5)
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._notified)
                self.listening = True
                await self.catch_up()
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), CHECK_SECONDS)
                    if not lost.is_set():
                        await connection.execute("SELECT 1", timeout=5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down or restarting: listen again once it answers
                if self.listening:
                    log.warning(
                        "shared state: lost the store's change notifications (%s)", type(exc).__name__
                    )
            finally:
                self.listening = False
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(RETRY_SECONDS)

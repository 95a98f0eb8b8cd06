"""The gateway's link to its store: opened at start-up, and tried again until it answers.

A replica started before its database (a compose file, a cluster restart) serves at once, says
in `/health/ready` why it is not ready, and takes the store in when it comes: the stored pool
state, settings, client tokens, keys and accounts then load as they would have at start-up.
The recorder reaches the store on its own (it spools meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gemini_gateway.context import Gateway
from gemini_gateway.store.database import Database

log = logging.getLogger("gemini_gateway")

FIRST_RETRY_SECONDS = 0.5


async def open_store(gateway: Gateway, *, migrate_in_child: bool = False) -> bool:
    """Open and migrate the store; on failure say why in `gateway.store_error` and return False.

    `migrate_in_child`: a due migration runs in a child process (see `Database.migrate`).
    """
    database: Database | None = None
    try:  # a SQLite folder that cannot be made yet fails in the constructor: the same retry
        database = Database(gateway.settings.resolved_database_url)
        await database.migrate(in_child=migrate_in_child)
        gateway.pool.restore_state(await database.load_pool_state())
    except Exception as exc:  # any driver or migration failure: serve without the store for now
        gateway.store_error = f"{type(exc).__name__}: {str(exc)[:200]}"
        if database is not None:
            await database.aclose()
        return False
    gateway.database, gateway.store_error = database, None
    return True


def retry_delays(first: float, longest: float) -> Callable[[int], float]:
    """The wait before try n (1-based): doubling from `first`, never longer than `longest`."""
    return lambda attempt: min(longest, first * 2 ** min(attempt - 1, 30))


async def keep_trying(
    gateway: Gateway, attach: Callable[[], Awaitable[None]], *, migrate_in_child: bool = False
) -> None:
    """Try the store again with a bounded backoff until it opens, then `attach` what needs it."""
    delay = retry_delays(FIRST_RETRY_SECONDS, gateway.settings.store_retry_max_seconds)
    attempt = 0
    while gateway.database is None:
        attempt += 1
        reason = gateway.store_error
        wait = delay(attempt)
        gateway.store_error = f"waiting for it (attempt {attempt}, retrying in {wait:.1f} s): {reason}"
        await asyncio.sleep(wait)
        if not await open_store(gateway, migrate_in_child=migrate_in_child):
            log.warning("store still unavailable (attempt %d): %s", attempt, gateway.store_error)
            continue
    log.info("store is reachable after %d more attempts; loading what it holds", attempt)
    # Not ready until what it holds applies: a client token stored there must close the open
    # door before a balancer, told "ready", sends anyone through it.
    gateway.store_error = "reached; loading what it holds"
    try:
        await attach()
    except Exception:  # the store went away again mid-load: what loaded stays, the rest waits
        log.exception("could not load everything from the store once it came")
    finally:
        gateway.store_error = None

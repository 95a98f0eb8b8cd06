"""Credential affinity: a file or cached content lives in the project of the credential that
created it, so every call naming it must go to that credential, while everything else balances.

    refs.py       which files and cached contents a request names (pure)
    owners.py     who holds what: memory in front of the store's `resource_owners` table
    binder.py     the dispatcher's binder: calls naming them are bound to their owner
    uploads.py    resumable upload sessions behind opaque ids
    upstream.py   the transport of resource calls, with streamed bodies
    resources.py  owner-routed resource calls, owner discovery, listings merged over credentials
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gemini_gateway.affinity.binder import Affinity
from gemini_gateway.affinity.owners import Owner, OwnerStore
from gemini_gateway.backends.base import Backend
from gemini_gateway.context import Gateway
from gemini_gateway.pool.pool import CredentialPool

log = logging.getLogger("gemini_gateway.affinity")

__all__ = ["Affinity", "Owner", "OwnerStore", "new_affinity", "start_affinity"]


def new_affinity(pool: CredentialPool, backends: Mapping[str, Backend]) -> Affinity:
    """Build the service (no I/O: `create_app` calls this); its `bind` is the dispatcher's binder."""
    affinity = Affinity(pool)
    # `backends` is filled in the lifespan; it is asked at call time.
    affinity.can_hold = lambda c: (
        (b := backends.get(c.kind)) is not None and b.supports("files.get") and c.offers("files.get", None)
    )
    return affinity


async def start_affinity(gateway: Gateway) -> None:
    """Attach the store once it is open and load the owners it remembers (lifespan)."""
    affinity = gateway.affinity
    if affinity is None or gateway.database is None:
        return
    affinity.owners.database = gateway.database
    try:
        await affinity.owners.prune()
        await affinity.owners.load()
    except Exception as exc:  # misses still ask the store; a broken store must not stop serving
        log.warning("could not load resource owners: %s", type(exc).__name__)

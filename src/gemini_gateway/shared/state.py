"""The one interface to state that replicas share, and its in-process implementation.

`SharedState` is chosen once at start-up (gemini_gateway.shared.start_shared): `LocalState` when
REDIS_URL is unset (one process, or several on one store that learn admin changes by polling
it), `RedisState` (redis_state.py) otherwise. The request path never awaits it for a call
without a rate-limited token: cooldowns and switches are pushed into the local pool, which stays
a memory read.
"""

from __future__ import annotations

from typing import Any, Protocol

from gemini_gateway.shared.events import Event


class SharedState(Protocol):
    kind: str  # "local" or "redis", for /health/ready and the log

    def send(self, event: Event) -> None:
        """Tell the other replicas of a credential change (never blocks; queued when remote)."""

    def announce(self, topic: str) -> None:
        """Tell the other replicas that an admin change of `topic` is in the store."""

    async def take(self, client_id: str, limit: int) -> float | None:
        """One call from a client limited to `limit` a minute, in the bucket all replicas share:
        0.0 when it may go, seconds to wait when not, None when no shared bucket answers (the
        caller counts locally)."""

    async def put_session(self, session_id: str, record: dict[str, Any], expires: float) -> None: ...

    async def first_use(self, key: str, seconds: float) -> bool | None:
        """Take `key` for `seconds`: True the first time any replica takes it in that time,
        False after, None when no shared store answers (the caller remembers it locally)."""

    async def get_session(self, session_id: str) -> dict[str, Any] | None: ...

    async def drop_session(self, session_id: str) -> None: ...

    def problem(self) -> str | None:
        """Why shared state is degraded (for /health/ready), None when it is not."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class LocalState:
    """One process: nothing to tell anyone; admin changes are stamped in the store by the caller."""

    kind = "local"

    def send(self, event: Event) -> None:
        return None

    def announce(self, topic: str) -> None:
        return None

    async def take(self, client_id: str, limit: int) -> float | None:
        return None

    async def put_session(self, session_id: str, record: dict[str, Any], expires: float) -> None:
        return None

    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        return None

    async def first_use(self, key: str, seconds: float) -> bool | None:
        return None

    async def drop_session(self, session_id: str) -> None:
        return None

    def problem(self) -> str | None:
        return None

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

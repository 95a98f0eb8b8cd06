"""Admin UI sessions (the brake on guessed tokens is gemini_gateway.brake).

A login trades the admin token for a random session id in an HttpOnly cookie; the token itself is
never stored or sent back. Sessions live in memory: a restart logs everyone out, which is fine for
a single-operator tool and keeps session ids out of the database. With several replicas on Redis
(`shared`), each session is also kept there (under a digest of its id), so any replica honours it.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gemini_gateway.auth import ClientIdentity

if TYPE_CHECKING:
    from gemini_gateway.shared.state import SharedState

SESSION_COOKIE = "gw_session"
CSRF_COOKIE = "gw_csrf"
CSRF_HEADER = "x-csrf-token"
MAX_SESSIONS = 1000


@dataclass(slots=True)
class Session:
    id: str
    csrf: str
    identity: ClientIdentity
    address: str
    created: float
    expires: float

    def csrf_matches(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.csrf.encode())


class SessionStore:
    def __init__(self, hours: Callable[[], float], clock: Callable[[], float] = time.time) -> None:
        self._hours = hours  # read at each login, so a changed setting applies to the next session
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self.shared: SharedState | None = None  # set when replicas share state (gemini_gateway.shared)
        self._pending: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, identity: ClientIdentity, address: str) -> Session:
        now = self.clock()
        self._prune(now)
        if len(self._sessions) >= MAX_SESSIONS:  # a login loop must not grow memory without bound
            oldest = min(self._sessions.values(), key=lambda s: s.created)
            del self._sessions[oldest.id]
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(24),
            identity=identity,
            address=address,
            created=now,
            expires=now + self._hours() * 3600,
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is not None and session.expires <= self.clock():
            del self._sessions[session_id]
            return None
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)
            self._unshare(session_id)

    def drop_identity(self, identity_id: str) -> None:
        """End every session of a token that was revoked."""
        for sid in [sid for sid, s in self._sessions.items() if s.identity.id == identity_id]:
            del self._sessions[sid]
            self._unshare(sid)

    async def share(self, session: Session) -> None:
        """Let the other replicas honour a new session (awaited, so its first use anywhere works)."""
        if self.shared is not None:
            await self.shared.put_session(session.id, _record(session), session.expires)

    async def find(self, session_id: str | None) -> None:
        """Fetch a session another replica made into this one's memory, if there is one."""
        if self.shared is None or not session_id or self.get(session_id) is not None:
            return
        record = await self.shared.get_session(session_id)
        if record is not None and len(self._sessions) < MAX_SESSIONS:
            self._sessions[session_id] = _session(session_id, record)

    def forget_key(self, key: str) -> None:
        """Another replica ended the session whose id has this digest."""
        from gemini_gateway.shared.redis_state import session_key

        for sid in [sid for sid in self._sessions if session_key(sid) == key]:
            del self._sessions[sid]

    def _unshare(self, session_id: str) -> None:
        if self.shared is not None:
            task = asyncio.get_running_loop().create_task(self.shared.drop_session(session_id))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _prune(self, now: float) -> None:  # local copies only: Redis checks each record's expiry
        for sid in [sid for sid, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[sid]


def _record(session: Session) -> dict[str, Any]:
    identity = session.identity
    return {
        "csrf": session.csrf,
        "address": session.address,
        "created": session.created,
        "identity": {
            "id": identity.id,
            "tier": identity.tier,
            "models": sorted(identity.models) if identity.models is not None else None,
            "rate_limit": identity.rate_limit,
        },
    }


def _session(session_id: str, record: dict[str, Any]) -> Session:
    who = record["identity"]
    identity = ClientIdentity(
        id=who["id"],
        tier="admin" if who["tier"] == "admin" else "user",
        models=frozenset(who["models"]) if who["models"] is not None else None,
        rate_limit=who["rate_limit"],
    )
    return Session(
        id=session_id,
        csrf=record["csrf"],
        identity=identity,
        address=record["address"],
        created=record["created"],
        expires=record["expires"],
    )

"""Admin UI sessions (the brake on guessed tokens is gemini_gateway.brake).

A login trades the admin token for a random session id in an HttpOnly cookie; the token itself is
never stored or sent back. Sessions live in memory: a restart logs everyone out, which is fine for
a single-operator tool and keeps session ids out of the database.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from gemini_gateway.auth import ClientIdentity

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

    def drop_identity(self, identity_id: str) -> None:
        """End every session of a token that was revoked."""
        for sid in [sid for sid, s in self._sessions.items() if s.identity.id == identity_id]:
            del self._sessions[sid]

    def _prune(self, now: float) -> None:
        for sid in [sid for sid, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[sid]

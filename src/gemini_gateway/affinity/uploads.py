"""Resumable upload sessions: the upstream upload URL stays here, the client gets an opaque id.

Google's upload URL is a capability for one session in one project. The gateway keeps it
server-side, bound to the credential that started the session and the client that asked, and
hands the client its own URL with a random id in its place.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

SESSION_SECONDS = 7 * 24 * 3600  # Google keeps resumable sessions about a week
MAX_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class UploadSession:
    id: str
    upstream_url: str
    credential_id: str
    client_id: str
    expires: float


class UploadSessions:
    def __init__(self, lifetime: float = SESSION_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self.lifetime = lifetime
        self.limit = limit
        self._sessions: OrderedDict[str, UploadSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, upstream_url: str, credential_id: str, client_id: str) -> UploadSession:
        self._prune()
        session = UploadSession(
            id=secrets.token_urlsafe(24),
            upstream_url=upstream_url,
            credential_id=credential_id,
            client_id=client_id,
            expires=time.time() + self.lifetime,
        )
        self._sessions[session.id] = session
        while len(self._sessions) > self.limit:  # abandoned sessions must not grow without bound
            self._sessions.popitem(last=False)
        return session

    def get(self, upload_id: str) -> UploadSession | None:
        session = self._sessions.get(upload_id)
        if session is None or session.expires <= time.time():
            return None
        return session

    def close(self, upload_id: str) -> None:
        self._sessions.pop(upload_id, None)

    def _prune(self) -> None:
        now = time.time()
        while self._sessions:
            first = next(iter(self._sessions.values()))
            if first.expires > now:
                return
            self._sessions.popitem(last=False)

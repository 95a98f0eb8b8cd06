"""Resumable upload sessions: the upstream upload URL stays here, the client gets an opaque id.

Google's upload URL is a capability for one session in one project. The gateway keeps it
server-side, bound to the credential that started the session and the client that asked, and
hands the client its own URL with a random id in its place.

With the gateway's secret key at hand (ENCRYPTION_KEY or DATA_DIR/secret.key, which replicas
share), the id is the session itself sealed under that key (Fernet: encrypted and authenticated),
so any replica, or this one after a restart, can continue the upload; nobody can read or forge it.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from gemini_gateway.store.secrets import SecretBox

SEALED = "s."

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
        self.box: SecretBox | None = None  # set once the secret key is loaded (gemini_gateway.shared)

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
        if self.box is not None:
            sealed = self.box.encrypt(orjson.dumps(asdict(session)).decode()).rstrip("=")
            session = UploadSession(**{**asdict(session), "id": SEALED + sealed})
        self._sessions[session.id] = session
        while len(self._sessions) > self.limit:  # abandoned sessions must not grow without bound
            self._sessions.popitem(last=False)
        return session

    def get(self, upload_id: str) -> UploadSession | None:
        session = self._sessions.get(upload_id)
        if session is None and upload_id.startswith(SEALED):
            session = self._unseal(upload_id)
        if session is None or session.expires <= time.time():
            return None
        return session

    def _unseal(self, upload_id: str) -> UploadSession | None:
        """A session another replica (or this one before a restart) sealed into the id."""
        token = upload_id.removeprefix(SEALED)
        if self.box is None or len(token) > 4096:
            return None
        try:
            clear = self.box.decrypt(token + "=" * (-len(token) % 4))
        except (ValueError, UnicodeError):
            return None
        if clear is None:
            return None
        fields = orjson.loads(clear)
        return UploadSession(**{**fields, "id": upload_id})

    def close(self, upload_id: str) -> None:
        self._sessions.pop(upload_id, None)

    def _prune(self) -> None:
        now = time.time()
        while self._sessions:
            first = next(iter(self._sessions.values()))
            if first.expires > now:
                return
            self._sessions.popitem(last=False)

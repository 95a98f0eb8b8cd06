"""Optional stickiness (STICKY_SECONDS): a client's conversation stays on the credential that served
its last turn, so Google's implicit prompt cache (per project, keyed by the prompt's prefix) keeps
hitting. Failover still applies: a credential that cannot serve is passed over, and the one that
serves instead becomes the conversation's.

A conversation is known by the client (its token's id), the model, and a hash of how it begins:
the system instruction and the first turn, which every later turn repeats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

MAX_CONVERSATIONS = 100_000  # beyond this, expired entries are swept (then the oldest dropped)


def conversation_key(client: str | None, model: str | None, body: bytes) -> str | None:
    """The key of the conversation a generateContent body continues, or None if it has no turns."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    contents = request.get("contents") if isinstance(request, dict) else None
    if not isinstance(contents, list) or not contents:
        return None
    start: Any = [request.get("systemInstruction") or request.get("system_instruction"), contents[0]]
    digest = hashlib.blake2b(orjson.dumps(start, option=orjson.OPT_SORT_KEYS), digest_size=16)
    digest.update(f"\0{client}\0{model}".encode())
    return digest.hexdigest()


class StickyBook:
    """Conversation key -> (credential id, when the binding lapses). Synchronous, like the pool."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self.clock = clock
        self._bound: dict[str, tuple[str, float]] = {}

    def __len__(self) -> int:
        return len(self._bound)

    def credential_of(self, key: str) -> str | None:
        bound = self._bound.get(key)
        if bound is None:
            return None
        if bound[1] <= self.clock():
            del self._bound[key]
            return None
        return bound[0]

    def bind(self, key: str, credential_id: str) -> None:
        """The conversation's credential from now on, for `seconds` after its latest turn."""
        now = self.clock()
        self._bound.pop(key, None)  # re-inserted last: the dict stays in order of last use
        self._bound[key] = (credential_id, now + self.seconds)
        if len(self._bound) > MAX_CONVERSATIONS:
            for stale in [k for k, (_, ends) in self._bound.items() if ends <= now]:
                del self._bound[stale]
            while len(self._bound) > MAX_CONVERSATIONS:
                del self._bound[next(iter(self._bound))]

"""The brake on guessed tokens, shared by every door: admin API, admin UI sign-in, model API,
`/metrics` (which takes the admin token) and the executor socket.

What it promises
    A correct token always works. The brake is consulted only after a token turned out wrong, so
    nobody is locked out by someone else's mistakes, not even behind a reverse proxy where every
    user shares one address. A wrong token answers 401/403 until its key is braked, then 429 with
    Retry-After (4429 on the executor socket) until the window has passed.

What it counts, and why each
    - the client address (an IPv6 address by its /64, which one machine usually holds whole):
      one guesser trying many tokens;
    - the token's prefix (its first `PREFIX_CHARS` characters, kept only as a keyed hash): one
      token guessed from many addresses, or a client behind a shared proxy repeating a stale token;
    - a global budget of wrong tokens per `global_window`: a spray from more addresses and prefixes
      than any table holds. Its brake covers only wrong tokens, so it costs honest clients nothing.
    Each key keeps the times of its last `limit` failures; it is braked while all of them fall in
    the last `window` seconds. Failures while braked still count, so a guesser that keeps going
    stays braked.

Why the table cannot be flushed
    It holds at most `capacity` keys. When full, it first forgets keys whose failures have all
    expired, then the eighth of the table with the fewest live failures, least recently failing
    first. A spray of one guess from each of many addresses therefore evicts only other one-guess
    entries: a braked key (the worst offenders) goes last, and filling the table with braked keys
    would take `limit` wrong tokens per key, which the global budget spreads over hours. Evicting
    in batches keeps a spray at an amortised O(log n) per failure.

What it cannot do
    Since the right token must always be let in, the gateway must look at every token it is sent:
    the brake cannot make online guessing impossible, only loud (one warning per braked key) and
    refused at the door for clients that honour Retry-After. Long random tokens are what makes
    guessing hopeless; the brake keeps wrong-token traffic cheap and visible.
"""

from __future__ import annotations

import heapq
import hmac
import ipaddress
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PREFIX_CHARS", "Brake", "Braked"]

log = logging.getLogger("gemini_gateway.brake")

PREFIX_CHARS = 8


@dataclass(frozen=True, slots=True)
class Braked:
    """A wrong token that came while its key was braked: wait this long, and why (safe to show)."""

    wait: float
    message: str


class Brake:
    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 300.0,
        capacity: int = 4096,
        global_limit: int = 100,
        global_window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.capacity = capacity
        self.global_window = global_window
        self.clock = clock
        self._keys: dict[str, deque[float]] = {}
        self._global: deque[float] = deque(maxlen=global_limit)
        self.salt = secrets.token_bytes(16)  # prefixes of wrong tokens are kept only as keyed hashes
        # Replicas share their wrong tokens (gemini_gateway.shared): told the keys each one counted.
        self.on_wrong: Callable[[list[str]], None] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def wrong(self, address: str, token: str) -> Braked | None:
        """Count a wrong token from `address`; how long it must wait when that makes it braked."""
        now = self.clock()
        keys = ((_address_key(address), f"from {address}"), (self._prefix_key(token), "like this one"))
        if self.on_wrong is not None:
            self.on_wrong([key for key, _ in keys])
        worst: Braked | None = None
        for key, who in keys:
            wait = self._count(key, now)
            if wait is not None and (worst is None or wait > worst.wait):
                worst = Braked(wait, f"too many wrong tokens {who}; try again in {wait:.0f}s")
        spent = _wait(self._global, now, self.global_window) is not None
        self._global.append(now)
        wait = _wait(self._global, now, self.global_window)
        if wait is not None and not spent:
            log.warning("wrong tokens: the global budget is spent; braking every wrong token for %.0fs", wait)
        if wait is not None and (worst is None or wait > worst.wait):
            worst = Braked(wait, f"too many wrong tokens lately; try again in {wait:.0f}s")
        return worst

    def note(self, keys: list[str]) -> None:
        """Count wrong tokens another replica was sent, as if they had come here."""
        now = self.clock()
        for key in keys:
            self._count(key, now)
        self._global.append(now)

    def failures(self, address: str) -> int:
        """Wrong tokens counted from `address` in the window (up to the limit), here or on any
        replica that told this one; nothing is counted by asking."""
        times = self._keys.get(_address_key(address))
        horizon = self.clock() - self.window
        return sum(1 for t in times if t > horizon) if times else 0

    def _count(self, key: str, now: float) -> float | None:
        times = self._keys.get(key)
        if times is None:
            if len(self._keys) >= self.capacity:
                self._evict(now)
            times = self._keys[key] = deque(maxlen=self.limit)
        before = _wait(times, now, self.window)
        times.append(now)
        after = _wait(times, now, self.window)
        if before is None and after is not None:
            # The key names a kind, not the token: "a:<address>" or "p:<hash>".
            log.warning(
                "wrong tokens: braking %s for %.0fs", key if key.startswith("a:") else "a prefix", after
            )
        return after

    def _evict(self, now: float) -> None:
        horizon = now - self.window
        for key in [k for k, times in self._keys.items() if times[-1] <= horizon]:
            del self._keys[key]
        excess = len(self._keys) - self.capacity + max(1, self.capacity // 8)
        if excess <= 0:
            return

        def weight(key: str) -> tuple[int, float]:
            times = self._keys[key]
            return sum(1 for t in times if t > horizon), times[-1]

        for key in heapq.nsmallest(excess, self._keys, key=weight):
            del self._keys[key]

    def _prefix_key(self, token: str) -> str:
        digest = hmac.new(self.salt, token[:PREFIX_CHARS].encode(), "sha256").hexdigest()
        return f"p:{digest[:16]}"


def _wait(times: deque[float], now: float, window: float) -> float | None:
    """Seconds until `times` (full at its maxlen) has a failure fall out of the window; None if not braked."""
    if len(times) < (times.maxlen or 0) or times[0] <= now - window:
        return None
    return times[0] + window - now


def _address_key(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"a:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"a:{ip.ipv4_mapped}"
        return f"a:{ipaddress.ip_network((ip, 64), strict=False)}"
    return f"a:{ip}"

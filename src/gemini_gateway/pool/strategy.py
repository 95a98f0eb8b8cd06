"""Pure choice of a credential among the usable ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from gemini_gateway.pool.credential import Credential

Strategy = Literal["least_busy", "round_robin"]


def select(candidates: Sequence[Credential], strategy: Strategy, turn: int) -> Credential:
    """Pick one of `candidates` (non-empty, in pool order).

    `turn` is a counter the pool advances on every pick; it makes round-robin rotate and breaks
    least-busy ties in rotation, so idle keys share the load instead of the first one taking all.
    """
    count = len(candidates)
    start = turn % count
    if strategy == "round_robin":
        return candidates[start]
    best = candidates[start]
    for offset in range(1, count):
        candidate = candidates[(start + offset) % count]
        if candidate.in_flight < best.in_flight:
            best = candidate
    return best

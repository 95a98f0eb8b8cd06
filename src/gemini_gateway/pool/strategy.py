"""Pure choice of a credential among the usable ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Literal

from gemini_gateway.pool.credential import Credential

Strategy = Literal["least_busy", "round_robin"]
Routing = Literal["prefer_keys", "prefer_accounts", "weighted"]
# Credential kinds that are accounts (OAuth logins) rather than keys, for the keys/accounts mix.
ACCOUNT_KINDS = frozenset({"oauth", "antigravity"})


def select(
    candidates: Sequence[Credential], strategy: Strategy, elsewhere: Mapping[str, int] | None = None
) -> Credential:
    """Pick one of `candidates` (non-empty, in pool order).

    Ties go to the credential picked longest ago (`last_pick`, a pool-wide sequence number), so
    every member of whatever subset can serve (keys only, accounts only, those left after a
    failover) takes its turn, however the calls of different subsets interleave. Round-robin is
    exactly that; least-busy first prefers the fewest calls in flight, counting those other
    replicas have in flight (`elsewhere`, credential id -> calls) with this one's.
    """
    if strategy == "round_robin":
        return min(candidates, key=_LAST_PICK)
    if not elsewhere:
        return min(candidates, key=_LOAD_THEN_LAST_PICK)
    return min(candidates, key=lambda c: (c.in_flight + elsewhere.get(c.id, 0), c.last_pick))


# Keys without a Python frame per candidate (this runs on every pick).
_LAST_PICK = attrgetter("last_pick")
_LOAD_THEN_LAST_PICK = attrgetter("in_flight", "last_pick")


def route(
    candidates: Sequence[Credential],
    routing: Routing,
    weight: float,
    picks: tuple[int, int],
    account_kinds: frozenset[str] = ACCOUNT_KINDS,
) -> tuple[Sequence[Credential], int | None]:
    """Narrow `candidates` to keys or to accounts when both could serve: (chosen, group).

    `group` is 0 (keys) or 1 (accounts) when a choice was made, None when only one group was
    there. `picks` counts earlier choices per group; under "weighted" the group furthest behind
    its share (`weight` for accounts) goes next, so the mix is exact and needs no randomness.
    """
    accounts = [c for c in candidates if c.kind in account_kinds]
    if not accounts or len(accounts) == len(candidates):
        return candidates, None
    keys = [c for c in candidates if c.kind not in account_kinds]
    if routing == "prefer_keys":
        return keys, 0
    if routing == "prefer_accounts":
        return accounts, 1
    total = picks[0] + picks[1] + 1
    accounts_due = weight * total - picks[1]
    keys_due = (1 - weight) * total - picks[0]
    return (accounts, 1) if accounts_due > keys_due else (keys, 0)

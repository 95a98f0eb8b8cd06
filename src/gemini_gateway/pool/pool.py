"""The credential pool: the one owner of credential state on the request path."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from gemini_gateway.errors import NoCredentialAvailable
from gemini_gateway.pool.classify import Verdict
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.quota import Charge, QuotaBook
from gemini_gateway.pool.quota_tiers import DEFAULT_TIERS, merge_tiers
from gemini_gateway.pool.strategy import Routing, Strategy, route, select

if TYPE_CHECKING:
    from gemini_gateway.settings import Settings

Accept = Callable[[Credential], bool]
# Told of each change other replicas must learn (gemini_gateway.shared): the credential, what
# ("cool", "disabled", "healed", "enabled") and the model key of a cooldown. Errors only: a success
# changes nothing shared, so the hot path never calls it.
Observer = Callable[[Credential, str, "str | None"], None]


class CredentialPool:
    """Credentials of every upstream kind, with cooldowns per credential and model.

    All methods are synchronous and never await, so under asyncio they are atomic: no locks.
    `acquire` counts the credential as in flight; every acquire is paired with one `release`.
    """

    def __init__(self, strategy: Strategy = "least_busy", *, clock: Callable[[], float] = time.time) -> None:
        self.strategy: Strategy = strategy
        self.clock = clock
        self._credentials: dict[str, Credential] = {}
        self._picks_made = 0
        self.dirty = False  # state changed since the last save
        # How API keys and OAuth accounts share calls both can serve (strategy.route).
        self.routing: Routing = "weighted"
        self.account_weight = 0.5
        self._group_picks = [0, 0]
        self.quotas = QuotaBook()
        self.observer: Observer | None = None
        # Replicas balancing as one (gemini_gateway.shared.load): told after every take and
        # release (None without REDIS_URL), and given the calls other replicas have in flight
        # per credential id, which least-busy adds to this pool's own.
        self.on_load: Callable[[], None] | None = None
        self.busy_elsewhere: dict[str, int] = {}
        # Outbound proxy per credential id (pool.proxies): those of `key|proxy` entries, and in
        # effect (CREDENTIAL_PROXIES over them; '' is a direct connection).
        self.own_proxies: dict[str, str] = {}
        self.proxies: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._credentials)

    def __iter__(self) -> Any:
        return iter(list(self._credentials.values()))

    def get(self, credential_id: str) -> Credential | None:
        return self._credentials.get(credential_id)

    def add(self, credential: Credential) -> Credential:
        """Add a credential; one already present (same id) keeps its state."""
        existing = self._credentials.get(credential.id)
        if existing is not None:
            return existing
        if credential.id in self.proxies:
            credential.proxy = self.proxies[credential.id] or None
        self._credentials[credential.id] = credential
        self.dirty = True
        return credential

    def remove(self, credential_id: str) -> bool:
        self.dirty = True
        self.quotas.forget(credential_id)
        return self._credentials.pop(credential_id, None) is not None

    def replace(self, kind: str, credentials: Iterable[Credential]) -> None:
        """Make the credentials of `kind` exactly these, keeping the state of those that stay."""
        wanted = {c.id: c for c in credentials}
        for cid in [cid for cid, c in self._credentials.items() if c.kind == kind and cid not in wanted]:
            del self._credentials[cid]
        for credential in wanted.values():
            self.add(credential)
        self.dirty = True

    def acquire(
        self,
        model: str | None,
        *,
        exclude: set[str] | frozenset[str] = frozenset(),
        accept: Accept | None = None,
    ) -> Credential:
        """Take the best usable credential for `model`, or raise NoCredentialAvailable.

        `accept` lets the caller rule out credentials whose backend cannot make this call.
        """
        return self.take(model, exclude=exclude, accept=accept)[0]

    def take(
        self,
        model: str | None,
        *,
        exclude: set[str] | frozenset[str] = frozenset(),
        accept: Accept | None = None,
        tokens: int | None = None,
        prefer: str | None = None,
    ) -> tuple[Credential, Charge | None]:
        """`acquire` for a call that counts against quota when `tokens` (its estimated input
        tokens) is given: credentials it would take over a known limit are passed over, and the
        one chosen is charged the call (correct the charge with `settle`, return it via `release`).
        `prefer`: the id of the credential to take if it can serve (a sticky conversation's).
        """
        now = self.clock()
        # One pass, asked on every call: the quota book is consulted only when some limit can hold.
        quotas = self.quotas if tokens is not None and model is not None and self.quotas.may_limit() else None
        candidates: list[Credential] = []
        for c in self._credentials.values():
            if c.id in exclude or not c.usable(model, now) or (accept is not None and not accept(c)):
                continue
            if quotas is not None and quotas.blocked_until(c, model, tokens or 0, now) is not None:
                continue
            candidates.append(c)
        if not candidates:
            raise self.unavailable_error(model, exclude, now, accept, tokens)
        chosen = next((c for c in candidates if c.id == prefer), None) if prefer else None
        if chosen is None:
            routed, group = route(candidates, self.routing, self.account_weight, self._picks())
            if group is not None:
                self._group_picks[group] += 1
            chosen = select(routed, self.strategy, self.busy_elsewhere)
            if len(routed) > 1:  # a turn is taken only by a choice: a call bound to one credential
                self._picks_made += 1  # (the owner of a file) does not push it back in the rotation
                chosen.last_pick = self._picks_made
        chosen.in_flight += 1
        chosen.last_used = now
        if self.on_load is not None:
            self.on_load()
        charge = None
        if tokens is not None and model is not None:
            charge = self.quotas.charge(chosen, model, tokens, now)
        return chosen, charge

    def settle(self, charge: Charge | None, input_tokens: int | None) -> None:
        """Correct a charge's token estimate with the count Google gave in the answer's usage."""
        if charge is not None and input_tokens is not None:
            self.quotas.correct(charge, input_tokens)

    def hold_back(self, credential: Credential, charge: Charge, wait: float) -> None:
        """Return a credential the shared quota counter refused (other replicas used what was
        left): the call is not placed, and the credential is passed over for the model until
        `wait` seconds from now (at least a moment, so one acquire never asks twice)."""
        credential.in_flight = max(0, credential.in_flight - 1)
        self.quotas.hold_back(charge, self.clock() + max(wait, 0.05))
        if self.on_load is not None:
            self.on_load()

    def set_routing(self, routing: Routing, account_weight: float) -> None:
        """Change how keys and accounts share calls; a weighted mix counts its share afresh."""
        self.routing, self.account_weight = routing, account_weight
        self._group_picks = [0, 0]

    def set_quotas(
        self, overrides: dict[str, Any], kind_tiers: dict[str, str], credential_tiers: dict[str, str]
    ) -> None:
        """Limits: the published tier table with `overrides` laid over it, a default tier per
        credential kind and a tier per credential id; usage counted so far is kept."""
        self.quotas.table = merge_tiers(DEFAULT_TIERS, overrides)
        self.quotas.kind_tiers = {kind: tier for kind, tier in kind_tiers.items() if tier}
        self.quotas.credential_tiers = dict(credential_tiers)

    def set_proxies(self, proxies: dict[str, str]) -> None:
        """The outbound proxy of each credential named (credential id -> URL; '' for none)."""
        self.proxies = dict(proxies)
        for credential in self._credentials.values():
            credential.proxy = self.proxies.get(credential.id) or None

    def _picks(self) -> tuple[int, int]:
        return self._group_picks[0], self._group_picks[1]

    def unavailable_error(
        self,
        model: str | None,
        exclude: set[str] | frozenset[str],
        now: float,
        accept: Accept | None = None,
        tokens: int | None = None,
    ) -> NoCredentialAvailable:
        if not self._credentials:
            return NoCredentialAvailable(
                "no upstream credentials are configured (set GEMINI_API_KEYS, or connect an executor tab)",
                retry_after=None,
                status_code=503,
            )
        able = [c for c in self._credentials.values() if c.serves(model) and (accept is None or accept(c))]
        entitled = [c for c in able if c.entitled(model, now)]
        if not entitled:
            what = f"the model '{model}'" if model else "this call"
            why = "is entitled to" if able else "serves"
            return NoCredentialAvailable(
                f"no upstream credential in the pool {why} {what}",
                retry_after=None,
                status_code=404,
            )
        live = [c for c in entitled if c.enabled and c.disabled_reason is None]
        if not live:
            return NoCredentialAvailable(
                "every upstream credential is disabled; see /api/pool for the reasons",
                retry_after=None,
                status_code=503,
            )
        waits = [t for c in live if c.id not in exclude and (t := c.cooling_until(model, now)) is not None]
        quota_waits = [
            t
            for c in live
            if tokens is not None
            and c.id not in exclude
            and c.cooling_until(model, now) is None
            and (t := self.quotas.blocked_until(c, model, tokens, now)) is not None
        ]
        waits += quota_waits
        busy = [c for c in live if c.max_concurrency is not None and c.in_flight >= c.max_concurrency]
        if busy and not waits:
            return NoCredentialAvailable(
                "every upstream credential is busy; try again shortly", retry_after=1
            )
        retry_after = (min(waits) - now) if waits else None
        label = f" for {model}" if model else ""
        what = "rate limited"
        if quota_waits and len(quota_waits) == len(waits):
            what = "at the quota limits of their tier (GEMINI_API_KEY_TIER, CREDENTIAL_TIERS, QUOTA_TIERS)"
        return NoCredentialAvailable(
            f"all upstream credentials are {what}{label}; retry after {retry_after or 1:.0f}s",
            retry_after=retry_after,
        )

    def release(
        self,
        credential: Credential,
        model: str | None,
        verdict: Verdict | None,
        error: str = "",
        charge: Charge | None = None,
        status: int | None = None,
    ) -> None:
        """Return a credential after an attempt; `verdict` None means success."""
        credential.in_flight = max(0, credential.in_flight - 1)
        if self.on_load is not None:
            self.on_load()
        self.dirty = True
        if verdict is not None:
            credential.note_error(self.clock(), model, status, error or verdict.note)
            if verdict.refund and charge is not None:
                self.quotas.refund(charge)
            if verdict.quota_hits:
                self.quotas.learn(credential, model, verdict.quota_hits)
            credential.empty_answers += verdict.empty
        if verdict is None:
            credential.successes += 1
            if model is not None:
                credential.backoff_level.pop(model, None)
            return
        if verdict.counts_as_failure:
            credential.failures += 1
            credential.last_error = error[:300] or verdict.note or None
        if verdict.cooldown_until is not None:
            key = "*" if verdict.cooldown_all_models or model is None else model
            credential.cooldowns[key] = max(credential.cooldowns.get(key, 0.0), verdict.cooldown_until)
            credential.backoff_level[key] = credential.backoff_level.get(key, 0) + 1
        if verdict.unentitled_until is not None and model is not None:
            credential.unentitled[model] = verdict.unentitled_until
        if verdict.disable_reason is not None:
            credential.disabled_reason = verdict.disable_reason
        if self.observer is not None:
            if verdict.cooldown_until is not None:
                self.observer(credential, "cool", key)
            elif verdict.unentitled_until is not None and model is not None:
                self.observer(credential, "cool", model)
            if verdict.disable_reason is not None:
                self.observer(credential, "disabled", None)

    def cool(self, credential: Credential, model: str, until: float) -> None:
        """Rest a credential for one model until `until`, as the upstream announced ahead of a call
        (an Antigravity account whose quota for the model is spent says when it resets)."""
        if until <= credential.cooldowns.get(model, 0.0):
            return
        credential.cooldowns[model] = until
        self.dirty = True
        if self.observer is not None:
            self.observer(credential, "cool", model)

    def release_neutral(self, credential: Credential) -> None:
        """Return a credential after an attempt that says nothing about it (client went away)."""
        credential.in_flight = max(0, credential.in_flight - 1)
        if self.on_load is not None:
            self.on_load()

    def saw_turns(self, turns: Mapping[str, int]) -> None:
        """Picks other replicas made (credential id -> their pick number): their pick numbers and
        this pool's are one sequence (a Lamport clock), so a credential picked more recently
        anywhere waits for its turn here too."""
        for cid, turn in turns.items():
            credential = self._credentials.get(cid)
            if credential is not None and turn > credential.last_pick:
                credential.last_pick = turn
            self._picks_made = max(self._picks_made, turn)

    def set_enabled(self, credential_id: str, enabled: bool) -> bool:
        credential = self._credentials.get(credential_id)
        if credential is None:
            return False
        credential.switch(enabled)
        self.dirty = True
        if self.observer is not None:
            self.observer(credential, "enabled", None)
        return True

    def heal(self, credential_id: str) -> bool:
        """Clear a health disable (the credential works again); an operator's disable stays."""
        credential = self._credentials.get(credential_id)
        if credential is None or credential.disabled_reason is None:
            return False
        credential.disabled_reason = None
        self.dirty = True
        if self.observer is not None:
            self.observer(credential, "healed", None)
        return True

    def backoff_level(self, credential: Credential, model: str | None) -> int:
        return credential.backoff_level.get(model or "*", 0)

    def view(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [
            {
                **c.view(now),
                "in_flight_elsewhere": self.busy_elsewhere.get(c.id, 0),
                "tier": self.quotas.tier_of(c),
                "quota": self.quotas.view(c, now),
            }
            for c in self._credentials.values()
        ]

    def export_state(self) -> dict[str, dict[str, Any]]:
        self.dirty = False
        return {cid: c.persistent_state() for cid, c in self._credentials.items()}

    def restore_state(self, states: dict[str, dict[str, Any]]) -> None:
        for cid, state in states.items():
            credential = self._credentials.get(cid)
            if credential is not None:
                credential.restore_state(state)


def configure_quotas(pool: CredentialPool, settings: Settings) -> None:
    """The quota settings (QUOTA_TIERS, GEMINI_API_KEY_TIER, CREDENTIAL_TIERS) into the pool."""
    pool.set_quotas(
        settings.quota_tiers, {"api_key": settings.gemini_api_key_tier}, settings.credential_tiers
    )

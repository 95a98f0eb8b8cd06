"""One upstream credential and its live state."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from gemini_gateway.redaction import REDACTOR, mask_secret
from gemini_gateway.transport.build import redact_proxy

__all__ = ["Credential", "credential_id", "mask_secret"]
ERROR_HISTORY = 10  # last errors kept per credential, for operators


def credential_id(kind: str, secret: str) -> str:
    """Stable, non-secret id: survives restarts without storing the secret."""
    digest = hashlib.sha256(f"{kind}:{secret}".encode()).hexdigest()[:12]
    return f"{kind}:{digest}"


@dataclass(slots=True, eq=False)
class Credential:
    kind: str
    secret: str = field(repr=False)
    id: str = ""
    label: str = ""
    max_concurrency: int | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    in_flight: int = 0
    successes: int = 0
    failures: int = 0
    empty_answers: int = 0  # 200s without an answer that another credential was asked to better
    last_error: str | None = None
    last_used: float = 0.0
    last_pick: int = 0  # the pool's pick sequence number when this credential was last chosen
    # model -> wall-clock time the cooldown ends ("*" = every model)
    cooldowns: dict[str, float] = field(default_factory=dict)
    # model -> wall-clock time until which this account is taken as not entitled to the model
    unentitled: dict[str, float] = field(default_factory=dict)
    # model -> consecutive 429s without RetryInfo, drives the exponential backoff
    backoff_level: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    proxy: str | None = field(default=None, repr=False)  # its own outbound proxy (pool.proxies)
    # the last errors: {time, model, status, error (masked)}, oldest first
    errors: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ERROR_HISTORY))

    def __post_init__(self) -> None:
        if not self.id:
            self.id = credential_id(self.kind, self.secret)
        if not self.label:
            self.label = mask_secret(self.secret)

    def cooling_until(self, model: str | None, now: float) -> float | None:
        """When this credential can serve `model` again, or None if it can now."""
        if not self.cooldowns:
            return None
        ends = [t for m, t in self.cooldowns.items() if (m == "*" or m == model) and t > now]
        return max(ends) if ends else None

    def entitled(self, model: str | None, now: float) -> bool:
        """False while upstream has said this credential may not use `model` (an account's tier)."""
        return model is None or not self.unentitled or self.unentitled.get(model, 0.0) <= now

    def serves(self, model: str | None) -> bool:
        """Whether this credential's upstream offers `model` at all (kinds with a model list override)."""
        return True

    def offers(self, method: str, model: str | None) -> bool:
        """Whether this credential can make this call (kinds with their own capabilities override)."""
        return True

    def usable(self, model: str | None, now: float) -> bool:
        # Asked for every credential on every pick: the empty-dict tests spare the common case
        # (no restriction, no cooldown) two method calls.
        if not self.enabled or self.disabled_reason is not None or not self.serves(model):
            return False
        if self.unentitled and not self.entitled(model, now):
            return False
        if self.max_concurrency is not None and self.in_flight >= self.max_concurrency:
            return False
        return not self.cooldowns or self.cooling_until(model, now) is None

    def note_error(self, now: float, model: str | None, status: int | None, text: str) -> None:
        masked = REDACTOR.redact(text[:300], (self.secret,) if self.secret else ())
        self.errors.append({"time": now, "model": model, "status": status, "error": masked})

    def switch(self, enabled: bool) -> None:
        """The operator's choice: enabling also forgets the health state that took it out."""
        self.enabled = enabled
        if enabled:
            self.disabled_reason = None
            self.cooldowns.clear()
            self.unentitled.clear()
            self.backoff_level.clear()

    def prune_cooldowns(self, now: float) -> None:
        for model in [m for m, t in self.cooldowns.items() if t <= now]:
            del self.cooldowns[model]
        for model in [m for m, t in self.unentitled.items() if t <= now]:
            del self.unentitled[model]

    def persistent_state(self) -> dict[str, Any]:
        # No "enabled": the operator's choice is a record of its own (gemini_gateway.shared.records)
        # that health bookkeeping never writes; an older snapshot's value is still read below.
        return {
            "disabled_reason": self.disabled_reason,
            "successes": self.successes,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_used": self.last_used,
            "cooldowns": dict(self.cooldowns),
            "unentitled": dict(self.unentitled),
            "backoff_level": dict(self.backoff_level),
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        self.enabled = bool(state.get("enabled", True))
        self.disabled_reason = state.get("disabled_reason")
        self.successes = int(state.get("successes", 0))
        self.failures = int(state.get("failures", 0))
        self.last_error = state.get("last_error")
        self.last_used = float(state.get("last_used", 0.0))
        self.cooldowns = {str(k): float(v) for k, v in (state.get("cooldowns") or {}).items()}
        self.backoff_level = {str(k): int(v) for k, v in (state.get("backoff_level") or {}).items()}
        self.unentitled = {str(k): float(v) for k, v in (state.get("unentitled") or {}).items()}

    def view(self, now: float) -> dict[str, Any]:
        """What the monitoring API shows: masked label, never the secret."""
        self.prune_cooldowns(now)
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "in_flight": self.in_flight,
            "max_concurrency": self.max_concurrency,
            "proxy": redact_proxy(self.proxy),
            "successes": self.successes,
            "failures": self.failures,
            "empty_answers": self.empty_answers,
            "last_error": self.last_error,
            "last_used": self.last_used or None,
            "cooldowns": {m: round(t - now, 1) for m, t in self.cooldowns.items()},
            # models upstream said this credential may not use, and seconds until they are tried again
            "unentitled": {m: round(t - now, 1) for m, t in self.unentitled.items()},
            "errors": list(self.errors),
        }

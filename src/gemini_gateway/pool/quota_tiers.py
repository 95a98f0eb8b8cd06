"""Rate limits per usage tier and model: Google's published numbers, which operators may edit.

Numbers are the Gemini API's published limits per project and model (ai.google.dev/gemini-api/docs/
rate-limits, as of late 2025: free tier, Tier 1 = billing on, Tier 2 = over $250 spent, Tier 3 =
over $1000 spent). Google changes them often and shows a project's own in AI Studio, so a
`QUOTA_TIERS` JSON setting is merged over this table (a new tier, a model, one limit), and limits
learned from 429s override both for the credential that got them. `None` = no published limit.

Dimensions: rpm = requests per minute, tpm = input tokens per minute, rpd = requests per day
(reset at midnight Pacific time).
"""

from __future__ import annotations

from typing import Any, Literal

Dimension = Literal["rpm", "tpm", "rpd"]
DIMENSIONS: tuple[Dimension, ...] = ("rpm", "tpm", "rpd")
Limits = dict[str, int | None]  # dimension -> limit
TierTable = dict[str, dict[str, Limits]]  # tier -> model (id or id prefix) -> limits


def _l(rpm: int | None, tpm: int | None, rpd: int | None) -> Limits:
    return {"rpm": rpm, "tpm": tpm, "rpd": rpd}


DEFAULT_TIERS: TierTable = {
    "free": {
        "gemini-2.5-pro": _l(5, 250_000, 100),
        "gemini-2.5-flash": _l(10, 250_000, 250),
        "gemini-2.5-flash-lite": _l(15, 250_000, 1_000),
        "gemini-2.0-flash": _l(15, 1_000_000, 200),
        "gemini-2.0-flash-lite": _l(30, 1_000_000, 200),
        "gemini-embedding-001": _l(100, 30_000, 1_000),
        "gemma-3": _l(30, 15_000, 14_400),
    },
    "tier1": {
        "gemini-3-pro-preview": _l(50, 1_000_000, 1_000),
        "gemini-2.5-pro": _l(150, 2_000_000, 10_000),
        "gemini-2.5-flash": _l(1_000, 1_000_000, 10_000),
        "gemini-2.5-flash-lite": _l(4_000, 4_000_000, None),
        "gemini-2.0-flash": _l(2_000, 4_000_000, None),
        "gemini-2.0-flash-lite": _l(4_000, 4_000_000, None),
        "gemini-embedding-001": _l(3_000, 1_000_000, None),
    },
    "tier2": {
        "gemini-3-pro-preview": _l(1_000, 5_000_000, 50_000),
        "gemini-2.5-pro": _l(1_000, 5_000_000, 50_000),
        "gemini-2.5-flash": _l(2_000, 3_000_000, 100_000),
        "gemini-2.5-flash-lite": _l(10_000, 10_000_000, None),
        "gemini-2.0-flash": _l(10_000, 10_000_000, None),
        "gemini-2.0-flash-lite": _l(20_000, 10_000_000, None),
        "gemini-embedding-001": _l(5_000, 5_000_000, None),
    },
    "tier3": {
        "gemini-3-pro-preview": _l(2_000, 8_000_000, None),
        "gemini-2.5-pro": _l(2_000, 8_000_000, None),
        "gemini-2.5-flash": _l(10_000, 8_000_000, None),
        "gemini-2.5-flash-lite": _l(30_000, 30_000_000, None),
        "gemini-2.0-flash": _l(30_000, 30_000_000, None),
        "gemini-2.0-flash-lite": _l(30_000, 30_000_000, None),
        "gemini-embedding-001": _l(10_000, 10_000_000, None),
    },
}


def merge_tiers(base: TierTable, override: dict[str, Any]) -> TierTable:
    """`base` with `override` laid over it, tier by tier, model by model, limit by limit.

    Raises ValueError on a shape that is not tier -> model -> {rpm|tpm|rpd: int >= 0 | null}.
    """
    merged = {
        tier: {model: dict(limits) for model, limits in models.items()} for tier, models in base.items()
    }
    for tier, models in override.items():
        if not isinstance(models, dict):
            raise ValueError(f"quota tier {tier!r} must map models to limits")
        table = merged.setdefault(str(tier), {})
        for model, limits in models.items():
            if not isinstance(limits, dict):
                raise ValueError(f"quota tier {tier!r}, model {model!r}: limits must be an object")
            entry = table.setdefault(str(model).removeprefix("models/"), _l(None, None, None))
            for name, value in limits.items():
                if name not in DIMENSIONS:
                    raise ValueError(f"unknown quota limit {name!r}; known: {', '.join(DIMENSIONS)}")
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                    raise ValueError(
                        f"quota limit {tier}.{model}.{name} must be a non-negative integer or null"
                    )
                entry[name] = value
    return merged


def tier_limits(table: TierTable, tier: str | None, model: str | None) -> Limits:
    """The limits of `model` in `tier`: its own entry, else the longest entry it starts with
    (dated and suffixed variants share their family's limits); empty when none is known."""
    models = table.get(tier or "", {})
    if not model or not models:
        return {}
    if model in models:
        return models[model]
    prefixes = [m for m in models if model.startswith(m)]
    return models[max(prefixes, key=len)] if prefixes else {}

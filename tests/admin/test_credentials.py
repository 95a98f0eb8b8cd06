"""How the admin UI words a credential's health."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_gateway.admin.credentials import health_of

HEALTHY: dict[str, Any] = {
    "enabled": True,
    "disabled_reason": None,
    "cooldowns": {},
    "max_concurrency": 2,
    "in_flight": 0,
}


@pytest.mark.parametrize(
    ("changes", "health"),
    [
        ({}, "ok"),
        ({"state": "connected"}, "ok"),
        ({"state": "stale"}, "offline"),  # an executor tab whose heartbeats stopped
        ({"state": "closed"}, "offline"),
        ({"cooldowns": {"gemini-2.5-flash": 30}}, "cooling"),
        ({"in_flight": 2}, "busy"),
        ({"disabled_reason": "API_KEY_INVALID"}, "failed"),
        ({"enabled": False, "state": "stale"}, "disabled"),
    ],
)
def test_health_of(changes: dict[str, Any], health: str) -> None:
    assert health_of({**HEALTHY, **changes}) == health

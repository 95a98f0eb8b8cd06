"""Self-healing: a health-disabled key is re-checked on a schedule and comes back by itself."""

from __future__ import annotations

import time

import httpx

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.healer import next_wait
from gemini_gateway.redaction import mask_secret
from tests.conftest import KEYS, GatewayFactory
from tests.oauth.helpers import ADMIN, credential_by_label, generate


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def wait_for(condition: object, what: str, seconds: float = 60.0) -> None:
    """Poll until `condition()` holds: the healer runs on its own task in the gateway's thread."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_backoff_grows_per_failed_check_and_depends_on_the_reason() -> None:
    assert next_wait("CONSUMER_SUSPENDED: x", 0, 60) == 60
    assert next_wait("CONSUMER_SUSPENDED: x", 2, 60) == 240
    assert next_wait("API_KEY_INVALID: x", 0, 60) == 240  # rarely comes back: checked less often
    assert next_wait("API_KEY_INVALID: x", 30, 60) == 24 * 3600  # capped at a day


def test_a_suspended_key_comes_back_when_the_upstream_stops_refusing_it(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    sick, label = KEYS[0], mask_secret(KEYS[0])
    clock = Clock()
    with gateway_factory(
        gemini_api_keys=KEYS[:2], heal_interval_seconds=0.05, pool_strategy="round_robin"
    ) as running:
        running.gateway.pool.clock = clock
        fake.add_fault(sick, "suspended")
        assert generate(running.url).status_code == 200  # failed over to the other key
        key = credential_by_label(running.url, label)
        assert "CONSUMER_SUSPENDED" in key["disabled_reason"] and key["enabled"]
        assert key["errors"][-1]["status"] == 403 and sick not in str(key["errors"])

        def checks() -> int:
            return sum(1 for c in fake.calls if c.key == sick and c.method != "generateContent")

        healer = running.gateway.healer
        # The schedule starts when the healer's pass first sees the key; moving the clock before
        # that would push its first check a whole wait into the future.
        wait_for(lambda: healer.next_check(key["id"]) is not None, "the key to be scheduled")
        first = healer.next_check(key["id"])
        assert first is not None and first == clock.now + next_wait("CONSUMER_SUSPENDED", 0, 0.05)
        clock.now = first + 1  # due; the fake still refuses it
        wait_for(lambda: healer.failed_checks(key["id"]) == 1, "the first check")
        assert checks() == 1 and credential_by_label(running.url, label)["disabled_reason"] is not None

        fake.clear_faults()
        clock.now += next_wait("CONSUMER_SUSPENDED", 1, 0.05) + 1
        wait_for(lambda: credential_by_label(running.url, label)["disabled_reason"] is None, "the comeback")
        entries = httpx.get(f"{running.url}/api/audit", headers=ADMIN).json()["entries"]
        before = len([c for c in fake.calls if c.key == sick and c.method == "generateContent"])
        for _ in range(2):
            assert generate(running.url).status_code == 200
        after = len([c for c in fake.calls if c.key == sick and c.method == "generateContent"])
    healed = [e for e in entries if e["action"] == "pool.heal"]
    assert len(healed) == 1 and "CONSUMER_SUSPENDED" in str(healed[0]) and sick not in str(entries)
    assert after == before + 1  # it serves its turn again

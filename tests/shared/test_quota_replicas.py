"""Quota counters (RPM/TPM/RPD per credential x model) shared by real `serve` processes on one Redis.

Two `gemini-gateway serve` processes (a Python start-up each: three cost a third more for no
more proof) on loopback, one SQLite store and one Redis namespace, a tier of 4 calls a minute for
the one key: 10 calls alternating between them let exactly 4 reach the upstream (not 2 x 4).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS
from tests.servers import Served, spawn_cli, stop_cli, wait_answering

MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Count me once"}]}]}
RPM = 4


@contextlib.contextmanager
def serving(tmp_path: Path, n: int, **env: str) -> Iterator[list[Served]]:
    """n `serve` processes started together (their start-ups overlap), stopped at the end."""
    started = [spawn_cli(tmp_path, REPLICA_ID=f"q{i}", **env) for i in range(n)]
    try:
        for served in started:
            wait_answering(served, "/health/ready")
        yield started
    finally:
        for served in started:
            stop_cli(served)


def test_a_tier_limit_of_n_a_minute_lets_n_through_across_replicas(
    tmp_path: Path, redis_url: str, fake: FakeState, fake_url: str
) -> None:
    env = {
        "GEMINI_API_KEYS": KEYS[0],
        "GEMINI_BASE_URL": fake_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "REDIS_URL": redis_url,
        "QUOTA_TIERS": json.dumps({"tiny": {MODEL: {"rpm": RPM}}}),
        "GEMINI_API_KEY_TIER": "tiny",
        "RECORDING_MODE": "off",
        "RECORDING_WRITER": "inline",
    }
    with serving(tmp_path, 2, **env) as running:
        answers = [httpx.post(running[i % 2].url + GEN, json=BODY, timeout=10) for i in range(10)]
    statuses = [a.status_code for a in answers]
    # The first four went out from replicas 0, 1, 0 and 1: each replica's own count was 2 at
    # every later call, so only the shared counter can have refused them.
    assert statuses == [200] * RPM + [429] * (10 - RPM), statuses
    assert sum(1 for c in fake.calls if c.method == "generateContent") == RPM
    refused = next(a for a in answers if a.status_code == 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert "quota limits" in refused.text

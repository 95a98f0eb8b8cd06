"""How soon a cooldown set on one replica holds on another: `python bench/cooldowns.py`.

Two `gemini-gateway serve` processes on one Redis namespace and one SQLite store, each with the
same single key, the fake upstream behind them; gateways on core 0, fake and this script on
core 1, recording off. Each trial:

  1. the fake is told to answer the key's next call with a 429 carrying RetryInfo (`--retry`);
  2. a thread polls replica B's `/api/pool` back to back, recording when each answer arrived and
     whether it shows the key cooling for the model (what B's pool checks before any pick);
  3. one call is sent to replica A, which meets the 429 (and answers its client 429: no other key);
  4. the delay is from the moment the fake received A's call (its own record, the same wall
     clock) to the arrival of B's first answer showing the cooldown. That counts the 429 going
     back to A, A's classification, the pub/sub push, B applying it, and up to one poll of B.

B never calls the key meanwhile: it is only asked for its pool. The trial then waits for the
cooldown to end on both before the next. Reported: median, p90, p99 and max over `--trials`,
and the median poll (the figures' resolution).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import services  # bench/ is a folder of scripts, not a package
from services import MODEL

GATEWAY_CORE, CLIENT_CORE = 0, 1
KEY = "gateway-key-cooldown"
TOKEN = "bench-client-token-" + "c" * 12
ADMIN = "bench-admin-token-" + "c" * 14
GEN = f"/v1beta/models/{MODEL}:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "cooldown trial"}]}]}
TRIAL_TIMEOUT = 30.0


def start_pair(workdir: Path, upstream: str, redis: str) -> list[services.Service]:
    extra = {
        "RECORDING_MODE": "off",
        "RECORDING_WRITER": "inline",
        "DATABASE_URL": f"sqlite:///{workdir / 'store.db'}",
        "REDIS_URL": f"{redis}?prefix=bench-cool-{uuid.uuid4().hex[:8]}",
        "ADMIN_TOKEN": ADMIN,
    }
    started = []
    for name in ("a", "b"):
        env = {**extra, "REPLICA_ID": f"bench-{name}"}
        started.append(services.start_gateway(workdir, GATEWAY_CORE, upstream, [KEY], TOKEN, env))
    return started


def cooling(client: httpx.Client) -> bool:
    rows = client.get("/api/pool").json()["credentials"]
    return any(MODEL in row["cooldowns"] for row in rows)


def wait_until(check: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + TRIAL_TIMEOUT
    while not check():
        if time.monotonic() > end:
            raise RuntimeError(f"not within {TRIAL_TIMEOUT:g}s: {what}")
        time.sleep(0.01)


def trial(
    fake: httpx.Client, a: httpx.Client, b_admin: httpx.Client, a_admin: httpx.Client, retry: float
) -> dict[str, float]:
    wait_until(lambda: not cooling(b_admin) and not cooling(a_admin), "the last cooldown ending")
    fake.post("/_fake/reset").raise_for_status()
    fake.post(
        "/_fake/faults",
        json={"key": KEY, "fault": "429", "retry_delay": f"{retry:g}s", "count": 1, "model": MODEL},
    ).raise_for_status()
    polls: list[tuple[float, float, bool]] = []  # (sent, answered, cooling), wall clock
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            sent = time.time()
            seen = cooling(b_admin)
            polls.append((sent, time.time(), seen))
            if seen:
                return

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        answer = a.post(GEN, json=BODY)
        if answer.status_code != 429:
            raise RuntimeError(f"replica A answered {answer.status_code}, not 429: {answer.text[:200]}")
        poller.join(TRIAL_TIMEOUT)
    finally:
        stop.set()
        poller.join()
    calls = fake.get("/_fake/calls").json()
    if len(calls) != 1:
        raise RuntimeError(f"expected the one call from A upstream, saw {len(calls)}")
    first = next((p for p in polls if p[2]), None)
    if first is None:
        raise RuntimeError(f"B did not show the cooldown within {TRIAL_TIMEOUT:g}s")
    rtts = [answered - sent for sent, answered, _ in polls]
    return {"delay_ms": (first[1] - calls[0]["time"]) * 1000, "poll_ms": statistics.median(rtts) * 1000}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--retry", type=float, default=1.0, help="RetryInfo seconds of each 429")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="gw-bench-cooldowns-") as folder:
        workdir = Path(folder)
        fake_service = services.start_fake(workdir, CLIENT_CORE)
        pair: list[services.Service] = []
        try:
            pair = start_pair(workdir, fake_service.base_url, args.redis)
            auth = {"authorization": f"Bearer {TOKEN}"}
            admin = {"authorization": f"Bearer {ADMIN}"}
            with (
                httpx.Client(base_url=fake_service.base_url) as fake,
                httpx.Client(base_url=pair[0].base_url, headers=auth) as a,
                httpx.Client(base_url=pair[0].base_url, headers=admin) as a_admin,
                httpx.Client(base_url=pair[1].base_url, headers=admin) as b_admin,
            ):
                for number in range(args.trials):
                    row = trial(fake, a, b_admin, a_admin, args.retry)
                    rows.append(row)
                    print(json.dumps({"trial": number, **row}), flush=True)
        finally:
            for service in pair:
                service.stop()
            fake_service.stop()
    delays = [r["delay_ms"] for r in rows]
    print(
        f"\n{len(delays)} trials: cooldown on A to B showing it, ms: median {statistics.median(delays):.1f}, "
        f"p90 {percentile(delays, 90):.1f}, p99 {percentile(delays, 99):.1f}, max {max(delays):.1f}; "
        f"median poll of B {statistics.median(r['poll_ms'] for r in rows):.2f} ms (the resolution)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

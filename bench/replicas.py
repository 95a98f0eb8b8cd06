"""Replicas on shared state against one process with embedded state: `python bench/replicas.py`.

Loopback only, every run bounded. The gateways (1, 2 or 3 `gemini-gateway serve` processes, one
SQLite store, one Redis namespace) all run on core 0, so their sum is what one core does whatever
the count; the fake upstream and wrk run on core 1 (Redis is the machine's service, wherever the
OS puts it). Recording is off: what is measured is the shared state, not the store.

Configurations:
  embedded        one process, no REDIS_URL (the default)
  redis           the same with REDIS_URL (cooldowns pushed, the rate gate, ...)
  redis+quota     and a quota tier (huge limits) on the keys: each call placed in Redis first
  redis xN        N replicas; wrk runs one instance per replica at once, c=64/N each, summed

Figures: req/s at c=64 non-stream (wrk, `--seconds`), and latency at c=1 (p50/p99 over
`--latency-seconds`, one replica) with the difference to `embedded`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # bench/ is a folder of scripts, not a package
import services
from loadgen import Target
from services import MODEL

GATEWAY_CORE, CLIENT_CORE = 0, 1
KEYS = [f"gateway-key-{i}" for i in range(4)]
TOKEN = "bench-client-token-" + "r" * 12
HUGE_TIER = {"bench": {MODEL: {"rpm": 10**9, "tpm": None, "rpd": None}}}


@dataclass(frozen=True)
class Config:
    name: str
    replicas: int
    redis: bool
    quota: bool = False


CONFIGS = [
    Config("embedded", 1, False),
    Config("redis", 1, True),
    Config("redis+quota", 1, True, True),
    Config("redis x2", 2, True),
    Config("redis x3", 3, True),
    Config("redis+quota x3", 3, True, True),
]


def start_replicas(config: Config, workdir: Path, upstream: str, redis: str) -> list[services.Service]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    extra = {
        "RECORDING_MODE": "off",
        "RECORDING_WRITER": "inline",
        "DATABASE_URL": f"sqlite:///{workdir / 'store.db'}",
    }
    if config.redis:
        extra["REDIS_URL"] = f"{redis}?prefix={prefix}"
    if config.quota:
        extra["QUOTA_TIERS"] = json.dumps(HUGE_TIER)
        extra["GEMINI_API_KEY_TIER"] = "bench"
    started = []
    for i in range(config.replicas):
        extra["REPLICA_ID"] = f"bench-{i}"
        started.append(services.start_gateway(workdir, GATEWAY_CORE, upstream, KEYS, TOKEN, dict(extra)))
    return started


def targets(replicas: list[services.Service]) -> list[Target]:
    auth = (("authorization", f"Bearer {TOKEN}"),)
    return [Target(f"r{i}", r.base_url, "gemini", MODEL, auth) for i, r in enumerate(replicas)]


def throughput(
    wrk: str, found: list[Target], connections: int, seconds: float, workdir: Path
) -> dict[str, float]:
    """One wrk per replica at once (connections split between them); their req/s summed."""
    share = max(1, connections // len(found))
    scripts = [loadgen.write_lua(t, False, workdir) for t in found]
    with ThreadPoolExecutor(len(found)) as pool:
        runs = list(
            pool.map(
                lambda pair: loadgen.run_wrk(wrk, pair[0].url(False), pair[1], share, seconds, CLIENT_CORE),
                zip(found, scripts, strict=True),
            )
        )
    return {
        "rps": sum(r.rps for r in runs),
        "p50_ms": max(r.p50_ms for r in runs),
        "p99_ms": max(r.p99_ms for r in runs),
        "errors": sum(r.errors + r.timeouts for r in runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each wrk run")
    parser.add_argument("--latency-seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--only", default="", help="comma-separated configuration names")
    parser.add_argument("--rounds", type=int, default=3, help="each figure is the median of this many")
    args = parser.parse_args()
    wrk = services.ensure_wrk()
    chosen = [c for c in CONFIGS if not args.only or c.name in args.only.split(",")]
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="gw-bench-replicas-") as folder:
        workdir = Path(folder)
        fake = services.start_fake(workdir, CLIENT_CORE)
        running: dict[str, list[services.Service]] = {}
        try:
            # Every configuration is up at once (idle ones cost nothing) and they are measured in
            # turn, round after round: drift in a shared machine's speed lands on all alike.
            for config in chosen:
                running[config.name] = start_replicas(config, workdir, fake.base_url, args.redis)
                for target in targets(running[config.name]):  # each one answers before it is measured
                    status, _, body = asyncio.run(loadgen.probe(target, False))
                    if status != 200:
                        raise RuntimeError(f"{config.name} {target.name}: {status} {body[:200]!r}")
            for round_number in range(args.rounds):
                for config in chosen:
                    found = targets(running[config.name])
                    loadgen.wait_quiet(f"cpu{GATEWAY_CORE}", 3)
                    load = throughput(wrk, found, args.connections, args.seconds, workdir)
                    samples = asyncio.run(loadgen.latency(found[:1], False, args.latency_seconds, 5000))
                    one = samples[found[0].name]
                    row = {
                        "round": round_number,
                        "config": config.name,
                        **load,
                        "c1_p50_ms": one.pct(50),
                        "c1_p99_ms": one.pct(99),
                        "c1_failures": one.failures,
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            for replicas in running.values():
                for replica in replicas:
                    replica.stop()
            fake.stop()
    print(report(rows, args))
    return 0


def report(rows: list[dict[str, object]], args: argparse.Namespace) -> str:
    names = list(dict.fromkeys(str(r["config"]) for r in rows))

    def median(name: str, key: str) -> float:
        return statistics.median(float(str(r[key])) for r in rows if r["config"] == name)

    lines = [
        f"medians of {args.rounds} rounds; c={args.connections} non-stream, {args.seconds:g} s per wrk run; "
        f"c=1 over {args.latency_seconds:g} s; gateways on core 0, fake and wrk on core 1; recording off",
        "",
        "| config | req/s (c=64) | vs embedded | p99 ms (c=64) | c=1 p50 ms | c=1 p99 ms | added p50 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    base = "embedded" if "embedded" in names else None
    for name in names:
        rps, p50 = median(name, "rps"), median(name, "c1_p50_ms")
        versus = f"{(rps / median(base, 'rps') - 1) * 100:+.0f} %" if base else "-"
        added = f"{p50 - median(base, 'c1_p50_ms'):+.2f}" if base else "-"
        lines.append(
            f"| {name} | {rps:,.0f} | {versus} | {median(name, 'p99_ms'):.1f} | "
            f"{p50:.2f} | {median(name, 'c1_p99_ms'):.2f} | {added} |"
        )
    errors = sum(int(str(r["errors"])) + int(str(r["c1_failures"])) for r in rows)
    lines.append(f"\nerrors and non-200 answers over all runs: {errors}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

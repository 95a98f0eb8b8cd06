"""What recording costs: gateway requests/second with RECORDING_MODE=full versus off, and the
sustained insert rate of each store.

    python bench/recording.py [--seconds 5] [--rounds 3] [--concurrency 64] [--insert-seconds 3]

Throughput: the gateway on core 0, the fake upstream and wrk on core 1 (as bench/run.py), all on
127.0.0.1, in three configurations: recording off; full, written inline on core 0; full, written
by the writer process, which goes to core 1 (see CONFIGS). The order reverses every round and the
median run counts, so drift hits all alike.
With recording on, the run also checks that every request was recorded (written or spooled), and
"sustained req/s" counts the time the writer needed after the run to catch up with it.
Besides req/s it reports the gateway's CPU time per request (schedstat of its process tree, the
recorder process and the writer's backlog included; and of the gateway's own process alone): on a
shared machine that figure moves far less than req/s.
Insert rate: batches of 200 typical records (about 1 KB of bodies each) into SQLite (a file),
PostgreSQL and MariaDB (the local services, or servers started from the Debian binaries).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from gemini_gateway.store.database import Database
from gemini_gateway.store.exchanges import ExchangeStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the store tests' servers and records

from tests.store.dbservers import OwnMariaDB, OwnPostgres, create_database, drop_database, service_url
from tests.store.records import gemini_answer, gemini_request, make_record

import loadgen  # bench/ is a folder of scripts, not a package
import services
from loadgen import Target

SERVER_CORE, CLIENT_CORE = 0, 1
KEYS = [f"bench-key-{i:02d}-{os.urandom(4).hex()}" for i in range(4)]
TOKEN = "bench-client-" + os.urandom(6).hex()
ADMIN = "bench-admin-" + os.urandom(6).hex()
BATCH = 200


# What each configuration sets: recording off; full, written on the gateway's core (what
# RECORDING_WRITER=auto picks for a gateway confined to one CPU); full, by the writer process on
# the other core (what auto picks on any multi-CPU host).
CONFIGS = {
    "off": {"RECORDING_MODE": "off"},
    "inline": {"RECORDING_MODE": "full", "RECORDING_WRITER": "inline"},
    "process": {"RECORDING_MODE": "full", "RECORDING_WRITER": "process"},
}


def start_gateway(workdir: Path, upstream: str, mode: str) -> services.Service:
    port = services.free_port()
    data_dir = workdir / f"data-{mode}-{port}"
    data_dir.mkdir()
    env = services.clean_env(
        GEMINI_API_KEYS=",".join(KEYS),
        GEMINI_API_KEY_TIER="",  # the fake's keys have no quota for the gateway to count
        GEMINI_BASE_URL=upstream,
        GATEWAY_TOKENS=TOKEN,
        ADMIN_TOKEN=ADMIN,
        DATA_DIR=str(data_dir),
        LOG_LEVEL="warning",
        HOST="127.0.0.1",
        PORT=str(port),
        **CONFIGS[mode],
    )
    argv = [services._gateway_cli(), "serve"]
    gateway = services.start(
        f"gateway-{mode}", argv, core=SERVER_CORE, port=port, env=env, workdir=workdir, ready_path="/health"
    )
    if mode == "process":
        # taskset gave the writer process the gateway's core; the OS would have chosen another.
        assert gateway.pin_children(CLIENT_CORE), "no writer process"
    return gateway


def recorder_status(gateway: services.Service) -> dict[str, Any]:
    request = urllib.request.Request(
        gateway.base_url + "/api/recorder", headers={"authorization": f"Bearer {ADMIN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
        return orjson.loads(response.read())  # type: ignore[no-any-return]


# (mode, stream) -> [(req/s, CPU µs/req of all its processes, of the gateway's process alone,
#                    sustained req/s: the run's requests over the run and the writer's catch-up)]
Runs = dict[tuple[str, bool], list[tuple[float, float, float, float]]]


def throughput(args: argparse.Namespace, workdir: Path) -> Runs:
    wrk = services.ensure_wrk()
    fake = services.start_fake(workdir, CLIENT_CORE)
    runs: Runs = {}
    try:
        for round_no in range(args.rounds):
            order = list(CONFIGS)
            for mode in order if round_no % 2 == 0 else order[::-1]:
                gateway = start_gateway(workdir, fake.base_url, mode)
                try:
                    target = Target(
                        "gateway", gateway.base_url, "gemini", services.MODEL, (("x-goog-api-key", TOKEN),)
                    )
                    for stream in (False, True):
                        lua = loadgen.write_lua(target, stream, workdir)
                        url = target.url(stream)
                        loadgen.run_wrk(wrk, url, lua, args.concurrency, 1, CLIENT_CORE)  # warm-up
                        if mode != "off":
                            drained(gateway)
                        cpu, main_cpu = gateway.cpu_seconds(), gateway.cpu_seconds(main_only=True)
                        run = loadgen.run_wrk(wrk, url, lua, args.concurrency, args.seconds, CLIENT_CORE)
                        catch_up = time.monotonic()
                        if mode != "off":
                            drained(gateway)  # the writer's backlog is part of the cost
                        catch_up = time.monotonic() - catch_up
                        # Requests over the run plus the time the writer needed to catch up: what a
                        # load that never pauses would get once the backlog stops growing.
                        sustained = run.requests / (run.seconds + catch_up)
                        cpu_us = (gateway.cpu_seconds() - cpu) / max(run.requests, 1) * 1e6
                        main_us = (
                            (gateway.cpu_seconds(main_only=True) - main_cpu) / max(run.requests, 1) * 1e6
                        )
                        if not run.clean:
                            raise RuntimeError(f"{mode} run had {run.errors} errors, {run.timeouts} timeouts")
                        runs.setdefault((mode, stream), []).append((run.rps, cpu_us, main_us, sustained))
                        kind = "stream" if stream else "unary"
                        print(
                            f"  round {round_no + 1} {mode:7} {kind:6} {run.rps:9,.0f} req/s"
                            f" ({sustained:,.0f} sustained) {cpu_us:7.0f} µs CPU/req"
                            f" ({main_us:.0f} in the gateway's process)",
                            file=sys.stderr,
                        )
                finally:
                    gateway.stop()
    finally:
        fake.stop()
    return runs


def drained(gateway: services.Service) -> None:
    """Wait until every answered request is written or spooled; fail if any record was lost."""
    deadline = time.monotonic() + 60
    while True:
        status = recorder_status(gateway)
        if status["queued"] == 0 and status["written"] + status["spooled"] == status["submitted"]:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"recorder did not drain: {status}")
        time.sleep(0.05)
    if status["lost"]:
        raise RuntimeError(f"records lost: {status}")
    if status["overflowed"]:
        print(
            f"  note: {status['overflowed']:,} records overflowed the queue into the spool", file=sys.stderr
        )


async def store_rates(seconds: float, workdir: Path) -> dict[str, str]:
    rates: dict[str, str] = {}
    sqlite_url = f"sqlite:///{workdir / 'bench.db'}"
    rates["SQLite (file, WAL)"] = f"{await timed_inserts(sqlite_url, seconds):,.0f}"
    for kind, own, label in (("postgresql", OwnPostgres, "PostgreSQL"), ("mariadb", OwnMariaDB, "MariaDB")):
        server: Any = None
        base = await service_url(kind)
        try:
            if base is None:
                server = await asyncio.to_thread(own)
                if isinstance(server, OwnPostgres):
                    await asyncio.to_thread(server.start)
                base = server.url
            url = await create_database(base)
            try:
                rates[label] = f"{await timed_inserts(url, seconds):,.0f}"
            finally:
                await drop_database(url)
        except Exception as exc:  # no server can be had here: say so in the table
            rates[label] = f"n/a ({type(exc).__name__})"
        finally:
            if server is not None:
                await asyncio.to_thread(server.destroy)
    return rates


async def timed_inserts(url: str, seconds: float) -> float:
    """Records per second of `ExchangeStore.insert` alone, batches of 200, for about `seconds`."""
    database = Database(url)
    await database.migrate()
    store = ExchangeStore(database)
    text = "Explain in a few sentences why a pool of API keys needs per-model cooldowns. " * 4
    inserted, busy = 0, 0.0
    try:
        while busy < seconds:
            batch = [
                make_record(request=gemini_request(text), response=gemini_answer(text)) for _ in range(BATCH)
            ]
            t0 = time.perf_counter()
            await store.insert(batch)
            busy += time.perf_counter() - t0
            inserted += len(batch)
    finally:
        await database.aclose()
    return inserted / busy


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per mode (median counts)")
    parser.add_argument("--concurrency", type=int, default=64, help="wrk connections")
    parser.add_argument("--insert-seconds", type=float, default=3.0, help="insert time per store")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gw-bench-rec-") as tmp:
        workdir = Path(tmp)
        runs = {} if args.skip_throughput else throughput(args, workdir)
        rates = asyncio.run(store_rates(args.insert_seconds, workdir))
    print(f"\nRecording cost (wrk c={args.concurrency}, {args.seconds:g} s runs, median of {args.rounds})\n")
    print(
        "| request | recording | req/s | req/s cost | sustained req/s | sustained cost "
        "| CPU µs/req (all processes) | CPU cost | CPU µs/req, gateway process alone |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    labels = {"off": "off", "inline": "full, inline (one core)", "process": "full, writer process on core 1"}
    for stream in (False, True):
        if ("off", stream) not in runs:
            continue
        kind = "streamGenerateContent (SSE)" if stream else "generateContent"
        off = [statistics.median(v) for v in zip(*runs[("off", stream)], strict=True)]
        for mode, label in labels.items():
            rps, cpu, main_cpu, sustained = [
                statistics.median(v) for v in zip(*runs[(mode, stream)], strict=True)
            ]
            costs = ["", "", ""]
            if mode != "off":
                costs = [
                    f"{(off[0] - rps) / off[0]:.1%}",
                    f"{(off[3] - sustained) / off[3]:.1%}",
                    f"{(cpu - off[1]) / cpu:.1%}",
                ]
            print(
                f"| {kind} | {label} | {rps:,.0f} | {costs[0]} | {sustained:,.0f} | {costs[1]} "
                f"| {cpu:.0f} | {costs[2]} | {main_cpu:.0f} |"
            )
    print(f"\nSustained insert rate (batches of {BATCH} records, ~1 KB of bodies each, insert time only)\n")
    print("| store | records/s |")
    print("|---|---:|")
    for label, rate in rates.items():
        print(f"| {label} | {rate} |")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())

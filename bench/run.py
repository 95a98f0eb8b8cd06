"""The benchmark, start to finish: `python bench/run.py` (see bench/README.md).

Cores: the gateway and LiteLLM on core 0, one at a time under load; the fake upstream, wrk and
this script's own client on core 1. So a figure for the gateway is what one core of it can do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # bench/ is a folder of scripts, not a package
import profiling
import report
import services
from loadgen import Target
from services import MODEL, Service

SERVER_CORE, CLIENT_CORE = 0, 1
RESULTS_DIR = services.BENCH_DIR / "results"
STREAM_CHUNKS = 20
RUN_LATENCIES = 10  # a throughput run lasts at least this many of its own median latencies...
MAX_RUN_SECONDS = 25
PHASES = (
    "streams",
    "latency",
    "throughput",
    "profile",
)  # ...up to this, so the whole benchmark stays within minutes
FAKE_CONFIG_PATH = "/_fake/config"
FAKE_CALLS_PATH = "/_fake/calls"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each wrk run")
    parser.add_argument("--latency-seconds", type=float, default=3.0, help="length of each latency phase")
    parser.add_argument("--concurrency", default="1,16,64,256", help="wrk connection counts")
    parser.add_argument("--keys", type=int, default=4, help="API keys in the gateway's and LiteLLM's pools")
    parser.add_argument("--streams", type=int, default=1000, help="streams held open for the RSS check")
    parser.add_argument("--litellm-spec", default="litellm[proxy]", help="pip requirement for LiteLLM")
    parser.add_argument("--skip-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--skip-profile", action="store_true", help="leave the py-spy phase out")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)} (default: all), for quicker looks",
    )
    parser.add_argument("--profile-seconds", type=float, default=5.0)
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for the gateway, e.g. RECORDING_MODE=off (repeatable; default: its defaults)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "latest.md")
    return parser.parse_args()


# ------------------------------------------------------------------------------- fake control


def fake_request(fake: Service, path: str, payload: dict[str, Any] | None = None) -> Any:
    data = orjson.dumps(payload) if payload is not None else None
    request = urllib.request.Request(
        fake.base_url + path, data=data, method="POST" if data else "GET",
        headers={"content-type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
        return orjson.loads(response.read() or b"null")


def configure_fake(fake: Service, **changes: float) -> None:
    fake_request(fake, FAKE_CONFIG_PATH, changes)


def fake_calls(fake: Service) -> list[dict[str, Any]]:
    data = fake_request(fake, FAKE_CALLS_PATH)
    calls = data.get("calls", data) if isinstance(data, dict) else data
    return list(calls)


# --------------------------------------------------------------------------------------- phases


def quiet(results: report.Results, what: str, limit: float = 20.0) -> None:
    """Start a measurement only once core 0 is free of other work (or note that it was not)."""
    busy = loadgen.wait_quiet(f"cpu{SERVER_CORE}", limit)
    if busy >= 15:
        results.notes.append(f"{what}: core {SERVER_CORE} was still {busy:.0f}% busy with other work")


def sanity(targets: list[Target], fake: Service, results: report.Results) -> None:
    """A few calls per target before measuring: a benchmark of error pages is worthless."""
    for target in targets:
        for stream in (False, True):
            status, headers, body = asyncio.run(loadgen.probe(target, stream))
            if status != 200:
                raise RuntimeError(f"{target.name} answered {status} (stream={stream}): {body[:300]!r}")
            if stream:
                results.notes.append(
                    f"{target.name}: one stream carries {loadgen.sse_events(body)} SSE events"
                )
            if target.name.startswith("gateway") and "x-gateway-credential" not in headers:
                raise RuntimeError(f"{target.name} did not name the credential it used")
    try:
        fake_request(fake, "/_fake/reset", {})
        for target in targets:  # a few calls each, to see how the pools spread them over keys
            for _ in range(8):
                asyncio.run(loadgen.probe(target, False))
        calls = fake_calls(fake)
    except Exception as exc:  # the call log is a nicety here; the measurements stand without it
        results.notes.append(f"could not read the fake's call log: {exc}")
        return
    keys = Counter(str(c.get("key")) for c in calls)
    seen = ", ".join(f"{k}x{n}" for k, n in sorted(keys.items()))
    results.notes.append(f"keys the fake saw for 8 calls per target: {seen}")
    litellm = [c for c in calls if str(c.get("key", "")).startswith("litellm-")]
    if litellm:
        shapes = {f"{c.get('version')}/{c.get('method')} stream={c.get('stream')}" for c in litellm}
        results.notes.append(
            "LiteLLM reached the fake as " + "; ".join(sorted(shapes)) + " with its keys in x-goog-api-key "
            "(the fake logs the key it was sent), so api_base must carry /v1beta"
        )


def measure_latency(targets: list[Target], seconds: float, results: report.Results) -> None:
    """Concurrency 1; run.py passes the targets' order, LiteLLM's phase follows the others'."""
    fast = [t for t in targets if t.name != "litellm"]
    slow = [t for t in targets if t.name == "litellm"]
    for mode, stream in (("unary", False), ("stream", True)):
        quiet(results, f"latency {mode}")
        before = loadgen.steal_times()
        found = asyncio.run(loadgen.latency(fast, stream, seconds, max_rounds=20_000))
        # On a VM, a stolen CPU stalls whatever runs on it: the tail is partly the host's.
        stolen = loadgen.busy_percent(before, loadgen.steal_times())
        results.notes.append(
            f"latency {mode}: CPU time stolen by the hypervisor during the phase: "
            + ", ".join(f"{cpu} {pct:.1f}%" for cpu, pct in sorted(stolen.items()))
        )
        if slow:
            # LiteLLM is ~20x slower; interleaving it would starve the others of samples. Its
            # added latency is so large that drift between phases cannot matter.
            found.update(asyncio.run(loadgen.latency(slow, stream, seconds, max_rounds=2_000, warmup=10)))
        results.latency[mode] = found
        for name, samples in found.items():
            print(
                f"  latency {mode:6} {name:15} p50 {samples.pct(50):7.3f} ms  p99 {samples.pct(99):7.3f} ms"
            )


def measure_throughput(
    wrk: str,
    targets: list[Target],
    owners: dict[str, Service],
    concurrencies: list[int],
    seconds: float,
    workdir: Path,
    results: report.Results,
) -> None:
    for mode, stream in (("unary", False), ("stream", True)):
        table = results.throughput.setdefault(mode, {})
        for target in targets:
            owner = owners[target.name]
            lua = loadgen.write_lua(target, stream, workdir)
            url = target.url(stream)
            loadgen.run_wrk(wrk, url, lua, 16, 1, CLIENT_CORE)  # warm-up: connections, caches, JIT-less paths
            owner.settle()
            runs = table.setdefault(target.name, {})
            for c in concurrencies:
                quiet(results, f"{mode} {target.name} c={c}")
                cores_before, cpu_before = loadgen.cpu_times(), owner.cpu_seconds()
                run = loadgen.run_wrk(wrk, url, lua, c, seconds, CLIENT_CORE)
                longer = min(MAX_RUN_SECONDS, run.p50_ms / 1000 * RUN_LATENCIES)
                if longer > seconds:
                    # Nothing completes during the first latency of a run, so a run only a few
                    # latencies long understates req/s (LiteLLM at high concurrency): lengthen it.
                    owner.settle()
                    cores_before, cpu_before = loadgen.cpu_times(), owner.cpu_seconds()
                    run = loadgen.run_wrk(wrk, url, lua, c, round(longer), CLIENT_CORE)
                cores_after = loadgen.cpu_times()
                # CPU per request includes what the run left to do (records still to be written).
                drained = owner.settle() if c == 64 else 0.0
                cpu_after = owner.cpu_seconds()
                if drained > 1.0:
                    results.notes.append(f"{mode} {target.name} c={c}: {drained:.1f}s of work after the run")
                runs[c] = run
                if c == 64:
                    per_request = (cpu_after - cpu_before) / max(run.requests, 1) * 1e6
                    busy = loadgen.busy_percent(cores_before, cores_after)
                    share = 100 * (cpu_after - cpu_before) / max(run.seconds, 1e-9)
                    results.cpu.setdefault(mode, {})[target.name] = report.CpuUse(busy, per_request, share)
                flag = "" if run.clean else f"  errors {run.errors} timeouts {run.timeouts}"
                print(
                    f"  wrk {mode:6} {target.name:15} c={c:<4} {run.rps:10,.0f} req/s  p99 {run.p99_ms:8.2f} ms{flag}"
                )
                owner.settle()


def measure_fake_alone(
    wrk: str, direct: Target, seconds: float, workdir: Path, results: report.Results
) -> None:
    """The fake before anything else runs: the ceiling every other figure must stay well under."""
    print("# the fake upstream alone", file=sys.stderr)
    for mode, stream in (("non-stream", False), ("20-chunk stream", True)):
        lua = loadgen.write_lua(direct, stream, workdir)
        loadgen.run_wrk(wrk, direct.url(stream), lua, 16, 1, CLIENT_CORE)
        run = loadgen.run_wrk(wrk, direct.url(stream), lua, 64, seconds, CLIENT_CORE)
        results.notes.append(
            f"the fake alone, before the gateway and LiteLLM were started, {mode}, c=64: {run.rps:,.0f} req/s "
            f"(p99 {run.p99_ms:.1f} ms, sharing core {CLIENT_CORE} with wrk)"
        )
        print(f"  fake alone {mode}: {run.rps:,.0f} req/s", file=sys.stderr)


def measure_open_streams(
    gateway: Service, fake: Service, target: Target, count: int, results: report.Results
) -> None:
    # 20 chunks a second apart: each stream lasts ~20 s, longer than opening them all takes.
    configure_fake(fake, stream_chunks=STREAM_CHUNKS, chunk_delay_ms=1000)
    try:
        hold = asyncio.run(
            loadgen.hold_streams(target, count, gateway.rss_bytes, open_timeout=15, hold_seconds=1.5)
        )
    finally:
        configure_fake(fake, stream_chunks=STREAM_CHUNKS, chunk_delay_ms=0)
    results.hold = hold
    results.memory[f"{hold.opened} streams open (peak)"] = hold.rss_peak
    time.sleep(2)
    gateway.settle()
    results.memory["after those streams closed"] = gateway.rss_bytes()
    print(f"  {hold.opened}/{count} streams open, gateway RSS peak {hold.rss_peak / report.MB:.1f} MB")


def measure_profile(
    wrk: str, gateway: Service, targets: list[Target], seconds: float, workdir: Path, results: report.Results
) -> None:
    py_spy = services.ensure_py_spy()
    for target in targets:
        for mode, stream in (("unary", False), ("stream", True)):
            lua = loadgen.write_lua(target, stream, workdir)
            out = RESULTS_DIR / f"profile-{target.name}-{mode}.txt"
            with subprocess.Popen(
                ["taskset", "-c", str(CLIENT_CORE), wrk, "-t1", "-c64", f"-d{seconds + 2:g}s",
                 "--timeout", "10s", "-s", str(lua), target.url(stream)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ) as load:  # fmt: skip
                time.sleep(0.5)
                try:
                    profiling.record(py_spy, gateway.pid, seconds, out, CLIENT_CORE)
                finally:
                    load.wait(timeout=seconds + 30)
            gateway.settle()
            profile = profiling.parse(out)
            title = f"{target.name}, {dict(report.MODES)[mode]}, wrk c=64"
            results.profile += profiling.markdown(title, profile)
            print(f"  profiled {target.name} {mode}: {profile.samples} samples -> {out}")


# ----------------------------------------------------------------------------------------- main


def gateway_has_openai(gateway: Service, headers: tuple[tuple[str, str], ...]) -> bool:
    """Whether the OpenAI dialect's chat route is mounted yet (it is built in another issue)."""
    probe = Target("probe", gateway.base_url, "openai", MODEL, headers)
    try:
        status, _, _ = asyncio.run(loadgen.probe(probe, False))
    except Exception:
        return False
    return status != 404


def describe(args: argparse.Namespace, wrk: str) -> dict[str, str]:
    def run(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()

    commit = run("git", "-C", str(services.BENCH_DIR.parent), "rev-parse", "--short", "HEAD")
    dirty = run("git", "-C", str(services.BENCH_DIR.parent), "status", "--porcelain", "--", "src")
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "command": "python bench/run.py " + " ".join(sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (src/ has uncommitted changes)" if dirty else ""),
        "machine": f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}",
        "pinning": f"gateway and LiteLLM on core {SERVER_CORE}; fake, wrk and the aiohttp client on core {CLIENT_CORE}",
        "load": f"wrk 1 thread, {args.seconds:g} s a run after a 1 s warm-up; "
        f"latency {args.latency_seconds:g} s per phase",
        "pools": f"{args.keys} keys for the gateway, {args.keys} deployments in one LiteLLM model group",
        "gateway settings": "defaults (RECORDING_MODE=full: every exchange recorded to SQLite), "
        "a client token, LOG_LEVEL=warning" + "".join(f", {e}" for e in args.gateway_env),
        "LiteLLM settings": "one worker, master key, no database, LITELLM_LOG=ERROR, local cost map",
    }


def main() -> int:
    args = parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    wrk = services.ensure_wrk()
    litellm_exe = None if args.skip_litellm else services.ensure_litellm(args.litellm_spec)
    os.sched_setaffinity(0, {CLIENT_CORE})  # this script's own client shares core 1 with wrk and the fake
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    results = report.Results(meta=describe(args, wrk))
    if litellm_exe is not None:
        results.meta["litellm"] = services.litellm_version()
    started: list[Service] = []
    with tempfile.TemporaryDirectory(prefix="gg-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        stack.callback(lambda: [s.stop() for s in reversed(started)])
        print("# starting the fake upstream", file=sys.stderr)
        fake = services.start_fake(workdir, CLIENT_CORE)
        started.append(fake)
        configure_fake(fake, stream_chunks=STREAM_CHUNKS, chunk_delay_ms=0)
        direct = Target("direct", fake.base_url, "gemini", MODEL, (("x-goog-api-key", "direct-key"),))
        measure_fake_alone(wrk, direct, args.seconds, workdir, results)
        token = "sk-bench-" + os.urandom(16).hex()  # the client token for the gateway and LiteLLM alike
        bearer = (("authorization", f"Bearer {token}"),)
        extra = dict(item.split("=", 1) for item in args.gateway_env)
        gateway = services.start_gateway(
            workdir,
            SERVER_CORE,
            fake.base_url,
            [f"gateway-key-{i}" for i in range(1, args.keys + 1)],
            token,
            extra,
        )
        started.append(gateway)
        targets = [direct, Target("gateway", gateway.base_url, "gemini", MODEL, (("x-goog-api-key", token),))]
        owners = {"direct": fake, "gateway": gateway}
        if gateway_has_openai(gateway, bearer):
            targets.append(Target("gateway-openai", gateway.base_url, "openai", MODEL, bearer))
            owners["gateway-openai"] = gateway
        else:
            # TODO(issue 3): the OpenAI dialect's /v1/chat/completions is not mounted yet; the
            # gateway-openai rows appear by themselves once it answers anything but 404.
            results.skipped["gateway-openai"] = "/v1/chat/completions not mounted yet (issue 3)"
        litellm: Service | None = None
        if litellm_exe is not None:
            print("# starting LiteLLM (slow to boot)", file=sys.stderr)
            keys = [f"litellm-key-{i}" for i in range(1, args.keys + 1)]
            litellm = services.start_litellm(workdir, SERVER_CORE, litellm_exe, fake.base_url, keys, token)
            started.append(litellm)
            targets.append(Target("litellm", litellm.base_url, "openai", MODEL, bearer))
            owners["litellm"] = litellm
        print("# sanity calls", file=sys.stderr)
        sanity(targets, fake, results)
        results.memory["idle, after start and a few calls"] = gateway.rss_bytes()
        # Open streams come before the throughput runs, whose high-water mark (recorder backlog,
        # allocator arenas) would otherwise be counted as their cost; it is reported on its own.
        phases = set(args.phases.split(","))
        if "streams" in phases:
            print(f"# {args.streams} open streams", file=sys.stderr)
            quiet(results, "open streams")
            measure_open_streams(gateway, fake, targets[1], args.streams, results)
        if "latency" in phases:
            print("# latency at concurrency 1", file=sys.stderr)
            # The floor: a proxy that parses nothing, on the gateway's core, timed with the rest.
            relay = services.start_relay(workdir, SERVER_CORE, fake.base_url)
            started.append(relay)
            floor = Target("tcp-relay", relay.base_url, "gemini", MODEL, direct.headers)
            measure_latency([*targets, floor], args.latency_seconds, results)
            relay.stop()
        if "throughput" in phases:
            print("# throughput", file=sys.stderr)
            measure_throughput(wrk, targets, owners, concurrencies, args.seconds, workdir, results)
        if litellm is not None:
            litellm.stop()  # it is done; its idle loop must not share core 0 with what follows
        gateway.settle()
        if "throughput" in phases:
            results.memory["idle, after the throughput runs (high-water mark of the load)"] = (
                gateway.rss_bytes()
            )
        if "profile" in phases and not args.skip_profile:
            print("# profiling the gateway with py-spy", file=sys.stderr)
            profiled = [t for t in targets if t.name.startswith("gateway")]
            measure_profile(wrk, gateway, profiled, args.profile_seconds, workdir, results)
        for service in (fake, gateway):
            if service.proc.poll() is not None:
                results.notes.append(f"{service.name} exited early: {service.log_tail(5)}")
    text = report.render(results, concurrencies, args.streams, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"# written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

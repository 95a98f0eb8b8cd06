"""Two or more versions of the gateway side by side in the same minutes: `python bench/ab.py`.

On this shared 2-core VM the seconds of two runs an hour apart are not comparable (other work,
steal); figures taken in the same minutes, in turn, are. This starts one fake upstream (core 1),
the do-nothing relay (bench/relay.py) and one gateway per `--src` (each `gemini-gateway serve` of
that source tree, all on core 0, recording on by default), then for `--rounds` rounds:

- latency at concurrency 1 (non-stream and 20-event stream, native and OpenAI chat), every
  target taken in turn per request, so drift lands on all alike; added = target - direct;
- wrk at `--concurrency` for each gateway in turn (core 0 waited quiet before each run), with
  the CPU time the gateway used per request.

It prints one markdown table of medians over the rounds.

    python bench/ab.py --src before=/path/to/old/src --src after=src --rounds 3

Loopback only; every run bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # bench/ is a folder of scripts, not a package
import services
from loadgen import Target
from services import MODEL, Service

SERVER_CORE, CLIENT_CORE = 0, 1
TOKEN = "bench-token-" + "a1b2c3d4e5f6"
KEYS = [f"gateway-key-{i}" for i in range(1, 5)]
MODES = (("non-stream", False), ("stream", True))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    here = str(services.BENCH_DIR.parent / "src")
    parser.add_argument(
        "--src", action="append", default=[], metavar="NAME=PATH", help=f"default: this={here}"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="each wrk run")
    parser.add_argument("--latency-seconds", type=float, default=4.0, help="each latency phase of a round")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--gateway-env", action="append", default=[], metavar="NAME=VALUE", help="for every gateway"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="SRC:NAME=VALUE", help="for the gateway of one --src"
    )
    parser.add_argument(
        "--quiet", type=float, default=20.0, help="at most this long waiting for core 0 to be idle"
    )
    parser.add_argument("--latency-only", action="store_true", help="no wrk runs")
    parser.add_argument("--skip-openai", action="store_true", help="native route only")
    args = parser.parse_args()
    args.src = args.src or [f"this={here}"]
    return args


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> int:
    args = parse_args()
    wrk = services.ensure_wrk()
    extra = dict(item.split("=", 1) for item in args.gateway_env)
    fake_settings = {"stream_chunks": 20}
    gateways: dict[str, Service] = {}
    with tempfile.TemporaryDirectory(prefix="gateway-ab-") as tmp:
        workdir = Path(tmp)
        fake = services.start_fake(workdir, CLIENT_CORE)
        relay: Service | None = None
        try:
            loadgen_fake_config(fake, fake_settings)
            relay = services.start_relay(workdir, SERVER_CORE, fake.base_url)
            for item in args.src:
                name, _, src = item.partition("=")
                gdir = workdir / name
                gdir.mkdir()
                own = dict(e.split(":", 1)[1].split("=", 1) for e in args.env if e.split(":", 1)[0] == name)
                env = {"PYTHONPATH": str(Path(src).resolve()), **extra, **own}
                gateways[name] = services.start_gateway(gdir, SERVER_CORE, fake.base_url, KEYS, TOKEN, env)
            auth = (("x-goog-api-key", TOKEN),)
            bearer = (("authorization", f"Bearer {TOKEN}"),)
            direct = Target("direct", fake.base_url, "gemini", MODEL, (("x-goog-api-key", "direct-key"),))
            targets = [
                direct,
                Target("relay", relay.base_url, "gemini", MODEL, (("x-goog-api-key", "relay-key"),)),
            ]
            for name, service in gateways.items():
                targets.append(Target(name, service.base_url, "gemini", MODEL, auth))
                if not args.skip_openai:
                    targets.append(Target(f"{name} openai", service.base_url, "openai", MODEL, bearer))
            latency: dict[tuple[str, str], list[tuple[float, float]]] = {}
            rps: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for round_ in range(args.rounds):
                print(f"# round {round_ + 1} of {args.rounds}", file=sys.stderr)
                for mode, stream in MODES:
                    for other in gateways.values():
                        other.settle()
                    loadgen.wait_quiet("cpu0", args.quiet)
                    found = asyncio.run(loadgen.latency(targets, stream, args.latency_seconds, 50_000))
                    base = found["direct"]
                    for target in targets[1:]:
                        samples = found[target.name]
                        print(
                            f"  {mode:10} {target.name:16} added p50 {samples.pct(50) - base.pct(50):.3f} ms",
                            file=sys.stderr,
                        )
                        latency.setdefault((target.name, mode), []).append(
                            (samples.pct(50) - base.pct(50), samples.pct(99) - base.pct(99))
                        )
                for mode, stream in MODES if not args.latency_only else ():
                    for target in targets[2:]:
                        owner = gateways[target.name.removesuffix(" openai")]
                        lua = loadgen.write_lua(target, stream, workdir)
                        url = target.url(stream)
                        loadgen.run_wrk(wrk, url, lua, 16, 1, CLIENT_CORE)
                        for other in gateways.values():  # no gateway's backlog written during this run
                            other.settle()
                        loadgen.wait_quiet("cpu0", args.quiet)
                        cpu_before = owner.cpu_seconds()
                        run = loadgen.run_wrk(wrk, url, lua, args.concurrency, args.seconds, CLIENT_CORE)
                        # What the run left to do (records to write) counts too.
                        drained = owner.settle()
                        per_request = (owner.cpu_seconds() - cpu_before) / max(run.requests, 1) * 1e6
                        rps.setdefault((target.name, mode), []).append((run.rps, per_request))
                        print(
                            f"  {mode:10} {target.name:16} {run.rps:8,.0f} req/s {per_request:6.0f} µs/req"
                            f" (settled {drained:.1f}s after)",
                            file=sys.stderr,
                        )
        finally:
            for service in [*gateways.values(), *([relay] if relay else []), fake]:
                service.stop()
    print(
        f"\n`python bench/ab.py {' '.join(sys.argv[1:])}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}),"
        f" medians of {args.rounds} rounds\n"
    )
    print(
        f"| target | mode | added p50 ms (c=1) | added p99 ms (c=1) | req/s (c={args.concurrency}) | CPU µs/req |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for (name, mode), values in latency.items():
        p50 = median([v[0] for v in values])
        p99 = median([v[1] for v in values])
        through = rps.get((name, mode), [])
        cells = (
            (f"{median([r[0] for r in through]):,.0f}", f"{median([r[1] for r in through]):.0f}")
            if through
            else ("", "")
        )
        print(f"| {name} | {mode} | {p50:.3f} | {p99:.3f} | {cells[0]} | {cells[1]} |")
    return 0


def loadgen_fake_config(fake: Service, settings: dict[str, int]) -> None:
    import urllib.request

    import orjson

    request = urllib.request.Request(
        fake.base_url + "/_fake/config",
        data=orjson.dumps(settings),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # loopback only
        response.read()


if __name__ == "__main__":
    raise SystemExit(main())

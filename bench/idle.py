"""What the gateway costs before it serves anything: `python bench/idle.py [--runs 5]`.

- import time of `gemini_gateway.app` and of `gemini-gateway --help` (fresh interpreters, median);
- idle RSS of `gemini-gateway serve` (pinned to core 0, so recording is inline and the gateway is
  one process) after start-up and a few calls, on a fresh store (it migrates, which imports
  Alembic) and again on the same, now current, store (a restart: no Alembic).

Nothing but the fake upstream on loopback is called; each service is stopped at the end.

    python bench/idle.py --runs 5                      # this checkout
    python bench/idle.py --runs 5 --src ../other/src   # another checkout's code, same harness
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import services

TOKEN = "idle-client-token"
BODY = b'{"contents":[{"parts":[{"text":"hi"}]}]}'


def seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def a_few_calls(base: str) -> None:
    for path in (
        f"/v1beta/models/{services.MODEL}:generateContent",
        f"/v1beta/models/{services.MODEL}:streamGenerateContent?alt=sse",
    ):
        request = urllib.request.Request(
            base + path, BODY, {"x-goog-api-key": TOKEN, "content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def idle_rss(workdir: Path, upstream: str) -> float:
    gateway = services.start_gateway(workdir, 0, upstream, ["idle-key-1", "idle-key-2"], TOKEN)
    try:
        for _ in range(3):
            a_few_calls(gateway.base_url)
        time.sleep(1.0)  # the inline recorder writes between requests
        return gateway.rss_bytes() / 1e6
    finally:
        gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per import timing")
    parser.add_argument(
        "--starts",
        type=int,
        default=1,
        help="gateway starts per store state, each on a store of its own (median RSS: it moves ~1-2 MB)",
    )
    parser.add_argument(
        "--src",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "src",
        help="the gateway's source tree to measure (put first on PYTHONPATH of every process)",
    )
    args = parser.parse_args()
    # Every process started below inherits it (services.clean_env copies the environment), so the
    # import timings and the gateway run this tree's code whatever the venv's install points at.
    os.environ["PYTHONPATH"] = str(args.src.resolve())
    print(f"source: {args.src.resolve()}")
    cli = services._gateway_cli()
    print(
        f"import gemini_gateway.app: {seconds([sys.executable, '-c', 'import gemini_gateway.app'], args.runs):.2f} s"
    )
    print(f"gemini-gateway --help: {seconds([cli, '--help'], args.runs):.2f} s")
    with tempfile.TemporaryDirectory(prefix="gateway-idle-") as tmp:
        workdir = Path(tmp)
        fake = services.start_fake(workdir, 1)
        fresh, current = [], []
        try:
            for start in range(args.starts):
                store = workdir / f"start-{start}"
                store.mkdir()
                fresh.append(idle_rss(store, fake.base_url))
                current.append(idle_rss(store, fake.base_url))  # the same store: now current
        finally:
            fake.stop()
        for label, values in (("fresh store (migrates)", fresh), ("current store (restart)", current)):
            spread = f" (of {', '.join(f'{v:.1f}' for v in values)})" if len(values) > 1 else ""
            print(f"idle RSS, {label}: {statistics.median(values):.1f} MB{spread}")


if __name__ == "__main__":
    main()

"""Instructions the gateway executes per model call, counted by valgrind (callgrind).

Seconds on a shared 2-core machine move by tens of percent from one run to the next; instruction
counts do not: callgrind gives the same total for the same code and inputs whatever else the
machine is doing. So this is the figure to compare two versions of the hot path with, e.g. a
commit against its parent, where bench/run.py's seconds cannot tell a 10 % change from noise.

    python bench/instructions.py                       # this checkout
    python bench/instructions.py --src ../other/src    # another checkout's code, same harness

The gateway runs under callgrind twice, serving `--few` then `--many` non-stream
generateContent calls (8 at a time, from httpx, against the project's fake upstream running
natively); the difference of the two totals over the difference in calls is the cost of one
call, start-up cancelled out. Slow: each run takes some minutes (start-up under callgrind).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BODY = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
TOKEN = "bench-token-123456789"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _calls(url: str, count: int) -> None:
    async with httpx.AsyncClient(headers={"x-goog-api-key": TOKEN}, timeout=300) as client:
        limit = asyncio.Semaphore(8)

        async def one() -> None:
            async with limit:
                answer = await client.post(f"{url}/v1beta/models/gemini-2.5-flash:generateContent", json=BODY)
                answer.raise_for_status()

        await asyncio.gather(*(one() for _ in range(count)))


def _total(out: Path) -> int:
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def run_once(
    src: Path, calls: int, workdir: Path, env_extra: dict[str, str], start_timeout: float = 1200
) -> int:
    """Total instructions of one gateway process that started, served `calls` and stopped."""
    cli = shutil.which("gemini-gateway")
    if cli is None or shutil.which("valgrind") is None:
        raise SystemExit("needs `gemini-gateway` on PATH (the project's venv) and valgrind")
    env = {**os.environ, "PYTHONPATH": str(src)}
    fake_port, port = _port(), _port()
    fake = subprocess.Popen(
        [cli, "fake-upstream", "--port", str(fake_port), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = workdir / f"callgrind-{calls}.out"
    gateway_env = {
        **env,
        "GEMINI_API_KEYS": "bench-key-1,bench-key-2,bench-key-3,bench-key-4",
        "GEMINI_API_KEY_TIER": "",
        "GEMINI_BASE_URL": f"http://127.0.0.1:{fake_port}",
        "GATEWAY_TOKENS": TOKEN,
        "DATA_DIR": str(workdir / f"data-{calls}"),
        "ADMIN_TOKEN": "bench-admin-123456789",
        "LOG_LEVEL": "warning",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PYTHONMALLOC": "malloc",  # callgrind follows malloc; pymalloc's arenas only blur it
        **env_extra,
    }
    python = Path(cli).parent / "python"
    gateway = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            str(python),
            "-m",
            "gemini_gateway",
            "serve",
        ],
        env=gateway_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or gateway.poll() is not None:
                raise SystemExit("the gateway did not start under callgrind")
            time.sleep(1)
        asyncio.run(_calls(url, calls))
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(300)
        except subprocess.TimeoutExpired:
            gateway.kill()
        fake.terminate()
    return _total(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent / "src")
    parser.add_argument("--few", type=int, default=200)
    parser.add_argument("--many", type=int, default=1200)
    parser.add_argument("--gateway-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=1200,
        help="seconds the gateway may take to start (a busy machine)",
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.gateway_env)
    with tempfile.TemporaryDirectory(prefix="gw-instructions-") as tmp:
        few = run_once(args.src, args.few, Path(tmp), extra, args.start_timeout)
        many = run_once(args.src, args.many, Path(tmp), extra, args.start_timeout)
    per_call = (many - few) / (args.many - args.few)
    label = re.sub(r"\s+", " ", " ".join(args.gateway_env)) or "defaults"
    print(f"{args.src}: {per_call:,.0f} instructions per non-stream call ({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

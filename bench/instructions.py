"""Instructions the gateway executes per model call, counted by valgrind (callgrind).

Seconds on a shared 2-core machine move by tens of percent from one run to the next; instruction
counts do not: callgrind gives the same total for the same code and inputs whatever else the
machine is doing. So this is the figure to compare two versions of the hot path with, e.g. a
commit against its parent, where bench/run.py's seconds cannot tell a 10 % change from noise.

    python bench/instructions.py                       # this checkout
    python bench/instructions.py --src ../other/src    # another checkout's code, same harness
    python bench/instructions.py --stream                       # :streamGenerateContent?alt=sse
    python bench/instructions.py --stream --dialect openai      # /v1/chat/completions, stream: true
    python bench/instructions.py --relay               # the do-nothing relay (bench/relay.py): the floor

The gateway runs under callgrind twice, serving `--few` then `--many` calls (8 at a time, from
httpx, against the project's fake upstream running natively); the difference of the two totals
over the difference in calls is the cost of one call, start-up cancelled out. Slow: each run
takes some minutes (start-up under callgrind).

A call is a non-stream generateContent by default; `--stream` makes it a streamed one, whose
answer the fake sends as `--events` SSE events (20, as bench/run.py's streams), `--chunk-delay-ms`
apart. With no delay the events of one answer reach the gateway in reads of several events
(how many depends on timing, so the count moves by a few percent between runs); with a delay of
a few milliseconds each event arrives alone, the per-event path a real model's stream takes, and
the count is steady. `--dialect openai` calls the OpenAI chat completions route instead of the
native one.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BODY = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
OPENAI_BODY = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello"}]}
TOKEN = "bench-token-123456789"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Call:
    """What one measured call is: its route and whether it streams (and how many events then)."""

    stream: bool = False
    dialect: str = "native"  # or "openai"
    events: int = 20
    chunk_delay_ms: float = 0.0

    def request(self, url: str) -> tuple[str, dict[str, Any]]:
        if self.dialect == "openai":
            return f"{url}/v1/chat/completions", {**OPENAI_BODY, "stream": self.stream}
        method = "streamGenerateContent?alt=sse" if self.stream else "generateContent"
        return f"{url}/v1beta/models/gemini-2.5-flash:{method}", BODY

    def label(self) -> str:
        kind = f"{self.events}-event stream call" if self.stream else "non-stream call"
        route = "OpenAI chat" if self.dialect == "openai" else "native"
        delay = f", events {self.chunk_delay_ms:g} ms apart" if self.stream and self.chunk_delay_ms else ""
        return f"{route} {kind}{delay}"


async def _calls(url: str, count: int, call: Call) -> None:
    headers = {"x-goog-api-key": TOKEN, "authorization": f"Bearer {TOKEN}"}
    target, body = call.request(url)
    async with httpx.AsyncClient(headers=headers, timeout=300) as client:
        limit = asyncio.Semaphore(8)

        async def one() -> None:
            async with limit:
                if not call.stream:
                    answer = await client.post(target, json=body)
                    answer.raise_for_status()
                    return
                async with client.stream("POST", target, json=body) as answer:
                    answer.raise_for_status()
                    text = (await answer.aread()).decode()
                # The OpenAI route adds a role chunk and [DONE]; either way every event must be there.
                if text.count("data:") < call.events:
                    raise RuntimeError(
                        f"a stream of {text.count('data:')} events, not {call.events}: {text!r}"
                    )

        await asyncio.gather(*(one() for _ in range(count)))


def _configure_fake(fake_url: str, call: Call) -> None:
    """Wait for the fake to answer, then give it the stream's shape."""
    deadline = time.monotonic() + 60
    config = {"stream_chunks": call.events, "chunk_delay_ms": call.chunk_delay_ms}
    while True:
        try:
            httpx.post(f"{fake_url}/_fake/config", json=config, timeout=10).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _total(out: Path) -> int:
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def run_once(
    src: Path,
    calls: int,
    workdir: Path,
    env_extra: dict[str, str],
    call: Call,
    start_timeout: float,
    relay: bool = False,
) -> int:
    """Total instructions of one gateway process (or the relay's, which passes the calls to the
    fake as they are: the client's token reaches the fake as its key) that started, served
    `calls` and stopped."""
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
    _configure_fake(f"http://127.0.0.1:{fake_port}", call)
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
    if relay:
        served = [str(Path(__file__).with_name("relay.py")), "--port", str(port)]
        served += ["--upstream", f"127.0.0.1:{fake_port}"]
    else:
        served = ["-m", "gemini_gateway", "serve"]
    gateway = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(python), *served],
        env=gateway_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:  # through the relay, the fake's own control route answers
                if httpx.get(url + ("/_fake/config" if relay else "/health"), timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or gateway.poll() is not None:
                raise SystemExit("the gateway did not start under callgrind")
            time.sleep(1)
        asyncio.run(_calls(url, calls, call))
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
    parser.add_argument("--stream", action="store_true", help="streamed calls instead of unary ones")
    parser.add_argument("--dialect", choices=("native", "openai"), default="native")
    parser.add_argument("--events", type=int, default=20, help="events of a streamed answer")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="the fake's pause between events")
    parser.add_argument("--relay", action="store_true", help="count bench/relay.py instead of the gateway")
    parser.add_argument("--keep", type=Path, help="copy the callgrind outputs here (for callgrind_annotate)")
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=3600,
        help="seconds the gateway may take to start under callgrind (over 20 min on a busy machine)",
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.gateway_env)
    call = Call(args.stream, args.dialect, args.events, args.chunk_delay_ms)
    with tempfile.TemporaryDirectory(prefix="gw-instructions-") as tmp:
        few = run_once(args.src, args.few, Path(tmp), extra, call, args.start_timeout, args.relay)
        many = run_once(args.src, args.many, Path(tmp), extra, call, args.start_timeout, args.relay)
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            for out in Path(tmp).glob("callgrind-*.out"):
                shutil.copy(out, args.keep / out.name)
    per_call = (many - few) / (args.many - args.few)
    label = re.sub(r"\s+", " ", " ".join(args.gateway_env)) or "defaults"
    what = "bench/relay.py" if args.relay else str(args.src)
    print(f"{what}: {per_call:,.0f} instructions per {call.label()} ({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load generators: wrk for throughput, a small aiohttp client for latency and for held-open streams.

All of it targets 127.0.0.1 only, and every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import orjson

PROMPT = "Explain in a few sentences why a pool of API keys needs per-model cooldowns."
NATIVE_BASE = "/v1beta/models/{model}"


@dataclass(frozen=True)
class Target:
    """One way of asking for the same completion: a server plus the dialect it is spoken to in."""

    name: str
    base_url: str
    dialect: str  # "gemini" or "openai"
    model: str
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if urlsplit(self.base_url).hostname != "127.0.0.1":
            raise ValueError(f"benchmark targets must be on loopback, not {self.base_url}")

    def url(self, stream: bool) -> str:
        if self.dialect == "openai":
            return f"{self.base_url}/v1/chat/completions"
        path = NATIVE_BASE.format(model=self.model)
        method = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
        return f"{self.base_url}{path}{method}"

    def body(self, stream: bool) -> bytes:
        if self.dialect == "openai":
            payload: dict[str, object] = {
                "model": self.model,
                "messages": [{"role": "user", "content": PROMPT}],
            }
            if stream:
                payload["stream"] = True
            return orjson.dumps(payload)
        return orjson.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})

    def all_headers(self) -> dict[str, str]:
        return {"content-type": "application/json", **dict(self.headers)}


# --------------------------------------------------------------------------------------------- wrk

_LUA_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def write_lua(target: Target, stream: bool, directory: Path) -> Path:
    """A wrk script that POSTs the target's body and prints its summary as one JSON line."""
    body = target.body(stream).decode()
    assert "]==]" not in body
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in target.all_headers().items()]
    path = directory / f"{target.name}-{'stream' if stream else 'unary'}.lua"
    path.write_text("\n".join(lines) + "\n" + _LUA_DONE)
    return path


@dataclass
class WrkResult:
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx answers
    timeouts: int

    @property
    def clean(self) -> bool:
        return self.errors == 0 and self.timeouts == 0


def run_wrk(wrk: str, url: str, lua: Path, connections: int, seconds: float, core: int) -> WrkResult:
    """One bounded wrk run, one thread (it shares its core with the fake, so more threads only contend)."""
    argv = [
        "taskset", "-c", str(core), wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s",
        "--timeout", "10s", "-s", str(lua), url,
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line.removeprefix("WRKJSON "))
    duration = data["duration_us"] / 1e6
    return WrkResult(
        connections=connections,
        requests=data["requests"],
        seconds=duration,
        rps=data["requests"] / duration if duration else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["connect"] + data["read"] + data["write"] + data["status"],
        timeouts=data["timeout"],
    )


# ---------------------------------------------------------------------------- latency (aiohttp)


@dataclass
class Samples:
    total_ms: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)  # the gateway's own x-gateway-overhead-ms
    failures: int = 0

    def pct(self, p: float, values: list[float] | None = None) -> float:
        data = sorted(self.total_ms if values is None else values)
        if not data:
            return float("nan")
        index = min(len(data) - 1, max(0, round(p / 100 * len(data) + 0.5) - 1))
        return data[index]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.total_ms) if self.total_ms else float("nan")


async def _one(session: aiohttp.ClientSession, target: Target, stream: bool, samples: Samples) -> None:
    body = target.body(stream)
    started = time.perf_counter()
    async with session.post(target.url(stream), data=body, headers=target.all_headers()) as response:
        if stream:
            async for _ in response.content.iter_any():
                pass
        else:
            await response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            samples.failures += 1
            return
        overhead = response.headers.get("x-gateway-overhead-ms")
    samples.total_ms.append(elapsed)
    if overhead is not None:
        samples.overhead_ms.append(float(overhead))


async def latency(
    targets: list[Target], stream: bool, seconds: float, max_rounds: int, warmup: int = 50
) -> dict[str, Samples]:
    """Concurrency 1, one request at a time, taking the targets in turn each round.

    Interleaving (rather than one target after another) means that drift in the machine's speed
    during the run lands on every target alike, so the differences between them stay honest.
    """
    results = {t.name: Samples() for t in targets}
    connector = aiohttp.TCPConnector(limit=len(targets))
    async with aiohttp.ClientSession(connector=connector) as session:
        scratch = Samples()
        for _ in range(warmup):
            for target in targets:
                await _one(session, target, stream, scratch)
        deadline = time.perf_counter() + seconds
        for _ in range(max_rounds):
            if time.perf_counter() > deadline:
                break
            for target in targets:
                await _one(session, target, stream, results[target.name])
    return results


async def probe(target: Target, stream: bool) -> tuple[int, dict[str, str], bytes]:
    """One request, for sanity checks: status, headers, whole body."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(target.url(stream), data=target.body(stream), headers=target.all_headers()) as response,
    ):
        return response.status, dict(response.headers), await response.read()


def sse_events(body: bytes) -> int:
    return sum(1 for line in body.replace(b"\r\n", b"\n").split(b"\n") if line.startswith(b"data:"))


# ------------------------------------------------------------------------------ held-open streams


@dataclass
class HoldResult:
    wanted: int
    opened: int
    failed: int
    seconds_to_open: float
    rss_peak: int


async def hold_streams(
    target: Target, count: int, rss: Callable[[], int], open_timeout: float, hold_seconds: float
) -> HoldResult:
    """Open `count` streams, keep them all open while sampling the server's RSS, then drop them."""
    opened = asyncio.Event()
    state = {"open": 0, "failed": 0}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=open_timeout + hold_seconds + 30)

    async def one(session: aiohttp.ClientSession) -> None:
        try:
            async with session.post(
                target.url(True), data=target.body(True), headers=target.all_headers()
            ) as response:
                if response.status != 200:
                    state["failed"] += 1
                    return
                await response.content.readany()  # the first event: the stream really is flowing
                state["open"] += 1
                if state["open"] == count:
                    opened.set()
                async for _ in response.content.iter_any():  # keep draining, as a real client does
                    pass
        except (aiohttp.ClientError, TimeoutError):
            state["failed"] += 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        tasks = [asyncio.create_task(one(session)) for _ in range(count)]
        with contextlib.suppress(TimeoutError):  # too few opened: reported as such, not fatal
            await asyncio.wait_for(opened.wait(), open_timeout)
        took = time.perf_counter() - started
        peak = 0
        sample_until = time.perf_counter() + hold_seconds
        while time.perf_counter() < sample_until:
            peak = max(peak, rss())
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return HoldResult(count, state["open"], state["failed"], took, peak)


# ----------------------------------------------------------------------------------- CPU sampling


def _jiffies() -> dict[str, list[int]]:
    """Per CPU, /proc/stat's user, nice, system, idle, iowait, irq, softirq and steal."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *values = line.split()
            out[name] = [int(v) for v in values[:8]]
    return out


def cpu_times() -> dict[str, tuple[int, int]]:
    """(busy, total) jiffies per CPU; busy is all but idle and iowait."""
    return {name: (sum(n) - n[3] - n[4], sum(n)) for name, n in _jiffies().items()}


def steal_times() -> dict[str, tuple[int, int]]:
    """(steal, total) jiffies per CPU: time the hypervisor gave this VM's CPU to someone else."""
    return {name: (n[7], sum(n)) for name, n in _jiffies().items()}


def busy_percent(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, float]:
    result = {}
    for name, (busy, total) in after.items():
        b0, t0 = before.get(name, (0, 0))
        result[name] = 100.0 * (busy - b0) / (total - t0) if total > t0 else 0.0
    return result


def wait_quiet(cpu: str, limit: float, threshold: float = 15.0) -> float:
    """Wait (at most `limit` s) until `cpu` is nearly idle; returns its busy % in the last window.

    On a shared machine other work on the gateway's core would be measured as gateway slowness,
    so each measurement starts when that core is quiet, or after `limit` with the load noted.
    """
    deadline = time.monotonic() + limit
    while True:
        before = cpu_times()
        time.sleep(0.5)
        busy = busy_percent(before, cpu_times()).get(cpu, 0.0)
        if busy < threshold or time.monotonic() > deadline:
            return busy

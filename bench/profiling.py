"""Sampling the gateway under load with py-spy, and boiling the samples down to where time goes."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# py-spy's raw (collapsed) format: "frame;frame;...;leaf count", each frame "function (file:line)".
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")

# Where a frame's file lives says which layer of the stack the time belongs to. Checked in order,
# from the leaf up: the first frame that names a known library decides.
_GC = "gc_collect"  # CPython's cyclic collector: runs inside whatever allocation tripped it
_LAYERS = (
    ("gemini_gateway", "gateway code"),
    ("uvicorn", "uvicorn (HTTP server)"),
    ("httptools", "uvicorn (HTTP server)"),
    ("starlette", "starlette/fastapi routing"),
    ("fastapi", "starlette/fastapi routing"),
    ("aiohttp", "aiohttp (upstream client)"),
    ("multidict", "aiohttp (upstream client)"),
    ("yarl", "aiohttp (upstream client)"),
    ("uvloop", "event loop"),
    ("asyncio", "event loop"),
    ("orjson", "JSON"),
)


def record(py_spy: str, pid: int, seconds: float, out: Path, core: int) -> Path:
    """Sample `pid` for `seconds`, Python and native frames.

    --native pauses the target for each sample (it slows it a little), but without it the time of
    C code, the garbage collector above all, is charged to whichever Python line was running.
    """
    argv = [
        "taskset", "-c", str(core), py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
        "--rate", "200", "--native", "--format", "raw", "--output", str(out),
    ]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, timeout=seconds + 60)
    return out


@dataclass
class Profile:
    samples: int  # on CPU: samples of waiting threads are left out
    self_time: Counter[str]  # leaf frames
    inclusive: Counter[str]  # every frame on the stack, counted once per sample
    layers: Counter[str]  # leaf frames grouped by library

    def top(self, counter: Counter[str], n: int, only: str | None = None) -> list[tuple[str, float]]:
        rows = [(k, v) for k, v in counter.most_common() if only is None or only in k]
        return [(k, 100.0 * v / self.samples) for k, v in rows[:n]]


def _function(frame: str) -> str:
    """A frame without its line number: inclusive time is per function, not per line."""
    match = _FRAME.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path}:{match['line'] or '?'})"


def _layer(frames: list[str]) -> str:
    if any(_GC in f for f in frames):
        return "CPython cyclic GC"
    for frame in reversed(frames):
        for needle, name in _LAYERS:
            if needle in frame:
                return name
    return "other (stdlib, C)"


# Leaf functions of a thread that is not running: waiting for the GIL, a lock, a queue or epoll.
# Native sampling sees idle threads too (the SQLite worker, the event loop in epoll_wait).
_WAITING = (
    "pthread_cond",
    "PyThread_acquire_lock",
    "epoll_wait",
    "epoll_pwait",
    "futex",
    "sem_wait",
    "sem_timedwait",
)


def _waiting(frames: list[str]) -> bool:
    return any(w in f for f in frames[-3:] for w in _WAITING)


def parse(path: Path) -> Profile:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        raw = [f for f in stack.split(";") if not f.startswith("process ")]
        if not raw or _waiting(raw):
            continue
        total += count
        self_time[_short(raw[-1])] += count
        layers[_layer(raw)] += count
        for function in {_short(_function(f)).replace(":?)", ")") for f in raw}:
            inclusive[function] += count
    return Profile(total, self_time, inclusive, layers)


# Where a request's CPU goes, as nested spans: (label, function whose inclusive time it is).
_SPANS = (
    ("uvicorn: the ASGI call (middleware + route)", "RequestResponseCycle.run_asgi"),
    ("the route handler (below all middleware)", "Route.handle (starlette"),
    ("upstream request and response headers (aiohttp, API-key backend)", "ApiKeyBackend."),
    ("recorder writer (background task: rows, compression, SQLite)", "InlineSink._run"),
    ("CPython cyclic GC", _GC),
)


def _inclusive(profile: Profile, needle: str) -> float:
    return (
        max((v for k, v in profile.inclusive.items() if needle in k), default=0)
        * 100.0
        / max(profile.samples, 1)
    )


def breakdown(profile: Profile) -> list[str]:
    spans = {label: _inclusive(profile, needle) for label, needle in _SPANS}
    asgi, handler = spans[_SPANS[0][0]], spans[_SPANS[1][0]]
    rows = [
        ("middleware stack above the route (FastAPI/Starlette/admin/recorder wrappers)", asgi - handler),
        *spans.items(),
        ("outside the ASGI call (HTTP parsing, socket I/O, event loop, other threads)", 100 - asgi),
    ]
    out = ["| where (inclusive, overlapping) | % of CPU samples |", "| --- | ---: |"]
    return out + [f"| {label} | {pct:.1f} |" for label, pct in rows]


def markdown(title: str, profile: Profile, n: int = 12) -> list[str]:
    out = [f"#### {title} ({profile.samples} samples)", "", *breakdown(profile), ""]
    out += ["Time by layer (innermost known frame):", ""]
    out += ["| layer | % of samples |", "| --- | ---: |"]
    out += [f"| {name} | {pct:.1f} |" for name, pct in profile.top(profile.layers, 10)]
    out += ["", "Hottest frames (self time):", "", "| frame | self % |", "| --- | ---: |"]
    out += [f"| `{name}` | {pct:.1f} |" for name, pct in profile.top(profile.self_time, n)]
    out += ["", "Gateway functions (inclusive time):", "", "| function | incl. % |", "| --- | ---: |"]
    out += [f"| `{name}` | {pct:.1f} |" for name, pct in profile.top(profile.inclusive, n, "gemini_gateway")]
    return [*out, ""]

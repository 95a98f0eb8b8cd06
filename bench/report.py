"""Turning one run's measurements into the markdown report, with each target marked pass or fail."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from loadgen import HoldResult, Samples, WrkResult

MB = 1024 * 1024
MODES = (("unary", "non-stream generateContent"), ("stream", "20-chunk SSE stream"))


@dataclass
class CpuUse:
    core_busy: dict[str, float]  # per CPU, percent, during the c=64 run
    service_us_per_request: float  # CPU time of the process under test per completed request
    service_percent: float  # the process under test's share of one core during the run

    @property
    def others_on_core0(self) -> float:
        """Core 0 time nobody in this benchmark used: other work on a shared machine skews req/s."""
        return max(0.0, self.core_busy.get("cpu0", 0.0) - self.service_percent)


@dataclass
class Check:
    label: str
    value: str
    passed: bool | None  # None: informational, or could not be measured

    @property
    def mark(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


@dataclass
class Results:
    meta: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    latency: dict[str, dict[str, Samples]] = field(default_factory=dict)  # mode -> target -> samples
    throughput: dict[str, dict[str, dict[int, WrkResult]]] = field(default_factory=dict)
    cpu: dict[str, dict[str, CpuUse]] = field(default_factory=dict)  # mode -> target -> at c=64
    memory: dict[str, int] = field(default_factory=dict)
    hold: HoldResult | None = None
    profile: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # target -> why

    def rps(self, mode: str, target: str, c: int) -> float | None:
        run = self.throughput.get(mode, {}).get(target, {}).get(c)
        return run.rps if run else None

    def added(self, mode: str, target: str, p: float) -> float | None:
        samples = self.latency.get(mode, {})
        if target not in samples or "direct" not in samples:
            return None
        return samples[target].pct(p) - samples["direct"].pct(p)


def _ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _per_chunk_translation(r: Results) -> float | None:
    """What the OpenAI stream path costs per chunk over the native one, at concurrency 1."""
    stream = r.latency.get("stream", {})
    if "gateway-openai" not in stream or "gateway" not in stream:
        return None
    return (stream["gateway-openai"].pct(50) - stream["gateway"].pct(50)) / 20


def checks(r: Results, streams_wanted: int) -> list[Check]:
    out: list[Check] = []
    for mode, label in MODES:
        for p, limit in ((50, 0.5), (99, 2.0)):
            added = r.added(mode, "gateway", p)
            passed = None if added is None else added <= limit
            value = f"{_ms(added)} ms"
            floor = r.added(mode, "tcp-relay", p)
            if floor is not None:
                # What a proxy that parses nothing adds on the same core in the same run.
                value += f" (do-nothing relay: {_ms(floor)} ms)"
            out.append(Check(f"added latency, c=1, p{p}, {label} ≤ {limit} ms", value, passed))
    for mode, label in MODES:
        gateway, litellm = r.rps(mode, "gateway", 64), r.rps(mode, "litellm", 64)
        if gateway is None or not litellm:
            out.append(Check(f"req/s at c=64 ≥ 20x LiteLLM, {label}", "LiteLLM not measured", None))
            continue
        ratio = gateway / litellm
        value = f"{gateway:.0f} vs {litellm:.0f} = {ratio:.1f}x"
        cpu_gw, cpu_ll = r.cpu.get(mode, {}).get("gateway"), r.cpu.get(mode, {}).get("litellm")
        if cpu_gw and cpu_ll and cpu_gw.service_us_per_request:
            # The same comparison in CPU per request, which other load on the machine moves less.
            value += f" (CPU per request: {cpu_ll.service_us_per_request / cpu_gw.service_us_per_request:.1f}x less)"
        out.append(Check(f"req/s at c=64 ≥ 20x LiteLLM, {label}", value, ratio >= 20))
    openai, litellm = r.rps("stream", "gateway-openai", 64), r.rps("stream", "litellm", 64)
    if openai is not None and litellm:
        ratio = openai / litellm
        out.append(
            Check(
                "OpenAI chat stream req/s at c=64 ≥ 20x LiteLLM (like for like)",
                f"{openai:.0f} vs {litellm:.0f} = {ratio:.1f}x",
                ratio >= 20,
            )
        )
    per_chunk = _per_chunk_translation(r)
    if per_chunk is not None:
        out.append(
            Check(
                "OpenAI stream translation ≤ 0.1 ms per chunk (c=1, p50, over native)",
                f"{per_chunk:.4f} ms",
                per_chunk <= 0.1,
            )
        )
    if r.hold is not None:
        peak = r.hold.rss_peak / MB
        all_open = r.hold.opened == streams_wanted
        out.append(
            Check(
                f"gateway RSS with {streams_wanted} open streams ≤ 150 MB",
                f"{peak:.1f} MB ({r.hold.opened} open, {r.hold.failed} failed)",
                peak <= 150 and all_open,
            )
        )
    for mode, label in MODES:
        direct, gateway = r.rps(mode, "direct", 64), r.rps(mode, "gateway", 64)
        if direct and gateway:
            value = f"{direct:.0f} vs {gateway:.0f} req/s = {direct / gateway:.1f}x"
            # The other proof: while the gateway ran, its core was full and the fake's was not.
            busy = r.cpu.get(mode, {}).get("gateway")
            headroom = False
            if busy is not None:
                core0, core1 = busy.core_busy.get("cpu0", 0.0), busy.core_busy.get("cpu1", 100.0)
                value += f"; during the gateway's run core 0 was {core0:.0f}% busy, core 1 (fake, wrk) {core1:.0f}%"
                headroom = core0 >= 95 and core1 <= 85
            out.append(
                Check(
                    f"fake alone faster than the gateway at c=64, or idle beside it, {label} (not the bottleneck)",
                    value,
                    direct > gateway * 1.5 or headroom,
                )
            )
    return out


def _throughput_table(r: Results, mode: str, concurrencies: list[int], seconds: float) -> list[str]:
    head = "| target | " + " | ".join(f"c={c}" for c in concurrencies)
    head += " | p99 ms at c=64 | CPU µs/req (c=64) | req/s per core (c=64) | core0 / core1 busy (c=64) |"
    out = [head, "|" + " --- |" * (len(concurrencies) + 5)]
    for target, runs in r.throughput.get(mode, {}).items():
        cells = []
        for c in concurrencies:
            run = runs.get(c)
            if run is None:
                cells.append("-")
                continue
            notes = []
            if run.errors:
                notes.append(f"{run.errors} err")
            if run.timeouts:
                notes.append(f"{run.timeouts} timeouts")
            if run.seconds > seconds * 1.5:
                notes.append(f"{run.seconds:.0f} s run")
            cells.append(f"{run.rps:,.0f}" + (f" ({', '.join(notes)})" if notes else ""))
        at64 = runs.get(64)
        cpu = r.cpu.get(mode, {}).get(target)
        cells.append(f"{at64.p99_ms:.1f}" if at64 else "-")
        if cpu is None:
            cells += ["-", "-", "-"]
        else:
            cells.append(f"{cpu.service_us_per_request:,.0f}")
            cells.append(f"{1e6 / cpu.service_us_per_request:,.0f}" if cpu.service_us_per_request else "-")
            busy = f"{cpu.core_busy.get('cpu0', 0):.0f}% / {cpu.core_busy.get('cpu1', 0):.0f}%"
            if target != "direct" and cpu.others_on_core0 > 10:
                busy += f" ({cpu.others_on_core0:.0f}% of core 0 was other work)"
            cells.append(busy)
        out.append(f"| {target} | " + " | ".join(cells) + " |")
    for target, why in r.skipped.items():
        out.append(f"| {target} | skipped: {why} |" + " |" * (len(concurrencies) + 3))
    return out


def _latency_table(r: Results) -> list[str]:
    out = [
        "| path | target | p50 ms | p99 ms | added p50 | added p99 | gateway's own overhead p50 / p99 | n |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, label in MODES:
        for target, samples in r.latency.get(mode, {}).items():
            overhead = "-"
            if samples.overhead_ms:
                overhead = f"{_ms(samples.pct(50, samples.overhead_ms))} / {_ms(samples.pct(99, samples.overhead_ms))}"
            added50 = "" if target == "direct" else _ms(r.added(mode, target, 50))
            added99 = "" if target == "direct" else _ms(r.added(mode, target, 99))
            out.append(
                f"| {label} | {target} | {_ms(samples.pct(50))} | {_ms(samples.pct(99))} | {added50} | "
                f"{added99} | {overhead} | {len(samples.total_ms)} |"
            )
    return out


def render(r: Results, concurrencies: list[int], streams_wanted: int, seconds: float) -> str:
    out = ["# gemini-gateway benchmark", ""]
    out += [f"- {k}: {v}" for k, v in r.meta.items()]
    out += ["", "## Targets", "", "| target | result | |", "| --- | --- | --- |"]
    out += [f"| {c.label} | {c.value} | **{c.mark}** |" for c in checks(r, streams_wanted)]
    out += ["", "## Latency at concurrency 1 (full response time, aiohttp client, targets interleaved)", ""]
    out += _latency_table(r)
    for mode, label in MODES:
        out += ["", f"## Requests per second, {label} (wrk, 1 thread)", ""]
        out += _throughput_table(r, mode, concurrencies, seconds)
    out += ["", "## Gateway memory (RSS of the process)", "", "| when | RSS MB |", "| --- | ---: |"]
    out += [f"| {k} | {v / MB:.1f} |" for k, v in r.memory.items()]
    if r.hold is not None:
        h = r.hold
        out += [
            "",
            f"{h.opened} of {h.wanted} streams were open at once ({h.failed} failed), "
            f"all open after {h.seconds_to_open:.1f} s.",
        ]
    if r.notes:
        out += ["", "## Notes from this run", ""] + [f"- {n}" for n in r.notes]
    if r.profile:
        out += ["", "## Profile of the gateway under load (py-spy)", "", *r.profile]
    return "\n".join(out) + "\n"

"""The processes a benchmark run starts (fake upstream, gateway, LiteLLM), each pinned to one core.

Every process is started in its own session so that stopping it takes its children with it, and
only what this run started is ever signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
LITELLM_VENV = BENCH_DIR / ".venv-litellm"
TOOLS_VENV = BENCH_DIR / ".venv-tools"
MODEL = "gemini-2.5-flash"

# Variables a developer's shell may carry that would change what the services do (a proxy for
# outbound calls, client tokens, another database): the run must not depend on them.
_SCRUBBED_ENV = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "GATEWAY_TOKENS",
    "UPSTREAM_PROXY",
    "DATABASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    port: int
    core: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    admin_token: str | None = None  # a gateway's: settle() asks it whether records are still waiting

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The process and its descendants (uvicorn may fork workers; we count them all)."""
        found, queue = [], [self.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                with contextlib.suppress(OSError):
                    queue.extend(int(c) for c in task.read_text().split())
        return found

    def pin_children(self, core: int) -> list[int]:
        """Move the service's child processes to `core`, and say which they were.

        The gateway's recorder process (RECORDING_WRITER=process) inherits the gateway's core from
        taskset; a deployment lets the OS put it on another core, so the benchmark puts it on the
        client core explicitly. Its CPU still counts in `cpu_seconds()`.
        """
        children = [pid for pid in self.pids() if pid != self.pid]
        for pid in children:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, {core})
        return children

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def cpu_seconds(self, *, main_only: bool = False) -> float:
        """CPU time of the process tree (or the main process alone), from each thread's schedstat.

        /proc/<pid>/stat counts in 10 ms ticks: too coarse for LiteLLM's few requests per run.
        """
        total = 0
        for pid in [self.pid] if main_only else self.pids():
            for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    total += int(task.read_text().split()[0])
        return total / 1e9

    def settle(self, limit: float = 10.0) -> float:
        """Wait until the service stops burning CPU (under 10% of a core over a quarter second), so
        that work a run left behind (records waiting to be written) is done; returns the seconds
        waited. CPU read after this counts that work too: a gateway that defers recording past the
        end of a run must not look cheaper for it."""
        started = time.monotonic()
        deadline = started + limit
        # A gateway's writer may wait for a quiet moment before writing, using no CPU meanwhile:
        # what it holds is asked, so that its backlog is not written during the next run.
        while self.admin_token and time.monotonic() < deadline and self.records_waiting():
            time.sleep(0.1)
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.cpu_seconds()
            if now - before < 0.025:
                break
            before = now
        return time.monotonic() - started

    def records_waiting(self) -> int:
        """Exchanges the gateway's recorder has not stored yet (queued, or journaled and unsettled)."""
        request = urllib.request.Request(
            self.base_url + "/api/recorder", headers={"authorization": f"Bearer {self.admin_token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # loopback only
                status = json.loads(response.read())
        except (OSError, ValueError):
            return 0  # no recorder to ask: CPU alone tells
        journal = status.get("journal") or {}
        return int(status.get("queued") or 0) + int(journal.get("unsettled") or 0)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def start(
    name: str,
    argv: list[str],
    *,
    core: int,
    port: int,
    env: dict[str, str],
    workdir: Path,
    ready_path: str,
    timeout: float = 60.0,
) -> Service:
    """Start `argv` pinned to `core` and wait until `ready_path` answers on loopback."""
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        ["taskset", "-c", str(core), *argv],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=workdir,  # a developer's .env in the repo must not leak into the run
        start_new_session=True,
    )
    log.close()
    service = Service(name, port, core, proc, log_path)
    deadline = time.monotonic() + timeout
    url = service.base_url + ready_path
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{service.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # loopback only
                response.read()
            return service
        except urllib.error.HTTPError:
            return service  # it answered: it is up, whatever it thought of the path
        except OSError:
            time.sleep(0.2)
    service.stop()
    raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f}s:\n{service.log_tail()}")


def start_fake(workdir: Path, core: int) -> Service:
    port = free_port()
    return start(
        "fake-upstream",
        [_gateway_cli(), "fake-upstream", "--port", str(port), "--host", "127.0.0.1"],
        core=core,
        port=port,
        env=clean_env(),
        workdir=workdir,
        ready_path="/v1beta/models",
    )


def start_relay(workdir: Path, core: int, upstream: str) -> Service:
    """bench/relay.py, the do-nothing proxy whose added latency is the floor (see its docstring)."""
    port = free_port()
    return start(
        "tcp-relay",
        [
            sys.executable,
            str(BENCH_DIR / "relay.py"),
            "--port",
            str(port),
            "--upstream",
            upstream.split("//")[1],
        ],
        core=core,
        port=port,
        env=clean_env(),
        workdir=workdir,
        ready_path="/v1beta/models",
    )


def start_gateway(
    workdir: Path,
    core: int,
    upstream: str,
    keys: list[str],
    token: str,
    extra: dict[str, str] | None = None,
    helper_core: int | None = None,
) -> Service:
    port = free_port()
    admin_token = "bench-admin-" + os.urandom(6).hex()
    data_dir = workdir / "gateway-data"
    data_dir.mkdir(exist_ok=True)
    env = clean_env(
        GEMINI_API_KEYS=",".join(keys),
        GEMINI_API_KEY_TIER="",  # the fake's keys have no quota for the gateway to count
        GEMINI_BASE_URL=upstream,
        # Clients authenticate, as LiteLLM's do with its master key: both pay for a token check.
        GATEWAY_TOKENS=token,
        DATA_DIR=str(data_dir),
        ADMIN_TOKEN=admin_token,
        LOG_LEVEL="warning",  # an access log per request would measure logging, not the gateway
        HOST="127.0.0.1",
        PORT=str(port),
    )
    env.update(extra or {})  # what the caller asks for wins
    service = start(
        "gateway",
        [_gateway_cli(), "serve"],
        core=core,
        port=port,
        env=env,
        workdir=workdir,
        ready_path="/health",
    )
    service.admin_token = env["ADMIN_TOKEN"]
    if helper_core is not None:
        service.pin_children(helper_core)
    return service


def _gateway_cli() -> str:
    found = shutil.which("gemini-gateway")
    if found is None:
        raise RuntimeError("`gemini-gateway` is not on PATH: install the project first (pip install -e .)")
    return found


def ensure_litellm(spec: str) -> Path:
    """LiteLLM's proxy in its own virtualenv, so its many pins never touch the gateway's environment."""
    exe = LITELLM_VENV / "bin" / "litellm"
    marker = LITELLM_VENV / ".bench-installed"
    if exe.exists() and marker.exists() and marker.read_text().strip() == spec:
        return exe
    print(f"# installing {spec} into {LITELLM_VENV} (first run only)", file=sys.stderr)
    if not (LITELLM_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    pip = [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, spec], check=True)
    marker.write_text(spec + "\n")
    return exe


def litellm_version() -> str:
    out = subprocess.run(
        [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "show", "litellm"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return next(
        (line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Version:")), "?"
    )


def litellm_config(upstream: str, keys: list[str]) -> str:
    """One model group with a deployment per key, all on the fake.

    LiteLLM's Gemini provider builds `{api_base}/models/{model}:{method}` (plus `?alt=sse` for
    streams) and sends the key as `x-goog-api-key`, so api_base carries the `/v1beta` version
    segment; run.py checks this against the fake's call log.
    """
    lines = ["model_list:"]
    for key in keys:
        lines += [
            f"  - model_name: {MODEL}",
            "    litellm_params:",
            f"      model: gemini/{MODEL}",
            f"      api_key: {key}",
            f"      api_base: {upstream}/v1beta",
        ]
    lines += [
        "litellm_settings:",
        "  telemetry: false",
        "  drop_params: true",
        "  set_verbose: false",
    ]
    return "\n".join(lines) + "\n"


def start_litellm(
    workdir: Path, core: int, exe: Path, upstream: str, keys: list[str], master_key: str
) -> Service:
    port = free_port()
    config = workdir / "litellm-config.yaml"
    config.write_text(litellm_config(upstream, keys))
    env = clean_env(
        # No internet here: without this LiteLLM retries fetching its price map from GitHub on start.
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_LOG="ERROR",  # its default INFO logs a line per request
        LITELLM_TELEMETRY="False",
        # It refuses to start without one; with no database it checks the key in memory.
        LITELLM_MASTER_KEY=master_key,
    )
    argv = [
        str(exe),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    return start(
        "litellm",
        argv,
        core=core,
        port=port,
        env=env,
        workdir=workdir,
        ready_path="/health/liveliness",
        timeout=180.0,
    )


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("# installing wrk with apt-get", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is still missing after apt-get install wrk")
    return found


def ensure_py_spy() -> str:
    found = shutil.which("py-spy") or str(TOOLS_VENV / "bin" / "py-spy")
    if Path(found).exists():
        return found
    print(f"# installing py-spy into {TOOLS_VENV}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True)
    subprocess.run([str(TOOLS_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(TOOLS_VENV / "bin" / "py-spy")

"""The recorder process (RECORDING_WRITER=process): killed, stopped, orphaned; nothing lost or doubled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from pathlib import Path

import psutil
import pytest
from google import genai

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.recorder import process as process_module
from gemini_gateway.recorder.process import ProcessSink
from tests.conftest import GatewayFactory
from tests.recorder.conftest import (
    CLIENT_TOKEN,
    RECORDING,
    exported_markers,
    marked_load,
    recorder_status,
    wait_for_health,
    wait_for_status,
)
from tests.servers import CLI_ADMIN_TOKEN, serve_cli

MODEL = "gemini-2.5-flash"


def ignored_signals(pid: int) -> set[int]:
    """The signals a process has set to be ignored (SigIgn in /proc: bit n-1 is signal n)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return {n for n in range(1, 65) if mask >> (n - 1) & 1}
    return set()


async def test_a_killed_writer_process_loses_and_doubles_nothing(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    fake.config.merge({"latency_ms": 10})  # spread the load over the kill and the restart
    requests = 80
    with gateway_factory(**RECORDING) as running:
        status = await asyncio.to_thread(wait_for_health, running.url)
        assert status["writer"] == "process" and status["healthy"], status
        first_pid = status["worker_pid"]
        done: list[int] = []

        async def kill() -> None:
            while len(done) < 24:
                await asyncio.sleep(0.005)
            os.kill(first_pid, signal.SIGKILL)

        await asyncio.gather(marked_load(running.url, requests, done), kill())
        assert sorted(done) == list(range(requests))
        status = await asyncio.to_thread(wait_for_status, running.url, 60.0, healthy=True, queued=0)
        assert status["worker_pid"] not in (None, first_pid)  # a new one took over
        assert status["lost"] == status["rejected"] == 0
        assert status["written"] + status["spooled"] >= requests

        # What the dead one held was spooled here and the new one replays it: each once, none missing.
        markers = await exported_markers(running.url)
        assert markers == [f"marker-{i:03d}" for i in range(requests)]


async def test_records_beyond_the_queue_go_to_the_spool_and_arrive_once(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    fake.config.merge({"latency_ms": 5})
    # Room for two records between the gateway and its writer: the rest overflow to the disk.
    with gateway_factory(**{**RECORDING, "recording_queue_size": 2, "recording_batch_ms": 200}) as running:
        done: list[int] = []
        await marked_load(running.url, 40, done)
        status = await asyncio.to_thread(wait_for_status, running.url, 60.0, queued=0, lost=0)
        assert status["overflowed"] > 0 and status["spooled"] >= status["overflowed"]
        assert await exported_markers(running.url) == [f"marker-{i:03d}" for i in range(40)]


def test_stopping_the_gateway_flushes_what_the_writer_still_holds(
    gateway_factory: GatewayFactory, fake: object
) -> None:
    # A long gathering time: the records are still in the writer process's queue at shutdown.
    with gateway_factory(**{**RECORDING, "recording_batch_ms": 5000}) as running:
        client = genai.Client(api_key=CLIENT_TOKEN, http_options={"base_url": running.url})
        for i in range(5):
            client.models.generate_content(model=MODEL, contents=f"just before closing {i}")
        data_dir = running.gateway.settings.data_dir
        assert wait_for_health(running.url)["healthy"]
    with contextlib.closing(sqlite3.connect(data_dir / "gateway.db")) as db:
        assert db.execute("SELECT count(*) FROM exchanges").fetchone() == (5,)
    assert not list((data_dir / "spool").glob("*.jsonl*"))  # written, not merely spooled


def test_the_writer_process_leaves_with_the_gateway_however_it_goes(tmp_path: Path, fake_url: str) -> None:
    """No orphan: a gateway killed outright takes its writer with it (its stdin closes)."""
    env = {
        "GEMINI_API_KEYS": "fake-key-orphan-test-01",
        "GEMINI_BASE_URL": fake_url,
        "RECORDING_WRITER": "process",
    }
    with serve_cli(tmp_path, **env) as served:  # it answers once its writer has started
        writers = [
            child
            for child in psutil.Process(served.process.pid).children()
            if "gemini_gateway.recorder.worker" in " ".join(child.cmdline())
        ]
        assert len(writers) == 1, "the gateway did not start its writer process"
        wait_for_health(served.url, timeout=30, token=CLI_ADMIN_TOKEN)
        # A service manager signals every process of the service: the writer waits for the gateway.
        # It ignores both, so the kernel drops them as they are sent: once it has set that up, the
        # signals cannot end it later, and no pause is needed to see that they did not.
        deadline = time.monotonic() + 30
        while not {signal.SIGINT, signal.SIGTERM} <= ignored_signals(writers[0].pid):
            assert time.monotonic() < deadline, "the writer process does not ignore SIGINT and SIGTERM"
            time.sleep(0.01)
        writers[0].send_signal(signal.SIGINT)
        writers[0].send_signal(signal.SIGTERM)
        assert writers[0].is_running() and writers[0].status() != psutil.STATUS_ZOMBIE
        served.process.kill()
        served.process.wait(60)
        writers[0].wait(60)  # raises TimeoutExpired if it stayed behind


def test_stopping_while_the_writer_restarts_spools_and_the_next_start_replays(
    gateway_factory: GatewayFactory,
    fake: object,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A pause before the restart that outlasts the test: the stop surely falls into it, however
    # slowly this machine notices the death or reaches the stop.
    monkeypatch.setattr(process_module, "RESTART_SECONDS", (3600.0, 3600.0))
    starts: list[int] = []
    run_worker = ProcessSink._run_worker

    async def counted(sink: ProcessSink) -> int:
        starts.append(1)
        return await run_worker(sink)

    monkeypatch.setattr(ProcessSink, "_run_worker", counted)
    with gateway_factory(**{**RECORDING, "recording_batch_ms": 5000}) as running:
        status = wait_for_health(running.url)
        client = genai.Client(api_key=CLIENT_TOKEN, http_options={"base_url": running.url})
        for i in range(3):
            client.models.generate_content(model=MODEL, contents=f"held by a writer about to die {i}")
        os.kill(status["worker_pid"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while recorder_status(running.url)["worker_pid"] is not None:  # it noticed, and waits to restart
            assert time.monotonic() < deadline
            time.sleep(0.02)
        data_dir = running.gateway.settings.data_dir
    assert len(starts) == 1  # no new writer was started just to be stopped
    # Nor did the stop wait for the pausing supervisor as for a worker still flushing.
    assert not [r for r in caplog.records if "did not finish" in r.getMessage()]
    assert sum(p.read_bytes().count(b"\n") for p in (data_dir / "spool").glob("*.jsonl")) == 3

    with gateway_factory(**RECORDING) as running:
        wait_for_status(running.url, replayed=3)
        with contextlib.closing(sqlite3.connect(data_dir / "gateway.db")) as db:
            assert db.execute("SELECT count(*) FROM exchanges").fetchone() == (3,)

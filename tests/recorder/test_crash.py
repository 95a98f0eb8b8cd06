"""A gateway killed outright (SIGKILL) in the middle of a burst: every exchange that answered 200
is recorded once the gateway is back, exactly once, with either writer."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import ADMIN_TOKEN, KEYS, GatewayFactory
from tests.recorder.conftest import CLIENT_TOKEN, exported_markers, wait_for_health
from tests.servers import serve_cli

BURST = 200
KILL_AFTER = 100  # answered 200s
MODEL = "gemini-2.5-flash"


async def burst_until_killed(url: str, kill: object) -> list[int]:
    """BURST concurrent calls; the gateway is killed as the KILL_AFTER-th one answers 200."""
    answered: list[int] = []

    async def one(client: httpx.AsyncClient, i: int) -> None:
        try:
            response = await client.post(
                f"{url}/v1beta/models/{MODEL}:generateContent",
                json={"contents": [{"parts": [{"text": f"marker-{i:03d}"}]}]},
                headers={"x-goog-api-key": CLIENT_TOKEN},
            )
        except httpx.HTTPError:  # in flight when the gateway died
            return
        if response.status_code == 200:
            answered.append(i)
            if len(answered) == KILL_AFTER:
                kill()  # type: ignore[operator]

    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(one(client, i) for i in range(BURST)))
    return answered


@pytest.mark.parametrize("writer", ["inline", "process"])
async def test_a_killed_gateway_records_every_answered_exchange_once(
    tmp_path: Path, gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, writer: str
) -> None:
    fake.config.merge({"latency_ms": 20})  # a burst long enough to be killed in its middle
    env = {
        "GEMINI_API_KEYS": ",".join(KEYS),
        "GEMINI_BASE_URL": fake_url,
        "GATEWAY_TOKENS": CLIENT_TOKEN,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "RECORDING_WRITER": writer,
    }
    with serve_cli(tmp_path, **env) as served:
        status = await asyncio.to_thread(wait_for_health, served.url, 30.0)
        assert status["writer"] == writer and status["healthy"], status
        answered = await burst_until_killed(served.url, served.process.kill)
        assert served.process.wait(60) == -9  # killed, not stopped: nothing was flushed
    assert KILL_AFTER <= len(answered) < BURST, len(answered)

    # Started again on the same DATA_DIR (in this process: a second interpreter start costs more
    # than the rest of the test, and the recorder starts the same way).
    with gateway_factory(gateway_tokens=[CLIENT_TOKEN], recording_writer=writer) as running:
        await asyncio.to_thread(wait_for_health, running.url, 30.0)
        counts = Counter(await exported_markers(running.url))
    # Stopped cleanly, with everything stored: the journal is gone.
    assert not list((tmp_path / "data" / "journal").glob("*.journal"))
    missing = [i for i in answered if counts[f"marker-{i:03d}"] == 0]
    doubled = [marker for marker, count in counts.items() if count > 1]
    assert (missing, doubled) == ([], [])

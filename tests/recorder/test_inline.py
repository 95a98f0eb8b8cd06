"""The inline sink's pace under load: a take from the queue waits for quiet once, not per chunk.

Driven directly (no HTTP): a sink on a real SQLite store, an Activity that a test holds busy, and
captures as the middleware leaves them. The wait for quiet is counted, not timed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gemini_gateway.recorder import inline as inline_module
from gemini_gateway.recorder.activity import Activity
from gemini_gateway.recorder.inline import InlineSink
from gemini_gateway.recorder.queue import RecordQueue
from gemini_gateway.settings import Settings
from gemini_gateway.store.database import Database
from tests.recorder.captures import capture


class CountedActivity(Activity):
    """Activity whose waits for quiet are counted, with how each ended."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[bool] = []

    async def quiet(self, deadline: float) -> bool:
        result = await super().quiet(deadline)
        self.waits.append(result)
        return result


async def test_a_take_from_the_queue_waits_for_quiet_once_when_the_gateway_stays_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline_module, "QUIET_WAIT_SECONDS", 0.2)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, recording_batch_size=10, recording_batch_ms=0
    )
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'records.db'}")
    await database.migrate()
    sink = InlineSink(settings)
    activity = sink.activity = CountedActivity()
    activity.enter()  # a request in flight for the whole test: the gateway never goes quiet
    queue = RecordQueue(1000)
    for n in range(40):  # one take: four chunks of the batch size
        assert queue.put(capture(n), 0)
    try:
        await sink.start(database, queue)
        async with asyncio.timeout(60):
            while sink.counters["written"] < 40:
                await asyncio.sleep(0.02)
        # The first chunk waited out the take's deadline; the other three did not wait again.
        assert activity.waits == [False]
        assert sink.counters["spooled"] == 0 and sink.counters["lost"] == 0
        async with database.engine.connect() as conn:
            stored = (await conn.exec_driver_sql("SELECT count(*) FROM exchanges")).scalar()
        assert stored == 40
    finally:
        activity.leave()
        await sink.aclose()
        await database.aclose()


class InFlightEachTime(Activity):
    """A request is in flight whenever the writer looks, and gone by the time it waits for quiet."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 1

    async def quiet(self, deadline: float) -> bool:
        await asyncio.sleep(0)
        return True


@pytest.mark.parametrize(("hold", "commits"), [(3600.0, 1), (0.0, 4)])
async def test_between_requests_one_transaction_is_held_open_at_most_hold_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold: float, commits: int
) -> None:
    # A unit takes one record (no budget); a transaction open longer than HOLD_SECONDS is committed
    # before the writer waits for a request to end, so another worker's writer is not kept waiting.
    monkeypatch.setattr(inline_module, "UNIT_SECONDS", 0.0)
    monkeypatch.setattr(inline_module, "HOLD_SECONDS", hold)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, recording_batch_size=10, recording_batch_ms=0
    )
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'records.db'}")
    await database.migrate()
    sink = InlineSink(settings)
    sink.activity = InFlightEachTime()
    queue = RecordQueue(1000)
    for n in range(4):
        assert queue.put(capture(n), 0)
    try:
        await sink.start(database, queue)
        assert sink.store is not None
        done: list[int] = []
        store_commit = sink.store.commit

        async def counted_commit() -> None:
            done.append(1)
            await store_commit()

        monkeypatch.setattr(sink.store, "commit", counted_commit)
        async with asyncio.timeout(60):
            while sink.counters["written"] < 4:
                await asyncio.sleep(0.01)
        assert len(done) == commits and sink.counters["spooled"] == 0
    finally:
        await sink.aclose()
        await database.aclose()


def test_the_build_slice_grows_under_a_backlog_and_shrinks_back_without_one() -> None:
    floor, ceiling = inline_module.BUILD_SLICE_SECONDS, inline_module.MAX_BUILD_SLICE_SECONDS
    batch = 200
    grown = [floor]
    for _ in range(10):  # a batch or more left behind every take: the writer needs a larger share
        grown.append(inline_module.next_slice(grown[-1], backlog=3 * batch, batch_size=batch))
    assert grown[1] == 2 * floor and grown[-1] == ceiling and grown == sorted(grown)
    shrunk = [ceiling]
    for _ in range(10):  # the queue drained: short slices again, for the requests' latency
        shrunk.append(inline_module.next_slice(shrunk[-1], backlog=batch - 1, batch_size=batch))
    assert shrunk[1] == ceiling / 2 and shrunk[-1] == floor

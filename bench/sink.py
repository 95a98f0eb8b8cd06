"""CPU time per record of the inline writer alone: building rows and inserting them into SQLite.

    python bench/sink.py [--records 6000]
    PYTHONPATH=/path/to/other/src python bench/sink.py     # another checkout's code

No HTTP and no gateway: an `InlineSink` on a fresh SQLite file is fed captures shaped like the
ones the middleware leaves (a 1 KB generateContent answer; a 20-event stream), 200 every 50 ms,
as a gateway serving 4,000 calls a second would, and the CPU time of the process (its SQLite
thread included) until all are written is divided by the count. Two ways each: "quiet" (no request
in flight: the writer works between requests, in units, as at low load) and "busy" (a request
always in flight: the writer's under-load path, slices on the loop and one insert per take).
Pure CPU in this process; compare two versions in the same minutes, on this shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from gemini_gateway.recorder.activity import Activity
from gemini_gateway.recorder.inline import InlineSink
from gemini_gateway.recorder.queue import RecordQueue
from gemini_gateway.settings import Settings
from gemini_gateway.store.database import Database

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the recorder tests' captures
from tests.recorder.captures import capture

PACE = 200  # captures handed over...
PACE_SECONDS = 0.05  # ...this often


async def measure(records: int, stream: bool, quiet: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as tmp:
        folder = Path(tmp)
        settings = Settings(_env_file=None, data_dir=folder, recording_batch_ms=50)  # type: ignore[call-arg]
        database = Database(f"sqlite+aiosqlite:///{folder / 'records.db'}")
        await database.migrate()
        sink = InlineSink(settings)
        activity = sink.activity = Activity()
        if not quiet:
            activity.enter()
        queue = RecordQueue(records + 1)
        captures = [capture(n, stream) for n in range(records)]
        await sink.start(database, queue)
        await asyncio.sleep(0.3)  # its start-up (probe, empty spool) is not counted
        cpu = time.process_time()
        for start in range(0, records, PACE):
            for item in captures[start : start + PACE]:
                queue.put(item, 0)
            await asyncio.sleep(PACE_SECONDS)
        # The sink's counters are plain integers, with no event to wait on: polled.
        while sink.counters["written"] + sink.counters["spooled"] < records:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        spent = time.process_time() - cpu
        if not quiet:
            activity.leave()
        await sink.aclose()
        await database.aclose()
        if sink.counters["spooled"]:
            print(f"  note: {sink.counters['spooled']} records spooled", file=sys.stderr)
        return spent / records * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=6000)
    args = parser.parse_args()
    print("| record | writer | CPU µs per record |")
    print("| --- | --- | ---: |")
    for stream in (False, True):
        for quiet in (True, False):
            per_record = asyncio.run(measure(args.records, stream, quiet))
            kind = "20-event stream" if stream else "generateContent"
            how = "between requests (quiet)" if quiet else "under load (busy)"
            print(f"| {kind} | {how} | {per_record:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

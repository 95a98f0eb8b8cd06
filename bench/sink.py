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

import orjson

from gemini_gateway.exchange import Attempt, Exchange
from gemini_gateway.recorder.activity import Activity
from gemini_gateway.recorder.capture import Capture
from gemini_gateway.recorder.inline import InlineSink
from gemini_gateway.recorder.queue import RecordQueue
from gemini_gateway.settings import Settings
from gemini_gateway.store.database import Database

PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"user-agent", b"wrk"),
    (b"content-type", b"application/json"),
    (b"x-goog-api-key", b"client-token-abcdef123456"),
    (b"content-length", b"89"),
]
EVENTS = [
    orjson.dumps(
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "word " * 5}]}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": i, "totalTokenCount": 10 + i},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "bench",
        }
    )
    for i in range(20)
]
ANSWER = orjson.dumps(
    {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "x" * 200}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 50, "totalTokenCount": 60},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "bench",
    }
)
PACE = 200  # captures handed over...
PACE_SECONDS = 0.05  # ...this often


def capture(n: int, stream: bool) -> Capture:
    request = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": f"call {n}: hello there"}]}]})
    now = time.perf_counter()
    exchange = Exchange(
        received_at=time.time(),
        started=now,
        dialect="gemini",
        route=PATH,
        model="gemini-2.5-flash",
        client_id="bench",
        stream=stream,
        attempts=[Attempt("api_key", "key-...0001", 200, 1.0, None)],
        credential="key-...0001",
        credential_id="k1",
        status=200,
        events=list(EVENTS) if stream else None,
    )
    chunks = [b"data: " + e + b"\r\n\r\n" for e in EVENTS] if stream else [ANSWER]
    scope = {
        "method": "POST",
        "path": PATH,
        "query_string": b"alt=sse" if stream else b"",
        "headers": HEADERS,
    }
    return Capture(
        "full",
        scope,
        exchange,
        1 << 24,
        request_chunks=[request],
        request_size=len(request),
        status=200,
        response_headers=[(b"content-type", b"application/json")],
        response_chunks=chunks,
        response_size=sum(map(len, chunks)),
        chunk_count=len(chunks),
        first_byte=now,
        finished=now,
        complete=True,
    )


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

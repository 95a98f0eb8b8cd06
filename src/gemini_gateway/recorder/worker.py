"""The recorder process: `python -m gemini_gateway.recorder.worker`, started by the gateway.

It runs the same `InlineSink` the gateway would run inline (queue, batched inserts, disk spool,
replay, retention), fed from stdin instead of the request path, so building and inserting
records costs the gateway's event loop nothing. Its stdout carries acknowledgements back: a
frame is "settled" once every record in it, and in every earlier frame, is committed or
spooled; until then the gateway keeps the frame, to spool it itself should this process die.

It lives exactly as long as its stdin. It runs in a session of its own, so Ctrl+C in a terminal
does not reach it, and it ignores INT and TERM, which a service manager sends every process of
the service at once: the gateway must get to flush first. The gateway closing the pipe (or
dying) is the signal to flush and exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
import sys
from collections import Counter
from typing import Any

from gemini_gateway import redaction
from gemini_gateway.recorder.inline import InlineSink
from gemini_gateway.recorder.queue import RecordQueue
from gemini_gateway.recorder.wire import Entry, capture_of, frame, read_frame
from gemini_gateway.settings import Settings

log = logging.getLogger("gemini_gateway.recorder")
STATUS_SECONDS = 0.1  # how often a change of health or counters is looked for and reported
READ_LIMIT = 1 << 20


class Worker:
    def __init__(
        self, sink: InlineSink, queue: RecordQueue, output: asyncio.WriteTransport, baseline: int
    ) -> None:
        self.sink = sink
        self.queue = queue
        self.output = output
        self.loop = asyncio.get_running_loop()
        self.outstanding: dict[int, int] = {}  # frame number -> records not settled yet
        self.settled_upto = baseline  # frames up to here were settled by an earlier worker
        self._report_scheduled = False
        self._reported: dict[str, Any] = {}
        sink.settled = self._on_settled

    def receive(self, batch: int, entries: list[Entry]) -> None:
        self.outstanding[batch] = len(entries)
        for entry in entries:
            try:
                capture = capture_of(entry, batch)  # the frame number is its ticket (see sink.py)
            except Exception as exc:  # never the whole frame for one exchange
                log.error("an exchange in frame %d could not be read: %s: %s", batch, type(exc).__name__, exc)
                self.sink.counters["lost"] += 1
                self.sink.last_lost = f"unreadable in frame {batch}: {type(exc).__name__}: {exc}"[:500]
                self.outstanding[batch] -= 1
                continue
            if not self.queue.put(capture):
                self.sink.overflow(capture)
        if not self.outstanding[batch]:
            self._advance()

    def _on_settled(self, frames: Counter[int]) -> None:
        # The writer task calls this on the loop, the overflow thread from its own thread.
        self.loop.call_soon_threadsafe(self._count, frames)

    def _count(self, frames: Counter[int]) -> None:
        for batch, count in frames.items():
            if batch in self.outstanding:
                self.outstanding[batch] -= count
        self._advance()

    def _advance(self) -> None:
        moved = False
        while self.outstanding.get(self.settled_upto + 1) == 0:
            self.settled_upto += 1
            del self.outstanding[self.settled_upto]
            moved = True
        if moved and not self._report_scheduled:
            self._report_scheduled = True  # one report for all that settles in this loop turn
            self.loop.call_soon(self.report)

    def report(self, only_changes: bool = False) -> None:
        self._report_scheduled = False
        # Counters and health only: the gateway counts the spool files itself and keeps every
        # record it sent until it is settled.
        sink = self.sink
        status = {
            **sink.counters,
            "healthy": sink.healthy,
            "last_error": sink.last_error,
            "last_reduced": sink.last_reduced,
            "last_lost": sink.last_lost,
        }
        if only_changes and status == self._reported:
            return
        self._reported = status
        if not self.output.is_closing():
            self.output.write(frame(("settled", self.settled_upto, status)))

    async def report_periodically(self) -> None:
        """Replays, retention and the store's health change without any frame settling."""
        while True:
            await asyncio.sleep(STATUS_SECONDS)
            self.report(only_changes=True)


async def serve() -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    # Frames go out on a private copy of stdout; fd 1 itself now points at stderr, so a stray
    # print() from any library lands in the log instead of corrupting the frame stream.
    frames_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    output, _ = await loop.connect_write_pipe(asyncio.Protocol, frames_out)
    try:
        return await _serve(reader, output)
    finally:
        output.close()


async def _serve(reader: asyncio.StreamReader, output: asyncio.WriteTransport) -> int:
    init = await read_frame(reader)
    if not (isinstance(init, tuple) and init and init[0] == "init"):
        return 2  # started by hand, or the gateway went away before saying anything
    _, fields, secrets, baseline, migrated = init
    settings = Settings.model_construct(**fields)
    redaction.install(settings.log_level)
    for secret in secrets:
        redaction.REDACTOR.add(secret)

    sink = InlineSink(settings)
    sink.migrate_own_store = not migrated
    queue = RecordQueue(settings.recording_queue_size)
    worker = Worker(sink, queue, output, baseline)
    await sink.start(None, queue)  # opens its own store; replays what an earlier crash spooled
    worker.report()
    reporter = asyncio.create_task(worker.report_periodically())
    try:
        while True:
            message = await read_frame(reader)
            if message is None or message[0] == "stop":
                break
            if message[0] == "records":
                worker.receive(message[1], message[2])
            elif message[0] == "secrets":  # added in the gateway since start-up
                for secret in message[1]:
                    redaction.REDACTOR.add(secret)
    finally:
        reporter.cancel()
        await sink.aclose()
        for _ in range(3):  # let settlements queued from the spool thread run
            await asyncio.sleep(0)
        worker.report()
    return 0


def main() -> None:
    # Pipes or socket pairs (uvloop makes the latter): never a terminal or a file.
    if not all(stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode) for fd in (0, 1)):
        sys.exit(
            "gemini_gateway.recorder.worker is started by the gateway (RECORDING_WRITER=process), over pipes"
        )
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Plain asyncio: this loop waits on a pipe and a database, nothing uvloop would speed up.
    sys.exit(asyncio.run(serve()))


if __name__ == "__main__":
    main()

"""The journal: every exchange, appended to a local file as its response completes.

    request path ──seal()──► one os.writev of an encoded capture ──► DATA_DIR/journal/*.journal
    writer: record committed or spooled ──settle()──► a segment whose records all settled goes
    start-up ──► segments no live gateway holds are built into a spool file, then removed

The recorder's queue, the pipe to its writer process and the batches being gathered live in
memory: a gateway killed outright (SIGKILL, the OOM killer, a crash) loses them. The journal
survives that: a plain write() with no fsync costs microseconds, and what it wrote is in the
kernel's page cache, which outlives the process (not a power loss or a kernel crash). Records
keep the id given here, and the store skips ids it has, so a replayed record is stored once.

An entry is a 4-byte length, a CRC-32 and a pickled wire tuple (recorder.wire), the same bytes
the writer process is sent: a torn last entry (a crash mid-write) fails its check and ends the
reading. Entries are read back with an
unpickler that refuses every class, so a journal file can only ever yield plain values.

The files hold what the recorder masks later (client tokens in headers, bodies): they are
created 0600 in DATA_DIR, next to the database, and removed once their records are stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import pickle
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from gemini_gateway.recorder.capture import Capture
from gemini_gateway.recorder.spool import Spool
from gemini_gateway.recorder.wire import Wire, from_wire
from gemini_gateway.store.exchanges import RecordRows

log = logging.getLogger("gemini_gateway.recorder")

ENTRY = struct.Struct("!II")  # payload length, CRC-32 of the payload
SUFFIX = ".journal"
# A segment this long is closed and a new one started; the closed one goes once its records settle.
ROTATE_BYTES = 16 * 1024 * 1024
# The active segment is emptied in place when all its records have settled and it is this long.
TRUNCATE_BYTES = 1024 * 1024


def encode_payload(wire: Wire) -> bytes:
    """What an entry holds (`Journal.append` frames it): the same bytes go to the writer process."""
    return pickle.dumps(wire, protocol=pickle.HIGHEST_PROTOCOL)


class _PlainValues(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"journal entries hold plain values only, not {module}.{name}")


def read_entries(path: Path) -> Iterator[Wire]:
    """The wire tuples in one journal file, in order, up to the first torn or damaged entry."""
    data = path.read_bytes()
    offset = 0
    while offset + ENTRY.size <= len(data):
        length, crc = ENTRY.unpack_from(data, offset)
        start, end = offset + ENTRY.size, offset + ENTRY.size + length
        # Zeros are what a power loss can leave where the last writes were: the end, too.
        if length == 0 or end > len(data) or zlib.crc32(data[start:end]) != crc:
            log.warning(
                "journal %s: entry at byte %d is torn or damaged; reading stops there", path.name, offset
            )
            return
        try:
            wire = _PlainValues(io.BytesIO(data[start:end])).load()
        except Exception as exc:  # checked bytes that are no wire tuple: skip this one only
            log.warning("journal %s: unreadable entry at byte %d skipped (%s)", path.name, offset, exc)
        else:
            yield wire
        offset = end


class Journal:
    """The gateway process's own journal: segments it created, locked while it lives."""

    def __init__(self, directory: Path, *, rotate_bytes: int = ROTATE_BYTES) -> None:
        self.directory = directory
        self.rotate_bytes = rotate_bytes
        self._lock = threading.Lock()  # appends come from the loop, settlements also from threads
        self._prefix = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._fds: dict[int, int] = {}  # segment -> open descriptor (holding its lock)
        self._outstanding: dict[int, int] = {}  # segment -> records appended and not yet settled
        self._active = -1
        self._size = 0  # of the active segment
        self.appended = 0
        self.errors = 0
        self.last_error: str | None = None

    def _path(self, segment: int) -> Path:
        return self.directory / f"{self._prefix}-{segment:06d}{SUFFIX}"

    def append(self, payload: bytes) -> int:
        """Write one entry (`payload` from `encode_payload`, framed with its length and CRC) with a
        single writev(); returns its segment, for `settle`, or -1 when it could not be written (the
        record still goes the usual way)."""
        head = ENTRY.pack(len(payload), zlib.crc32(payload))
        size = len(head) + len(payload)
        with self._lock:
            try:
                if self._active < 0 or self._size >= self.rotate_bytes:
                    self._next_segment()
                # One call, so the entry lands whole and in one place (O_APPEND); no copy joins them.
                written = os.writev(self._fds[self._active], (head, payload))
            except OSError as exc:  # a full or read-only disk: the request must not notice
                self._failed(exc)
                return -1
            self._size += written
            if written < size:  # the disk filled up mid-entry: replay stops at this torn one
                self._failed(OSError(f"short write: {written} of {size} bytes"))
                return -1
            self.appended += 1
            self._outstanding[self._active] += 1
            return self._active

    def settle(self, counts: Mapping[int, int]) -> None:
        """Records stored (or spooled, which is durable): `counts` is segment -> how many."""
        with self._lock:
            for segment, count in counts.items():
                if segment not in self._outstanding:
                    continue
                self._outstanding[segment] -= count
                if self._outstanding[segment] > 0:
                    continue
                if segment != self._active:
                    self._remove(segment)
                elif self._size >= TRUNCATE_BYTES:
                    with contextlib.suppress(OSError):
                        os.ftruncate(self._fds[segment], 0)  # O_APPEND: the next entry lands at 0
                        self._size = 0

    def close(self) -> None:
        """Remove the segments whose records all settled; keep the others for the next start."""
        with self._lock:
            for segment in list(self._fds):
                if self._outstanding[segment] <= 0:
                    self._remove(segment)
                else:
                    os.close(self._fds.pop(segment))
            self._active = -1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "directory": str(self.directory),
                "files": len(self._fds),
                "unsettled": sum(self._outstanding.values()),
                "appended": self.appended,
                "errors": self.errors,
                "last_error": self.last_error,
            }

    def _next_segment(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        segment = self._active + 1
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(self._path(segment), flags, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours while we live: no start-up takes it
        previous = self._active
        self._fds[segment] = fd
        self._outstanding[segment] = 0
        self._active, self._size = segment, 0
        if previous >= 0 and self._outstanding[previous] <= 0:
            self._remove(previous)

    def _remove(self, segment: int) -> None:
        with contextlib.suppress(OSError):
            self._path(segment).unlink()  # before closing: the lock keeps it ours until gone
        os.close(self._fds.pop(segment))
        del self._outstanding[segment]

    def _failed(self, exc: OSError) -> None:
        self.errors += 1
        first = self.last_error is None
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if first or self.errors % 1000 == 0:
            log.error(
                "could not write the recording journal (%d times so far): %s", self.errors, self.last_error
            )


def recover(directory: Path, spool_dir: Path, build: Callable[[list[Capture]], list[RecordRows]]) -> int:
    """Start-up: turn the journal segments no live gateway holds into spool files, then remove them.

    The recorder replays the spool into the store as it starts, skipping ids the store has: the
    records that were written before the crash are not doubled, the others arrive. Returns how
    many entries were found.
    """
    if not directory.is_dir():
        return 0
    found = 0
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a gateway sharing this DATA_DIR is writing it
                continue
            captures = [from_wire(wire) for wire in read_entries(path)]
            if captures:
                Spool.write_file(spool_dir, build(captures))  # synced before the journal goes
                found += len(captures)
            path.unlink()
        finally:
            os.close(fd)
    if found:
        log.warning("replaying %d exchange(s) from the journal of a gateway that did not stop cleanly", found)
    return found

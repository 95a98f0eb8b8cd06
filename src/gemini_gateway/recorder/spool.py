"""The disk spool: where records go when the store cannot take them, until it can.

Append-only JSON Lines files under `DATA_DIR/spool/`, one record per line, bodies base64 of the
compressed bytes (already masked: the spool holds nothing the store would not). Appends go to
an "active" file; `take()` closes it so that replay only ever reads files nobody writes to.

Exactly once: a replayed file is deleted only after its records are committed, and inserts
ignore ids already present, so a crash between commit and delete replays harmlessly.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from gemini_gateway.store.exchanges import RecordRows

log = logging.getLogger("gemini_gateway.recorder")
VERSION = 1
# The columns built from what clients and upstream sent, which alone can make a record unencodable.
JSON_COLUMNS_CLEARED: dict[str, Any] = {"generation_settings": None, "usage": None, "attempts": []}
STALE_SECONDS = 300  # a ".tmp" this old was left by a crashed process, not one still writing it


def encode(record: RecordRows) -> bytes:
    bodies = [{**b, "data": base64.b64encode(b["data"]).decode("ascii")} for b in record.bodies]
    line = {"v": VERSION, "exchange": record.exchange, "bodies": bodies}
    return orjson.dumps(line, option=orjson.OPT_NON_STR_KEYS) + b"\n"


def encode_all(records: Iterable[RecordRows]) -> bytes:
    """Spool lines for `records`; one that cannot be encoded is left out and logged, never fatal.

    Rows are built to encode (see rows.py); this is the last guard, so that one record's fault
    stays its own. The caller counts the difference as lost.
    """
    lines: list[bytes] = []
    for record in records:
        try:
            lines.append(encode(record))
            continue
        except Exception as exc:  # any encoder fault: try it without its JSON columns
            reason = f"{type(exc).__name__}: {exc}"
        try:
            lines.append(encode(RecordRows({**record.exchange, **JSON_COLUMNS_CLEARED}, record.bodies)))
            log.warning("record %s spooled without its JSON columns: %s", record.exchange.get("id"), reason)
        except Exception as exc:  # lose this record only
            log.error("could not spool record %s: %s: %s", record.exchange.get("id"), type(exc).__name__, exc)
    return b"".join(lines)


def decode(line: bytes) -> RecordRows:
    data = orjson.loads(line)
    if data.get("v") != VERSION:
        raise ValueError(f"unknown spool line version {data.get('v')!r}")
    bodies = [{**b, "data": base64.b64decode(b["data"])} for b in data["bodies"]]
    return RecordRows(data["exchange"], bodies)


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()  # appends come from the writer task and the overflow thread
        self._active: IO[bytes] | None = None
        self._active_path: Path | None = None
        self.appended = 0

    def append(self, records: Iterable[RecordRows]) -> int:
        """Append records; returns how many were written (fewer if some could not be encoded)."""
        lines = encode_all(records)
        if not lines:
            return 0
        with self._lock:
            if self._active is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.jsonl.part"
                self._active_path = self.directory / name
                self._active = open(self._active_path, "ab")  # noqa: SIM115 - kept open across appends
                # Ours while we live: workers of `serve --workers N` share DATA_DIR/spool.
                fcntl.flock(self._active.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._active.write(lines)
            self._active.flush()
            os.fsync(self._active.fileno())  # the spool exists for crashes; make it survive one
            count = lines.count(b"\n")
            self.appended += count
        return count

    def _close_active(self) -> None:
        if self._active is not None and self._active_path is not None:
            self._active.close()
            self._active_path.rename(self._active_path.with_suffix(""))  # ".jsonl.part" -> ".jsonl"
        self._active = None
        self._active_path = None

    def take(self) -> list[Path]:
        """Close the active file and list every closed spool file, oldest first."""
        with self._lock:
            self._close_active()
            if not self.directory.is_dir():
                return []
            # A ".part" left by a crashed process is closed too: nobody writes to it any more.
            # One another live process holds (its lock) is still being written: left alone.
            for leftover in self.directory.glob("*.jsonl.part"):
                if _unheld(leftover):
                    leftover.rename(leftover.with_suffix(""))
            stale = time.time() - STALE_SECONDS
            for leftover in self.directory.glob("*.jsonl.tmp"):
                if leftover.stat().st_mtime < stale:
                    leftover.rename(leftover.with_suffix(""))
            return sorted(self.directory.glob("*.jsonl"))

    @staticmethod
    def write_file(directory: Path, records: Iterable[RecordRows]) -> int:
        """Spool records as one whole file, from a process other than the one that replays.

        The file appears under its final name only once written and synced, so `take()` in the
        other process never sees it half-done (its ".part" rule is for its own crashed files).
        """
        lines = encode_all(records)
        if not lines:
            return 0
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.jsonl"
        partial = directory / f"{name}.tmp"
        with open(partial, "wb") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        partial.rename(directory / name)
        return lines.count(b"\n")

    def pending(self) -> bool:
        with self._lock:
            if self._active is not None:
                return True
        return self.directory.is_dir() and any(self.directory.glob("*.jsonl*"))

    def close(self) -> None:
        with self._lock:
            self._close_active()

    @staticmethod
    def read(path: Path, batch: int) -> Iterator[list[RecordRows]]:
        """The records of one spool file in batches; a torn last line (crash mid-write) is skipped."""
        chunk: list[RecordRows] = []
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    chunk.append(decode(line))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("skipping unreadable spool line %s:%d (%s)", path.name, number, exc)
                    continue
                if len(chunk) >= batch:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    def reject(self, records: list[RecordRows], reason: str) -> None:
        """Park records the store refuses for good (not for being down), so replay can go on."""
        rejected = self.directory / "rejected"
        rejected.mkdir(parents=True, exist_ok=True)
        with open(rejected / "rejected.jsonl", "ab") as handle:
            handle.write(encode_all(records))
        log.error("%d recorded exchange(s) parked in %s: %s", len(records), rejected, reason[:300])


def _unheld(path: Path) -> bool:
    """Whether no live process holds the file's lock (taken and let go here to find out)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # renamed by another process since it was listed
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def spool_stats(directory: Path) -> dict[str, Any]:
    files = list(directory.glob("*.jsonl*")) if directory.is_dir() else []
    return {"files": len(files), "bytes": sum(f.stat().st_size for f in files)}

"""A real Redis for tests, on loopback, in the pattern of tests/store/dbservers.py.

`redis_base()` returns a URL: the machine's service on 6379 when it answers (as
`scripts/test-services.sh` leaves it), otherwise a `redis-server` this module starts from the
Debian package on a free port in a temporary folder, otherwise None with the reason (the caller
skips). Tests keep apart by a key prefix of their own, so one server serves them all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.store.dbservers import free_port, port_open

START_TIMEOUT = 15.0


def _answers(port: int) -> bool:
    """A PING gets +PONG (a port open to something else is not a Redis)."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False


class OwnRedis:
    """A throwaway redis-server (no persistence) that a test can stop and start on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="gw-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, *args, "--dir", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def service_url() -> str | None:
    if os.environ.get("GW_TEST_NO_SERVICES"):
        return None
    return "redis://127.0.0.1:6379/0" if port_open(6379) and _answers(6379) else None

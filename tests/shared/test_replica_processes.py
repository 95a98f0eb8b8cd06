"""Three `gemini-gateway serve` processes on PostgreSQL and Redis behind a round-robin balancer.

As the issue found it (an executor tab served only the calls that reached its replica, 10 of 30;
an upload continued on another replica was lost), with real processes: each has its own data
folder, they share the store, Redis and the secret key (ENCRYPTION_KEY), and the balancer in this
test sends each new connection to the next replica. Skips where no PostgreSQL can be had.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from gemini_gateway.fake_upstream import FakeState
from tests.backends.test_executor_protocol import EXEC_KEY, TOKEN, executor, wait_until
from tests.servers import spawn_cli, stop_cli, wait_answering
from tests.store.conftest import server_urls  # noqa: F401  (the fixture)
from tests.store.dbservers import drop_database
from tests.store.test_migration_lock import START_SECONDS, fresh_url
from tests.uploads import resumable_start

MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about kestrels"}]}]}
CAPABILITIES = ["generateContent", "files.upload", "files.get"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


@contextlib.asynccontextmanager
async def balancer(ports: list[int]) -> AsyncIterator[str]:
    """Round robin per connection over `ports`, on a loopback port of its own."""
    turn = itertools.cycle(ports)
    tasks: set[asyncio.Task[None]] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", next(turn))
        both = [
            asyncio.ensure_future(_pipe(reader, up_writer)),
            asyncio.ensure_future(_pipe(up_reader, writer)),
        ]
        tasks.update(both)
        await asyncio.gather(*both)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()


async def test_a_tab_and_an_upload_through_a_balancer_over_three_serve_processes(
    server_urls: dict[str, str | None],  # noqa: F811
    redis_url: str,
    tmp_path: Path,
    fake_url: str,
    fake: FakeState,
) -> None:
    database = await fresh_url("postgresql", server_urls, tmp_path)
    env = {
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "EXECUTOR_TOKENS": TOKEN,
        "RECORDING_WRITER": "inline",
        "GEMINI_BASE_URL": fake_url,
    }
    folders = [tmp_path / f"replica{i}" for i in range(3)]
    for folder in folders:
        folder.mkdir()
    started = [spawn_cli(folder, **env) for folder in folders]
    try:
        for served in started:
            await asyncio.to_thread(wait_answering, served, "/health", START_SECONDS)
        ports = [int(s.url.rsplit(":", 1)[1]) for s in started]
        fresh = httpx.Limits(max_keepalive_connections=0)  # every request a new connection: the next replica
        async with (
            balancer(ports) as url,
            executor(url, fake_url, "tab", capabilities=CAPABILITIES) as tab,
            httpx.AsyncClient(base_url=url, timeout=60, limits=fresh) as client,
        ):

            async def every_replica_knows_the_tab() -> bool:
                answers = [await client.post(GEN, json=BODY) for _ in range(3)]
                return all(a.status_code == 200 for a in answers)

            await wait_until(every_replica_knows_the_tab)
            before = len(tab.tasks)
            for _ in range(30):
                answer = await client.post(GEN, json=BODY)
                assert answer.status_code == 200, answer.text
                assert answer.headers["x-gateway-credential"] == "tab"
            assert len(tab.tasks) == before + 30

            data = b"gannet " * 40_000
            start = await client.post(
                "/upload/v1beta/files",
                json={"file": {"displayName": "gannets"}},
                headers=resumable_start(len(data), "text/plain"),
            )
            assert start.status_code == 200, start.text
            upload_url = start.headers["x-goog-upload-url"]  # the balancer's address: the next replica
            half = len(data) // 2
            part = await client.post(
                upload_url,
                content=data[:half],
                headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"},
            )
            assert part.status_code == 200, part.text
            last = await client.post(
                upload_url,
                content=data[half:],
                headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": str(half)},
            )
            assert last.status_code == 200, last.text
            name = last.json()["file"]["name"]
            for _ in range(3):
                got = await client.get(f"/v1beta/{name}")
                assert got.status_code == 200 and got.json()["sizeBytes"] == str(len(data))
            assert {c.key for c in fake.calls if c.key} == {EXEC_KEY}
    finally:
        for served in started:
            stop_cli(served)
        await drop_database(database)
    for served in started:
        assert "Traceback" not in served.log, served.log[-3000:]

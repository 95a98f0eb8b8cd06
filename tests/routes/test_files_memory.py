"""A 30 MB upload passes through the gateway in pieces: its memory grows by far less than the file.

Gateway, fake upstream and client all run in this process (threads), so tracemalloc's peak covers
every Python allocation the upload causes on the way: the client's chunks, uvicorn's reads, the
gateway's relay to aiohttp, and the fake's hashing.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator

import httpx

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import RunningGateway
from tests.routes.test_files import start_upload

SIZE = 30 * 1024 * 1024
PIECE = 256 * 1024
BOUND = 6 * 1024 * 1024  # a fifth of the file; holding it whole would need 30 MB and more


def pieces() -> Iterator[bytes]:
    block = bytes(range(256)) * (PIECE // 256)
    for _ in range(SIZE // PIECE):
        yield block


def test_a_30_mb_upload_streams_with_bounded_memory(gateway: RunningGateway, fake: FakeState) -> None:
    url = start_upload(gateway.url, SIZE, mime="video/mp4", name="big.mp4")
    expected = hashlib.sha256()
    for piece in pieces():
        expected.update(piece)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        response = httpx.post(
            url,
            headers={
                "x-goog-upload-command": "upload, finalize",
                "x-goog-upload-offset": "0",
                "content-length": str(SIZE),
            },
            content=pieces(),
            timeout=120,
        )
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    file = response.json()["file"]
    assert file["sizeBytes"] == str(SIZE)
    stored = fake.projects.stored_file(file["name"])
    assert stored is not None and stored.sha256_hex == expected.hexdigest()
    print(f"\n30 MB upload: peak Python memory growth {peak / 1024 / 1024:.2f} MB")  # noqa: T201
    assert peak < BOUND, f"upload held {peak / 1024 / 1024:.1f} MB"

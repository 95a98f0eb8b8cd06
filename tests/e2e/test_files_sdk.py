"""google-genai's Files and caches APIs against the gateway, served by the fake upstream.

Every call that names an uploaded file or a cached content must land on the key whose project
holds it (the fake answers 403 anywhere else), while calls that name nothing keep balancing.
The last test runs the gateway as its own process to measure what a 30 MB upload costs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.genai import types

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import credential_id
from tests.conftest import ADMIN_TOKEN, KEYS, RunningGateway
from tests.e2e.genai_helpers import client, owner

MODEL = "gemini-2.5-flash"
LONG_TEXT = "Kingfishers perch above still water and dive for small fish. " * 120


def write(path: Path, size: int) -> Path:
    block = bytes(range(256)) * 4096  # 1 MiB
    with path.open("wb") as out:
        for _ in range(size // len(block)):
            out.write(block)
        out.write(block[: size % len(block)])
    return path


def test_upload_then_generate_many_times_on_the_owner(
    gateway: RunningGateway, fake: FakeState, tmp_path: Path
) -> None:
    sdk = client(gateway.url)
    file = sdk.files.upload(file=write(tmp_path / "notes.txt", 5000), config={"display_name": "notes"})
    assert file.state == types.FileState.ACTIVE and file.size_bytes == 5000 and file.uri
    key = owner(fake, file.name)
    for _ in range(8):
        answer = sdk.models.generate_content(model=MODEL, contents=[file, "What do these notes say?"])
        assert answer.text and fake.calls[-1].key == key
    chunks = list(sdk.models.generate_content_stream(model=MODEL, contents=[file, "Stream it"]))
    assert chunks and fake.calls[-1].key == key
    assert (sdk.models.count_tokens(model=MODEL, contents=[file, "count"]).total_tokens or 0) > 0
    assert fake.calls[-1].key == key
    plain = []
    for _ in range(len(KEYS)):
        sdk.models.generate_content(model=MODEL, contents="Nothing attached")
        plain.append(fake.calls[-1].key)
    assert set(plain) == set(KEYS)


def test_files_list_get_delete_across_keys(gateway: RunningGateway, fake: FakeState, tmp_path: Path) -> None:
    sdk = client(gateway.url)
    pool = gateway.gateway.pool
    uploaded = []
    for index, key in enumerate(KEYS):
        others = [credential_id("api_key", k) for k in KEYS if k != key]
        for other in others:  # so that each key's project gets a file
            pool.set_enabled(other, False)
        try:
            for copy in range(2):
                path = write(tmp_path / f"f{index}{copy}.txt", 100 + index)
                uploaded.append(sdk.files.upload(file=path))
        finally:
            for other in others:
                pool.set_enabled(other, True)
    assert {owner(fake, f.name) for f in uploaded} == set(KEYS)
    listed = [f.name for f in sdk.files.list(config={"page_size": 2})]
    assert sorted(listed) == sorted(f.name for f in uploaded)
    for file in uploaded[::2]:
        assert file.name
        got = sdk.files.get(name=file.name)
        assert got.name == file.name and fake.calls[-1].key == owner(fake, file.name)
    sdk.files.delete(name=uploaded[0].name)
    assert fake.calls[-1].method == "deleteFile"
    assert uploaded[0].name not in [f.name for f in sdk.files.list()]


def test_cached_contents_lifecycle_on_the_owner(gateway: RunningGateway, fake: FakeState) -> None:
    sdk = client(gateway.url)
    cache = sdk.caches.create(
        model=MODEL,
        config=types.CreateCachedContentConfig(
            contents=[LONG_TEXT],
            system_instruction="You are an ornithologist.",
            display_name="kingfishers",
            ttl="300s",
        ),
    )
    key = owner(fake, cache.name)
    assert cache.usage_metadata and (cache.usage_metadata.total_token_count or 0) >= 1024
    assert sdk.caches.get(name=cache.name or "").display_name == "kingfishers"
    assert fake.calls[-1].key == key
    assert cache.name in [c.name for c in sdk.caches.list()]
    before = cache.expire_time
    updated = sdk.caches.update(name=cache.name or "", config=types.UpdateCachedContentConfig(ttl="7200s"))
    assert updated.expire_time and before and updated.expire_time > before
    assert fake.calls[-1].key == key
    for _ in range(6):
        answer = sdk.models.generate_content(
            model=MODEL,
            contents="Where do they perch?",
            config=types.GenerateContentConfig(cached_content=cache.name),
        )
        assert answer.text and fake.calls[-1].key == key
    sdk.caches.delete(name=cache.name or "")
    assert fake.calls[-1].key == key and fake.calls[-1].method == "deleteCachedContent"
    assert cache.name not in [c.name for c in sdk.caches.list()]


def test_a_cache_of_an_uploaded_file_stays_with_the_file(
    gateway: RunningGateway, fake: FakeState, tmp_path: Path
) -> None:
    sdk = client(gateway.url)
    file = sdk.files.upload(file=write(tmp_path / "transcript.txt", 4000))
    key = owner(fake, file.name)
    cache = sdk.caches.create(model=MODEL, config=types.CreateCachedContentConfig(contents=[file, LONG_TEXT]))
    assert owner(fake, cache.name) == key
    for _ in range(4):
        sdk.models.generate_content(
            model=MODEL, contents="Summarise", config=types.GenerateContentConfig(cached_content=cache.name)
        )
        assert fake.calls[-1].key == key


# --- a 30 MB upload, measured on the gateway's own process ------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@pytest.fixture
def gateway_process(fake_url: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to read the gateway's peak RSS")
    port = free_port()
    env = {
        **os.environ,
        "GEMINI_API_KEYS": ",".join(KEYS),
        "GEMINI_API_KEY_TIER": "",  # the fake has no quota (see tests/conftest.py)
        "GEMINI_BASE_URL": fake_url,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "DATA_DIR": str(tmp_path / "data"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gemini_gateway", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a start-up on a loaded 2-core machine can take 30 s
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()  # else reading its stderr waits for an exit that never comes
                process.wait()
                raise RuntimeError(
                    f"the gateway did not start: {process.stderr.read() if process.stderr else ''}"
                )
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_30_mb_sdk_upload_costs_the_gateway_little_memory(
    gateway_process: tuple[str, int], fake: FakeState, tmp_path: Path
) -> None:
    url, pid = gateway_process
    size = 30 * 1024 * 1024
    path = write(tmp_path / "clip.mp4", size)
    sdk = client(url)
    sdk.models.generate_content(model=MODEL, contents="warm up")  # first-call imports and buffers
    small = sdk.files.upload(file=write(tmp_path / "warm.txt", 1000))
    assert small.name
    rss_before = status_kb(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # restart the peak (VmHWM) from the current RSS
    file = sdk.files.upload(file=path, config={"mime_type": "video/mp4"})
    growth_mb = (status_kb(pid, "VmHWM") - rss_before) / 1024
    assert file.size_bytes == size and owner(fake, file.name) in KEYS
    print(f"\n30 MB SDK upload: gateway peak RSS growth {growth_mb:.1f} MB")  # noqa: T201
    # The SDK sends 8 MiB chunks; a gateway that buffered them would grow by 8+ MB, one that
    # buffered the file by 30+ MB.
    assert growth_mb < 6, f"the gateway's RSS grew {growth_mb:.1f} MB during a 30 MB upload"

"""Files API and cachedContents of an executor tab, called on replicas the tab is not connected to.

The tab (the Python stand-in of tests/backends, its own key on the fake) sits on replica A; every
call below reaches B or C, which relay it to A over the signed internal route. A file lives in
the project of the tab that took it, so anything served from elsewhere would fail on the fake.
Upload bodies must pass through as they arrive: the client below holds the rest of its body back
until the tab has the first part, which only a relay that streams can satisfy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gemini_gateway.backends.executor_protocol import RESOURCE_CAPABILITIES, UPLOAD_FRAME_BYTES
from gemini_gateway.backends.executor_relay import FrameReader, frame
from gemini_gateway.backends.executor_relay_resources import body_key, signed_body, verified_body
from gemini_gateway.errors import ClientGone, RequestError
from gemini_gateway.fake_upstream import FakeState
from tests.backends.test_executor_protocol import EXEC_KEY, TOKEN, PyExecutor, executor, wait_until
from tests.uploads import resumable_start

ONLY_EXECUTORS = {"executor_tokens": [TOKEN], "gemini_api_keys": []}
# Every capability a tab may take on (cachedContents.patch is covered by the tab's own tests).
RESOURCES = ["generateContent", *sorted(RESOURCE_CAPABILITIES - {"cachedContents.patch"})]
MODEL = "gemini-2.5-flash"
LONG_TEXT = "The lighthouse keeper logged every passing ship by name. " * 120
UPLOAD = "/upload/v1beta/files"


def _knows(running: Any, cid: str) -> Any:
    async def check() -> bool:
        return running.gateway.pool.get(cid) is not None

    return check


def _on(replica: Any, url: str) -> str:
    """The same upload URL on another replica (any replica continues an upload)."""
    parts = urlsplit(url)
    return f"{replica.url}{parts.path}?{parts.query}"


async def _held_back(tab: PyExecutor, first: bytes, rest: bytes) -> AsyncIterator[bytes]:
    """Send `first`, then wait until the tab has received a whole upload frame of it (the owner
    passes bytes on in frames of that size) before sending `rest`."""
    yield first

    async def arrived() -> bool:
        return any(len(data) >= UPLOAD_FRAME_BYTES for data in tab.uploaded.values())

    await wait_until(arrived)
    yield rest


@pytest.mark.parametrize("shared", ["redis", "store"])
async def test_files_and_caches_of_a_tab_work_from_every_replica(
    replicas: Any, redis_url: str, fake_url: str, fake: FakeState, shared: str
) -> None:
    options = {"redis_url": redis_url} if shared == "redis" else {}
    data = bytes(range(256)) * (UPLOAD_FRAME_BYTES // 256 * 2 + 77)  # three upload frames
    half = UPLOAD_FRAME_BYTES + 1000
    with replicas(3, **options, **ONLY_EXECUTORS) as (a, b, c):
        async with (
            executor(a.url, fake_url, "tab", capabilities=RESOURCES) as tab,
            httpx.AsyncClient(timeout=60) as client,
        ):
            await wait_until(_knows(b, "executor:tab"))
            await wait_until(_knows(c, "executor:tab"))

            # A resumable upload started on B, continued on C, finished on B.
            start = await client.post(
                b.url + UPLOAD,
                json={"file": {"displayName": "notes"}},
                headers=resumable_start(len(data), "text/plain"),
            )
            assert start.status_code == 200, start.text
            assert start.headers["x-gateway-credential"] == "tab"
            url = start.headers["x-goog-upload-url"]
            first = await client.post(
                _on(c, url),
                content=_held_back(tab, data[:half], data[half : 2 * half]),
                headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"},
            )
            assert first.status_code == 200, first.text
            assert first.headers["x-goog-upload-size-received"] == str(2 * half)
            last = await client.post(
                _on(b, url),
                content=data[2 * half :],
                headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": str(2 * half)},
            )
            assert last.status_code == 200, last.text
            assert last.headers["x-goog-upload-status"] == "final"
            file = last.json()["file"]
            assert file["displayName"] == "notes" and file["sizeBytes"] == str(len(data))
            (upload_task,) = [t for t in tab.tasks if t["method"] == "files.upload"]
            assert tab.uploaded[upload_task["id"]] == data

            # A one-shot upload on C, streamed the same way.
            raw = await client.post(
                c.url + UPLOAD,
                params={"uploadType": "media"},
                content=_held_back_after(tab, data[:half], data[half:], upload_task["id"]),
                headers={"Content-Type": "image/png"},
            )
            assert raw.status_code == 200, raw.text
            picture = raw.json()["file"]
            assert picture["mimeType"] == "image/png" and picture["sizeBytes"] == str(len(data))

            got = await client.get(f"{c.url}/v1beta/{file['name']}")
            assert got.status_code == 200 and got.json()["sha256Hash"] == file["sha256Hash"]
            assert got.headers["x-gateway-credential"] == "tab"
            listed = await client.get(f"{b.url}/v1beta/files")
            assert listed.status_code == 200, listed.text
            assert {f["name"] for f in listed.json()["files"]} == {file["name"], picture["name"]}

            cache = await client.post(
                f"{b.url}/v1beta/cachedContents",
                json={
                    "model": f"models/{MODEL}",
                    "contents": [
                        {
                            "role": "user",
                            "parts": [{"fileData": {"fileUri": file["uri"]}}, {"text": LONG_TEXT}],
                        }
                    ],
                    "ttl": "600s",
                },
            )
            assert cache.status_code == 200, cache.text
            name = cache.json()["name"]
            assert (await client.get(f"{c.url}/v1beta/{name}")).json()["name"] == name
            caches = await client.get(f"{c.url}/v1beta/cachedContents")
            assert [x["name"] for x in caches.json()["cachedContents"]] == [name]
            cached = await client.post(
                f"{c.url}/v1beta/models/{MODEL}:generateContent",
                json={
                    "contents": [{"role": "user", "parts": [{"text": "Summarise"}]}],
                    "cachedContent": name,
                },
            )
            assert cached.status_code == 200, cached.text
            assert (await client.delete(f"{b.url}/v1beta/{name}")).status_code == 200
            assert (await client.delete(f"{c.url}/v1beta/{file['name']}")).status_code == 200
            gone = await client.get(f"{b.url}/v1beta/{file['name']}")
            assert gone.status_code in (403, 404)

            assert {call.key for call in fake.calls if call.key} == {EXEC_KEY}
            assert set(RESOURCES) <= {t["method"] for t in tab.tasks}  # each ran on the tab, via A


async def _held_back_after(tab: PyExecutor, first: bytes, rest: bytes, earlier: str) -> AsyncIterator[bytes]:
    """`_held_back` for a second upload: waits for the bytes of the upload task after `earlier`."""
    yield first

    async def arrived() -> bool:
        return any(len(data) >= UPLOAD_FRAME_BYTES for tid, data in tab.uploaded.items() if tid != earlier)

    await wait_until(arrived)
    yield rest


async def test_an_upload_error_on_the_owner_reaches_the_client_as_google_gives_it(
    replicas: Any, redis_url: str, fake_url: str
) -> None:
    with replicas(2, redis_url=redis_url, **ONLY_EXECUTORS) as (a, b):
        async with (
            executor(a.url, fake_url, "tab", capabilities=RESOURCES) as tab,
            httpx.AsyncClient(timeout=60) as client,
        ):
            await wait_until(_knows(b, "executor:tab"))
            start = await client.post(
                b.url + UPLOAD,
                json={"file": {}},
                headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
            )
            assert start.status_code == 200, start.text
            wrong = await client.post(
                start.headers["x-goog-upload-url"],
                content=b"abc",
                headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "7"},
            )
            assert wrong.status_code == 400
            assert wrong.headers["x-goog-upload-status"] == "final"
            assert "Invalid offset 7" in wrong.json()["error"]["message"]
            (task,) = tab.tasks
            assert task["method"] == "files.upload" and not tab.uploaded[task["id"]]


async def _pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _read(key: bytes, data: bytes) -> bytes:
    return b"".join([piece async for piece in verified_body(key, _pieces(data[:7], data[7:]))])


async def test_a_relayed_body_is_checked_frame_by_frame() -> None:
    key = body_key(b"secret", "1000.nonce.mac")
    failures: list[BaseException] = []
    framed = b"".join([f async for f in signed_body(key, _pieces(b"first ", b"", b"second"), failures)])
    assert await _read(key, framed) == b"first second"
    with pytest.raises(RequestError):  # another request's key: its frames do not check
        await _read(body_key(b"secret", "1000.other.mac"), framed)
    tampered = framed.replace(b"second", b"sEcond")
    with pytest.raises(RequestError):
        await _read(key, tampered)
    frames = FrameReader().feed(framed)
    swapped = b"".join(frame(k, p) for k, p in [frames[1], frames[0], frames[2]])
    with pytest.raises(RequestError):
        await _read(key, swapped)
    with pytest.raises(ClientGone):  # cut before the end frame
        await _read(key, b"".join(frame(k, p) for k, p in frames[:2]))

    async def broken() -> AsyncIterator[bytes]:
        yield b"x"
        raise ClientGone("the client left")

    with pytest.raises(ClientGone):
        _ = [f async for f in signed_body(key, broken(), failures)]
    assert isinstance(failures[0], ClientGone)  # kept for the relay to raise instead of its own error

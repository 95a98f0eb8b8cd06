"""One-shot Files API uploads (`uploadType=media` and `multipart`) taken by an executor tab.

Raw httpx as the client (the SDKs upload resumably), the Python stand-in tab of
test_executor_protocol.py, which uploads what it is given to the fake with its own key: the file
must reach the tab whole and typed, come back as Google answers a one-shot upload, and be
remembered as the tab's so that later calls naming it go there.
"""

from __future__ import annotations

import httpx
import orjson

from gemini_gateway.affinity.resources import affinity_of
from gemini_gateway.backends.executor_protocol import UPLOAD_FRAME_BYTES
from gemini_gateway.fake_upstream import FakeState
from tests.backends.test_executor_protocol import EXEC_KEY, TOKEN, executor, wait_until
from tests.conftest import GatewayFactory

ONLY_EXECUTORS = {"executor_tokens": [TOKEN], "gemini_api_keys": []}
FILES = ["files.upload", "files.get"]
UPLOAD = "/upload/v1beta/files"
BOUNDARY = "gw-boundary-41"


def related(metadata: dict[str, object], media: bytes, media_type: str | None) -> bytes:
    head = f"Content-Type: {media_type}\r\n\r\n" if media_type else "\r\n"
    return (
        f"--{BOUNDARY}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode()
        + orjson.dumps(metadata)
        + f"\r\n--{BOUNDARY}\r\n{head}".encode()
        + media
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


async def test_a_raw_media_upload_reaches_the_tab_in_frames_and_stays_with_it(
    gateway_factory: GatewayFactory, fake_url: str, fake: FakeState
) -> None:
    data = bytes(range(256)) * (UPLOAD_FRAME_BYTES // 256 * 2 + 100)  # three frames
    with gateway_factory(**ONLY_EXECUTORS) as running:
        async with (
            executor(running.url, fake_url, "tab", capabilities=FILES) as tab,
            httpx.AsyncClient(base_url=running.url, timeout=30) as client,
        ):
            response = await client.post(
                UPLOAD, params={"uploadType": "media"}, content=data, headers={"Content-Type": "image/png"}
            )
            assert response.status_code == 200, response.text
            assert response.headers["x-goog-upload-status"] == "final"
            assert response.headers["x-gateway-credential"] == "tab"
            file = response.json()["file"]
            assert file["mimeType"] == "image/png" and file["sizeBytes"] == str(len(data))
            (task,) = tab.tasks
            assert task["method"] == "files.upload" and task["body"] == {}
            assert task["upload"] == {"mime_type": "image/png", "size": len(data)}
            assert tab.uploaded[task["id"]] == data
            owner = await affinity_of(running.gateway).owners.owner(file["name"])
            assert owner is not None and owner.credential_id == "executor:tab"
            got = await client.get(f"/v1beta/{file['name']}")
            assert got.status_code == 200 and got.json()["sha256Hash"] == file["sha256Hash"]
            assert [t["method"] for t in tab.tasks] == ["files.upload", "files.get"]
            assert {c.key for c in fake.calls if c.key} == {EXEC_KEY}  # the upload URL carries no key


async def test_a_multipart_upload_passes_its_metadata_and_media_on(
    gateway_factory: GatewayFactory, fake_url: str
) -> None:
    # Media that nearly closes the body: only the whole delimiter may end it.
    media = (b"\r\n--gw-boundary-4" + b"x" * 5000) * 60
    with gateway_factory(**ONLY_EXECUTORS) as running:
        async with (
            executor(running.url, fake_url, "tab", capabilities=FILES) as tab,
            httpx.AsyncClient(base_url=running.url, timeout=30) as client,
        ):
            response = await client.post(
                UPLOAD,
                params={"uploadType": "multipart"},
                content=related({"file": {"displayName": "notes"}}, media, "text/plain"),
                headers={"Content-Type": f"multipart/related; boundary={BOUNDARY}"},
            )
            assert response.status_code == 200, response.text
            file = response.json()["file"]
            assert file["displayName"] == "notes" and file["mimeType"] == "text/plain"
            assert file["sizeBytes"] == str(len(media))
            task = tab.tasks[-1]
            assert task["body"] == {"file": {"displayName": "notes"}}
            assert task["upload"] == {"mime_type": "text/plain", "size": None}
            assert tab.uploaded[task["id"]] == media
            owner = await affinity_of(running.gateway).owners.owner(file["name"])
            assert owner is not None and owner.credential_id == "executor:tab"

            # No Content-Type on the media part: the metadata's mimeType types the file.
            typed = await client.post(
                UPLOAD,
                params={"uploadType": "multipart"},
                content=related({"file": {"mimeType": "application/pdf"}}, b"%PDF-1.4 tiny", None),
                headers={"Content-Type": f'multipart/related; boundary="{BOUNDARY}"'},
            )
            assert typed.status_code == 200, typed.text
            assert typed.json()["file"]["mimeType"] == "application/pdf"
            assert tab.tasks[-1]["upload"]["mime_type"] == "application/pdf"
            assert tab.uploaded[tab.tasks[-1]["id"]] == b"%PDF-1.4 tiny"


async def test_a_malformed_multipart_body_is_googles_400_and_the_tab_drops_it(
    gateway_factory: GatewayFactory, fake_url: str
) -> None:
    with gateway_factory(**ONLY_EXECUTORS) as running:
        async with (
            executor(running.url, fake_url, "tab", capabilities=FILES) as tab,
            httpx.AsyncClient(base_url=running.url, timeout=30) as client,
        ):
            no_boundary = await client.post(
                UPLOAD,
                params={"uploadType": "multipart"},
                content=b"{}",
                headers={"Content-Type": "multipart/related"},
            )
            assert no_boundary.status_code == 400 and "boundary" in no_boundary.json()["error"]["message"]
            assert tab.tasks == []  # refused before a task was opened
            cut = related({"file": {}}, b"half a file", "text/plain").rpartition(b"\r\n--")[0]
            response = await client.post(
                UPLOAD,
                params={"uploadType": "multipart"},
                content=cut,
                headers={"Content-Type": f"multipart/related; boundary={BOUNDARY}"},
            )
            assert response.status_code == 400
            assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
            assert "closing boundary" in response.json()["error"]["message"]

            async def cancelled() -> bool:
                opened = [t["id"] for t in tab.tasks]
                return bool(opened) and [c["id"] for c in tab.cancels] == opened

            await wait_until(cancelled)
            unknown = await client.post(UPLOAD, params={"uploadType": "chunked"}, content=b"x")
            assert unknown.status_code == 400 and "Upload protocol" in unknown.text

"""Files API through the gateway over real HTTP: uploads, listing, get/delete, and the affinity
of every call that names a file to the key whose project holds it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from gemini_gateway.affinity import Affinity
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import credential_id, mask_secret
from tests.conftest import KEYS, GatewayFactory, RunningGateway

MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"
PLAIN = {"contents": [{"role": "user", "parts": [{"text": "Tell me about herons"}]}]}


def start_upload(
    base: str, size: int, *, mime: str = "text/plain", name: str = "notes", **headers: str
) -> str:
    response = httpx.post(
        f"{base}/upload/v1beta/files",
        headers={
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-command": "start",
            "x-goog-upload-header-content-length": str(size),
            "x-goog-upload-header-content-type": mime,
            **headers,
        },
        json={"file": {"displayName": name}},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-goog-upload-status"] == "active"
    return response.headers["x-goog-upload-url"]


def upload(base: str, data: bytes, *, mime: str = "text/plain", name: str = "notes", **headers: str) -> dict:
    """A resumable upload in one request, as the SDKs send small files; returns the File."""
    url = start_upload(base, len(data), mime=mime, name=name, **headers)
    response = httpx.post(
        url,
        headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"},
        content=data,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-goog-upload-status"] == "final"
    return response.json()["file"]


def with_file(file: dict, text: str = "What is in this file?", *, snake: bool = False) -> dict:
    part = (
        {"file_data": {"file_uri": file["uri"], "mime_type": file["mimeType"]}}
        if snake
        else {"fileData": {"fileUri": file["uri"], "mimeType": file["mimeType"]}}
    )
    return {"contents": [{"role": "user", "parts": [{"text": text}, part]}]}


def owner_key(fake: FakeState, name: str) -> str:
    key = fake.projects.owner_of(name)
    assert key is not None, f"{name} is in no project of the fake"
    return key


def affinity(running: RunningGateway) -> Affinity:
    service = running.gateway.affinity
    assert isinstance(service, Affinity)
    return service


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        yield http


def test_resumable_upload_in_chunks_through_a_rewritten_url(
    gateway: RunningGateway, fake: FakeState, fake_url: str
) -> None:
    data = bytes(range(256)) * 40
    url = start_upload(gateway.url, len(data), mime="application/octet-stream")
    assert url.startswith(gateway.url + "/upload/v1beta/files?upload_id=")
    assert fake_url not in url  # Google's URL stays inside the gateway
    first = httpx.post(
        url, headers={"x-goog-upload-command": "upload", "x-goog-upload-offset": "0"}, content=data[:4000]
    )
    assert first.status_code == 200 and first.headers["x-goog-upload-status"] == "active"
    query = httpx.post(url, headers={"x-goog-upload-command": "query"})
    assert query.headers["x-goog-upload-size-received"] == "4000"
    last = httpx.post(
        url,
        headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "4000"},
        content=data[4000:],
    )
    assert last.status_code == 200, last.text
    assert last.headers["x-goog-upload-status"] == "final"
    assert not any(fake_url in v for v in last.headers.values())
    file = last.json()["file"]
    assert file["sizeBytes"] == str(len(data)) and file["state"] == "ACTIVE"
    assert file["mimeType"] == "application/octet-stream"
    stored = fake.projects.stored_file(file["name"])
    assert stored is not None and stored.sha256_hex == hashlib.sha256(data).hexdigest()
    owner = owner_key(fake, file["name"])
    # Every request of the upload went to the key that started it.
    assert {c.key for c in fake.calls if c.method in ("uploadFile", "uploadChunk")} == {owner}
    known = affinity(gateway).owners.known(file["name"])
    assert known is not None and known.credential_id == credential_id("api_key", owner)


def test_a_finished_or_unknown_upload_is_not_found(gateway: RunningGateway, fake: FakeState) -> None:
    url = start_upload(gateway.url, 3)
    done = httpx.post(
        url,
        headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"},
        content=b"abc",
    )
    assert done.status_code == 200
    again = httpx.post(url, headers={"x-goog-upload-command": "query"})
    assert again.status_code == 404 and again.json()["error"]["status"] == "NOT_FOUND"
    assert again.headers["x-goog-upload-status"] == "final"  # so resumable clients stop retrying
    forged = httpx.post(
        gateway.url + "/upload/v1beta/files?upload_id=nope&upload_protocol=resumable",
        headers={"x-goog-upload-command": "query"},
    )
    assert forged.status_code == 404


def test_only_the_client_that_started_an_upload_may_continue_it(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    with gateway_factory(gateway_tokens=["client-one-token", "client-two-token"]) as running:
        url = start_upload(running.url, 3, **{"x-goog-api-key": "client-one-token"})
        other = httpx.post(
            url,
            headers={
                "x-goog-upload-command": "upload, finalize",
                "x-goog-upload-offset": "0",
                "x-goog-api-key": "client-two-token",
            },
            content=b"abc",
        )
        assert other.status_code == 404
        # The upload id alone is the capability, as Google's upload URL is: SDKs send no key here.
        mine = httpx.post(
            url,
            headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"},
            content=b"abc",
        )
        assert mine.status_code == 200, mine.text


def test_multipart_and_raw_uploads_stream_through(gateway: RunningGateway, fake: FakeState) -> None:
    media = b"\x89PNG\r\n" + b"pixels" * 5000
    boundary = "gateway-test-boundary"
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
            '{"file": {"displayName": "picture"}}'
            f"\r\n--{boundary}\r\nContent-Type: image/png\r\n\r\n"
        ).encode()
        + media
        + f"\r\n--{boundary}--\r\n".encode()
    )
    multipart = httpx.post(
        gateway.url + "/upload/v1beta/files",
        headers={
            "x-goog-upload-protocol": "multipart",
            "content-type": f"multipart/related; boundary={boundary}",
        },
        content=body,
    )
    assert multipart.status_code == 200, multipart.text
    file = multipart.json()["file"]
    assert file["displayName"] == "picture" and file["sizeBytes"] == str(len(media))
    raw = httpx.post(
        gateway.url + "/upload/v1beta/files",
        headers={"x-goog-upload-protocol": "raw", "content-type": "text/plain"},
        content=b"just text",
    )
    assert raw.status_code == 200, raw.text
    for uploaded in (file, raw.json()["file"]):
        known = affinity(gateway).owners.known(uploaded["name"])
        assert known is not None
        assert known.credential_id == credential_id("api_key", owner_key(fake, uploaded["name"]))


def test_every_call_naming_a_file_lands_on_its_owner_while_the_rest_balance(
    gateway: RunningGateway, fake: FakeState, client: httpx.Client
) -> None:
    file = upload(gateway.url, b"a short story about herons " * 20)
    owner = owner_key(fake, file["name"])
    calls = [
        (GEN, with_file(file)),
        (GEN, with_file(file, snake=True)),
        (f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", with_file(file)),
        (f"/v1beta/models/{MODEL}:countTokens", with_file(file)),
        (
            f"/v1beta/models/{MODEL}:countTokens",
            {"generateContentRequest": {"model": f"models/{MODEL}", **with_file(file)}},
        ),
        (f"/v1/models/{MODEL}:generateContent", with_file(file)),
    ]
    plain_keys = []
    for round_ in range(3):
        for path, body in calls:
            response = client.post(path, json=body)
            assert response.status_code == 200, response.text
            assert fake.calls[-1].key == owner, (round_, path)
            assert response.headers["x-gateway-credential"] == mask_secret(owner)
            plain = client.post(GEN, json=PLAIN)
            assert plain.status_code == 200
            plain_keys.append(fake.calls[-1].key)
    assert set(plain_keys) == set(KEYS)  # everything else still spreads over every key


def test_openai_chat_file_parts_go_to_the_owner(gateway: RunningGateway, fake: FakeState) -> None:
    file = upload(gateway.url, b"%PDF-1.4 tiny", mime="application/pdf", name="paper.pdf")
    owner = owner_key(fake, file["name"])
    for _ in range(4):
        response = httpx.post(
            gateway.url + "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "Summarise the paper"},
                            {"type": "file", "file": {"file_id": file["name"], "filename": "paper.pdf"}},
                        ],
                    }
                ],
            },
        )
        assert response.status_code == 200, response.text
        assert fake.calls[-1].key == owner


def test_owner_cooling_down_is_a_clear_429_not_a_403_from_another_key(
    gateway: RunningGateway, fake: FakeState, client: httpx.Client
) -> None:
    file = upload(gateway.url, b"quota story")
    owner = owner_key(fake, file["name"])
    fake.add_fault(owner, "429", model=MODEL, count=1, retry_delay="30s")
    first = client.post(GEN, json=with_file(file))
    assert first.status_code == 429, first.text
    assert 1 <= int(first.headers["retry-after"]) <= 30
    assert [c.key for c in fake.calls if c.method == "generateContent"] == [owner]  # no other key tried
    second = client.post(GEN, json=with_file(file))
    assert second.status_code == 429
    error = second.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert file["name"] in error["message"] and "rate limited" in error["message"]
    assert 25 <= int(second.headers["retry-after"]) <= 30
    assert len([c for c in fake.calls if c.method == "generateContent"]) == 1  # answered without a call
    assert client.post(GEN, json=PLAIN).status_code == 200  # calls naming nothing still flow


def upload_with_only(running: RunningGateway, key: str, data: bytes) -> dict:
    """Upload while every other key is switched off, so the file lands in `key`'s project."""
    pool = running.gateway.pool
    others = [credential_id("api_key", k) for k in KEYS if k != key]
    for other in others:
        pool.set_enabled(other, False)
    try:
        return upload(running.url, data)
    finally:
        for other in others:
            pool.set_enabled(other, True)


def test_files_of_two_projects_in_one_call_are_refused(gateway: RunningGateway, fake: FakeState) -> None:
    first = upload_with_only(gateway, KEYS[0], b"first")
    second = upload_with_only(gateway, KEYS[1], b"second")
    assert owner_key(fake, first["name"]) != owner_key(fake, second["name"])
    body = with_file(first)
    body["contents"][0]["parts"].append({"fileData": {"fileUri": second["uri"]}})
    before = len(fake.calls)
    response = httpx.post(gateway.url + GEN, json=body)
    assert response.status_code == 400
    assert first["name"] in response.json()["error"]["message"]
    assert len(fake.calls) == before  # refused before any key was spent


def fake_upload(fake_url: str, key: str, name: str) -> dict:
    """A file put straight into a key's project, behind the gateway's back."""
    return upload(fake_url, name.encode() * 10, name=name, **{"x-goog-api-key": key})


def test_listing_merges_every_key_with_a_combined_page_token(
    gateway: RunningGateway, fake: FakeState, fake_url: str
) -> None:
    expected = {fake_upload(fake_url, key, f"{key[-4:]}-{i}")["name"] for key in KEYS for i in range(3)}
    expected.add(upload(gateway.url, b"via the gateway")["name"])
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"pageSize": "2", **({"pageToken": token} if token else {})}
        page = httpx.get(gateway.url + "/v1beta/files", params=params).json()
        seen += [f["name"] for f in page.get("files", [])]
        assert len(page.get("files", [])) <= 2
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            break
    assert sorted(seen) == sorted(expected) and pages >= 5
    # A listing teaches ownership: a file never uploaded through the gateway now routes to its key.
    foreign = next(n for n in expected if owner_key(fake, n) == KEYS[2])
    known = affinity(gateway).owners.known(foreign)
    assert known is not None and known.credential_id == credential_id("api_key", KEYS[2])
    assert httpx.get(gateway.url + "/v1beta/files", params={"pageToken": "garbage"}).status_code == 400


def test_get_and_delete_go_to_the_owner_and_find_unknown_files(
    gateway: RunningGateway, fake: FakeState, fake_url: str
) -> None:
    file = fake_upload(fake_url, KEYS[2], "elsewhere")
    got = httpx.get(f"{gateway.url}/v1beta/{file['name']}")
    assert got.status_code == 200, got.text
    assert got.json()["name"] == file["name"]
    assert fake.calls[-1].key == KEYS[2]  # found by asking the keys in turn
    before = len(fake.calls)
    again = httpx.get(f"{gateway.url}/v1beta/{file['name']}")
    assert again.status_code == 200 and [c.key for c in fake.calls[before:]] == [KEYS[2]]  # remembered
    deleted = httpx.delete(f"{gateway.url}/v1beta/{file['name']}")
    assert deleted.status_code == 200 and deleted.json() == {}
    assert fake.calls[-1].key == KEYS[2] and fake.calls[-1].method == "deleteFile"
    gone = httpx.get(f"{gateway.url}/v1beta/{file['name']}")
    assert gone.status_code == 403 and gone.json()["error"]["status"] == "PERMISSION_DENIED"
    assert affinity(gateway).owners.known(file["name"]) is None


def test_affinity_survives_a_restart(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory() as first:
        file = upload(first.url, b"remember me across restarts")
    owner = owner_key(fake, file["name"])
    with gateway_factory() as second:
        assert affinity(second).owners.known(file["name"]) is not None  # loaded from the store
        for _ in range(6):
            response = httpx.post(second.url + GEN, json=with_file(file))
            assert response.status_code == 200, response.text
            assert fake.calls[-1].key == owner

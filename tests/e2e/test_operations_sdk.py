"""google-genai's `client.operations` against the gateway, served by the fake upstream.

A long-running operation lives in the project of the key that started it (the fake answers 403
on any other), so every poll, cancel and delete must land there. Veo's REST call
`models/{m}:predictLongRunning` starts one (google-genai 3.x sends `generate_videos` in Vertex
mode only, as it does Imagen) and `client.operations.get` polls `models/{m}/operations/{id}`;
Google's generic `operations/{id}` is reached the same way.
"""

from __future__ import annotations

import httpx
from google.genai import types

from gemini_gateway.affinity.refs import file_name
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.fake_upstream.operations import StoredOperation
from tests.conftest import KEYS, RunningGateway
from tests.e2e.genai_helpers import client, owner

VEO = "veo-3.0-generate-001"
CLIENT = {"x-goog-api-key": "any-client-token"}


def start_video(gateway: RunningGateway, prompt: str) -> types.GenerateVideosOperation:
    """What a REST client posts to start a Veo video, read back as the SDK's operation."""
    url = f"{gateway.url}/v1beta/models/{VEO}:predictLongRunning"
    started = httpx.post(url, json={"instances": [{"prompt": prompt}]}, headers=CLIENT)
    assert started.status_code == 200, started.text
    return types.GenerateVideosOperation(name=started.json()["name"])


def test_videos_start_balanced_and_are_polled_and_downloaded_on_their_key(
    gateway: RunningGateway, fake: FakeState
) -> None:
    sdk = client(gateway.url)
    operations = [start_video(gateway, f"A heron, take {i}") for i in range(len(KEYS))]
    owners = {o.name: owner(fake, o.name) for o in operations}
    assert set(owners.values()) == set(KEYS)  # starting balances
    for operation in operations:
        assert (
            operation.name and operation.name.startswith(f"models/{VEO}/operations/") and not operation.done
        )
        while not operation.done:
            operation = sdk.operations.get(operation)
            assert fake.calls[-1].key == owners[operation.name] and fake.calls[-1].method == "getOperation"
        assert operation.response and operation.response.generated_videos
        video = operation.response.generated_videos[0].video
        assert video and video.uri
        # The SDK reads a file name out of https uris only; the fake's are http (loopback).
        data = sdk.files.download(file=file_name(video.uri.partition(":download")[0]) or "")
        assert fake.calls[-1].key == owners[operation.name] and fake.calls[-1].method == "downloadFile"
        assert data.startswith(b"\x00\x00\x00\x18ftyp") and b"A heron" in data


def test_a_generic_operation_is_found_once_then_pinned_cancelled_and_deleted(
    gateway: RunningGateway, fake: FakeState
) -> None:
    """One the gateway never saw started is found by asking each key; later calls go straight there."""
    sdk = client(gateway.url)
    name = "operations/tuning-7"
    home = KEYS[-1]
    fake.projects.project(home).operations[name] = StoredOperation(name, {"state": "RUNNING"}, polls_left=3)
    first = sdk.operations.get(types.GenerateVideosOperation(name=name))
    assert first.name == name and not first.done and fake.calls[-1].key == home
    found = len(fake.calls)
    assert sdk.operations.get(first).name == name
    assert [c.key for c in fake.calls[found:]] == [home]  # no search the second time
    base = f"{gateway.url}/v1beta/{name}"
    listed = httpx.get(f"{gateway.url}/v1beta/operations", headers=CLIENT).json()
    assert [o["name"] for o in listed["operations"]] == [name]
    cancelled = httpx.post(f"{base}:cancel", headers=CLIENT)
    assert cancelled.status_code == 200 and fake.calls[-1].key == home
    assert fake.calls[-1].method == "cancelOperation"
    assert httpx.get(base, headers=CLIENT).json()["error"]["code"] == 1  # cancelled, as Google says
    assert httpx.delete(base, headers=CLIENT).status_code == 200 and fake.calls[-1].key == home
    gone = httpx.get(base, headers=CLIENT)
    assert gone.status_code == 403 and gone.json()["error"]["status"] == "PERMISSION_DENIED"
    bad = httpx.get(f"{gateway.url}/v1beta/operations/bad%20id", headers=CLIENT)
    assert bad.status_code == 400


def test_a_cooling_owner_answers_429_naming_the_operation(gateway: RunningGateway, fake: FakeState) -> None:
    operation = start_video(gateway, "An egret")
    key = owner(fake, operation.name)
    fake.add_fault(key, "429", count=1, retry_delay="9s")
    url = f"{gateway.url}/v1beta/{operation.name}"
    answers = [httpx.get(url, headers=CLIENT) for _ in range(2)]
    for answer in answers:
        assert answer.status_code == 429 and 1 <= int(answer.headers["retry-after"]) <= 9
    assert str(operation.name) in answers[1].json()["error"]["message"]
    assert [c.key for c in fake.calls if c.method == "getOperation"] == [key]  # the second stayed home

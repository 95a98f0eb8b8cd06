"""cachedContents through the gateway over real HTTP: CRUD on the owner, merged listing, and the
affinity of generation that uses a cache."""

from __future__ import annotations

import time
from datetime import datetime

import httpx

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import credential_id
from tests.conftest import KEYS, RunningGateway
from tests.routes.test_files import GEN, MODEL, PLAIN, affinity, owner_key, upload, with_file

LONG_TEXT = "The heron stands in the shallows and waits for the fish to come. " * 120  # > 1024 tokens


def cache_body(**extra: object) -> dict:
    return {
        "model": f"models/{MODEL}",
        "contents": [{"role": "user", "parts": [{"text": LONG_TEXT}]}],
        "ttl": "300s",
        **extra,
    }


def create_cache(base: str, **extra: object) -> dict:
    response = httpx.post(f"{base}/v1beta/cachedContents", json=cache_body(**extra))
    assert response.status_code == 200, response.text
    return response.json()


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_create_get_patch_delete_on_the_owner(gateway: RunningGateway, fake: FakeState) -> None:
    cache = create_cache(gateway.url, displayName="herons")
    name = cache["name"]
    owner = owner_key(fake, name)
    assert cache["usageMetadata"]["totalTokenCount"] >= 1024 and cache["displayName"] == "herons"
    known = affinity(gateway).owners.known(name)
    assert known is not None and known.credential_id == credential_id("api_key", owner)
    for _ in range(3):
        got = httpx.get(f"{gateway.url}/v1beta/{name}")
        assert got.status_code == 200 and got.json()["name"] == name
        assert fake.calls[-1].key == owner
    patched = httpx.patch(f"{gateway.url}/v1beta/{name}", params={"updateMask": "ttl"}, json={"ttl": "3600s"})
    assert patched.status_code == 200, patched.text
    assert fake.calls[-1].key == owner and fake.calls[-1].method == "updateCachedContent"
    assert seconds(patched.json()["expireTime"]) > time.time() + 3000
    refreshed = affinity(gateway).owners.known(name)
    assert refreshed is not None and refreshed.expires_at is not None
    assert refreshed.expires_at > time.time() + 3000  # the owner row follows the new expiry
    wrong = httpx.patch(
        f"{gateway.url}/v1beta/{name}", params={"updateMask": "displayName"}, json={"displayName": "x"}
    )
    assert wrong.status_code == 400  # Google's own answer, passed through
    deleted = httpx.delete(f"{gateway.url}/v1beta/{name}")
    assert deleted.status_code == 200 and fake.calls[-1].key == owner
    assert httpx.get(f"{gateway.url}/v1beta/{name}").status_code == 403
    assert affinity(gateway).owners.known(name) is None


def test_generation_with_a_cache_lands_on_its_owner(gateway: RunningGateway, fake: FakeState) -> None:
    cache = create_cache(gateway.url)
    owner = owner_key(fake, cache["name"])
    bodies = [
        {
            "contents": [{"role": "user", "parts": [{"text": "Why does it wait?"}]}],
            "cachedContent": cache["name"],
        },
        {"contents": [{"role": "user", "parts": [{"text": "And then?"}]}], "cached_content": cache["name"]},
    ]
    for _ in range(3):
        for body in bodies:
            response = httpx.post(gateway.url + GEN, json=body)
            assert response.status_code == 200, response.text
            assert fake.calls[-1].key == owner
    others = []
    for _ in range(len(KEYS)):
        assert httpx.post(gateway.url + GEN, json=PLAIN).status_code == 200
        others.append(fake.calls[-1].key)
    streamed = httpx.post(
        f"{gateway.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", json=bodies[0]
    )
    assert streamed.status_code == 200 and fake.calls[-1].key == owner
    assert set(others) == set(KEYS)  # calls naming no cache still spread


def test_a_cache_naming_a_file_is_created_with_the_file_owner(
    gateway: RunningGateway, fake: FakeState
) -> None:
    file = upload(gateway.url, b"a transcript " * 50)
    owner = owner_key(fake, file["name"])
    for _ in range(3):
        body = cache_body()
        body["contents"][0]["parts"].append(with_file(file)["contents"][0]["parts"][1])
        response = httpx.post(f"{gateway.url}/v1beta/cachedContents", json=body)
        assert response.status_code == 200, response.text
        assert owner_key(fake, response.json()["name"]) == owner


def test_owner_cooling_down_answers_429_for_its_caches(gateway: RunningGateway, fake: FakeState) -> None:
    cache = create_cache(gateway.url)
    owner = owner_key(fake, cache["name"])
    fake.add_fault(owner, "429", model=MODEL, count=1, retry_delay="20s")
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "cachedContent": cache["name"]}
    assert httpx.post(gateway.url + GEN, json=body).status_code == 429
    again = httpx.post(gateway.url + GEN, json=body)
    assert again.status_code == 429 and cache["name"] in again.json()["error"]["message"]
    assert 15 <= int(again.headers["retry-after"]) <= 20


def test_listing_merges_the_caches_of_every_key(
    gateway: RunningGateway, fake: FakeState, fake_url: str
) -> None:
    expected = set()
    for key in KEYS:
        for _ in range(2):
            direct = httpx.post(
                f"{fake_url}/v1beta/cachedContents", json=cache_body(), headers={"x-goog-api-key": key}
            )
            assert direct.status_code == 200, direct.text
            expected.add(direct.json()["name"])
    seen: list[str] = []
    token = None
    while True:
        params = {"pageSize": "4", **({"pageToken": token} if token else {})}
        page = httpx.get(f"{gateway.url}/v1beta/cachedContents", params=params)
        assert page.status_code == 200, page.text
        seen += [c["name"] for c in page.json().get("cachedContents", [])]
        token = page.json().get("nextPageToken")
        if not token:
            break
    assert sorted(seen) == sorted(expected)
    name = next(n for n in expected if owner_key(fake, n) == KEYS[1])
    known = affinity(gateway).owners.known(name)
    assert known is not None and known.credential_id == credential_id("api_key", KEYS[1])

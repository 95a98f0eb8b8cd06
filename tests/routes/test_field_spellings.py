"""Every native route in both API versions and both field spellings, over raw HTTP.

Google's proto3 JSON parser takes a request field by its JSON name (lowerCamelCase) or its proto
name (snake_case), and every resource route is served under /v1 as well as /v1beta (google-genai
defaults to v1). The gateway reads some of those fields itself (what a call names decides which
key serves it; page sizes; nested countTokens requests), so each of them is tried here in both
spellings on both versions: same answer, same key, and the version passed on unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS, RunningGateway
from tests.routes.test_caches import cache_body
from tests.routes.test_files import MODEL, owner_key, upload

VERSIONS = ("v1", "v1beta")
SPELLINGS = ("camel", "snake")
Spell = Callable[[str, str], str]


def spelling(kind: str) -> Spell:
    """`pick(camel, snake)` for one spelling."""
    return (lambda camel, snake: camel) if kind == "camel" else (lambda camel, snake: snake)


@pytest.fixture
def http(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


def generate(http: httpx.Client, version: str, body: dict[str, Any]) -> httpx.Response:
    return http.post(f"/{version}/models/{MODEL}:generateContent", json=body)


def text(words: str) -> list[dict[str, Any]]:
    return [{"role": "user", "parts": [{"text": words}]}]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", SPELLINGS)
def test_generation_config_fields_in_both_spellings(
    http: httpx.Client, fake: FakeState, version: str, kind: str
) -> None:
    pick = spelling(kind)
    body = {
        "contents": text("Name a wading bird"),
        pick("systemInstruction", "system_instruction"): {"parts": [{"text": "Answer briefly."}]},
        pick("generationConfig", "generation_config"): {
            pick("maxOutputTokens", "max_output_tokens"): 64,
            pick("responseMimeType", "response_mime_type"): "text/plain",
            pick("thinkingConfig", "thinking_config"): {pick("thinkingBudget", "thinking_budget"): 0},
        },
        pick("safetySettings", "safety_settings"): [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
        ],
        pick("toolConfig", "tool_config"): {
            pick("functionCallingConfig", "function_calling_config"): {"mode": "AUTO"}
        },
    }
    answer = generate(http, version, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["candidates"][0]["content"]["parts"][0]["text"]
    assert fake.calls[-1].version == version
    count_body = {
        pick("generateContentRequest", "generate_content_request"): {"model": f"models/{MODEL}", **body}
    }
    counted = http.post(f"/{version}/models/{MODEL}:countTokens", json=count_body)
    assert counted.status_code == 200, counted.text
    assert counted.json()["totalTokens"] > 0 and fake.calls[-1].version == version


def test_what_a_generation_names_routes_it_in_both_spellings(
    gateway: RunningGateway, http: httpx.Client, fake: FakeState
) -> None:
    """A file, a cache and a File Search store named in either spelling pin the call to their key."""
    file = upload(gateway.url, b"Herons wait in the shallows. " * 20)
    cache = http.post("/v1beta/cachedContents", json=cache_body())
    assert cache.status_code == 200, cache.text
    store = http.post("/v1beta/fileSearchStores", json={"displayName": "notes"})
    assert store.status_code == 200, store.text
    names = {"file": file["name"], "cache": cache.json()["name"], "store": store.json()["name"]}
    owners = {what: owner_key(fake, name) for what, name in names.items()}

    def named(what: str, pick: Spell) -> dict[str, Any]:
        body: dict[str, Any] = {"contents": text("What do you know?")}
        if what == "file":
            part = {
                pick("fileData", "file_data"): {
                    pick("fileUri", "file_uri"): file["uri"],
                    pick("mimeType", "mime_type"): "text/plain",
                }
            }
            body["contents"][0]["parts"].append(part)
        elif what == "cache":
            body[pick("cachedContent", "cached_content")] = names["cache"]
        else:
            search = {pick("fileSearchStoreNames", "file_search_store_names"): [names["store"]]}
            body["tools"] = [{pick("fileSearch", "file_search"): search}]
        return body

    for what in names:
        for version in VERSIONS:
            for kind in SPELLINGS:
                served = []
                for _ in range(len(KEYS)):
                    answer = generate(http, version, named(what, spelling(kind)))
                    assert answer.status_code == 200, (what, version, kind, answer.text)
                    served.append((fake.calls[-1].key, fake.calls[-1].version))
                assert served == [(owners[what], version)] * len(KEYS), (what, version, kind)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", SPELLINGS)
def test_resource_bodies_in_both_spellings(
    gateway: RunningGateway, http: httpx.Client, fake: FakeState, version: str, kind: str
) -> None:
    pick = spelling(kind)
    store = http.post(
        f"/{version}/fileSearchStores", json={pick("displayName", "display_name"): "Egret notes"}
    )
    assert store.status_code == 200 and store.json()["displayName"] == "Egret notes", store.text
    assert fake.calls[-1].version == version
    cache = http.post(
        f"/{version}/cachedContents", json={**cache_body(), pick("displayName", "display_name"): "c"}
    )
    assert cache.status_code == 200 and cache.json()["displayName"] == "c", cache.text

    inline = {
        "batch": {
            pick("displayName", "display_name"): "inline batch",
            pick("inputConfig", "input_config"): {
                "requests": {"requests": [{"request": {"contents": text("Hi")}, "metadata": {"key": "one"}}]}
            },
        }
    }
    batch = http.post(f"/{version}/models/{MODEL}:batchGenerateContent", json=inline)
    assert batch.status_code == 200, batch.text
    assert batch.json()["name"].startswith("batches/") and fake.calls[-1].version == version

    file = upload(gateway.url, b'{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n')
    from_file = {
        "batch": {pick("inputConfig", "input_config"): {pick("fileName", "file_name"): file["name"]}}
    }
    for _ in range(2):  # pinned to the input file's key every time
        batch = http.post(f"/{version}/models/{MODEL}:batchGenerateContent", json=from_file)
        assert batch.status_code == 200, batch.text
        assert fake.calls[-1].key == owner_key(fake, file["name"])

    store_name = store.json()["name"]
    store_key = owner_key(fake, store_name)
    imported = http.post(
        f"/{version}/{store_name}:importFile", json={pick("fileName", "file_name"): file["name"]}
    )
    # Same project: imported; two projects: Google refuses a file it cannot see from there.
    same = store_key == owner_key(fake, file["name"])
    assert imported.status_code in ((200,) if same else (400, 403)), imported.text
    assert fake.calls[-1].key == store_key


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("param", ["pageSize", "page_size"])
def test_list_page_size_in_both_spellings(
    gateway: RunningGateway, http: httpx.Client, fake: FakeState, version: str, param: str
) -> None:
    for i in range(3):
        assert http.post(f"/{version}/fileSearchStores", json={"displayName": f"s{i}"}).status_code == 200
        upload(gateway.url, b"x" * 10, name=f"f{i}")
    for collection, items in (
        ("fileSearchStores", "fileSearchStores"),
        ("files", "files"),
        ("models", "models"),
    ):
        first = http.get(f"/{version}/{collection}", params={param: 1})
        assert first.status_code == 200, (collection, first.text)
        assert len(first.json()[items]) == 1 and first.json().get("nextPageToken"), (collection, first.json())
        token = "page_token" if param == "page_size" else "pageToken"
        second = http.get(f"/{version}/{collection}", params={param: 1, token: first.json()["nextPageToken"]})
        assert second.status_code == 200, (collection, second.text)
        assert second.json()[items] and second.json()[items] != first.json()[items], collection
    for collection in ("batches", "operations", "cachedContents"):
        listed = http.get(f"/{version}/{collection}", params={param: 5})
        assert listed.status_code == 200, (collection, listed.text)

"""Listings merged over credentials when some of them cannot answer: google-genai's pagers read
every healthy key's files and cached contents, a key that errors or cools down is stepped over,
and only a page no key could answer is an error."""

from __future__ import annotations

import logging

import httpx
import pytest
from google import genai

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS, RunningGateway
from tests.routes.test_caches import cache_body
from tests.routes.test_files import fake_upload

BROKEN = KEYS[1]


def sdk(url: str) -> genai.Client:
    return genai.Client(api_key="any-client-token", http_options={"base_url": url, "api_version": "v1beta"})


def files_by_key(fake_url: str) -> dict[str, set[str]]:
    """Three files put straight into each key's project."""
    return {key: {fake_upload(fake_url, key, f"{key[-4:]}-{i}")["name"] for i in range(3)} for key in KEYS}


def caches_by_key(fake_url: str) -> dict[str, set[str]]:
    made: dict[str, set[str]] = {}
    for key in KEYS:
        for _ in range(2):
            response = httpx.post(
                f"{fake_url}/v1beta/cachedContents", headers={"x-goog-api-key": key}, json=cache_body()
            )
            assert response.status_code == 200, response.text
            made.setdefault(key, set()).add(response.json()["name"])
    return made


def break_key(fake_url: str, key: str, fault: str, **options: object) -> None:
    """Script the fake through its control API: every call with `key` fails until reset."""
    added = httpx.post(f"{fake_url}/_fake/faults", json={"key": key, "fault": fault, **options})
    assert added.status_code == 200, added.text


def list_calls(fake: FakeState, method: str) -> list[str | None]:
    return [c.key for c in fake.calls if c.method == method]


@pytest.mark.parametrize("page_size", [2, 100])
def test_files_list_skips_a_key_that_errors(
    gateway: RunningGateway,
    fake: FakeState,
    fake_url: str,
    page_size: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    owned = files_by_key(fake_url)
    break_key(fake_url, BROKEN, "500")
    client = sdk(gateway.url)  # held: a collected client closes its connections mid-pager
    with caplog.at_level(logging.WARNING, logger="gemini_gateway.affinity"):
        listed = [f.name for f in client.files.list(config={"page_size": page_size})]
    assert sorted(listed) == sorted(owned[KEYS[0]] | owned[KEYS[2]])  # each once, across pages
    assert BROKEN in list_calls(fake, "listFiles")  # asked, failed, stepped over
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped and "500" in skipped[0]
    assert not any(BROKEN in r.getMessage() for r in caplog.records)  # labels are masked


def test_a_cooling_key_is_stepped_over_without_a_call(
    gateway: RunningGateway, fake: FakeState, fake_url: str
) -> None:
    owned = files_by_key(fake_url)
    break_key(fake_url, BROKEN, "429", count=1, retry_delay="60s")
    client = sdk(gateway.url)
    first = [f.name for f in client.files.list(config={"page_size": 2})]
    assert sorted(first) == sorted(owned[KEYS[0]] | owned[KEYS[2]])
    asked = len(list_calls(fake, "listFiles"))
    second = [f.name for f in client.files.list(config={"page_size": 2})]
    assert sorted(second) == sorted(first)
    assert BROKEN not in list_calls(fake, "listFiles")[asked:]  # cooling down: not even asked
    # A page token naming the cooling key continues with the next one.
    page = httpx.get(f"{gateway.url}/v1beta/files", params={"pageSize": "3"}).json()
    rest = httpx.get(f"{gateway.url}/v1beta/files", params={"pageToken": page["nextPageToken"]}).json()
    assert sorted(f["name"] for f in page["files"] + rest["files"]) == sorted(first)


def test_caches_list_skips_a_key_that_errors(gateway: RunningGateway, fake: FakeState, fake_url: str) -> None:
    owned = caches_by_key(fake_url)
    break_key(fake_url, BROKEN, "503")
    client = sdk(gateway.url)
    listed = [c.name for c in client.caches.list(config={"page_size": 1})]
    assert sorted(listed) == sorted(owned[KEYS[0]] | owned[KEYS[2]])
    assert BROKEN in list_calls(fake, "listCachedContents")


def test_a_page_no_key_can_answer_is_an_error(
    gateway: RunningGateway, fake: FakeState, fake_url: str
) -> None:
    files_by_key(fake_url)
    for key in KEYS:
        break_key(fake_url, key, "503", count=1)
    failed = httpx.get(f"{gateway.url}/v1beta/files")
    assert failed.status_code == 503 and failed.json()["error"]["status"] == "UNAVAILABLE"
    for key in KEYS:
        break_key(fake_url, key, "429", count=1, retry_delay="60s")
    limited = httpx.get(f"{gateway.url}/v1beta/cachedContents")
    assert limited.status_code == 429, limited.text
    cooling = httpx.get(f"{gateway.url}/v1beta/cachedContents")  # every key cools: answered at once
    assert cooling.status_code == 429 and cooling.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert 1 <= int(cooling.headers["retry-after"]) <= 60
    assert len(list_calls(fake, "listCachedContents")) == len(KEYS)
    assert httpx.get(f"{gateway.url}/v1beta/files").status_code == 200  # files cool down apart

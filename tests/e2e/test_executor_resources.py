"""Files API and cached contents through executor tabs, in real headless Chromium, with the
official google-genai SDK as the client and no API key in the gateway.

A file lives in the project of the account that uploaded it: the gateway remembers which tab took
it and sends every later call naming it to that tab (the fake upstream refuses a file of another
project, as Google does). Both clients are covered: the key page (/executor, its own fetch) and
the Build app (the environment's client, tests/e2e/build_environment.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from google import genai
from google.genai import types

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.browser_tabs import CHROMIUM, executor_settings, serve_gateway
from tests.e2e.build_environment import ENVIRONMENT_KEY, serve_build_environment

TOKEN = "resource-executor-token-7e20"
MODEL = "gemini-2.5-flash"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LONG_TEXT = "The lighthouse keeper logged every passing ship by name. " * 120

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture
def settings(tmp_path: Path, fake_url: str) -> Settings:
    # No API key: every file and cache has to go through a tab
    return executor_settings(tmp_path, fake_url, TOKEN)


def sdk_for(url: str) -> genai.Client:
    return genai.Client(api_key="client", http_options={"base_url": url, "api_version": "v1beta"})


def open_page(browser: Any, url: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(url)
    page.wait_for_function("() => window.executor && window.executor.status.state === 'connected'")
    return page


def test_uploads_and_caches_live_with_the_tab_that_made_them(
    settings: Settings, browser: Any, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    with serve_gateway(settings) as url:
        pages = {}
        for name in ("tab-a", "tab-b"):
            query = {"token": TOKEN, "endpoint": fake_url, "key": f"key-{name}", "name": name}
            pages[name] = open_page(browser, f"{url}/executor?{urlencode(query)}")
        sdk = sdk_for(url)
        notes = tmp_path / "notes.txt"
        notes.write_bytes(b"Puffins nest in burrows on cliff tops. " * 2000)  # 78 kB: several frames

        file = sdk.files.upload(file=notes, config={"display_name": "notes"})
        assert file.name and file.display_name == "notes" and file.size_bytes == notes.stat().st_size
        owner_key = next(c.key for c in fake.calls if c.key)  # the tab that took the upload
        assert sdk.files.get(name=file.name).sha256_hash == file.sha256_hash
        cache = sdk.caches.create(
            model=MODEL, config=types.CreateCachedContentConfig(contents=[file, LONG_TEXT], ttl="600s")
        )
        assert cache.name and cache.usage_metadata and cache.usage_metadata.total_token_count

        # Without the owner's tab every one of these would be refused half the time (other project).
        for i in range(3):
            answer = sdk.models.generate_content(model=MODEL, contents=[file, f"About the notes {i}"])
            assert answer.text
            cached = sdk.models.generate_content(
                model=MODEL,
                contents=f"Summarise {i}",
                config=types.GenerateContentConfig(cached_content=cache.name),
            )
            assert cached.text
        assert {c.key for c in fake.calls} == {owner_key}

        assert [f.name for f in sdk.files.list()] == [file.name]
        assert [c.name for c in sdk.caches.list()] == [cache.name]
        sdk.caches.update(name=cache.name, config=types.UpdateCachedContentConfig(ttl="1200s"))
        sdk.caches.delete(name=cache.name)
        sdk.files.delete(name=file.name)
        owner = "tab-a" if owner_key == "key-tab-a" else "tab-b"
        status = pages[owner].evaluate("() => ({...window.executor.status})")
        assert status["failed"] == 0 and status["served"] >= 12
        # Gone from its project: the gateway forgot the owner and every tab says it has no such file.
        missing = httpx.get(f"{url}/v1beta/{file.name}")
        assert missing.status_code in (403, 404)
        for page in pages.values():
            page.context.close()


def test_the_build_app_uploads_and_caches_with_the_environments_client(
    settings: Settings, browser: Any, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    with serve_gateway(settings) as url, serve_build_environment(url, fake_url) as app_url:
        page = open_page(browser, f"{app_url}?{urlencode({'token': TOKEN, 'name': 'build-a'})}")
        sdk = sdk_for(url)
        picture = tmp_path / "gannet.png"
        picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)

        file = sdk.files.upload(file=picture, config={"display_name": "gannet"})
        assert file.mime_type == "image/png" and file.size_bytes == picture.stat().st_size
        cache = sdk.caches.create(
            model=MODEL, config=types.CreateCachedContentConfig(contents=[file, LONG_TEXT])
        )
        answer = sdk.models.generate_content(model=MODEL, contents=[file, "What is in the picture?"])
        cached = sdk.models.generate_content(
            model=MODEL, contents="Summarise", config=types.GenerateContentConfig(cached_content=cache.name)
        )
        assert answer.text and cached.text
        assert [f.name for f in sdk.files.list()] == [file.name]
        sdk.files.delete(name=file.name)

        environment = page.evaluate("() => window.__buildEnvironment")
        assert "POST /upload/v1beta/files" in environment["calls"]  # the client's own upload
        assert "POST cachedContents" in environment["calls"]
        assert set(environment["apiKeys"]) == {"managed-by-ai-studio"}
        assert {c.key for c in fake.calls} == {ENVIRONMENT_KEY}
        pool = httpx.get(url + "/api/pool", headers=ADMIN).json()
        entry = next(c for c in pool["credentials"] if c["label"] == "build-a")
        assert entry["failures"] == 0
        page.context.close()

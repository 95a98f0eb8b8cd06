"""The executor as an AI Studio Build app, in real headless Chromium, serving every dialect
without an API key: the app runs in a stand-in of the Build environment whose `@google/genai`
reaches the fake upstream with the environment's access (tests/e2e/build_environment.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anthropic
import httpx
import openai
import pytest
from google import genai

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.browser_tabs import CHROMIUM, executor_settings, serve_gateway
from tests.e2e.build_environment import ENVIRONMENT_KEY, serve_build_environment

TOKEN = "build-app-executor-token-91c2"
MODEL = "gemini-2.5-flash"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture
def settings(tmp_path: Path, fake_url: str) -> Settings:
    # No API key: every answer has to come through the app
    return executor_settings(tmp_path, fake_url, TOKEN)


def test_the_build_app_serves_each_dialect_with_the_environments_client_and_no_key(
    settings: Settings, browser: Any, fake: FakeState, fake_url: str
) -> None:
    fake.config.stream_chunks = 4
    with serve_gateway(settings) as url, serve_build_environment(url, fake_url) as app_url:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{app_url}?{urlencode({'token': TOKEN, 'name': 'build-a'})}")
        page.wait_for_function("() => window.executor && window.executor.status.state === 'connected'")

        sdk = genai.Client(api_key="client", http_options={"base_url": url, "api_version": "v1beta"})
        streamed = "".join(
            c.text or "" for c in sdk.models.generate_content_stream(model=MODEL, contents="About puffins")
        )
        assert "puffins" in streamed.lower()
        unary = sdk.models.generate_content(
            model=MODEL,
            contents="About gannets",
            config={"system_instruction": "Be brief", "temperature": 0.2},
        )
        assert unary.text and "gannets" in unary.text.lower()
        counted = sdk.models.count_tokens(model=MODEL, contents="How many tokens is this")
        assert counted.total_tokens and counted.total_tokens > 0
        chat = openai.OpenAI(api_key="client", base_url=url + "/v1", max_retries=0)
        stream = chat.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Tell me about terns"}], stream=True
        )
        assert "terns" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices).lower()
        claude = anthropic.Anthropic(api_key="client", base_url=url, max_retries=0)
        message = claude.messages.create(
            model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "Tell me about petrels"}]
        )
        assert "petrels" in message.content[0].text.lower()  # type: ignore[union-attr]

        # Every call reached Gemini through the environment's client, with its access only: the
        # app gave the client no key (the environment holds it) and made no fetch of its own.
        environment = page.evaluate("() => window.__buildEnvironment")
        assert set(environment["apiKeys"]) == {"managed-by-ai-studio"}
        assert environment["calls"].count("streamGenerateContent") == 2
        assert {c.key for c in fake.calls} == {ENVIRONMENT_KEY} and len(fake.calls) == 5
        status = page.evaluate("() => ({...window.executor.status})")
        assert status["served"] == 5 and status["failed"] == 0

        # Google's refusals pass through the client unchanged and cool the app like a key.
        fake.add_fault(ENVIRONMENT_KEY, "429", count=1, retry_delay="30s")
        body = {"contents": [{"role": "user", "parts": [{"text": "About kites"}]}]}
        refused = httpx.post(f"{url}/v1beta/models/{MODEL}:generateContent", json=body)
        assert refused.status_code == 429 and refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        entry = next(c for c in httpx.get(url + "/api/pool", headers=ADMIN).json()["credentials"])
        assert entry["label"] == "build-a" and entry["client"].startswith("gemini-gateway-build-app/1")
        assert entry["cooldowns"][MODEL] > 0
        context.close()


def test_the_build_app_is_served_ready_to_import(settings: Settings) -> None:
    with serve_gateway(settings) as url:
        archive = zipfile.ZipFile(io.BytesIO(httpx.get(url + "/executor/build-app.zip").content))
        names = set(archive.namelist())
        assert names == {"index.html", "index.tsx", "metadata.json", "executor.js", "ui.js"}
        source = archive.read("index.tsx").decode()
        ws = url.replace("http", "ws") + "/ws/executor"
        assert f'const GATEWAY = "{ws}";' in source and 'from "@google/genai"' in source
        assert httpx.get(url + "/executor/build-app/secrets.txt").status_code == 404

"""Executor tabs in real headless Chromium serving the official SDKs through the gateway.

The gateway has no API keys here, so every answer must come through a tab: the page served at
/executor, configured by query parameters to call the fake upstream (which answers CORS) with
its own key. Each tab gets its own browser context, as separate browser profiles would be.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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

TOKEN = "browser-executor-token-4b1d"
MODEL = "gemini-2.5-flash"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test-browser.sh)"
)


@pytest.fixture
def settings(tmp_path: Path, fake_url: str) -> Settings:
    return executor_settings(tmp_path, fake_url, TOKEN)


class Tab:
    """One executor page in its own browser context."""

    def __init__(self, browser: Any, gateway: str, fake_url: str, name: str, **query: str) -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        params = {
            "token": TOKEN,
            "endpoint": fake_url,
            "key": f"key-{name}",
            "name": name,
            "concurrency": "6",
        }
        params.update(query)
        self.page.goto(f"{gateway}/executor?{urlencode(params)}")

    def status(self) -> dict[str, Any]:
        return self.page.evaluate("() => ({...window.executor.status})")  # type: ignore[no-any-return]

    def wait_for(self, condition: str, timeout: float = 60) -> None:
        self.page.wait_for_function(
            f"() => {{ const s = window.executor.status; return {condition}; }}", timeout=timeout * 1000
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tabs(browser: Any, fake_url: str) -> Iterator[Callable[..., Tab]]:
    opened: list[Tab] = []

    def open_tab(gateway: str, name: str, **query: str) -> Tab:
        tab = Tab(browser, gateway, fake_url, name, **query)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        with contextlib.suppress(Exception):
            tab.close()


def genai_client(url: str) -> genai.Client:
    return genai.Client(api_key="client", http_options={"base_url": url, "api_version": "v1beta"})


def test_two_tabs_serve_both_sdks_streaming(
    settings: Settings, tabs: Callable[..., Tab], fake: FakeState
) -> None:
    fake.config.stream_chunks = 5
    fake.config.chunk_delay_ms = 250  # a second from first to last: room for a busy machine below
    with serve_gateway(settings) as url:
        a, b = tabs(url, "tab-a"), tabs(url, "tab-b")
        a.wait_for("s.state === 'connected'")
        b.wait_for("s.state === 'connected'")
        sdk = genai_client(url)

        started = time.monotonic()
        first_at: float | None = None
        chunks = []
        for chunk in sdk.models.generate_content_stream(model=MODEL, contents="Stream about puffins"):
            first_at = first_at or time.monotonic() - started
            chunks.append(chunk)
        total = time.monotonic() - started
        assert len(chunks) >= 5 and "puffins" in "".join(c.text or "" for c in chunks).lower()
        assert first_at is not None and first_at < total - 0.3  # chunks arrive as the tab gets them

        fake.config.chunk_delay_ms = 20
        with ThreadPoolExecutor(8) as pool:
            texts = list(pool.map(lambda i: _genai_stream(sdk, f"Stream about gannets {i}"), range(8)))
        assert all("gannets" in text.lower() for text in texts)

        chat = openai.OpenAI(api_key="client", base_url=url + "/v1", max_retries=0)
        stream = chat.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Tell me about terns"}], stream=True
        )
        deltas = [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert len(deltas) >= 3 and "terns" in "".join(deltas).lower()
        claude = anthropic.Anthropic(api_key="client", base_url=url, max_retries=0)
        with claude.messages.stream(
            model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "Tell me about petrels"}]
        ) as events:
            pieces = list(events.text_stream)
        assert len(pieces) >= 3 and "petrels" in "".join(pieces).lower()
        unary = sdk.models.generate_content(model=MODEL, contents="One line about auks")
        assert unary.text and "auks" in unary.text.lower()

        served = a.status()["served"], b.status()["served"]
        assert sum(served) == 12 and min(served) >= 2  # least-busy spread the load over both tabs
        assert {c.key for c in fake.calls} == {"key-tab-a", "key-tab-b"}
        pool = {c["label"]: c for c in httpx.get(url + "/api/pool", headers=ADMIN).json()["credentials"]}
        assert pool["tab-a"]["kind"] == "executor" and pool["tab-a"]["tasks_served"] == served[0]


def _genai_stream(sdk: genai.Client, prompt: str) -> str:
    return "".join(c.text or "" for c in sdk.models.generate_content_stream(model=MODEL, contents=prompt))


def test_closing_a_tab_under_load_fails_only_streams_already_started(
    settings: Settings, tabs: Callable[..., Tab], fake: FakeState
) -> None:
    fake.config.stream_chunks = 10
    fake.config.chunk_delay_ms = 200
    with serve_gateway(settings) as url:
        a, b = tabs(url, "tab-a"), tabs(url, "tab-b")
        a.wait_for("s.state === 'connected'")
        b.wait_for("s.state === 'connected'")
        sdk = genai_client(url)
        outcomes: list[tuple[str, bool, str | None]] = []  # (phase, got a first chunk, error)
        firsts: list[str] = []  # the phase of each call, once its first chunk arrived

        def call(phase: str) -> None:
            got_first = False
            try:
                for _ in sdk.models.generate_content_stream(model=MODEL, contents="Stream about shags"):
                    if not got_first:
                        firsts.append(phase)
                    got_first = True
                outcomes.append((phase, got_first, None))
            except Exception as exc:
                outcomes.append((phase, got_first, f"{type(exc).__name__}: {exc}"))

        with ThreadPoolExecutor(8) as pool:
            # Phase 1: streams that have started on both tabs.
            started = [pool.submit(call, "streaming") for _ in range(4)]
            _wait(lambda: firsts.count("streaming") == 4)  # past the first chunk of each
            # Phase 2: calls tab A has taken but not yet answered (its upstream hangs).
            fake.add_fault("key-tab-a", "hang")
            waiting = [pool.submit(call, "waiting") for _ in range(4)]
            _wait(lambda: len(fake.calls) == 8)
            a_waiting = sum(1 for c in fake.calls[4:] if c.key == "key-tab-a")
            assert a_waiting >= 1, "tab A should hold calls that have not started streaming"
            a.close()
            for future in [*started, *waiting]:
                future.result(timeout=60)

    failures = [o for o in outcomes if o[2] is not None]
    assert all(got_first for _, got_first, _ in failures), failures  # nothing failed before streaming
    assert all(error is None for phase, _, error in outcomes if phase == "waiting"), outcomes
    assert len(fake.calls) == 8 + a_waiting  # each waiting call of tab A was retried once, on tab B
    assert b.status()["served"] == sum(1 for c in fake.calls if c.key == "key-tab-b")


def test_a_tab_reconnects_after_a_gateway_restart_and_serves_again(
    settings: Settings, tabs: Callable[..., Tab], fake: FakeState
) -> None:
    with serve_gateway(settings) as url:
        port = int(url.rsplit(":", 1)[1])
        tab = tabs(url, "phoenix")
        tab.wait_for("s.state === 'connected'")
    tab.wait_for("s.state === 'disconnected'")
    assert "connection closed (code" in tab.status()["lastError"]
    with serve_gateway(settings, port) as url:
        tab.wait_for("s.state === 'connected' && s.connects === 2")
        sdk = genai_client(url)  # kept in a variable: a dropped Client closes its HTTP client
        response = sdk.models.generate_content(model=MODEL, contents="Risen again, about rails")
        assert response.text and "rails" in response.text.lower()
    assert tab.status()["served"] == 1 and [c.key for c in fake.calls] == ["key-phoenix"]


def test_a_reloaded_tab_keeps_its_cooldown_then_serves_again(
    settings: Settings, tabs: Callable[..., Tab], fake: FakeState
) -> None:
    fake.add_fault("key-kite", "429", count=1, retry_delay="4s")
    body = {"contents": [{"role": "user", "parts": [{"text": "About kites"}]}]}
    path = f"/v1beta/models/{MODEL}:generateContent"
    with serve_gateway(settings) as url:
        tab = tabs(url, "kite")
        tab.wait_for("s.state === 'connected'")
        assert httpx.post(url + path, json=body).status_code == 429
        tab.page.reload()
        tab.page.wait_for_function("() => window.executor && window.executor.status.state === 'connected'")
        assert tab.status()["name"] == "kite" and tab.status()["connects"] == 1  # a new page
        entry = _pool(url)["kite"]
        assert entry["cooldowns"][MODEL] > 0 and entry["failures"] == 1  # the reload kept them
        cooling = httpx.post(url + path, json=body)
        assert cooling.status_code == 429 and len(fake.calls) == 1  # the tab was not asked
        time.sleep(max(0.0, float(cooling.headers["retry-after"])))
        served = httpx.post(url + path, json=body)
        assert served.status_code == 200 and "kites" in served.text.lower()
        assert tab.status()["served"] == 1 and _pool(url)["kite"]["successes"] == 1


def _pool(url: str) -> dict[str, dict[str, Any]]:
    return {c["label"]: c for c in httpx.get(url + "/api/pool", headers=ADMIN).json()["credentials"]}


def test_client_disconnect_reaches_the_tab_as_cancel(
    settings: Settings, tabs: Callable[..., Tab], fake: FakeState
) -> None:
    fake.config.stream_chunks = 30
    fake.config.chunk_delay_ms = 100
    with serve_gateway(settings) as url:
        tab = tabs(url, "tab-c")
        tab.wait_for("s.state === 'connected'")
        body = {"contents": [{"role": "user", "parts": [{"text": "A long story about skuas"}]}]}
        path = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
        with httpx.stream("POST", url + path, json=body) as response:
            next(response.iter_bytes())  # one event, then hang up
        tab.wait_for("s.cancelled === 1 && s.inFlight === 0")
        pool = httpx.get(url + "/api/pool", headers=ADMIN).json()["credentials"]
        assert pool[0]["tasks_cancelled"] == 1 and pool[0]["in_flight"] == 0
        assert tab.status()["served"] == 0 and tab.status()["failed"] == 0


def test_a_wrong_token_is_shown_and_not_retried(settings: Settings, tabs: Callable[..., Tab]) -> None:
    with serve_gateway(settings) as url:
        tab = tabs(url, "tab-x", token="not-the-token")
        tab.wait_for("s.state === 'refused'")
        assert "not valid" in tab.status()["lastError"]
        assert tab.page.text_content("[data-status=state]") == "refused"
        assert "token=" not in tab.page.url  # secrets leave the address bar


def test_sse_parser_and_userscript(
    settings: Settings, tabs: Callable[..., Tab], browser: Any, fake: FakeState, fake_url: str
) -> None:
    with serve_gateway(settings) as url:
        tab = tabs(url, "parser")
        tab.wait_for("s.state === 'connected'")
        parsed = tab.page.evaluate(
            """() => {
                const split = (text, size) => {
                    const p = new GeminiExecutor.SSEParser(); const out = [];
                    for (let i = 0; i < text.length; i += size) out.push(...p.feed(text.slice(i, i + size)));
                    return out.concat(p.end());
                };
                const crlf = 'data: {"a":1}\\r\\n\\r\\ndata: {"b":2}\\r\\n\\r\\n';
                const lf = ': comment\\ndata: {"a":1}\\n\\ndata: {"b":\\ndata: 2}';
                return [1, 2, 3, 100].map(n => [split(crlf, n), split(lf, n)]);
            }"""
        )
        for crlf, lf in parsed:
            assert crlf == ['{"a":1}', '{"b":2}'] and lf == ['{"a":1}', '{"b":\n2}']

        script = httpx.get(url + "/executor.user.js")
        assert script.headers["content-type"].startswith("text/javascript")
        text = script.text
        assert text.startswith("// ==UserScript==") and "@match        https://aistudio.google.com/*" in text
        assert f'gateway: "{url.replace("http", "ws")}/ws/executor"' in text
        # The userscript boots in a page of its own and serves like the /executor page does.
        context = browser.new_context()
        page = context.new_page()
        page.goto(url + "/health")
        page.evaluate(
            "([token, endpoint]) => localStorage.setItem('gemini-gateway-executor',"
            " JSON.stringify({token, endpoint, apiKey: 'key-userscript'}))",
            [TOKEN, fake_url],
        )
        page.add_script_tag(content=text)
        page.wait_for_function("() => window.executor && window.executor.status.state === 'connected'")
        assert page.is_visible("#gemini-gateway-executor")
        tab.close()  # only the userscript's executor is left to serve
        sdk = genai_client(url)
        answer = sdk.models.generate_content(model=MODEL, contents="About murres")
        assert answer.text and "murres" in answer.text.lower()
        assert fake.calls[-1].key == "key-userscript"
        context.close()


def _wait(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)

"""SSE keep-alive while the model is silent (SSE_KEEPALIVE_SECONDS): each dialect's own harmless
line, between events and before the first one, and the official SDKs still read the streams."""

from __future__ import annotations

import re
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
from google import genai

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import GatewayFactory, RunningGateway

MODEL = "gemini-2.5-flash"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about puffins"}]}]}
CHAT = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Tell me about puffins"}]}
EVERY = 0.2  # seconds of silence before a keep-alive


@pytest.fixture
def slow_stream(fake: FakeState) -> FakeState:
    fake.config.stream_chunks = 3
    fake.config.chunk_delay_ms = 700  # two silent gaps between the three events, 3 keep-alives each
    return fake


@pytest.fixture
def paced(gateway_factory: GatewayFactory, slow_stream: FakeState) -> Iterator[RunningGateway]:
    with gateway_factory(sse_keepalive_seconds=EVERY) as running:
        yield running


def pings_between_events(body: bytes) -> bytes:
    """What is left of a native SSE body once its events are taken out."""
    return re.sub(rb"data: [^\r\n]*\r\n\r\n", b"", body)


def test_native_stream_gets_blank_lines_that_google_genai_skips(
    paced: RunningGateway, slow_stream: FakeState
) -> None:
    slow_stream.config.chunk_delay_ms = 1500  # the silent 3 s, once
    body = httpx.post(paced.url + STREAM, json=BODY, timeout=30).content
    rest = pings_between_events(body)
    assert len(rest) >= 4 and rest == b"\r\n" * (len(rest) // 2)  # blank lines only, several
    slow_stream.config.chunk_delay_ms = 700
    sdk = genai.Client(api_key="client-token", http_options={"base_url": paced.url, "api_version": "v1beta"})
    chunks = list(sdk.models.generate_content_stream(model=MODEL, contents="Tell me about puffins"))
    assert len(chunks) == 3 and "puffins" in "".join(c.text or "" for c in chunks).lower()


def test_openai_stream_gets_comments_the_sdk_skips(paced: RunningGateway) -> None:
    body = httpx.post(paced.url + "/v1/chat/completions", json=CHAT, timeout=30).content
    assert body.count(b": keep-alive\r\n\r\n") >= 2
    sdk = openai.OpenAI(api_key="client-token", base_url=paced.url + "/v1", max_retries=0)
    stream = sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Tell me about puffins"}], stream=True
    )
    assert "puffins" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices).lower()


def test_anthropic_stream_gets_pings_the_sdk_skips(paced: RunningGateway) -> None:
    message = {"model": MODEL, "max_tokens": 200, "stream": True}
    message["messages"] = [{"role": "user", "content": "Tell me about puffins"}]
    body = httpx.post(paced.url + "/v1/messages", json=message, timeout=30).content
    assert body.count(b"event: ping\n") >= 2
    sdk = anthropic.Anthropic(api_key="client-token", base_url=paced.url, max_retries=0)
    with sdk.messages.stream(
        model=MODEL, max_tokens=200, messages=[{"role": "user", "content": "Tell me about puffins"}]
    ) as stream:
        assert "puffins" in stream.get_final_text().lower()


def test_keepalive_before_the_first_event(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    """A thinking model is silent before its first event: the response starts with a keep-alive."""
    fake.add_fault("*", "slow", delay_ms=700, count=2)
    with gateway_factory(sse_keepalive_seconds=EVERY) as running:
        body = httpx.post(running.url + "/v1/chat/completions", json=CHAT, timeout=30).content
        assert body.startswith(b": keep-alive\r\n\r\n") and body.rstrip().endswith(b"data: [DONE]")
        native = httpx.post(running.url + STREAM, json=BODY, timeout=30)
        assert native.status_code == 200 and native.content.startswith(b"\r\n")


def test_keepalive_per_route_and_off_by_default(
    gateway_factory: GatewayFactory, slow_stream: FakeState
) -> None:
    with gateway_factory(sse_keepalive_routes={"/v1/chat": EVERY}) as running:
        assert (
            b": keep-alive" in httpx.post(running.url + "/v1/chat/completions", json=CHAT, timeout=30).content
        )
        assert pings_between_events(httpx.post(running.url + STREAM, json=BODY, timeout=30).content) == b""


def test_a_failure_after_a_keepalive_is_an_error_event(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    """Once a keep-alive started the response, a failure can only be told in the stream."""
    fake.add_fault("*", "hang")
    with gateway_factory(sse_keepalive_seconds=EVERY, upstream_timeout=1.0, max_retries=0) as running:
        received = b""
        with (
            pytest.raises(httpx.HTTPError),
            httpx.stream("POST", running.url + "/v1/chat/completions", json=CHAT, timeout=30) as response,
        ):
            assert response.status_code == 200
            for chunk in response.iter_raw():
                received += chunk
        assert received.startswith(b": keep-alive") and b'"error"' in received and b"[DONE]" not in received

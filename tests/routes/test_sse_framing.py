"""SSE framing on every streaming route, as the raw bytes leave the gateway.

Google ends each event with CRLF CRLF (native `alt=sse` on /v1 and /v1beta and in Vertex's shape,
and the Interactions API, whose events also carry `event:` lines); OpenAI and Anthropic end theirs
with LF LF. Each SDK's own SSE decoder must read back every event.
"""

from __future__ import annotations

import re

import httpx
import pytest
from anthropic._streaming import SSEDecoder as AnthropicDecoder
from openai._streaming import SSEDecoder as OpenAIDecoder

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import RunningGateway

MODEL = "gemini-2.5-flash"
CONTENTS = {"contents": [{"role": "user", "parts": [{"text": "Describe a puffin"}]}]}


def raw(method: str, url: str, **kwargs: object) -> bytes:
    with httpx.stream(method, url, timeout=30, **kwargs) as response:  # type: ignore[arg-type]
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return b"".join(response.iter_raw())


def google_events(body: bytes) -> list[bytes]:
    """Events of a Google stream: every one ends with CRLF CRLF, and no line ends with a bare LF."""
    assert body.endswith(b"\r\n\r\n"), body[-40:]
    assert not re.search(rb"(?<!\r)\n", body), "a line ended with a bare LF"
    events = body.split(b"\r\n\r\n")[:-1]
    assert events and all(e.startswith((b"data: ", b"event: ")) for e in events)
    return events


@pytest.mark.parametrize(
    "path",
    [
        f"/v1beta/models/{MODEL}:streamGenerateContent",
        f"/v1/models/{MODEL}:streamGenerateContent",
        f"/gemini/v1beta/models/{MODEL}:streamGenerateContent",
        f"/v1/publishers/google/models/{MODEL}:streamGenerateContent",
    ],
)
def test_native_streams_end_events_with_crlf_crlf(
    gateway: RunningGateway, fake: FakeState, path: str
) -> None:
    fake.config.merge({"stream_chunks": 4})
    events = google_events(raw("POST", f"{gateway.url}{path}?alt=sse", json=CONTENTS))
    assert len(events) >= 2


def test_interaction_streams_end_events_with_crlf_crlf(gateway: RunningGateway, fake: FakeState) -> None:
    body = {"model": MODEL, "input": "Describe a puffin", "stream": True}
    created = google_events(raw("POST", f"{gateway.url}/v1/interactions", json=body))
    assert created[0].startswith(b"event: interaction.created\r\ndata: ") and created[-1] == b"data: [DONE]"
    stored = httpx.post(
        f"{gateway.url}/v1beta/interactions", json={"model": MODEL, "input": "Owls"}, timeout=30
    )
    assert stored.status_code == 200, stored.text
    resumed = raw(
        "GET",
        f"{gateway.url}/v1beta/interactions/{stored.json()['id']}",
        params={"stream": "true"},
    )
    assert google_events(resumed)[-1] == b"data: [DONE]"


def test_openai_streams_end_events_with_lf_lf_and_decode(gateway: RunningGateway) -> None:
    chat = raw(
        "POST",
        f"{gateway.url}/v1/chat/completions",
        json={"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Puffins?"}]},
    )
    responses = raw(
        "POST", f"{gateway.url}/v1/responses", json={"model": MODEL, "stream": True, "input": "Auks?"}
    )
    for body in (chat, responses):
        assert body.endswith(b"\n\n") and b"\r" not in body
        decoded = list(OpenAIDecoder().iter_bytes(iter([body])))
        assert len(decoded) == body.count(b"\n\n") >= 3
    assert list(OpenAIDecoder().iter_bytes(iter([chat])))[-1].data == "[DONE]"


def test_anthropic_streams_end_events_with_lf_lf_and_decode(gateway: RunningGateway) -> None:
    body = raw(
        "POST",
        f"{gateway.url}/v1/messages",
        json={
            "model": MODEL,
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": "Gulls?"}],
        },
    )
    assert body.endswith(b"\n\n") and b"\r" not in body
    decoded = list(AnthropicDecoder().iter_bytes(iter([body])))
    assert decoded[0].event == "message_start" and decoded[-1].event == "message_stop"
    assert len(decoded) == body.count(b"\n\n")

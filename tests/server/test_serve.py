"""`gemini-gateway serve` on the gateway's own HTTP protocol, driven by the official SDKs, and its
answers' heads beside those of the same gateway under uvicorn's httptools protocol."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import pytest
import websockets
from google import genai

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS, RunningGateway
from tests.server.wire import Reader
from tests.servers import CLI_ADMIN_TOKEN, Served, serve_cli

MODEL = "gemini-2.5-flash"
BODY = b'{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}'


@pytest.fixture
def served(tmp_path: Path, fake_url: str, fake: FakeState) -> Iterator[Served]:
    env = {"GEMINI_API_KEYS": ",".join(KEYS), "GEMINI_API_KEY_TIER": "", "GEMINI_BASE_URL": fake_url}
    with serve_cli(tmp_path, **env) as running:
        yield running


def test_the_sdks_through_serve(served: Served, fake: FakeState) -> None:
    gemini = genai.Client(api_key="any-client-token", http_options={"base_url": served.url})
    answer = gemini.models.generate_content(model=MODEL, contents="Tell me about puffins")
    assert answer.text
    chunks = list(gemini.models.generate_content_stream(model=MODEL, contents="Tell me about puffins"))
    assert len(chunks) > 1 and all(chunk.text is not None for chunk in chunks)

    chat = openai.OpenAI(api_key="any-client-token", base_url=f"{served.url}/v1", max_retries=0)
    messages = [{"role": "user", "content": "hello"}]
    completion = chat.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert completion.choices[0].message.content
    stream = chat.chat.completions.create(model=MODEL, messages=messages, stream=True)  # type: ignore[arg-type]
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    # The requests ran on kept-alive connections of the SDKs' clients.
    assert len(fake.calls) == 4


def test_the_websocket_protocol_is_loaded_by_the_first_upgrade(served: Served) -> None:
    """`serve` leaves uvicorn's websocket protocol, and the websockets library with its C
    speedups, out of the process until a connection upgrades: the admin UI's live log then works."""
    maps = Path(f"/proc/{served.process.pid}/maps")
    assert "/websockets/" not in maps.read_text()

    async def hello() -> dict[str, object]:
        url = served.url.replace("http://", "ws://") + "/ws/logs"
        headers = {"authorization": f"Bearer {CLI_ADMIN_TOKEN}"}
        async with websockets.connect(url, additional_headers=headers) as live:
            first: dict[str, object] = orjson.loads(await asyncio.wait_for(live.recv(), 30))
            return first

    assert asyncio.run(hello())["type"] == "hello"
    assert "/websockets/" in maps.read_text()


def raw_answers(url: str, requests: list[bytes]) -> list[bytes]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        reader = Reader(sock)
        answers = []
        for request in requests:
            sock.sendall(request)
            answers.append(reader.response())
        return answers


def requests() -> list[bytes]:
    made = []
    for method in ("generateContent", "streamGenerateContent?alt=sse"):
        made.append(
            b"POST /v1beta/models/%b:%b HTTP/1.1\r\nhost: gw\r\nx-goog-api-key: t\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%b"
            % (MODEL.encode(), method.encode(), len(BODY), BODY)
        )
    made.append(b"GET /health HTTP/1.1\r\nhost: gw\r\n\r\n")
    made.append(b"GET /v1beta/models/nothing-here:generateContent HTTP/1.1\r\nhost: gw\r\n\r\n")
    return made


def shape(answer: bytes) -> tuple[bytes, list[bytes]]:
    """The status line and the header names in order, and whether the body is chunked."""
    head = answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    return head[0], [re.sub(rb":.*", b"", line) for line in head[1:]]


def test_the_heads_of_uvicorns_httptools_protocol(served: Served, gateway: RunningGateway) -> None:
    """`gateway` is the same app under uvicorn's httptools protocol (tests/servers.py)."""
    lean, reference = (raw_answers(url, requests()) for url in (served.url, gateway.url))
    assert [shape(a) for a in lean] == [shape(a) for a in reference]
    assert shape(lean[0])[1][:2] == [b"date", b"server"] and b"\r\nserver: uvicorn\r\n" in lean[0]
    # The gateway's answers are chunked, a non-stream one too; /health's is sized.
    assert b"transfer-encoding" in shape(lean[0])[1] and b"content-length" in shape(lean[2])[1]

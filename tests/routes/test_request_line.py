"""Model names and resource ids never reach the upstream's request line unchecked.

A byte-level tap sits between the gateway and the fake upstream and keeps every request line the
gateway writes, so a test sees exactly what Google would see: a name with `/`, `..`, `?`, `#`,
`%`, a space or a character outside ASCII gets a 400 in the caller's own dialect and no request
at all goes upstream, while legitimate names still go out as the path segment they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import GatewayFactory, RunningGateway
from tests.routes.test_caches import create_cache

MODEL = "gemini-2.5-flash"
HELLO = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}

# Names as clients sent them in the defects seen: each once reached Google's request line.
BAD_MODELS = [
    "../../v1beta/files#",
    "gemini-2.5-flash?x=1#",
    "gemini-2.5-flash#frag",
    "gemini 2.5 flash",
    "gemini-2.5-flash\ttab",
    "..",
    "gemini-2.5-flash%2F..",
    "gemini-2.5-flash/../../x",
    "gemini-2.5-flash:generateContent",
    "gemini-2.5-flash-\u2713",  # not latin-1: once a 502 from the transport
    "gemini-2.5-fl\u00e4sh",  # latin-1, but not ASCII
]


def _request_lines(stream: bytes) -> Iterator[str]:
    """The request lines in what one connection carried, without their `HTTP/1.1` (bodies skipped)."""
    at = 0
    while (end := stream.find(b"\r\n\r\n", at)) != -1:
        first, *fields = stream[at:end].split(b"\r\n")
        yield first.decode("latin-1").removesuffix(" HTTP/1.1")
        headers = dict(f.lower().split(b":", 1) for f in fields if b":" in f)
        at = end + 4
        if headers.get(b"transfer-encoding", b"").strip() == b"chunked":
            while (size_end := stream.find(b"\r\n", at)) != -1:
                size = int(stream[at:size_end].split(b";")[0], 16)
                at = size_end + 2 + size + 2
                if size == 0:
                    break
        else:
            at += int(headers.get(b"content-length", b"0"))


class WireTap:
    """A TCP relay in front of an upstream that keeps every byte the gateway sends it."""

    def __init__(self, upstream: str) -> None:
        parts = httpx.URL(upstream)
        self.host, self.port = parts.host, parts.port or 80
        self._sent: list[bytearray] = []
        self._lock = threading.Lock()

    def request_lines(self) -> list[str]:
        """`METHOD target` of every request written so far, over every connection, in order."""
        with self._lock:
            streams = [bytes(s) for s in self._sent]
        return [line for stream in streams for line in _request_lines(stream)]

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: bytearray | None
    ) -> None:
        try:
            while data := await reader.read(65536):
                if seen is not None:
                    with self._lock:
                        seen.extend(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        seen = bytearray()
        with self._lock:
            self._sent.append(seen)
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer, seen),
            self._pipe(upstream_reader, client_writer, None),
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        holder: dict[str, asyncio.Server] = {}

        async def start() -> None:
            holder["server"] = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            ready.set()

        thread = threading.Thread(target=loop.run_forever, name="wire-tap", daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(start(), loop)
        assert ready.wait(60)
        port = holder["server"].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:

            async def stop() -> None:
                holder["server"].close()
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()

            asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)


@pytest.fixture
def tap(fake_url: str) -> WireTap:
    return WireTap(fake_url)


@pytest.fixture
def tapped(gateway_factory: GatewayFactory, fake: FakeState, tap: WireTap) -> Iterator[RunningGateway]:
    """A gateway whose API keys reach the fake only through the tap."""
    with tap.running() as tap_url, gateway_factory(gemini_base_url=tap_url) as running:
        yield running


def assert_nothing_sent(tap: WireTap, before: list[str]) -> None:
    assert tap.request_lines() == before, "a refused name still produced an upstream request"


def google_400(response: httpx.Response) -> None:
    assert response.status_code == 400, (response.request.url, response.text)
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"


def test_the_tap_sees_a_legitimate_call_as_it_is_sent(tapped: RunningGateway, tap: WireTap) -> None:
    """The control: names Google really uses go out unchanged, so the tap can catch a wrong one."""
    for model in (MODEL, "gemini-2.5-flash-preview-05-20", "gemma-3-27b-it", "imagen-4.0-generate-001"):
        answer = httpx.post(f"{tapped.url}/v1beta/models/{model}:generateContent", json=HELLO, timeout=10)
        assert answer.status_code in (200, 404), answer.text  # the fake knows only some of them
        assert tap.request_lines()[-1] == f"POST /v1beta/models/{model}:generateContent"


def test_openai_chat_refuses_a_bad_model_before_any_upstream_call(
    tapped: RunningGateway, tap: WireTap
) -> None:
    client = openai.OpenAI(base_url=f"{tapped.url}/v1", api_key="unused", max_retries=0)
    for model in BAD_MODELS:
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as raised:
                client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "hi"}], stream=stream
                )
            error = raised.value.body
            assert isinstance(error, dict), model
            assert (error["type"], error["param"]) == ("invalid_request_error", "model"), model
    assert_nothing_sent(tap, [])


def test_openai_responses_and_embeddings_refuse_a_bad_model(tapped: RunningGateway, tap: WireTap) -> None:
    client = openai.OpenAI(base_url=f"{tapped.url}/v1", api_key="unused", max_retries=0)
    for model in BAD_MODELS:
        with pytest.raises(openai.BadRequestError):
            client.responses.create(model=model, input="hi")
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model=model, input="hi")
    assert_nothing_sent(tap, [])


def test_anthropic_messages_refuse_a_bad_model_before_any_upstream_call(
    tapped: RunningGateway, tap: WireTap
) -> None:
    client = anthropic.Anthropic(base_url=tapped.url, api_key="unused", max_retries=0)
    for model in BAD_MODELS:
        for stream in (False, True):
            with pytest.raises(anthropic.BadRequestError) as raised:
                client.messages.create(
                    model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}], stream=stream
                )
            body = raised.value.body
            assert isinstance(body, dict) and body["type"] == "error", model
            assert body["error"]["type"] == "invalid_request_error", model
        with pytest.raises(anthropic.BadRequestError):
            client.messages.count_tokens(model=model, messages=[{"role": "user", "content": "hi"}])
    assert_nothing_sent(tap, [])


def raw(base: str, path: str) -> httpx.URL:
    """`path` sent as these bytes: httpx would otherwise tidy dot segments before the gateway sees them."""
    return httpx.URL(base).copy_with(raw_path=path.encode())


def test_the_native_route_refuses_a_bad_model_in_its_path(tapped: RunningGateway, tap: WireTap) -> None:
    for target in (
        "%2e%2e:generateContent",
        "gemini-2.5-flash%3Fx=1:generateContent",
        "gemini-2.5-flash%23:generateContent",
        "gemini%202.5%20flash:generateContent",
        "gemini-2.5-flash%09:generateContent",
        "gemini-2.5-flash%E2%9C%93:streamGenerateContent?alt=sse",
        "gemini-2.5-flash%25:countTokens",
    ):
        answer = httpx.post(raw(tapped.url, f"/v1beta/models/{target}"), json=HELLO, timeout=10)
        google_400(answer)
    for model in ("%2e%2e", "gemini-2.5-flash%3Fx%3D1", "gemini%20flash", "%E2%9C%93"):
        google_400(httpx.get(raw(tapped.url, f"/v1beta/models/{model}"), timeout=10))
    # A `/` decoded from `%2F` leaves no route that takes it: Google's 404, and nothing sent.
    slashed = httpx.post(raw(tapped.url, "/v1beta/models/..%2F..%2Ffiles:generateContent"), json=HELLO)
    assert slashed.status_code == 404 and slashed.json()["error"]["code"] == 404
    assert_nothing_sent(tap, [])


BAD_RESOURCE_PATHS = [
    "/v1beta/files/%2e%2e",
    "/v1beta/files/%2e",
    "/v1beta/files/abc%3Fx%3D1",
    "/v1beta/files/abc%23x",
    "/v1beta/files/abc%20def",
    "/v1beta/files/ABC%E2%9C%93",
    "/v1beta/files/-abc",
    "/v1beta/files/" + "a" * 41,
    "/v1beta/cachedContents/%2e%2e",
    "/v1beta/cachedContents/abc%3Fx%3D1",
    "/v1beta/cachedContents/abc%23x",
    "/v1beta/cachedContents/abc%20def",
    "/v1beta/cachedContents/abc%25",
    "/v1/cachedContents/%E2%9C%93",
]


def test_resource_routes_refuse_a_bad_id(tapped: RunningGateway, tap: WireTap) -> None:
    for path in BAD_RESOURCE_PATHS:
        for verb in ("GET", "DELETE"):
            google_400(httpx.request(verb, raw(tapped.url, path), timeout=10))
    assert_nothing_sent(tap, [])


def test_a_cache_patch_with_a_bad_id_sends_nothing(tapped: RunningGateway, tap: WireTap) -> None:
    before = tap.request_lines()
    url = raw(tapped.url, "/v1beta/cachedContents/abc%3Fx%3D1?updateMask=ttl")
    google_400(httpx.patch(url, json={"ttl": "60s"}, timeout=10))
    assert_nothing_sent(tap, before)


def test_a_cache_created_for_a_bad_model_is_refused(tapped: RunningGateway, tap: WireTap) -> None:
    before = tap.request_lines()
    body = {"model": "models/../../files#", "contents": HELLO["contents"], "ttl": "60s"}
    google_400(httpx.post(f"{tapped.url}/v1beta/cachedContents", json=body, timeout=10))
    assert_nothing_sent(tap, before)


def test_real_resource_ids_still_go_out_as_path_segments(
    tapped: RunningGateway, tap: WireTap, fake: FakeState
) -> None:
    cache = create_cache(tapped.url)
    got = httpx.get(f"{tapped.url}/v1beta/{cache['name']}", timeout=10)
    assert got.status_code == 200, got.text
    assert tap.request_lines()[-1] == f"GET /v1beta/{cache['name']}"
    missing = httpx.get(f"{tapped.url}/v1beta/files/no-such-file-123", timeout=10)
    assert missing.status_code in (403, 404)  # Google's answer for a file no key holds
    assert tap.request_lines()[-1] == "GET /v1beta/files/no-such-file-123"


def test_vertex_express_refuses_a_bad_model_before_any_upstream_call(
    gateway_factory: GatewayFactory, fake: FakeState, tap: WireTap
) -> None:
    with (
        tap.running() as tap_url,
        gateway_factory(
            gemini_api_keys=[], vertex_express_keys=["vertex-key-0001"], vertex_base_url=tap_url
        ) as running,
    ):
        good = httpx.post(f"{running.url}/v1beta/models/{MODEL}:generateContent", json=HELLO, timeout=10)
        assert good.status_code == 200, good.text
        assert tap.request_lines() == [f"POST /v1beta1/publishers/google/models/{MODEL}:generateContent"]
        client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="unused", max_retries=0)
        for model in BAD_MODELS:
            with pytest.raises(openai.BadRequestError):
                client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        url = raw(running.url, "/v1/publishers/google/models/%2e%2e:generateContent")
        google_400(httpx.post(url, json=HELLO, timeout=10))
        assert len(tap.request_lines()) == 1


@pytest.mark.parametrize(
    ("prefix", "upstream"),
    [("/v1", "/v1"), ("/v1beta", "/v1beta"), ("/gemini/v1", "/v1"), ("/gemini/v1beta", "/v1beta")],
)
def test_the_api_version_the_client_called_is_the_one_sent_upstream(
    tapped: RunningGateway, tap: WireTap, prefix: str, upstream: str
) -> None:
    answer = httpx.post(f"{tapped.url}{prefix}/models/{MODEL}:generateContent", json=HELLO, timeout=10)
    assert answer.status_code == 200, answer.text
    assert tap.request_lines()[-1] == f"POST {upstream}/models/{MODEL}:generateContent"

"""Calls served by executors through the real gateway: unary, streams, errors, failover, cancel."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import orjson

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import mask_secret
from tests.backends.test_executor_protocol import EXEC_KEY, TOKEN, _gone, executor, pool_view, wait_until
from tests.conftest import KEYS, GatewayFactory

BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about kestrels"}]}]}
GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
ONLY_EXECUTORS = {"executor_tokens": [TOKEN], "gemini_api_keys": []}


def sse_payloads(raw: bytes) -> list[dict]:
    return [orjson.loads(e[6:]) for e in raw.split(b"\r\n\r\n") if e.startswith(b"data: ")]


async def test_unary_stream_and_models_are_served_by_the_executor(
    gateway_factory: GatewayFactory, fake_url: str, fake: FakeState
) -> None:
    fake.config.stream_chunks = 5
    with gateway_factory(**ONLY_EXECUTORS) as running:
        async with (
            executor(running.url, fake_url, "tab") as tab,
            httpx.AsyncClient(base_url=running.url) as client,
        ):
            unary = await client.post(GEN, json=BODY)
            assert unary.status_code == 200 and unary.headers["x-gateway-credential"] == "tab"
            assert "kestrels" in unary.text.lower()
            stream = await client.post(STREAM, json=BODY)
            events = sse_payloads(stream.content)
            assert len(events) >= 5 and events[-1]["candidates"][0]["finishReason"] == "STOP"
            listed = await client.get("/v1beta/models")
            assert any(m["name"] == "models/gemini-2.5-flash" for m in listed.json()["models"])
            counted = await client.post("/v1/models/gemini-2.5-flash:countTokens", json=BODY)
            assert counted.json()["totalTokens"] > 0
            assert {c.key for c in fake.calls} == {EXEC_KEY}  # the tab's own access, nothing else
            assert [t["method"] for t in tab.tasks] == [
                "generateContent",
                "streamGenerateContent",
                "models.list",
                "countTokens",
            ]
            assert tab.tasks[-1]["api_version"] == "v1"
            view = await pool_view(client)
            assert view["tab"]["tasks_served"] == 4 and view["tab"]["successes"] == 4


async def test_google_errors_from_the_tab_pass_through(
    gateway_factory: GatewayFactory, fake_url: str, fake: FakeState
) -> None:
    fake.add_fault(EXEC_KEY, "bad_request", message="contents[0] is wrong")
    with gateway_factory(**ONLY_EXECUTORS) as running:
        async with executor(running.url, fake_url, "tab"), httpx.AsyncClient(base_url=running.url) as client:
            response = await client.post(GEN, json=BODY)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "contents[0] is wrong"
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_a_tab_lost_before_answering_fails_over_to_another_tab(
    gateway_factory: GatewayFactory, fake_url: str, fake: FakeState
) -> None:
    with gateway_factory(**ONLY_EXECUTORS) as running:
        async with (
            httpx.AsyncClient(base_url=running.url) as client,
            executor(running.url, fake_url, "a") as a,
        ):
            a.hold.clear()
            pending = asyncio.create_task(client.post(STREAM, json=BODY))
            await wait_until(_true_when(lambda: len(a.tasks) == 1))
            async with executor(running.url, fake_url, "b") as b:
                await a.drop()
                response = await pending
                assert response.status_code == 200, response.text
                assert response.headers["x-gateway-credential"] == "b" and len(b.tasks) == 1
                assert sse_payloads(response.content)[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_a_tab_lost_before_answering_fails_over_to_an_api_key(
    gateway_factory: GatewayFactory, fake_url: str, fake: FakeState
) -> None:
    with gateway_factory(executor_tokens=[TOKEN], gemini_api_keys=KEYS[:1]) as running:
        pool = running.gateway.pool
        key_id = next(c.id for c in pool if c.kind == "api_key")
        async with (
            httpx.AsyncClient(base_url=running.url) as client,
            executor(running.url, fake_url, "a") as a,
        ):
            a.hold.clear()
            pool.set_enabled(key_id, False)  # so the executor is the one chosen first
            pending = asyncio.create_task(client.post(GEN, json=BODY))
            await wait_until(_true_when(lambda: len(a.tasks) == 1))
            pool.set_enabled(key_id, True)
            await a.drop()
            response = await pending
    assert response.status_code == 200
    assert response.headers["x-gateway-credential"] == mask_secret(KEYS[0])
    assert [c.key for c in fake.calls] == [KEYS[0]]


async def test_a_tab_lost_mid_stream_cuts_that_stream_only(
    gateway_factory: GatewayFactory, fake_url: str, fake: FakeState
) -> None:
    fake.config.stream_chunks = 6
    with gateway_factory(**ONLY_EXECUTORS) as running:
        async with (
            httpx.AsyncClient(base_url=running.url) as client,
            executor(running.url, fake_url, "a") as a,
        ):
            a.cut_after = 2
            received = b""
            async with client.stream("POST", STREAM, json=BODY) as response:
                assert response.status_code == 200  # headers went out with the first event
                with contextlib.suppress(httpx.RemoteProtocolError):  # the body is left unfinished
                    async for data in response.aiter_bytes():
                        received += data
            events = sse_payloads(received)
            assert len(events) == 3 and "error" in events[-1]  # two chunks, then the cut is reported
            assert len(fake.calls) == 1  # bytes had reached the client: no retry


async def test_client_disconnect_reaches_the_tab_as_cancel(
    gateway_factory: GatewayFactory, fake_url: str, fake: FakeState
) -> None:
    fake.config.stream_chunks = 20
    fake.config.chunk_delay_ms = 100
    with gateway_factory(**ONLY_EXECUTORS) as running:
        async with executor(running.url, fake_url, "a") as a:
            async with (
                httpx.AsyncClient(base_url=running.url) as client,
                client.stream("POST", STREAM, json=BODY) as response,
            ):
                async for _ in response.aiter_bytes():
                    break  # one event, then hang up
            await wait_until(_true_when(lambda: len(a.cancels) == 1))
            assert a.cancels[0]["id"] == a.tasks[0]["id"]
            # A unary call given up by its client is cancelled too.
            a.hold.clear()
            async with httpx.AsyncClient(base_url=running.url, timeout=0.3) as client:
                with contextlib.suppress(httpx.ReadTimeout):
                    await client.post(GEN, json=BODY)
            await wait_until(_true_when(lambda: len(a.cancels) == 2))
            async with httpx.AsyncClient(base_url=running.url) as client:
                entry = (await pool_view(client))["a"]
            assert entry["tasks_cancelled"] == 2 and entry["in_flight"] == 0


async def test_silent_task_times_out_and_is_cancelled(gateway_factory: GatewayFactory, fake_url: str) -> None:
    with gateway_factory(**ONLY_EXECUTORS, upstream_timeout=0.3, max_retries=0) as running:
        async with (
            httpx.AsyncClient(base_url=running.url) as client,
            executor(running.url, fake_url, "a") as a,
        ):
            a.hold.clear()
            response = await client.post(GEN, json=BODY)
            assert response.status_code == 504 and "sent nothing" in response.json()["error"]["message"]
            await wait_until(_true_when(lambda: len(a.cancels) == 1))


async def test_executor_models_limit_what_it_is_given(gateway_factory: GatewayFactory, fake_url: str) -> None:
    with gateway_factory(**ONLY_EXECUTORS) as running:
        async with (
            httpx.AsyncClient(base_url=running.url) as client,
            executor(running.url, fake_url, "pro-only", models=["gemini-2.5-pro"]) as tab,
        ):
            refused = await client.post(GEN, json=BODY)
            assert refused.status_code == 404 and not tab.tasks
            assert "serves the model 'gemini-2.5-flash'" in refused.json()["error"]["message"]
            served = await client.post("/v1beta/models/gemini-2.5-pro:generateContent", json=BODY)
            assert served.status_code == 200 and len(tab.tasks) == 1


async def test_a_tab_that_declines_a_call_is_not_held_to_it(
    gateway_factory: GatewayFactory, fake_url: str
) -> None:
    with gateway_factory(**ONLY_EXECUTORS, max_retries=0) as running:
        async with (
            httpx.AsyncClient(base_url=running.url) as client,
            executor(running.url, fake_url, "picky") as picky,
            executor(running.url, fake_url, "b") as b,
        ):
            picky.refuse = {"generateContent"}
            for _ in range(3):  # the rotation gives picky one of the first two
                response = await client.post(GEN, json=BODY)
                assert response.status_code == 200 and response.headers["x-gateway-credential"] == "b"
            assert [t["method"] for t in picky.tasks] == ["generateContent"]  # asked once, never again
            assert len(b.tasks) == 3  # the declined call moved on although max_retries is 0
            view = await pool_view(client)
        entry = view["picky"]
        assert entry["failures"] == 0 and entry["cooldowns"] == {} and entry["last_error"] is None
        assert entry["tasks_failed"] == 0 and entry["in_flight"] == 0 and entry["state"] == "connected"

        async with (
            httpx.AsyncClient(base_url=running.url) as client,
            executor(running.url, fake_url, "alone") as alone,
        ):
            alone.refuse = {"generateContent"}
            for _ in range(2):
                response = await client.post(GEN, json=BODY)
                assert response.status_code == 404, response.text
                assert "no upstream credential in the pool serves" in response.json()["error"]["message"]
            assert len(alone.tasks) == 1
            assert (await pool_view(client))["alone"]["failures"] == 0


async def test_methods_an_executor_did_not_register_never_reach_it(
    gateway_factory: GatewayFactory, fake_url: str
) -> None:
    with gateway_factory(**ONLY_EXECUTORS, max_retries=0) as running:
        async with (
            httpx.AsyncClient(base_url=running.url) as client,
            executor(running.url, fake_url, "embedder", capabilities=["embedContent"]) as embedder,
        ):
            response = await client.post(GEN, json=BODY)
            assert response.status_code == 404 and not embedder.tasks
            async with executor(running.url, fake_url, "b") as b:
                for _ in range(3):
                    response = await client.post(GEN, json=BODY)
                    assert response.headers["x-gateway-credential"] == "b"
                assert not embedder.tasks and len(b.tasks) == 3
                assert (await pool_view(client))["embedder"]["failures"] == 0


async def test_a_reconnecting_tab_keeps_its_cooldowns(
    gateway_factory: GatewayFactory, fake_url: str, fake: FakeState
) -> None:
    other = "another-executor-token-55"
    fake.add_fault(EXEC_KEY, "429", count=1, retry_delay="60s")
    with gateway_factory(executor_tokens=[TOKEN, other], gemini_api_keys=[], max_retries=0) as running:
        async with httpx.AsyncClient(base_url=running.url) as client:
            async with executor(running.url, fake_url, "a"):
                assert (await client.post(GEN, json=BODY)).status_code == 429
            await wait_until(lambda: _gone(client, "a"))
            async with executor(running.url, fake_url, "a") as again:
                assert again.registered["name"] == "a"
                entry = (await pool_view(client))["a"]
                assert entry["cooldowns"]["gemini-2.5-flash"] > 50 and entry["failures"] == 1
                cooling = await client.post(GEN, json=BODY)
                assert cooling.status_code == 429 and not again.tasks  # still cooling: not asked
                other_model = await client.post("/v1beta/models/gemini-2.5-pro:generateContent", json=BODY)
                assert other_model.status_code == 200 and len(again.tasks) == 1
                # Back while its old connection still looks open: a suffixed name, same cooldowns.
                async with executor(running.url, fake_url, "a") as twin:
                    assert twin.registered["name"] == "a-2"
                    entry = (await pool_view(client))["a-2"]
                    assert "gemini-2.5-flash" in entry["cooldowns"] and entry["failures"] == 0
            await wait_until(lambda: _gone(client, "a"))
            # Another token under the same name is another executor: it starts afresh.
            async with executor(running.url, fake_url, "a", token=other):
                entry = (await pool_view(client))["a"]
                assert entry["cooldowns"] == {} and entry["failures"] == 0 and entry["successes"] == 0


def _true_when(condition: object) -> object:
    async def check() -> bool:
        return bool(condition())  # type: ignore[operator]

    return check

"""An executor tab connected to one replica serves calls that reach another (issue 20).

Replicas as in test_replicas.py (uvicorn threads on one SQLite file, one data folder, one
Redis); the tab is the Python stand-in of tests/backends (PyExecutor: a real WebSocket, its own
key on the fake upstream). Waits are polls with deadlines.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.backends.executor_relay import (
    CALL_HEADER,
    RELAY_PATH,
    SIGN_HEADER,
    FrameReader,
    RelayNonces,
    describe_call,
    error_from,
    failure_frame,
    frame,
    sign,
    verify,
)
from gemini_gateway.errors import CallRefused, StreamCut, UpstreamError, UpstreamUnreachable
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import mask_secret
from gemini_gateway.shared import executors as shared_executors
from tests.backends.test_executor_backend import sse_payloads
from tests.backends.test_executor_protocol import EXEC_KEY, TOKEN, executor, wait_until
from tests.conftest import KEYS

MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about kestrels"}]}]}
ONLY_EXECUTORS = {"executor_tokens": [TOKEN], "gemini_api_keys": []}


def _knows(running: Any, cid: str) -> Any:
    async def check() -> bool:
        return running.gateway.pool.get(cid) is not None

    return check


def _forgot(running: Any, cid: str) -> Any:
    async def check() -> bool:
        return running.gateway.pool.get(cid) is None

    return check


async def test_a_tab_on_one_replica_serves_calls_sent_to_another(
    replicas: Any, redis_url: str, fake_url: str, fake: FakeState
) -> None:
    fake.config.stream_chunks = 4
    with replicas(3, redis_url=redis_url, **ONLY_EXECUTORS) as (a, _b, c):
        async with executor(a.url, fake_url, "tab") as tab, httpx.AsyncClient(base_url=c.url) as client:
            await wait_until(_knows(c, "executor:tab"))
            unary = await client.post(GEN, json=BODY)
            assert unary.status_code == 200, unary.text
            assert unary.headers["x-gateway-credential"] == "tab"
            assert "kestrels" in unary.text.lower()
            async with client.stream("POST", STREAM, json=BODY) as response:
                assert response.status_code == 200
                raw = b"".join([data async for data in response.aiter_bytes()])
            events = sse_payloads(raw)
            assert len(events) >= 4 and events[-1]["candidates"][0]["finishReason"] == "STOP"
            assert [t["method"] for t in tab.tasks] == ["generateContent", "streamGenerateContent"]
            assert {call.key for call in fake.calls} == {EXEC_KEY}  # the tab's own access only
            view = {
                r["id"]: r for r in (await client.get("/api/pool", headers=_admin())).json()["credentials"]
            }
            assert view["executor:tab"]["state"] == "remote" and view["executor:tab"]["replica"] == "r0"
            # Google's error answer from the tab reaches C's caller as Google sent it.
            fake.add_fault(EXEC_KEY, "bad_request", message="contents[0] is wrong")
            refused = await client.post(GEN, json=BODY)
            assert refused.status_code == 400
            assert refused.json()["error"]["message"] == "contents[0] is wrong"
        # The tab left A: C stops offering it at once (announced), and calls answer 503 there.
        await wait_until(_forgot(c, "executor:tab"))
        async with httpx.AsyncClient(base_url=c.url) as client:
            assert (await client.post(GEN, json=BODY)).status_code == 503


async def test_a_429_from_a_relayed_call_cools_the_tab_on_its_owner_too(
    replicas: Any, redis_url: str, fake_url: str, fake: FakeState
) -> None:
    with replicas(2, redis_url=redis_url, **ONLY_EXECUTORS) as (a, b):
        async with executor(a.url, fake_url, "tab"), httpx.AsyncClient() as client:
            await wait_until(_knows(b, "executor:tab"))
            fake.add_fault(EXEC_KEY, "429", retry_delay="60s", model=MODEL, count=1)
            answer = await client.post(b.url + GEN, json=BODY)
            assert answer.status_code == 429
            local = a.gateway.pool.get("executor:tab")

            async def cooled() -> bool:
                return MODEL in local.cooldowns

            await wait_until(cooled)
            calls = len(fake.calls)
            for running in (a, b):  # neither replica sends the cooling tab another call
                assert (await client.post(running.url + GEN, json=BODY)).status_code == 429
            assert len(fake.calls) == calls


async def test_a_call_for_a_tab_whose_replica_is_gone_fails_over(
    replicas: Any, redis_url: str, fake_url: str, fake: FakeState
) -> None:
    # B keeps an API key too; the tab's entry names an owner that no longer answers.
    settings = {"redis_url": redis_url, "executor_tokens": [TOKEN], "gemini_api_keys": KEYS[:1]}
    with replicas(2, **settings) as (a, b):
        async with executor(a.url, fake_url, "tab") as tab, httpx.AsyncClient(base_url=b.url) as client:
            await wait_until(_knows(b, "executor:tab"))
            remote = b.gateway.pool.get("executor:tab")
            remote.url = "http://127.0.0.1:9"  # nothing listens there: the owner is unreachable
            for _ in range(4):  # the rotation tries the remote tab within the first calls
                answer = await client.post(GEN, json=BODY)
                assert answer.status_code == 200, answer.text
                assert answer.headers["x-gateway-credential"] == mask_secret(KEYS[0])
            assert remote.failures >= 1 and "cannot be reached" in (remote.last_error or "")
            assert not tab.tasks


async def test_without_redis_the_store_holds_the_registry(
    replicas: Any, fake_url: str, fake: FakeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_executors, "REFRESH_SECONDS", 0.2)
    with replicas(2, **ONLY_EXECUTORS) as (a, b):
        async with executor(a.url, fake_url, "tab") as tab, httpx.AsyncClient(base_url=b.url) as client:
            await wait_until(_knows(b, "executor:tab"))
            answer = await client.post(GEN, json=BODY)
            assert answer.status_code == 200 and answer.headers["x-gateway-credential"] == "tab"
            assert len(tab.tasks) == 1
        await wait_until(_forgot(b, "executor:tab"))


async def test_the_relay_route_refuses_unsigned_and_forged_calls(
    replicas: Any, redis_url: str, fake_url: str
) -> None:
    with replicas(1, redis_url=redis_url, **ONLY_EXECUTORS) as (a,):
        async with executor(a.url, fake_url, "tab") as tab, httpx.AsyncClient(base_url=a.url) as client:
            call = UpstreamCall("generateContent", MODEL, b"{}")
            described = describe_call("executor:tab", call)
            unsigned = await client.post(RELAY_PATH, headers={CALL_HEADER: described}, content=b"{}")
            assert unsigned.status_code == 403
            forged = {CALL_HEADER: described, SIGN_HEADER: sign(b"not the key", described, b"{}")}
            assert (await client.post(RELAY_PATH, headers=forged, content=b"{}")).status_code == 403
            # A signature does not carry over to another body.
            secret = a.gateway.executors.relay_secret
            moved = {CALL_HEADER: described, SIGN_HEADER: sign(secret, described, b"{}")}
            assert (await client.post(RELAY_PATH, headers=moved, content=b'{"x": 1}')).status_code == 403
            assert not tab.tasks


@pytest.mark.parametrize("shared", ["redis", "memory"])
async def test_a_signed_relay_sent_again_is_refused(
    replicas: Any, redis_url: str, fake_url: str, shared: str
) -> None:
    options = {"redis_url": redis_url} if shared == "redis" else {}
    with replicas(1, **options, **ONLY_EXECUTORS) as (a,):
        async with executor(a.url, fake_url, "tab") as tab, httpx.AsyncClient(base_url=a.url) as client:
            await wait_until(lambda: _has_secret(a))
            body = orjson.dumps(BODY)
            described = describe_call("executor:tab", UpstreamCall("generateContent", MODEL, body))
            signed = {
                CALL_HEADER: described,
                SIGN_HEADER: sign(a.gateway.executors.relay_secret, described, body),
            }
            first = await client.post(RELAY_PATH, headers=signed, content=body)
            assert first.status_code == 200 and len(tab.tasks) == 1
            replayed = await client.post(RELAY_PATH, headers=signed, content=body)
            assert replayed.status_code == 403 and "replay" in replayed.text
            assert len(tab.tasks) == 1  # the tab spent nothing on the copy
            # The same call signed again (a new nonce) is a new request, as a retry must be.
            again = {**signed, SIGN_HEADER: sign(a.gateway.executors.relay_secret, described, body)}
            assert (await client.post(RELAY_PATH, headers=again, content=body)).status_code == 200
            assert len(tab.tasks) == 2


async def _has_secret(running: Any) -> bool:
    return running.gateway.executors.relay_secret is not None


async def test_relay_nonces_are_taken_once_per_window_and_forgotten_after() -> None:
    now = [1000.0]
    nonces = RelayNonces(clock=lambda: now[0])
    assert await nonces.first_use("a") and await nonces.first_use("b")
    assert not await nonces.first_use("a")
    now[0] += RelayNonces.WINDOW - 1
    assert not await nonces.first_use("b")  # a signature with a stamp ahead is still accepted now
    now[0] += 2
    assert await nonces.first_use("a")  # its signature is too old to pass `verify` by now
    assert len(nonces._seen) == 1  # the expired ones are dropped, not kept forever

    async def shared_down(key: str, seconds: float) -> bool | None:
        return None  # Redis unreachable: memory decides

    async def shared_says_seen(key: str, seconds: float) -> bool | None:
        assert key == "relay-nonce:c" and seconds >= 2 * 60
        return False

    assert await RelayNonces(shared_down).first_use("c")
    assert not await RelayNonces(shared_says_seen).first_use("c")


def test_frames_and_signatures() -> None:
    reader = FrameReader()
    data = frame(b"c", b'{"a": 1}') + failure_frame(UpstreamError(429, b'{"error": {"message": "slow"}}'))
    found = [item for i in range(len(data)) for item in reader.feed(data[i : i + 1])]  # cut anywhere
    assert found[0] == (b"c", b'{"a": 1}')
    error = error_from(found[1][1])
    assert isinstance(error, UpstreamError) and error.status_code == 429 and error.message == "slow"
    for original in (CallRefused("no"), StreamCut("cut"), UpstreamUnreachable("gone", status_code=504)):
        again = error_from(reader.feed(failure_frame(original))[0][1])
        assert type(again) is type(original) and again.status_code == original.status_code
    signed = sign(b"k", "meta", b"body", now=1000.0)
    nonce = verify(b"k", signed, "meta", b"body", now=1030.0)
    assert nonce and nonce != verify(
        b"k", sign(b"k", "meta", b"body", now=1000.0), "meta", b"body", now=1000.0
    )
    stamp, _, mac = signed.partition(".")
    assert not verify(b"k", f"{stamp}.other-nonce.{mac.partition('.')[2]}", "meta", b"body", now=1000.0)
    assert not verify(b"k", signed, "meta", b"body", now=1100.0)  # too old
    assert not verify(b"k", signed, "other", b"body", now=1000.0)
    assert not verify(b"x", signed, "meta", b"body", now=1000.0)


def _admin() -> dict[str, str]:
    from tests.conftest import ADMIN_TOKEN

    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_the_pool_mirrors_only_live_lines_of_other_replicas() -> None:
    from types import SimpleNamespace

    from gemini_gateway.backends.executor_relay import RemoteExecutorCredential
    from gemini_gateway.pool.pool import CredentialPool
    from gemini_gateway.shared.executors import ExecutorDirectory

    pool = CredentialPool("round_robin")
    directory = ExecutorDirectory(SimpleNamespace(pool=pool), "me", registry=None)  # type: ignore[arg-type]
    line = {"replica": "a", "url": "http://a:1", "name": "t", "capabilities": ["generateContent"]}
    now = 1000.0
    directory.mirror(
        {
            "executor:t": {**line, "expires": now + 5, "cooldowns": {MODEL: now + 60}},
            "executor:old": {**line, "expires": now - 1},  # its replica stopped refreshing it
            "executor:mine": {**line, "replica": "me", "expires": now + 5},
        },
        now,
    )
    assert [c.id for c in pool] == ["executor:t"]
    remote = pool.get("executor:t")
    assert isinstance(remote, RemoteExecutorCredential) and remote.cooldowns[MODEL] == now + 60
    assert remote.offers("generateContent", MODEL) and not remote.offers("files.upload", "files")
    directory.mirror({"executor:t": {**line, "expires": now - 1}}, now)  # expired since
    assert len(pool) == 0

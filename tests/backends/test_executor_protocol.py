"""The executor protocol over a real socket: handshake, refusals, versions, heartbeats, pool view.

`PyExecutor` is a small Python executor (aiohttp WebSocket + HTTP to the fake upstream) that the
backend tests reuse; the browser client is exercised in tests/e2e/test_executors_browser.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import httpx
import orjson
import pytest
from starlette.websockets import WebSocket

from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.backends.executor_hub import (
    KEEP_STATE_MAX,
    KEEP_STATE_SECONDS,
    ExecutorConnection,
    ExecutorCredential,
    ExecutorHub,
)
from gemini_gateway.backends.executor_protocol import (
    PROTOCOL_VERSION,
    ProtocolError,
    parse_register,
    task_error,
    task_frame,
)
from gemini_gateway.backends.executor_resources import resource_task, upload_start_fields
from gemini_gateway.errors import CallRefused, GatewayError, RequestError, UpstreamError, UpstreamUnreachable
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.sse import SSEParser
from tests.conftest import ADMIN_TOKEN, GatewayFactory

# Resource tasks other than uploads, as the key page runs them: Google's REST verb on the name
# (or on the collection, for list and create).
RESOURCE_VERBS = {"get": "GET", "list": "GET", "delete": "DELETE", "create": "POST", "patch": "PATCH"}
TOKEN = "executor-token-7f3a9c"
EXEC_KEY = "executor-own-key-0001"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class PyExecutor:
    """An executor like the browser's: runs each task against the fake with its own key.

    `hold` pauses tasks before they answer (set it to let them go); `answer_heartbeats=False`
    plays a frozen tab; `cut_after` sends that many chunks of a stream and then drops the socket;
    methods in `refuse` are declined with an `unsupported` error. Resource methods run as the key
    page runs them: `files.upload` (the `upload` frames' bytes are kept in `uploaded`, then sent to
    the fake resumably) and the others as Google's REST call on the name.
    """

    def __init__(
        self,
        gateway_url: str,
        fake_url: str,
        name: str = "py",
        *,
        token: str | None = TOKEN,
        protocol: int = PROTOCOL_VERSION,
        concurrency: int = 4,
        models: list[str] | None = None,
        capabilities: list[str] | None = None,
    ) -> None:
        self.url = gateway_url.replace("http://", "ws://") + "/ws/executor"
        self.fake_url = fake_url
        self.register: dict[str, Any] = {
            "type": "register",
            "protocol": protocol,
            "name": name,
            "max_concurrency": concurrency,
            "models": models or [],
            "capabilities": capabilities or [],
            "client": "pytest",
        }
        if token is not None:
            self.register["token"] = token
        self.hold = asyncio.Event()
        self.hold.set()
        self.answer_heartbeats = True
        self.cut_after: int | None = None
        self.refuse: set[str] = set()
        self.tasks: list[dict[str, Any]] = []
        self.cancels: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.registered: dict[str, Any] = {}
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self.uploaded: dict[str, bytearray] = {}  # task id -> the bytes its upload frames carried
        self._upload_ends: dict[str, asyncio.Event] = {}

    async def __aenter__(self) -> PyExecutor:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(self.url, autoclose=False)
        await self.ws.send_str(orjson.dumps(self.register).decode())
        first = await self.ws.receive(timeout=5)
        if first.type == aiohttp.WSMsgType.TEXT:
            self.registered = orjson.loads(first.data)
        self._loop = asyncio.create_task(self._read(first))
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.drop()
        await self.session.close()

    async def drop(self) -> None:
        for task in self._running.values():
            task.cancel()
        if not self.ws.closed:
            await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._loop

    async def refusal(self) -> tuple[int | None, str, dict[str, Any]]:
        """For a refused executor: (close code, close reason, the error frame before it)."""
        await asyncio.wait_for(self.closed.wait(), 5)
        return self.close_code, self.close_reason, self.registered

    async def _read(self, first: aiohttp.WSMessage) -> None:
        message = first
        while True:
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                self.close_code, self.close_reason = message.data, message.extra or ""
                break
            if message.type == aiohttp.WSMsgType.TEXT:
                await self._handle(orjson.loads(message.data))
            message = await self.ws.receive()
        self.closed.set()

    async def _handle(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "heartbeat":
            self.heartbeats += 1
            if self.answer_heartbeats:
                await self._send({"type": "heartbeat", "time": frame["time"]})
        elif frame["type"] == "task":
            self.tasks.append(frame)
            if frame["method"] == "files.upload":  # before the frames that follow it are read
                self.uploaded[frame["id"]] = bytearray()
                self._upload_ends[frame["id"]] = asyncio.Event()
            self._running[frame["id"]] = asyncio.create_task(self._run(frame))
        elif frame["type"] == "upload":
            if frame.get("final"):
                self._upload_ends[frame["id"]].set()
            else:
                self.uploaded[frame["id"]] += base64.b64decode(frame["data"])
        elif frame["type"] == "cancel":
            self.cancels.append(frame)
            running = self._running.pop(frame["id"], None)
            if running is not None:
                running.cancel()

    async def _send(self, frame: dict[str, Any]) -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError):
                await self.ws.send_str(orjson.dumps(frame).decode())

    async def _run(self, task: dict[str, Any]) -> None:
        if task["method"] in self.refuse:
            message = f"this tab cannot run {task['method']}"
            await self._send({"type": "error", "id": task["id"], "unsupported": True, "message": message})
            return
        await self.hold.wait()
        if task["method"].partition(".")[0] in ("files", "cachedContents"):
            await self._run_file_task(task)
            return
        path = f"{self.fake_url}/{task['api_version']}/models"
        if task["method"] == "models.get":
            path += f"/{task['model']}"
        elif task["method"] != "models.list":
            path += f"/{task['model']}:{task['method']}" + ("?alt=sse" if task["stream"] else "")
        method = "GET" if task["method"].startswith("models.") else "POST"
        headers = {"x-goog-api-key": EXEC_KEY}
        async with self.session.request(method, path, json=task["body"], headers=headers) as response:
            if response.status >= 400:
                body = await response.json(content_type=None)
                await self._send({"type": "error", "id": task["id"], "status": response.status, "body": body})
                return
            if not task["stream"]:
                payload = await response.json(content_type=None)
                await self._send({"type": "chunk", "id": task["id"], "payload": payload})
            else:
                parser, sent = SSEParser(), 0
                async for data in response.content.iter_any():
                    for event in parser.feed(data):
                        if self.cut_after is not None and sent >= self.cut_after:
                            await self.ws.close()
                            return
                        await self._send({"type": "chunk", "id": task["id"], "payload": orjson.loads(event)})
                        sent += 1
        await self._send({"type": "done", "id": task["id"]})

    async def _run_file_task(self, task: dict[str, Any]) -> None:
        headers = {"x-goog-api-key": EXEC_KEY}
        base = f"{self.fake_url}/{task['api_version']}"
        verb = RESOURCE_VERBS.get(task["method"].partition(".")[2])
        if verb is not None:
            path = f"{base}/{task['name'] or task['method'].partition('.')[0]}"
            response = await self.session.request(
                verb, path, params=task["params"], json=task["body"], headers=headers
            )
        else:
            await self._upload_ends[task["id"]].wait()
            data, mime = bytes(self.uploaded[task["id"]]), task["upload"]["mime_type"]
            start_headers = {
                **headers,
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(len(data)),
                **({"X-Goog-Upload-Header-Content-Type": mime} if mime else {}),
            }
            upload = f"{self.fake_url}/upload/{task['api_version']}/files"
            async with self.session.post(upload, json=task["body"], headers=start_headers) as started:
                url = started.headers["x-goog-upload-url"]
            finalize = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
            response = await self.session.post(url, data=data, headers=finalize)
        async with response:
            payload = await response.json(content_type=None)
        if response.status >= 400:
            await self._send({"type": "error", "id": task["id"], "status": response.status, "body": payload})
            return
        if payload is not None:  # a delete answers with no body
            await self._send({"type": "chunk", "id": task["id"], "payload": payload})
        await self._send({"type": "done", "id": task["id"]})


@contextlib.asynccontextmanager
async def executor(
    gateway_url: str, fake_url: str, name: str = "py", **options: Any
) -> AsyncIterator[PyExecutor]:
    async with PyExecutor(gateway_url, fake_url, name, **options) as running:
        yield running


async def pool_view(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    credentials = (await client.get("/api/pool", headers=ADMIN)).json()["credentials"]
    return {c["label"]: c for c in credentials}


async def wait_until(check: Any, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# Pure protocol pieces ----------------------------------------------------------------------


def test_register_is_validated_and_normalised() -> None:
    info = parse_register(
        {
            "type": "register",
            "protocol": 1,
            "name": " my tab/1 ",
            "max_concurrency": 9999,
            "models": ["models/x"],
        }
    )
    assert info.name == "my-tab-1" and info.max_concurrency == 256 and info.models == {"x"}
    assert "streamGenerateContent" in info.capabilities  # none offered: every model method
    assert "files.upload" not in info.capabilities  # ... but never resources: an old tab cannot run them
    listed = parse_register(
        {
            "type": "register",
            "protocol": 1,
            "name": "a",
            "capabilities": ["files.upload", "generateContent", "x"],
        }
    )
    assert listed.capabilities == {"files.upload", "generateContent"}
    with pytest.raises(ProtocolError, match="name"):
        parse_register({"type": "register", "protocol": 1, "name": "///"})
    with pytest.raises(ProtocolError, match="max_concurrency"):
        parse_register({"type": "register", "protocol": 1, "name": "a", "max_concurrency": 0})
    with pytest.raises(ProtocolError, match="too old") as old:
        parse_register({"type": "register", "protocol": 0, "name": "a"})
    assert old.value.code == 4426


def test_resource_calls_become_tasks_a_tab_can_run_without_rest() -> None:
    method, scope, fields = resource_task("GET", "v1beta/files/abc", {"x": "1"}, b"")
    assert (method, scope, fields["name"], fields["params"]) == (
        "files.get",
        "files",
        "files/abc",
        {"x": "1"},
    )
    method, scope, fields = resource_task("POST", "v1/cachedContents", None, b'{"model": "models/m"}')
    assert (method, scope, fields["api_version"], fields["body"]) == (
        "cachedContents.create",
        "cachedContents",
        "v1",
        {"model": "models/m"},
    )
    assert resource_task("PATCH", "v1beta/cachedContents/c", {"updateMask": "ttl"}, b"{}")[0] == (
        "cachedContents.patch"
    )
    for verb, target in (
        ("POST", "v1beta/files/abc"),
        ("GET", "v1beta/batches"),
        ("GET", "v1beta/files/a/b"),
    ):
        with pytest.raises(GatewayError) as refused:
            resource_task(verb, target, None, b"")
        assert refused.value.status_code == 501
    fields, size = upload_start_fields(
        "upload/v1beta/files",
        b'{"file": {"displayName": "d"}}',
        {"x-goog-upload-header-content-length": "12", "x-goog-upload-header-content-type": "image/png"},
    )
    assert size == 12 and fields["upload"] == {"mime_type": "image/png", "size": 12}
    assert fields["body"] == {"file": {"displayName": "d"}}
    with pytest.raises(RequestError):
        upload_start_fields("upload/v1beta/files", b"[1]", {})


def test_task_frame_embeds_the_body_and_errors_map_to_gateway_errors() -> None:
    call = UpstreamCall("streamGenerateContent", "gemini-2.5-flash", b'{"contents":[]}')
    frame = orjson.loads(task_frame("7", call))
    assert frame == {
        "type": "task",
        "id": "7",
        "method": "streamGenerateContent",
        "model": "gemini-2.5-flash",
        "api_version": "v1beta",
        "stream": True,
        "params": {},
        "body": {"contents": []},
    }
    google = {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    error = task_error({"status": 429, "body": google}, "tab")
    assert isinstance(error, UpstreamError) and error.status_code == 429 and error.message == "slow down"
    assert isinstance(task_error({"status": 0, "message": "Failed to fetch"}, "tab"), UpstreamUnreachable)
    declined = task_error({"status": 400, "unsupported": True, "message": "no embeddings here"}, "tab")
    assert isinstance(declined, CallRefused) and "no embeddings here" in declined.message
    wrapped = task_error({"status": 500, "body": "oops"}, "tab")
    assert isinstance(wrapped, UpstreamError) and orjson.loads(wrapped.body)["error"]["code"] == 500


# Over the socket ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "code", "words"),
    [(None, 4401, "missing executor token"), ("wrong-token-123", 4403, "not valid")],
)
async def test_bad_tokens_are_refused_with_a_reason(
    gateway_factory: GatewayFactory, fake_url: str, token: str | None, code: int, words: str
) -> None:
    with gateway_factory(executor_tokens=[TOKEN]) as running:
        async with executor(running.url, fake_url, token=token) as tab:
            close_code, reason, frame = await tab.refusal()
    assert close_code == code and words in reason
    assert frame["type"] == "error" and words in frame["message"]


async def test_old_and_future_protocols_get_told_what_to_do(
    gateway_factory: GatewayFactory, fake_url: str
) -> None:
    with gateway_factory(executor_tokens=[TOKEN]) as running:
        async with executor(running.url, fake_url, protocol=0) as old:
            code, reason, _ = await old.refusal()
        assert code == 4426 and "too old" in reason and "/executor" in reason
        async with executor(running.url, fake_url, protocol=PROTOCOL_VERSION + 1) as new:
            code, reason, _ = await new.refusal()
        assert code == 4426 and "newer than this gateway" in reason


async def test_executors_are_off_without_tokens(gateway_factory: GatewayFactory, fake_url: str) -> None:
    with gateway_factory() as running:
        async with executor(running.url, fake_url) as tab:
            code, reason, _ = await tab.refusal()
    assert code == 4403 and "EXECUTOR_TOKENS" in reason


async def test_a_connected_executor_is_a_pool_credential_until_it_leaves(
    gateway_factory: GatewayFactory, fake_url: str
) -> None:
    with gateway_factory(executor_tokens=["other-token-1", TOKEN]) as running:
        async with httpx.AsyncClient(base_url=running.url) as client:
            async with executor(running.url, fake_url, "tab-a", concurrency=3) as tab:
                assert tab.registered == {
                    "type": "registered",
                    "protocol": PROTOCOL_VERSION,
                    "id": "executor:tab-a",
                    "name": "tab-a",
                    "heartbeat_interval": 10.0,
                }
                async with executor(running.url, fake_url, "tab-a") as twin:
                    assert twin.registered["name"] == "tab-a-2"  # a taken name gets a suffix
                    view = await pool_view(client)
                entry = view["tab-a"]
                assert entry["kind"] == "executor" and entry["state"] == "connected"
                assert entry["max_concurrency"] == 3 and entry["in_flight"] == 0
                assert entry["tasks_served"] == 0 and entry["connected_since"] > 0
                assert entry["id"] == "executor:tab-a" and "tab-a-2" in view
            await wait_until(lambda: _gone(client, "tab-a"))


async def _gone(client: httpx.AsyncClient, label: str) -> bool:
    return label not in await pool_view(client)


async def test_silent_executor_goes_stale_then_is_dropped(
    gateway_factory: GatewayFactory, fake_url: str, fake: FakeState
) -> None:
    with gateway_factory(
        # Stale after 0.75 s of silence, dropped after 1.5 s: a window the poll below cannot miss, and
        # room for the live executor to answer on a busy machine.
        executor_tokens=[TOKEN],
        executor_heartbeat_seconds=0.5,
        gemini_api_keys=[],
    ) as running:
        async with (
            httpx.AsyncClient(base_url=running.url) as client,
            executor(running.url, fake_url, "alive") as alive,
            executor(running.url, fake_url, "frozen") as frozen,
        ):
            frozen.answer_heartbeats = False
            await wait_until(lambda: _state_is(client, "frozen", "stale"))
            # A stale executor is not chosen: calls go to the live one.
            response = await client.post(
                "/v1beta/models/gemini-2.5-flash:generateContent",
                json={"contents": [{"parts": [{"text": "hi"}]}]},
            )
            assert response.headers["x-gateway-credential"] == "alive"
            code, reason, _ = await frozen.refusal()
            assert code == 4408 and "missed heartbeats" in reason
            view = await pool_view(client)
            assert "frozen" not in view and view["alive"]["state"] == "connected"
            assert view["alive"]["last_heartbeat"] is not None and alive.heartbeats >= 2


async def _state_is(client: httpx.AsyncClient, label: str, state: str) -> bool:
    entry = (await pool_view(client)).get(label)
    return entry is not None and entry["state"] == state


async def test_a_frame_that_is_not_json_does_not_end_the_connection(
    gateway_factory: GatewayFactory, fake_url: str
) -> None:
    with gateway_factory(executor_tokens=[TOKEN], gemini_api_keys=[]) as running:
        async with executor(running.url, fake_url, "sloppy") as tab:
            await tab.ws.send_str("this is not json")
            async with httpx.AsyncClient(base_url=running.url) as client:
                response = await client.post(
                    "/v1beta/models/gemini-2.5-flash:generateContent",
                    json={"contents": [{"parts": [{"text": "still there?"}]}]},
                )
            assert response.status_code == 200 and not tab.closed.is_set()


async def test_a_stale_executor_is_reported_unhealthy(gateway_factory: GatewayFactory, fake_url: str) -> None:
    with gateway_factory(executor_tokens=[TOKEN], gemini_api_keys=[]) as running:
        hub: ExecutorHub = running.gateway.executors
        async with (
            httpx.AsyncClient(base_url=running.url, headers=ADMIN) as client,
            executor(running.url, fake_url, "alive"),
            executor(running.url, fake_url, "frozen") as frozen,
        ):
            frozen.answer_heartbeats = False
            # Silent for two intervals: stale at once, before the watcher's next look.
            hub.connections["executor:frozen"].last_seen -= 2 * hub.heartbeat_seconds
            balance = {i["label"]: i for i in (await client.get("/api/load-balancing")).json()["instances"]}
            assert balance["frozen"]["healthy"] is False and balance["frozen"]["state"] == "stale"
            assert balance["alive"]["healthy"] is True
            pool = (await client.get("/api/pool")).json()
            assert {c["label"]: c["healthy"] for c in pool["credentials"]} == {"alive": True, "frozen": False}
            assert pool["summary"]["healthy"] == 1 and pool["summary"]["total"] == 2
            locks = (await client.get("/api/locks")).json()["locks"]
            assert [(lock["label"], lock["state"]) for lock in locks] == [("frozen", "stale")]


def test_departed_state_waits_for_the_same_name_and_token_for_a_while() -> None:
    now = [1000.0]
    hub = ExecutorHub(CredentialPool(), [TOKEN], 10.0, clock=lambda: now[0])

    def credential(name: str) -> ExecutorCredential:
        info = parse_register({"type": "register", "protocol": PROTOCOL_VERSION, "name": name})
        return ExecutorConnection(cast(WebSocket, None), info, f"executor:{name}", name, 10.0).credential

    gone = credential("a")
    gone.cooldowns["gemini-2.5-flash"] = 5000.0
    gone.disabled_reason = "API_KEY_INVALID: the tab's key"
    gone.enabled = False  # an operator's decision
    hub._keep(gone, "digest-1")
    assert not hub._restore(credential("a"), "digest-2")  # another token: another executor
    hub._keep(gone, "digest-1")
    back = credential("a")
    assert hub._restore(back, "digest-1") and not hub._restore(credential("a"), "digest-1")
    assert back.cooldowns == {"gemini-2.5-flash": 5000.0} and not back.enabled
    assert back.disabled_reason is None  # a reload may have fixed the tab's access

    hub._keep(gone, "digest-1")
    now[0] += KEEP_STATE_SECONDS + 1
    assert not hub._restore(credential("a"), "digest-1")  # kept for a day at most
    for n in range(KEEP_STATE_MAX + 5):
        hub._keep(credential(f"t{n}"), "digest-1")
    assert len(hub.departed) == KEEP_STATE_MAX and "executor:t0" not in hub.departed


def test_a_keepers_facts_are_kept_plain_and_small() -> None:
    info = parse_register(
        {
            "type": "register",
            "protocol": PROTOCOL_VERSION,
            "name": "kept",
            "keeper": {
                "profile": "alice",
                "reopens": 2,
                "opened": 3,
                "since": 1767225600.5,
                "last_reopen_reason": "the page crashed" * 40,
                "token": "must-not-be-kept",
                "nested": {"a": 1},
            },
        }
    )
    assert info.keeper == {
        "profile": "alice",
        "reopens": 2,
        "opened": 3,
        "since": 1767225600.5,
        "last_reopen_reason": ("the page crashed" * 40)[:200],
    }
    assert parse_register({"type": "register", "protocol": PROTOCOL_VERSION, "name": "a"}).keeper is None
    assert parse_register({"type": "register", "protocol": 1, "name": "a", "keeper": "x"}).keeper is None

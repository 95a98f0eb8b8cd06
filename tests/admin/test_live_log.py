"""The live log's request events: the same whether a viewer watched the call or came after it."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import websockets

from gemini_gateway.admin.live import LiveHub, RequestEvents
from tests.admin.helpers import USER_TOKEN, bearer
from tests.conftest import ADMIN_TOKEN, KEYS, RunningGateway

BODY = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "live"}]}


def hub_of(running: RunningGateway) -> LiveHub:
    return next(o.hub for o in running.gateway.observers if isinstance(o, RequestEvents))


def later_calls(hub: LiveHub, since: float) -> list[Any]:
    """The history's calls (facts or events) that finished after `since`, oldest first."""
    return [
        item
        for item in hub.history
        if (item[0] if isinstance(item, tuple) else item["at"] if item["type"] == "request" else 0) > since
    ]


def test_a_call_nobody_watched_shows_in_the_history_as_a_watched_one_does(
    shared_gateway: RunningGateway,
) -> None:
    """While nobody watches, the history keeps a call's facts and the event is made when a viewer
    comes: it must be the event a viewer watching the call would have been sent."""
    url = shared_gateway.url.replace("http://", "ws://") + "/ws/logs"
    hub = hub_of(shared_gateway)

    async def requests(socket: Any) -> list[dict[str, Any]]:
        hello = orjson.loads(await asyncio.wait_for(socket.recv(), 5))
        assert hello["type"] == "hello"
        return [event for event in hello["history"] if event["type"] == "request"]

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=shared_gateway.url, headers=bearer(USER_TOKEN)) as client:
            async with websockets.connect(url, additional_headers=bearer(ADMIN_TOKEN)) as socket:
                await requests(socket)
                assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 200
                while True:  # log lines from anywhere in the process may come first
                    watched = orjson.loads(await asyncio.wait_for(socket.recv(), 5))
                    if watched["type"] == "request":
                        break
            while hub.subscribers:  # the server notices the viewer gone on its own loop
                await asyncio.sleep(0.01)
            for _ in range(2):
                assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 200
            # Kept as facts. A call reaches the history once its answer is sent, so the client can
            # be told before the history is: wait for both. Log lines go into the same history.
            async with asyncio.timeout(10):
                while len(unwatched := later_calls(hub, watched["at"])) < 2:
                    await asyncio.sleep(0.01)
            assert all(isinstance(item, tuple) for item in unwatched), unwatched
            async with websockets.connect(url, additional_headers=bearer(ADMIN_TOKEN)) as socket:
                return watched, (await requests(socket))[-3:]

    # Its own thread and loop: the session's Playwright browser may own this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        watched, history = pool.submit(asyncio.run, scenario()).result(timeout=30)
    assert history[0] == watched  # the watched one, as it was sent
    for unwatched in history[1:]:
        assert list(unwatched) == list(watched)  # the same fields in the same order
        assert unwatched["at"] >= watched["at"] and isinstance(unwatched["duration_ms"], float)
        same = {k: v for k, v in unwatched.items() if k not in ("at", "duration_ms", "credential")}
        assert same == {k: v for k, v in watched.items() if k not in ("at", "duration_ms", "credential")}
        assert unwatched["credential"] and unwatched["client"].startswith("token:")
        assert all(secret not in str(unwatched) for secret in [*KEYS, USER_TOKEN])

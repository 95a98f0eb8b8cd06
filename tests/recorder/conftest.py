"""Gateways that record, and helpers to read their records back over the admin API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson

from tests.conftest import ADMIN_TOKEN

CLIENT_TOKEN = "client-secret-token-7f3a9c2e51"
RECORDING = {
    "recording_writer": "process",  # what `serve` runs on a multi-CPU host (RECORDING_WRITER=auto)
    "gateway_tokens": [CLIENT_TOKEN],
    "recording_batch_ms": 10,
    "recording_retry_seconds": 0.2,
    "recording_write_timeout": 2.0,
}
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def wait_for_records(url: str, count: int, timeout: float = 60.0, **params: Any) -> list[dict[str, Any]]:
    """Poll `/api/logs` until `count` records match (the writer batches, so they land a bit later)."""
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = httpx.get(f"{url}/api/logs", params={"limit": 500, **params}, headers=ADMIN)
        response.raise_for_status()
        items = response.json()["items"]
        if len(items) >= count:
            return items
        time.sleep(0.05)
    raise AssertionError(f"expected {count} records, found {len(items)}")


def record(url: str, exchange_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/logs/{exchange_id}", headers=ADMIN)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def recorder_status(url: str, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/recorder", headers={"authorization": f"Bearer {token}"})
    return answer.json()  # type: ignore[no-any-return]


def wait_for_health(url: str, timeout: float = 60.0, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    """Poll `/api/recorder` until the writer has tried the store once: healthy, or with an error.

    The writer process reports after it started, so a status read at once may say neither yet.
    """
    deadline = time.monotonic() + timeout
    while True:
        status = recorder_status(url, token)
        if status.get("healthy") or status.get("last_error") or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def wait_for_status(url: str, timeout: float = 60.0, **expected: Any) -> dict[str, Any]:
    """Poll `/api/recorder` until every named counter has the expected value."""
    deadline = time.monotonic() + timeout
    while True:
        status = recorder_status(url)
        if all(status.get(k) == v for k, v in expected.items()) or time.monotonic() > deadline:
            assert {k: status.get(k) for k in expected} == expected
            return status
        time.sleep(0.05)


async def marked_load(url: str, count: int, done: list[int], model: str = "gemini-2.5-flash") -> None:
    """`count` generateContent calls, four at a time, each asking "marker-NNN"; each index goes to
    `done` once answered 200, so a test can act in the middle of the load."""

    async def one(client: httpx.AsyncClient, i: int) -> None:
        response = await client.post(
            f"{url}/v1beta/models/{model}:generateContent",
            json={"contents": [{"parts": [{"text": f"marker-{i:03d}"}]}]},
            headers={"x-goog-api-key": CLIENT_TOKEN},
        )
        assert response.status_code == 200, response.text
        done.append(i)

    async with httpx.AsyncClient(timeout=30) as client:
        for start in range(0, count, 4):
            await asyncio.gather(*(one(client, i) for i in range(start, min(start + 4, count))))


async def exported_markers(url: str) -> list[str]:
    """Once the spool is replayed: the marker of every exported record, sorted."""
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(100):
            status = (await client.get(f"{url}/api/recorder", headers=ADMIN)).json()
            if status["spool"]["files"] == 0:
                break
            await asyncio.sleep(0.1)
        export = await client.get(f"{url}/api/logs/export", headers=ADMIN)
    lines = [orjson.loads(line) for line in export.content.splitlines()]
    return sorted(line["request_body"]["contents"][0]["parts"][0]["text"] for line in lines)

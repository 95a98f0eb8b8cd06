"""The model lists answer for the whole pool: the union over keys, Gemini CLI accounts, Antigravity
accounts and executors, not the list of whichever credential happened to be asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

from gemini_gateway.fake_upstream import FakeState
from tests.backends.test_executor_protocol import TOKEN, PyExecutor, wait_until
from tests.conftest import KEYS, GatewayFactory
from tests.oauth.helpers import ADMIN, account_json, antigravity_settings

CLI_ONLY = "gemini-cli-only-1"
ANTIGRAVITY_ONLY = "claude-sonnet-4-5"
EXECUTOR_ONLY = "executor-only-1"


class ListingExecutor(PyExecutor):
    """An executor whose tab lists a model of its own."""

    async def _run(self, task: dict[str, Any]) -> None:
        if task["method"] == "models.list":
            payload = {"models": [{"name": f"models/{EXECUTOR_ONLY}", "displayName": "Tab model"}]}
            await self._send({"type": "chunk", "id": task["id"], "payload": payload})
            await self._send({"type": "done", "id": task["id"]})
            return
        await super()._run(task)


def mixed_settings(fake: FakeState, fake_url: str, folder: Path) -> dict[str, Any]:
    for prefix, email in (("oauth_creds", "cli@example.com"), ("antigravity_creds", "ag@example.com")):
        data = account_json(fake, email)
        data["project_id"] = fake.oauth.account(email).project
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{prefix}_{email}.json").write_bytes(orjson.dumps(data))
    fake.oauth.antigravity_models = ["gemini-2.5-flash", ANTIGRAVITY_ONLY]
    return antigravity_settings(
        fake_url,
        folder,
        gemini_api_keys=KEYS,
        executor_tokens=[TOKEN],
        code_assist_models=["gemini-2.5-flash", CLI_ONLY],
        antigravity_models=["gemini-2.5-flash", ANTIGRAVITY_ONLY],
    )


async def test_models_lists_are_the_union_of_every_kind(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    with gateway_factory(**mixed_settings(fake, fake_url, tmp_path / "creds")) as running:
        async with (
            httpx.AsyncClient(base_url=running.url, timeout=30) as client,
            ListingExecutor(running.url, fake_url, "tab-m"),
        ):

            async def connected() -> bool:
                kinds = {
                    c["kind"] for c in (await client.get("/api/pool", headers=ADMIN)).json()["credentials"]
                }
                return {"api_key", "oauth", "antigravity", "executor"} <= kinds

            await wait_until(connected)
            openai = await client.get("/v1/models", headers={"authorization": "Bearer sk-client"})
            assert openai.status_code == 200, openai.text
            ids = [m["id"] for m in openai.json()["data"]]
            key_models = [m["name"].removeprefix("models/") for m in fake_models(fake_url)]
            assert {*key_models, CLI_ONLY, ANTIGRAVITY_ONLY, EXECUTOR_ONLY} <= set(ids)
            assert len(ids) == len(set(ids))  # one entry per model, whoever lists it

            native = await client.get("/v1beta/models", headers={"x-goog-api-key": "client"})
            assert native.status_code == 200, native.text
            names = [m["name"] for m in native.json()["models"]]
            assert {f"models/{m}" for m in (*key_models, CLI_ONLY, ANTIGRAVITY_ONLY, EXECUTOR_ONLY)} <= set(
                names
            )
            flash = next(m for m in native.json()["models"] if m["name"] == "models/gemini-2.5-flash")
            assert flash.get("inputTokenLimit")  # the keys' entry, with Google's full metadata

            paged, token = [], None
            while True:  # paged by the gateway, as Google pages its own list
                params = {"pageSize": "4", **({"pageToken": token} if token else {})}
                page = (await client.get("/v1/models", params=params)).json()
                paged += [m["name"] for m in page["models"]]
                token = page.get("nextPageToken")
                if not token:
                    break
            assert paged == names

            one = await client.get(f"/v1beta/models/{ANTIGRAVITY_ONLY}", headers={"x-goog-api-key": "c"})
            assert one.status_code == 200 and one.json()["name"] == f"models/{ANTIGRAVITY_ONLY}"
            missing = await client.get("/v1beta/models/no-such-model-9", headers={"x-goog-api-key": "c"})
            assert missing.status_code == 404


def fake_models(fake_url: str) -> list[dict[str, Any]]:
    listed = httpx.get(
        f"{fake_url}/v1beta/models", params={"pageSize": 1000}, headers={"x-goog-api-key": KEYS[0]}
    )
    return list(listed.json()["models"])

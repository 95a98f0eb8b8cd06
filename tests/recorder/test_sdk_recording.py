"""Real HTTP over loopback: the google-genai SDK calls a recording gateway in front of the fake."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
from google import genai

from tests.conftest import KEYS, GatewayFactory
from tests.recorder.conftest import ADMIN, CLIENT_TOKEN, RECORDING, record, wait_for_records

MODEL = "gemini-2.5-flash"


def sdk(url: str) -> genai.Client:
    return genai.Client(api_key=CLIENT_TOKEN, http_options={"base_url": url, "api_version": "v1beta"})


def secrets_absent(data_dir: Path, documents: list[object]) -> None:
    """No upstream key nor client token, in the database files, the spool, or any decoded record."""
    secrets = [k.encode() for k in [*KEYS, CLIENT_TOKEN]]
    files = [p for p in data_dir.rglob("*") if p.is_file() and p.name != "admin-token"]
    assert any(p.name.startswith("gateway.db") for p in files)
    for path in files:
        content = path.read_bytes()
        assert not [s for s in secrets if s in content], path
    decoded = orjson.dumps(documents)
    assert not [s for s in secrets if s in decoded]


def test_non_stream_and_stream_are_recorded_completely(gateway_factory: GatewayFactory, fake: object) -> None:
    with gateway_factory(**RECORDING) as running:
        client = sdk(running.url)
        answer = client.models.generate_content(
            model=MODEL,
            contents="Tell me about pelicans",
            config={"temperature": 0.3, "max_output_tokens": 300},
        )
        chunks = list(client.models.generate_content_stream(model=MODEL, contents="Stream about otters"))
        streamed_text = "".join(c.text or "" for c in chunks)
        items = wait_for_records(running.url, 2)
        data_dir = running.gateway.settings.data_dir

        stream_summary, unary_summary = items  # newest first
        unary = record(running.url, unary_summary["id"])
        assert (unary["status"], unary["model"], unary["dialect"], unary["stream"]) == (
            200,
            MODEL,
            "gemini",
            False,
        )
        assert unary["path"] == f"/v1beta/models/{MODEL}:generateContent"
        assert unary["client_id"].startswith("token:") and CLIENT_TOKEN not in unary["client_id"]
        assert unary["request_body"]["contents"][0]["parts"][0]["text"] == "Tell me about pelicans"
        assert unary["generation_settings"]["generationConfig"] == {
            "temperature": 0.3,
            "maxOutputTokens": 300,
        }
        parts = unary["response_body"]["candidates"][0]["content"]["parts"]
        assert "".join(p["text"] for p in parts if not p.get("thought")) == answer.text
        usage = answer.usage_metadata
        assert usage is not None
        assert (unary["prompt_tokens"], unary["candidates_tokens"], unary["total_tokens"]) == (
            usage.prompt_token_count,
            usage.candidates_token_count,
            usage.total_token_count,
        )
        assert len(unary["attempts"]) == 1 and unary["attempts"][0]["status"] == 200
        assert unary["attempts"][0]["credential"] == unary["credential"] and "..." in unary["credential"]
        assert unary["duration_ms"] > 0 and 0 < unary["first_byte_ms"] <= unary["duration_ms"]
        assert unary["request_headers"]["x-goog-api-key"] != CLIENT_TOKEN

        stream = record(running.url, stream_summary["id"])
        assert (stream["status"], stream["stream"], stream["query"]) == (200, True, "alt=sse")
        assert stream["chunk_count"] == len(chunks) >= 2
        merged_parts = stream["response_body"]["candidates"][0]["content"]["parts"]
        assert "".join(p["text"] for p in merged_parts if not p.get("thought")) == streamed_text
        assert stream["finish_reason"] == "STOP"
        final_usage = chunks[-1].usage_metadata
        assert final_usage is not None and stream["total_tokens"] == final_usage.total_token_count
        # Events that reach the gateway in one read leave in one write, so the first byte and the
        # end can fall within the same microseconds (the record keeps three decimals of a ms).
        assert 0 < stream["first_byte_ms"] <= stream["duration_ms"]
        status = httpx.get(f"{running.url}/api/recorder", headers=ADMIN).json()
        assert status["written"] == 2 and status["spooled"] == 0 and status["healthy"] is True

    secrets_absent(data_dir, [unary, stream])


def test_client_disconnect_mid_stream_is_recorded_as_499(
    gateway_factory: GatewayFactory, fake: object
) -> None:
    fake.config.merge({"stream_chunks": 20, "chunk_delay_ms": 100})  # type: ignore[attr-defined]
    with gateway_factory(**RECORDING) as running:
        url = f"{running.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
        body = {"contents": [{"parts": [{"text": "a long story about walruses"}]}]}
        with (
            httpx.Client() as client,
            client.stream("POST", url, json=body, headers={"x-goog-api-key": CLIENT_TOKEN}) as response,
        ):
            assert response.status_code == 200
            next(response.iter_bytes())  # one event, then hang up
        (item,) = wait_for_records(running.url, 1)
        assert item["status"] == 499 and item["error"] == "client disconnected"
        assert wait_for_records(running.url, 1, errors_only="true")[0]["id"] == item["id"]


def test_route_modes_choose_metadata_or_nothing(gateway_factory: GatewayFactory, fake: object) -> None:
    modes = {"/v1beta/models/gemini-embedding-001": "off", "/v1beta/models": "metadata"}
    with gateway_factory(**RECORDING, recording_route_modes=modes) as running:
        client = sdk(running.url)
        client.models.embed_content(model="gemini-embedding-001", contents=["not recorded"])
        client.models.generate_content(model=MODEL, contents="recorded without bodies")
        (item,) = wait_for_records(running.url, 1)
        full = record(running.url, item["id"])
        assert full["mode"] == "metadata" and full["request_body"] is None and full["response_body"] is None
        assert full["total_tokens"] and full["model"] == MODEL  # usage still extracted
        assert httpx.get(f"{running.url}/api/logs", headers=ADMIN).json()["next_cursor"] is None


def test_logs_api_needs_the_admin_token(gateway_factory: GatewayFactory, fake: object) -> None:
    with gateway_factory(**RECORDING) as running:
        assert httpx.get(f"{running.url}/api/logs").status_code == 401
        headers = {"authorization": f"Bearer {CLIENT_TOKEN}"}
        assert httpx.get(f"{running.url}/api/stats", headers=headers).status_code == 403

"""No secret leaves: pool keys that Google names in its own error texts, and client tokens sent
in places the gateway does not read, reach no client, log line, admin view or record in full.

Driven with the official SDKs against the fake upstream, whose `suspended` fault answers as
Google does for a suspended key: `Consumer 'api_key:<the key>' has been suspended.`
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import anthropic
import httpx
import openai
import pytest
from google import genai

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.redaction import RedactingFilter
from tests.conftest import ADMIN_TOKEN, GatewayFactory, RunningGateway
from tests.recorder.conftest import CLIENT_TOKEN as RECORDING_TOKEN
from tests.recorder.conftest import RECORDING, record, wait_for_health, wait_for_records

MODEL = "gemini-2.5-flash"
# Shaped like Google's keys (AIza + 35), and one the gateway only knows by being configured.
GOOGLE_KEY = "AIzaSyDredactTestKey0000000000000000042"
PLAIN_KEY = "pool-key-plain-shape-93c1d7e5a0b2"
KEYS = [GOOGLE_KEY, PLAIN_KEY]
CLIENT_TOKEN = "client-token-redact-5b8e2f91c4d7"
WRONG_TOKEN = "wrong-token-guess-a1b2c3d4e5f6"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def suspended(gateway_factory: GatewayFactory, fake: FakeState) -> Iterator[RunningGateway]:
    """A gateway whose every key is suspended upstream, recording in full, its pool state saved often."""
    for key in KEYS:
        fake.add_fault(key, "suspended")
    with gateway_factory(
        gemini_api_keys=KEYS, gateway_tokens=[CLIENT_TOKEN], pool_state_flush_seconds=0.05
    ) as running:
        yield running


def admin_views(url: str) -> str:
    texts = [
        httpx.get(f"{url}{path}", headers=ADMIN).text for path in ("/api/pool", "/api/keys", "/api/locks")
    ]
    return "\n".join(texts)


def stored_pool_state(data_dir: Path, expected: int) -> str:
    """The pool state rows once the flush has written every credential's failure."""
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(data_dir / "gateway.db") as db:
            rows = db.execute("SELECT credential_id, state FROM pool_state").fetchall()
        if (
            sum('"disabled_reason": null' not in str(s) and "disabled_reason" in str(s) for _, s in rows)
            >= expected
        ):
            return repr(rows)
        if time.monotonic() > deadline:
            raise AssertionError(f"pool state never showed {expected} disabled credentials: {rows}")
        time.sleep(0.05)


def recorded(url: str) -> str:
    (item,) = wait_for_records(url, 1)
    parts = [repr(record(url, item["id"]))]
    for format in ("raw", "chat"):
        parts.append(httpx.get(f"{url}/api/logs/export", params={"format": format}, headers=ADMIN).text)
    return "\n".join(parts)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """The log lines as the gateway's sink writes them (through its redacting filter)."""
    sink = RedactingFilter()
    lines = []
    for entry in caplog.records:
        sink.filter(entry)
        lines.append(entry.getMessage())
    return "\n".join(lines)


def assert_no_key(text: str, where: str, secrets: list[str] = KEYS) -> None:
    for secret in secrets:
        for form in (secret, quote(secret, safe=""), secret[4:-4]):
            assert form not in text, f"{form!r} found in {where}: {text[:2000]}"


def _gemini(url: str) -> str:
    sdk = genai.Client(api_key=CLIENT_TOKEN, http_options={"base_url": url, "api_version": "v1beta"})
    with pytest.raises(genai.errors.APIError) as info:
        sdk.models.generate_content(model=MODEL, contents="hi")
    assert info.value.code == 403
    return f"{info.value} {info.value.details}"


def _gemini_stream(url: str) -> str:
    sdk = genai.Client(api_key=CLIENT_TOKEN, http_options={"base_url": url, "api_version": "v1beta"})
    with pytest.raises(genai.errors.APIError) as info:
        for _ in sdk.models.generate_content_stream(model=MODEL, contents="hi"):
            pass
    assert info.value.code == 403
    return f"{info.value} {info.value.details}"


def _openai(url: str) -> str:
    sdk = openai.OpenAI(api_key=CLIENT_TOKEN, base_url=f"{url}/v1", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 403
    return f"{info.value} {info.value.response.text}"


def _anthropic(url: str) -> str:
    sdk = anthropic.Anthropic(api_key=CLIENT_TOKEN, base_url=url, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        sdk.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 403
    return f"{info.value} {info.value.response.text}"


CALLS: dict[str, Callable[[str], str]] = {
    "gemini": _gemini,
    "gemini-stream": _gemini_stream,
    "openai": _openai,
    "anthropic": _anthropic,
}


@pytest.mark.parametrize("dialect", list(CALLS))
def test_a_key_named_in_googles_error_text_leaves_nowhere(
    suspended: RunningGateway, fake: FakeState, caplog: pytest.LogCaptureFixture, tmp_path: Path, dialect: str
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = CALLS[dialect](suspended.url)
    # The fake did name both keys: the test would prove nothing otherwise.
    assert {call.key for call in fake.calls} == set(KEYS)
    assert "has been suspended" in answer and "api_key:" in answer  # the text still says what happened
    assert_no_key(answer, "the client's answer")
    views = admin_views(suspended.url)
    assert "CONSUMER_SUSPENDED" in views
    assert_no_key(views, "the admin views")
    assert_no_key(stored_pool_state(tmp_path / "data", expected=len(KEYS)), "the stored pool state")
    assert_no_key(recorded(suspended.url), "the records")
    assert_no_key(logged(caplog), "the log")


def test_a_key_percent_encoded_or_in_details_is_masked(
    gateway_factory: GatewayFactory, fake: FakeState, tmp_path: Path
) -> None:
    """Google's texts may carry the key URL-encoded (a quoted request URL) or quoted in JSON."""
    key = "pool/key+with=reserved:chars-1f2e3d4c"
    fake.add_fault(
        key, "suspended", message=f"bad call to /v1beta/models?key={quote(key, safe='')} by '{key}'"
    )
    with gateway_factory(gemini_api_keys=[key], gateway_tokens=[CLIENT_TOKEN]) as running:
        answer = _gemini(running.url)
        assert "bad call" in answer
        assert_no_key(answer, "the client's answer", [key])
        assert_no_key(admin_views(running.url), "the admin views", [key])
        assert_no_key(recorded(running.url), "the records", [key])


def test_client_tokens_in_any_header_or_query_parameter_are_masked(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    with gateway_factory(gateway_tokens=[CLIENT_TOKEN]) as running:
        sdk = openai.OpenAI(
            api_key=CLIENT_TOKEN,
            base_url=f"{running.url}/v1",
            max_retries=0,
            default_headers={"x-goog-user-project": CLIENT_TOKEN, "x-trace": f"caller={CLIENT_TOKEN};v=1"},
            default_query={"api-key": CLIENT_TOKEN, "note": f"from {CLIENT_TOKEN}"},
        )
        answer = sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content
        # A wrong token, presented where the gateway reads it and where it does not.
        wrong = openai.OpenAI(
            api_key=WRONG_TOKEN,
            base_url=f"{running.url}/v1",
            max_retries=0,
            default_headers={"x-goog-user-project": WRONG_TOKEN},
            default_query={"api-key": WRONG_TOKEN},
        )
        with pytest.raises(openai.PermissionDeniedError):
            wrong.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        items = wait_for_records(running.url, 2)
        records = [record(running.url, item["id"]) for item in items]
        headers = {name for r in records for name in r["request_headers"]}
        assert {"x-goog-user-project", "x-trace"} <= headers  # the headers are kept, only masked
        assert all("api-key=" in (r["query"] or "") for r in records)
        exported = httpx.get(f"{running.url}/api/logs/export", headers=ADMIN).text
        for text in (repr(records), exported):
            assert_no_key(text, "the records", [CLIENT_TOKEN, WRONG_TOKEN])


def test_client_tokens_where_a_model_name_or_an_id_goes_are_masked(
    gateway_factory: GatewayFactory, fake: FakeState, tmp_path: Path
) -> None:
    """A client that swapped its variables sends its token as the model or a file id: the record's
    path, route, model and error keep only its mask, whether the token was right or wrong."""
    with gateway_factory(gateway_tokens=[CLIENT_TOKEN]) as running:
        native = httpx.post(
            f"{running.url}/v1beta/models/{CLIENT_TOKEN}:generateContent",
            headers={"x-goog-api-key": CLIENT_TOKEN},
            json={"contents": [{"parts": [{"text": "hi"}]}]},
        )
        assert native.status_code == 404, native.text  # a model no key has, asked of Google
        sdk = openai.OpenAI(api_key=CLIENT_TOKEN, base_url=f"{running.url}/v1", max_retries=0)
        with pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(model=CLIENT_TOKEN, messages=[{"role": "user", "content": "hi"}])
        wrong = httpx.get(
            f"{running.url}/v1beta/files/{WRONG_TOKEN}", headers={"x-goog-api-key": WRONG_TOKEN}
        )
        assert wrong.status_code == 403
        for answer in (native.text, wrong.text):
            assert_no_key(answer, "the client's answer", [CLIENT_TOKEN, WRONG_TOKEN])
        items = wait_for_records(running.url, 3)
        listed = httpx.get(f"{running.url}/api/logs", params={"limit": 10}, headers=ADMIN).text
        details = [repr(record(running.url, item["id"])) for item in items]
        exported = httpx.get(f"{running.url}/api/logs/export", headers=ADMIN).text
        with sqlite3.connect(tmp_path / "data" / "gateway.db") as db:
            stored = repr(db.execute("SELECT * FROM exchanges").fetchall())
        for text in (listed, *details, exported, stored):
            assert_no_key(text, "the records", [CLIENT_TOKEN, WRONG_TOKEN])
        assert "clie...c4d7" in stored and "wron...e5f6" in stored  # masked, not dropped


def test_a_key_added_while_running_is_masked_by_the_writer_process_too(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    """The writer process learns the gateway's secrets at start; one added later reaches it too."""
    added = "pool-key-added-at-runtime-7d2c9e"
    with gateway_factory(**RECORDING) as running:
        assert wait_for_health(running.url)["writer"] == "process"
        answer = httpx.post(f"{running.url}/api/keys", json={"keys": [added]}, headers=ADMIN)
        assert answer.status_code == 201, answer.text
        sdk = genai.Client(
            api_key=RECORDING_TOKEN,
            http_options={"base_url": running.url, "headers": {"x-debug-upstream": f"key {added}"}},
        )
        assert sdk.models.generate_content(model=MODEL, contents="hi").text
        (item,) = [i for i in wait_for_records(running.url, 1) if i["dialect"] == "gemini"]
        kept = record(running.url, item["id"])
        assert kept["request_headers"]["x-debug-upstream"].startswith("key ")
        assert_no_key(repr(kept), "the record", [added])

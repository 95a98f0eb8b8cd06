"""An empty 200 (no candidates, no parts, nothing that explains it) is tried on another credential,
through the gateway with the official SDKs, and counted where operators look."""

from __future__ import annotations

import httpx
import openai
from google import genai

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import mask_secret
from tests.conftest import KEYS, RunningGateway
from tests.recorder.conftest import record, wait_for_records
from tests.routes.test_failover import pool_of, served_by

MODEL = "gemini-2.5-pro"
GEN = f"/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about herons"}]}]}


def genai_client(url: str) -> genai.Client:
    return genai.Client(api_key="client-token", http_options={"base_url": url, "api_version": "v1beta"})


def openai_client(url: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="client-token", base_url=url + "/v1", max_retries=0)


def test_an_empty_answer_is_retried_on_another_key(gateway: RunningGateway, fake: FakeState) -> None:
    fake.add_fault(KEYS[0], "empty")
    sdk = genai_client(gateway.url)
    answer = sdk.models.generate_content(model=MODEL, contents="Tell me about herons")
    assert answer.text and "herons" in answer.text.lower()
    assert [c.key for c in fake.calls] == KEYS[:2]
    empty = pool_of(gateway)[mask_secret(KEYS[0])]
    assert empty["empty_answers"] == 1 and empty["disabled_reason"] is None and not empty["cooldowns"]
    assert pool_of(gateway)[mask_secret(KEYS[1])]["empty_answers"] == 0
    (item, *_) = wait_for_records(gateway.url, 1)
    attempts = record(gateway.url, item["id"])["attempts"]
    assert [(a["status"], bool(a["error"])) for a in attempts] == [(200, True), (200, False)]
    assert "empty" in attempts[0]["error"]


def test_an_empty_stream_is_retried_before_any_byte(gateway: RunningGateway, fake: FakeState) -> None:
    fake.add_fault(KEYS[0], "empty")
    sdk = genai_client(gateway.url)
    chunks = list(sdk.models.generate_content_stream(model=MODEL, contents="Herons"))
    assert "herons" in "".join(c.text or "" for c in chunks).lower()
    assert [c.key for c in fake.calls] == KEYS[:2]
    assert pool_of(gateway)[mask_secret(KEYS[0])]["empty_answers"] == 1


def test_openai_clients_get_the_complete_answer(gateway: RunningGateway, fake: FakeState) -> None:
    sdk = openai_client(gateway.url)
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Herons"}]
    fake.add_fault("*", "empty", count=1)
    completion = sdk.chat.completions.create(model=MODEL, messages=messages)
    assert completion.choices[0].message.content and "herons" in completion.choices[0].message.content.lower()
    fake.add_fault("*", "empty", count=1)
    stream = sdk.chat.completions.create(model=MODEL, messages=messages, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert "herons" in text.lower()
    assert sum(c["empty_answers"] for c in pool_of(gateway).values()) == 2
    assert len(fake.calls) == 4


def test_a_stream_without_content_nor_finish_is_retried(gateway: RunningGateway, fake: FakeState) -> None:
    usage_only = {"usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}, "modelVersion": MODEL}
    fake.add_fault(KEYS[0], "reply", answer=[usage_only, usage_only])
    response = httpx.post(gateway.url + STREAM, json=BODY)
    assert response.status_code == 200 and b"herons" in response.content.lower()
    assert b"usageMetadata" in response.content and response.content.count(b"data: ") >= 2
    assert served_by(response) == mask_secret(KEYS[1])


def test_an_explained_empty_answer_is_the_answer(gateway: RunningGateway, fake: FakeState) -> None:
    """A blocked prompt or a safety stop is Google's answer, the same on every key: passed on."""
    blocked = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "modelVersion": MODEL}
    safety = {"candidates": [{"content": {"role": "model"}, "finishReason": "SAFETY", "index": 0}]}
    fake.add_fault("*", "reply", count=1, answer=[blocked])
    fake.add_fault("*", "reply", count=1, answer=[safety])
    assert httpx.post(gateway.url + GEN, json=BODY).json() == blocked
    streamed = httpx.post(gateway.url + STREAM, json=BODY)
    assert streamed.status_code == 200 and b'"SAFETY"' in streamed.content
    assert len(fake.calls) == 2
    assert all(c["empty_answers"] == 0 for c in pool_of(gateway).values())


def test_every_key_empty_gives_the_last_empty_answer(gateway: RunningGateway, fake: FakeState) -> None:
    fake.add_fault("*", "empty")
    response = httpx.post(gateway.url + GEN, json=BODY)
    assert response.status_code == 200 and response.json()["candidates"][0]["finishReason"] == "STOP"
    assert len(fake.calls) == len(KEYS)
    streamed = httpx.post(gateway.url + STREAM, json=BODY)
    assert streamed.status_code == 200 and b'"STOP"' in streamed.content

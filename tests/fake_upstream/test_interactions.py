"""The fake's Interactions API, called straight by google-genai: per-key projects and checks."""

from __future__ import annotations

import httpx
import pytest
from google import genai
from google.genai._interactions import APIStatusError  # what client.interactions raises

from gemini_gateway.fake_upstream import FakeState

MODEL = "gemini-2.5-flash"


def sdk(url: str, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options={"base_url": url, "retry_options": {"attempts": 1}})


def test_an_interaction_belongs_to_the_key_that_made_it(fake_url: str, fake: FakeState) -> None:
    alpha, bravo = sdk(fake_url, "key-alpha"), sdk(fake_url, "key-bravo")
    made = alpha.interactions.create(model=MODEL, input="Wrens sing loudly")
    assert made.id and made.status == "completed" and fake.interactions.owner_of(made.id) == "key-alpha"
    follow = alpha.interactions.create(model=MODEL, input="Why?", previous_interaction_id=made.id)
    assert follow.output_text and follow.output_text.startswith("Turn 2:")
    for attempt in (
        lambda: bravo.interactions.get(made.id or ""),
        lambda: bravo.interactions.delete(made.id or ""),
        lambda: bravo.interactions.create(model=MODEL, input="x", previous_interaction_id=made.id),
    ):
        with pytest.raises(APIStatusError) as denied:
            attempt()
        assert denied.value.status_code == 403
    with pytest.raises(APIStatusError) as finished:
        alpha.interactions.cancel(made.id)
    assert finished.value.status_code == 400


def test_requests_are_checked_as_google_checks_them(fake_url: str, fake: FakeState) -> None:
    url, key = f"{fake_url}/v1beta/interactions", {"x-goog-api-key": "key-alpha"}
    cases = [
        ({"input": "no model"}, 400, "invalid_request"),
        ({"model": MODEL, "agent": "deep-research-preview", "input": "both"}, 400, "invalid_request"),
        ({"model": "no-such-model", "input": "hi"}, 404, "model_not_found"),
        ({"agent": "deep-research-preview", "input": "not in the background"}, 400, "invalid_request"),
        ({"model": MODEL, "input": "hi", "background": True, "store": False}, 400, "invalid_request"),
        ({"model": MODEL}, 400, "invalid_request"),
    ]
    for body, status, code in cases:
        answer = httpx.post(url, json=body, headers=key)
        assert answer.status_code == status, body
        # The Interactions API's own error shape: a string code, no google.rpc.Status fields.
        assert answer.json() == {"error": {"code": code, "message": answer.json()["error"]["message"]}}
    keyless = httpx.post(url, json={"model": MODEL, "input": "hi"})
    assert keyless.status_code == 401 and keyless.json()["error"]["code"] == "authentication"
    unknown = httpx.get(f"{url}/v1_neverMade", headers=key)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    agent = httpx.post(
        url, json={"agent": "deep-research-preview", "input": "hi", "background": True}, headers=key
    )
    assert agent.status_code == 200 and agent.json()["status"] == "in_progress"

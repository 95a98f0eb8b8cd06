"""google-genai's Interactions API against the gateway, served by the fake upstream over loopback.

An interaction lives in the project of the key that created it (the fake answers 403 anywhere
else), so every follow-up, poll, cancel and stream resume must land on that key, while new
conversations keep balancing over the pool.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx
import pytest
from google import genai
from google.genai._interactions import (  # what client.interactions raises
    APIStatusError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
)

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import ADMIN_TOKEN, KEYS, GatewayFactory, RunningGateway
from tests.recorder.conftest import record, wait_for_records

MODEL = "gemini-2.5-flash"
CLIENT = {"x-goog-api-key": "any-client-token"}


def client(url: str, **options: Any) -> genai.Client:
    # The SDK's default version is v1; Google serves interactions there as well as on v1beta.
    return genai.Client(api_key="any-client-token", http_options={"base_url": url, **options})


def keys_of(fake: FakeState, method: str) -> list[str | None]:
    return [c.key for c in fake.calls if c.method == method]


def owner(fake: FakeState, interaction_id: str | None) -> str:
    assert interaction_id
    key = fake.interactions.owner_of(interaction_id)
    assert key is not None, f"{interaction_id} is in no project"
    return key


def test_follow_ups_stay_on_the_creating_key_while_new_conversations_spread(
    gateway: RunningGateway, fake: FakeState
) -> None:
    sdk = client(gateway.url)
    first = sdk.interactions.create(model=MODEL, input="Herons stand still in shallow water")
    key = owner(fake, first.id)
    last, fresh = first, []
    for turn in range(2, 14):
        last = sdk.interactions.create(
            model=MODEL, input=f"Tell me more, part {turn}", previous_interaction_id=last.id
        )
        assert fake.calls[-1].key == key and owner(fake, last.id) == key
        if turn % 4 == 0:  # new conversations in between keep balancing
            fresh.append(sdk.interactions.create(model=MODEL, input="A new topic: owls"))
    for _ in range(len(KEYS)):
        fresh.append(sdk.interactions.create(model=MODEL, input="Another new topic"))
    assert last.output_text and last.output_text.startswith("Turn 13:")
    assert "Herons stand still" in last.output_text  # the fake saw the whole conversation
    creates = Counter(keys_of(fake, "createInteraction"))
    assert creates[key] >= 13
    assert {owner(fake, i.id) for i in fresh} == set(KEYS)
    assert set(creates) == set(KEYS)
    assert keys_of(fake, "getInteraction") == []  # owners were known: nothing had to be searched


def test_a_stream_arrives_event_by_event_and_resumes_on_the_owner(
    gateway: RunningGateway, fake: FakeState
) -> None:
    sdk = client(gateway.url)
    fake.config.merge({"stream_chunks": 6})
    gate = fake.interactions.gate = threading.Event()
    seen: list[tuple[str, str | None]] = []
    interaction_id = ""
    last_sent_at_first_delta: bool | None = None
    stream = sdk.interactions.create(model=MODEL, input="Describe a kingfisher's dive", stream=True)
    for event in stream:
        seen.append((event.event_type, event.event_id))
        if event.event_type == "interaction.created":
            interaction_id = event.interaction.id
        if event.event_type == "step.delta" and last_sent_at_first_delta is None:
            # The fake holds its last delta until the gate opens: a gateway that buffered the
            # stream would deliver nothing before the fake gave up waiting and sent the rest.
            last_sent_at_first_delta = fake.interactions.last_sent.is_set()
            gate.set()
    assert last_sent_at_first_delta is False
    types = [t for t, _ in seen]
    assert types[:3] == ["interaction.created", "interaction.status_update", "step.start"]
    assert types[3:-2] == ["step.delta"] * 6 and types[-2:] == ["step.stop", "interaction.completed"]
    key = owner(fake, interaction_id)
    # Resume after the third delta: the rest, from the key that holds it.
    resumed = list(sdk.interactions.get(interaction_id, stream=True, last_event_id=seen[5][1]))
    assert [(e.event_type, e.event_id) for e in resumed] == seen[6:]
    assert fake.calls[-1].key == key and fake.calls[-1].method == "getInteraction"


def test_streamed_bytes_keep_google_framing(gateway: RunningGateway, fake: FakeState) -> None:
    body = {"model": MODEL, "input": "Frame check", "stream": True}
    with httpx.stream(
        "POST", f"{gateway.url}/v1beta/interactions", json=body, headers=CLIENT, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes())
    assert raw.startswith(b"event: interaction.created\r\ndata: {")
    assert b"event: step.delta\r\ndata: " in raw and raw.endswith(b"data: [DONE]\r\n\r\n")


def test_background_poll_cancel_delete(gateway: RunningGateway, fake: FakeState) -> None:
    sdk = client(gateway.url)
    started = sdk.interactions.create(model=MODEL, input="Research swifts", background=True)
    assert started.status == "in_progress"
    key = owner(fake, started.id)
    polled = [sdk.interactions.get(started.id or "").status for _ in range(5)]
    assert polled[0] == "in_progress" and polled[-1] == "completed"
    assert set(keys_of(fake, "getInteraction")) == {key}
    done = sdk.interactions.get(started.id or "")
    assert done.output_text and "Research swifts" in done.output_text
    assert done.usage and done.usage.total_tokens

    other = sdk.interactions.create(model=MODEL, input="Research terns", background=True)
    cancelled = sdk.interactions.cancel(other.id or "")
    assert cancelled.status == "cancelled" and fake.calls[-1].key == owner(fake, other.id)
    sdk.interactions.delete(other.id or "")
    assert fake.calls[-1].method == "deleteInteraction" and fake.interactions.owner_of(other.id or "") is None
    with pytest.raises(APIStatusError) as gone:
        sdk.interactions.get(other.id or "")
    assert gone.value.status_code in (403, 404)


def test_a_cooling_owner_answers_429_naming_the_interaction(gateway: RunningGateway, fake: FakeState) -> None:
    sdk = client(gateway.url)
    first = sdk.interactions.create(model=MODEL, input="Puffins nest in burrows")
    key = owner(fake, first.id)
    fake.add_fault(key, "429", count=1, retry_delay="9s")
    follow_up = {"model": MODEL, "input": "More please", "previous_interaction_id": first.id}
    url = f"{gateway.url}/v1beta/interactions"
    answers = [httpx.post(url, json=follow_up, headers=CLIENT, timeout=30) for _ in range(2)]
    for answer in answers:
        assert answer.status_code == 429 and 1 <= int(answer.headers["retry-after"]) <= 9
        assert answer.json()["error"]["code"] == "rate_limit_exceeded"  # the Interactions API's code
    assert f"interactions/{first.id}" in answers[1].json()["error"]["message"]
    assert keys_of(fake, "createInteraction") == [key, key]  # the second never left the gateway
    fresh = httpx.post(url, json={"model": MODEL, "input": "Unrelated"}, headers=CLIENT, timeout=30)
    assert fresh.status_code == 200 and fake.calls[-1].key != key


def test_the_pin_survives_a_restart(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory() as running:
        sdk = client(running.url)  # held: a collected genai.Client closes its HTTP client
        first = sdk.interactions.create(model=MODEL, input="Gannets dive from height")
    key = owner(fake, first.id)
    before = len(fake.calls)
    with gateway_factory() as running:  # the same data folder, so the same SQLite store
        sdk = client(running.url)
        last = first
        for _ in range(len(KEYS) + 1):
            last = sdk.interactions.create(model=MODEL, input="And then?", previous_interaction_id=last.id)
    after = fake.calls[before:]
    assert [c.key for c in after] == [key] * (len(KEYS) + 1)
    assert {c.method for c in after} == {"createInteraction"}  # no search: the store knew the owner
    assert last.output_text and "Gannets" in last.output_text


def test_interactions_are_recorded_with_model_usage_and_id(gateway: RunningGateway, fake: FakeState) -> None:
    sdk = client(gateway.url)
    made = sdk.interactions.create(model=MODEL, input="Count the cormorants")
    events = list(sdk.interactions.create(model=MODEL, input="Stream the cormorants", stream=True))
    stream_summary, unary_summary = wait_for_records(gateway.url, 2)
    unary = record(gateway.url, unary_summary["id"])
    assert made.usage is not None
    assert (unary["model"], unary["status"], unary["path"]) == (MODEL, 200, "/v1/interactions")
    assert (unary["prompt_tokens"], unary["candidates_tokens"], unary["total_tokens"]) == (
        made.usage.total_input_tokens,
        made.usage.total_output_tokens,
        made.usage.total_tokens,
    )
    assert unary["response_body"]["id"] == made.id
    streamed = record(gateway.url, stream_summary["id"])
    completed = events[-1]
    assert completed.event_type == "interaction.completed"
    assert streamed["stream"] is True and streamed["model"] == MODEL
    assert streamed["response_body"]["id"] == completed.interaction.id
    assert completed.interaction.usage is not None
    assert streamed["total_tokens"] == completed.interaction.usage.total_tokens


def test_aliases_and_bad_names(gateway: RunningGateway, fake: FakeState) -> None:
    made = httpx.post(
        f"{gateway.url}/gemini/v1beta/interactions", json={"model": MODEL, "input": "hi"}, headers=CLIENT
    )
    assert made.status_code == 200 and made.json()["status"] == "completed"
    bad_previous = {"model": MODEL, "input": "hi", "previous_interaction_id": "../files/x"}
    answer = httpx.post(f"{gateway.url}/v1beta/interactions", json=bad_previous, headers=CLIENT)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request"
    answer = httpx.get(f"{gateway.url}/v1beta/interactions/bad%20id", headers=CLIENT)
    assert answer.status_code == 400
    answer = httpx.post(f"{gateway.url}/v1beta/interactions", json={"input": "no model"}, headers=CLIENT)
    assert answer.status_code == 400 and "model or agent" in answer.json()["error"]["message"]
    assert keys_of(fake, "createInteraction") == [fake.interactions.owner_of(made.json()["id"])]


def test_without_api_keys_the_call_is_refused_cleanly(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    with gateway_factory(gemini_api_keys=[], vertex_express_keys=["vertex-express-key-0001"]) as running:
        answer = httpx.post(
            f"{running.url}/v1beta/interactions", json={"model": MODEL, "input": "hi"}, headers=CLIENT
        )
    assert answer.status_code == 501 and "GEMINI_API_KEYS" in answer.json()["error"]["message"]
    assert answer.json()["error"]["code"] == "unimplemented"
    assert fake.calls == []


def test_the_pool_lists_what_each_credential_holds(gateway: RunningGateway, fake: FakeState) -> None:
    """Affinity rows are shown under the credential whose project holds them (`/api/pool`)."""
    sdk = client(gateway.url)
    made = [sdk.interactions.create(model=MODEL, input=f"Owls {n}") for n in range(4)]
    pool = httpx.get(
        f"{gateway.url}/api/pool", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    ).json()
    held = {c["id"]: c.get("holds", {}) for c in pool["credentials"]}
    listed = [name for holds in held.values() for name in holds.get("interactions", {}).get("names", [])]
    assert sorted(listed) == sorted(f"interactions/{i.id}" for i in made)
    for interaction in made:
        key = owner(fake, interaction.id)
        (credential,) = [c for c in pool["credentials"] if c["label"].endswith(key[-4:])]
        assert f"interactions/{interaction.id}" in credential["holds"]["interactions"]["names"]
        assert credential["holds"]["interactions"]["count"] >= 1


def test_errors_reach_the_sdk_as_api_errors_with_status_and_message(
    gateway: RunningGateway, fake: FakeState
) -> None:
    """Every error of an interactions route is in the Interactions API's shape (`code` a string),
    the gateway's own as well as the upstream's, so google-genai parses it into its status class
    (an error body it cannot parse would surface as a schema-validation failure instead)."""
    sdk = client(gateway.url, retry_options={"attempts": 1})

    def raised(call: Any) -> APIStatusError:
        with pytest.raises(APIStatusError) as caught:
            call()
        error = caught.value
        # The SDK parsed the body with its own error model: the cause is the operation's
        # ClientError / ServerError, not "Error response body did not match expected schema".
        assert type(error.__cause__).__name__.endswith(("ClientError", "ServerError")), error.__cause__
        assert isinstance(error.body, dict) and isinstance(error.body["error"]["code"], str)
        return error

    unknown = raised(lambda: sdk.interactions.get("v1_noSuchInteraction"))  # upstream's own 404
    assert (type(unknown), unknown.status_code) == (NotFoundError, 404)
    assert unknown.body["error"]["code"] == "not_found" and "v1_noSuchInteraction" in unknown.message
    bad = raised(lambda: sdk.interactions.create(model=MODEL, input="hi", previous_interaction_id="no way/x"))
    assert (type(bad), bad.status_code, bad.body["error"]["code"]) == (
        BadRequestError,
        400,
        "invalid_request",
    )
    assert "no way/x" in bad.message or "interactions" in bad.message
    empty = raised(lambda: sdk.interactions.create(model=MODEL, input=""))  # the upstream's 400
    assert (empty.status_code, empty.body["error"]["code"]) == (400, "invalid_request")
    streamed = raised(lambda: sdk.interactions.create(model="no-such-model", input="hi", stream=True))
    assert (streamed.status_code, streamed.body["error"]["code"]) == (404, "model_not_found")

    first = sdk.interactions.create(model=MODEL, input="Terns migrate far")
    fake.add_fault(owner(fake, first.id), "429", count=1)
    for _ in range(2):  # the upstream's 429, then the gateway's own while the owner cools down
        limited = raised(lambda: sdk.interactions.get(first.id or ""))
        assert (type(limited), limited.status_code) == (RateLimitError, 429)
        assert limited.body["error"]["code"] == "rate_limit_exceeded" and limited.message
    assert f"interactions/{first.id}" in limited.body["error"]["message"]


def test_gateway_errors_on_interactions_paths_use_the_interactions_shape(gateway: RunningGateway) -> None:
    unknown_route = httpx.get(f"{gateway.url}/v1beta/interactions/v1_x/nothing", headers=CLIENT)
    assert unknown_route.status_code == 404
    assert unknown_route.json()["error"]["code"] == "not_found"
    # Elsewhere Google's envelope (google.rpc.Status) stays.
    other = httpx.get(f"{gateway.url}/v1beta/nothing/here", headers=CLIENT)
    assert other.json()["error"]["code"] == 404 and other.json()["error"]["status"] == "NOT_FOUND"

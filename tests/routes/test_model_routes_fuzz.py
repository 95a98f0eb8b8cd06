"""Property-based fuzz of the model routes over real HTTP: no 5xx, and every exchange recorded once.

Each example takes a plausible body of one dialect (Gemini, OpenAI chat and Responses, Anthropic
Messages, embeddings, token counts) and mutates it where Hypothesis chooses: odd types, integers
past 64 bits, floats at the edges, control characters and other scripts, unknown fields, JSON
nested past the door's limit and past the parser's. The gateway runs against the fake upstream
with recording on; at the end the store must hold exactly one record per request sent.
Bounded by `FUZZ_BODIES` (examples) to stay near a minute on two cores.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.json_depth import MAX_JSON_DEPTH
from tests.conftest import ADMIN_TOKEN, GatewayFactory

BODIES = int(os.environ.get("FUZZ_BODIES", "1500"))
MODEL = "gemini-2.5-flash"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]

_USER = [{"role": "user", "content": "hi"}]
_CONTENTS = [{"role": "user", "parts": [{"text": "hi"}]}]
_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
ROUTES: list[tuple[str, dict[str, Any]]] = [
    (
        "/v1/chat/completions",
        {
            "model": MODEL,
            "messages": [{"role": "system", "content": "be brief"}, *_USER],
            "max_tokens": 20,
            "temperature": 0.5,
            "tools": [{"type": "function", "function": {"name": "weather", "parameters": _SCHEMA}}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": _SCHEMA}},
        },
    ),
    ("/v1/chat/completions", {"model": MODEL, "messages": _USER, "stream": True, "stop": ["x"]}),
    (
        "/v1/responses",
        {
            "model": MODEL,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
            "max_output_tokens": 20,
            "tools": [{"type": "function", "name": "weather", "parameters": _SCHEMA}],
            "reasoning": {"effort": "low"},
        },
    ),
    ("/v1/responses", {"model": MODEL, "input": "hi", "stream": True, "text": {"format": {"type": "text"}}}),
    (
        "/v1/messages",
        {
            "model": MODEL,
            "max_tokens": 20,
            "system": "be brief",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "tools": [{"name": "weather", "input_schema": _SCHEMA}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        },
    ),
    ("/v1/messages", {"model": MODEL, "max_tokens": 20, "messages": _USER, "stream": True}),
    ("/v1/messages/count_tokens", {"model": MODEL, "messages": _USER}),
    ("/v1/embeddings", {"model": "text-embedding-004", "input": ["hi", "there"]}),
    (
        f"/v1beta/models/{MODEL}:generateContent",
        {
            "contents": _CONTENTS,
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "generationConfig": {"maxOutputTokens": 20, "responseMimeType": "application/json"},
            "tools": [{"functionDeclarations": [{"name": "weather", "parameters": {"type": "OBJECT"}}]}],
        },
    ),
    (f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", {"contents": _CONTENTS}),
    (f"/v1beta/models/{MODEL}:countTokens", {"contents": _CONTENTS}),
]

# --- odd values ------------------------------------------------------------------------------------

_EDGE_INTS = [2**31, 2**31 - 1, -(2**31) - 1, 2**53 + 1, 2**63, 2**64 - 1, 2**64, 2**70, -(2**63) - 1, 10**30]
_EDGE_STRINGS = [
    "",
    " ",
    "\x00",
    "\x7f",
    "\u202e",
    "\ud7ff\uffff",
    "💥" * 3,
    "null",
    "NaN",
    "1e999",
    "a" * 5000,
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from(_EDGE_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, 0.5]),
    st.text(max_size=30),
    st.sampled_from(_EDGE_STRINGS),
)
containers = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
# JSON nested n levels, written into the body as text (the stdlib encoder recurses): a marker
# string stands for it until then.
_DEEP = re.compile(r'"\\u0000deep(\d+)"')
deep = st.one_of(
    st.integers(min_value=MAX_JSON_DEPTH - 5, max_value=MAX_JSON_DEPTH + 5),
    st.integers(min_value=100, max_value=1100),
).map(lambda n: f"\x00deep{n}")
odd_values = st.one_of(scalars, containers, deep)
# Model names stay within the request-line grammar here: names outside it are the request-line
# checks' subject (and, until those land, a non-latin-1 name is a known 502).
model_names = st.one_of(
    st.none(),
    st.integers(),
    st.lists(st.text(max_size=3), max_size=2),
    st.from_regex(r"[A-Za-z0-9.-]{0,40}", fullmatch=True),
)


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a body: keys of objects, indexes of arrays."""
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _nodes(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _nodes(child, (*path, index))
    return found


@st.composite
def mutated_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    path, base = draw(st.sampled_from(ROUTES))
    body: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from(_nodes(body)))
        if not where:  # the body itself: an odd top-level value now and then
            if draw(st.integers(0, 9)) == 0:
                body = draw(odd_values)
            continue
        parent = body
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if action == "drop" and isinstance(parent, dict):
            del parent[last]
        elif action == "add" and isinstance(parent[last], dict):
            parent[last][draw(st.text(max_size=12))] = draw(odd_values)
        else:
            parent[last] = draw(model_names if last == "model" else odd_values)
    text = json.dumps(body)
    return path, _DEEP.sub(lambda m: "[" * int(m[1]) + "]" * int(m[1]), text).encode()


def _stored_ids(url: str) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{url}/api/logs", params=params, headers=ADMIN).raise_for_status().json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def _settled(url: str, sent: int, timeout: float = 30.0) -> dict[str, Any]:
    """The recorder's counters once it has dealt with every exchange sent (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = httpx.get(f"{url}/api/recorder", headers=ADMIN).json()
        # A record the store could not take at once is spooled, then counted as replayed.
        dealt = sum(status.get(k, 0) for k in ("written", "replayed", "lost", "rejected"))
        if (
            status.get("submitted", 0) >= sent and dealt >= status["submitted"]
        ) or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_no_model_route_answers_5xx_and_every_exchange_is_recorded_once(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    fake.config.stream_chunks = 2
    sent: list[tuple[str, int]] = []
    with gateway_factory(recording_batch_ms=10) as running, httpx.Client(timeout=60) as client:

        @given(case=mutated_bodies())
        @settings(
            max_examples=BODIES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def one(case: tuple[str, bytes]) -> None:
            path, body = case
            response = client.post(
                running.url + path, content=body, headers={"content-type": "application/json"}
            )
            sent.append((path, response.status_code))
            assert response.status_code < 500, (
                f"{response.status_code} {path} {body[:500]!r}: {response.text[:500]}"
            )
            if response.status_code >= 400 and not path.startswith("/v1beta"):
                error = response.json()["error"]  # the dialect's own envelope, not Google's
                assert isinstance(error, dict) and "type" in error, response.text

        one()
        status = _settled(running.url, len(sent))
        ids = _stored_ids(running.url)
        status = _settled(running.url, len(sent), timeout=0)
    refused = sum(1 for _, code in sent if code >= 400)
    print(  # noqa: T201
        f"model-route fuzz: {len(sent)} requests ({refused} refused with a 4xx), {len(ids)} records, "
        f"recorder { ({k: status.get(k) for k in ('submitted', 'written', 'spooled', 'replayed', 'lost', 'rejected')}) }"
    )
    assert len(ids) == len(set(ids)) == len(sent)
    assert status["lost"] == status["rejected"] == 0

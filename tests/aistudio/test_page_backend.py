"""The page backend in real headless Chromium against the stand-in AI Studio page.

One gateway (and so one browser) serves this module: two profiles, alice (the page sends its
RPC with XMLHttpRequest, as the live page does) and bob (fetch), and no API keys, so every
answer comes from a page. The stand-in site records what each page sent and each Stop click.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from tests.aistudio.conftest import ADMIN, CHROMIUM, MODEL, page_gateway, profile_state, wait_for
from tests.aistudio.standin_server import StandinState
from tests.conftest import RunningGateway

pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test-browser.sh)"
)


@pytest.fixture(scope="module")
def pages(
    standin: tuple[str, StandinState], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    url, _ = standin
    data = tmp_path_factory.mktemp("pages")
    with page_gateway(data, url, {"alice": None, "bob": "fetch"}) as running:
        yield running


def pool_of(gateway: RunningGateway) -> dict[str, dict[str, Any]]:
    credentials = httpx.get(gateway.url + "/api/pool", headers=ADMIN).json()["credentials"]
    return {c["label"]: c for c in credentials}


def idle(gateway: RunningGateway) -> bool:
    return all(c["in_flight"] == 0 and c["meta"]["lock"] is None for c in pool_of(gateway).values())


def sdk(gateway: RunningGateway) -> genai.Client:
    return genai.Client(api_key="client", http_options={"base_url": gateway.url, "api_version": "v1beta"})


def test_every_dialect_streams_from_the_page(pages: RunningGateway, site: StandinState) -> None:
    # Chunks a second apart in all: a busy machine that holds the first back for a while still
    # shows it well before the last (chunk by chunk, below).
    site.chunks, site.delay = 6, 0.2
    client = sdk(pages)
    config = types.GenerateContentConfig(
        system_instruction="Be brief",
        temperature=0.3,
        top_p=0.5,
        max_output_tokens=777,
        stop_sequences=["END"],
        thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True),
    )
    started, first_at, chunks = time.monotonic(), None, []
    for item in client.models.generate_content_stream(model=MODEL, contents="Hello page", config=config):
        first_at = first_at or time.monotonic() - started
        chunks.append(item)
    total = time.monotonic() - started
    parts = [p for c in chunks for p in c.candidates[0].content.parts]
    text = "".join(p.text for p in parts if p.text and not p.thought)
    assert "heard 'Hello page'" in text
    for setting in (
        "temperature=0.3",
        "top_p=0.5",
        "max_tokens=777",
        "stops=END",
        "thinking=1/1024",
        "system=Be brief",
    ):
        assert setting in text
    assert any(p.thought for p in parts)  # the page's thoughts, asked for
    assert len(chunks) >= 6 and first_at is not None and first_at < total - 0.3  # chunk by chunk
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata and chunks[-1].usage_metadata.prompt_token_count == 10
    site.delay = 0.1

    # The next call sent no settings: the page is back to what it had before the first.
    plain = "".join(
        c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents="Again")
    )
    assert "temperature=1 " in plain and "max_tokens=65536" in plain and "stops= " in plain
    assert "system=None" in plain

    chat = openai.OpenAI(api_key="client", base_url=pages.url + "/v1", max_retries=0)
    stream = chat.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Speak plainly"},
            {"role": "user", "content": "Hi from openai"},
        ],
        temperature=0.7,
        stream=True,
    )
    deltas = [c.choices[0].delta.content or "" for c in stream if c.choices]
    answer = "".join(deltas)
    assert len([d for d in deltas if d]) >= 3 and "heard 'Hi from openai'" in answer
    assert "temperature=0.7" in answer and "system=Speak plainly" in answer

    claude = anthropic.Anthropic(api_key="client", base_url=pages.url + "/anthropic", max_retries=0)
    with claude.messages.stream(
        model=MODEL, max_tokens=300, messages=[{"role": "user", "content": "Hi from anthropic"}]
    ) as events:
        pieces = list(events.text_stream)
    assert len(pieces) >= 3 and "heard 'Hi from anthropic'" in "".join(pieces)
    assert "max_tokens=300" in "".join(pieces)

    unary = client.models.generate_content(model=MODEL, contents="One piece")
    assert unary.text and "heard 'One piece'" in unary.text

    wait_for(lambda: idle(pages), what="pages idle")
    pool = pool_of(pages)
    assert {c["kind"] for c in pool.values()} == {"aistudio"}
    tiers = sum(c["meta"]["counts"].get("tier_rpc", 0) for c in pool.values())
    assert tiers == 5 and sum(c["successes"] for c in pool.values()) == 5
    assert {c.account for c in site.calls} == {"alice", "bob"}  # least-busy spread the calls


def test_temporary_chat_is_on_for_every_call_and_after_each_model_switch(
    pages: RunningGateway, site: StandinState
) -> None:
    wait_for(lambda: idle(pages), what="pages idle")
    client = sdk(pages)
    for model in (MODEL, "gemini-2.5-pro", MODEL, "gemini-2.5-pro"):
        text = "".join(c.text or "" for c in client.models.generate_content_stream(model=model, contents="T"))
        assert f"model={model}" in text
    assert [c.model for c in site.calls] == [MODEL, "gemini-2.5-pro", MODEL, "gemini-2.5-pro"]
    assert all(c.temporary for c in site.calls)  # none of them lands in the account's history


def test_two_profiles_serve_two_calls_at_once_and_a_third_waits_its_turn(
    pages: RunningGateway, site: StandinState
) -> None:
    site.chunks, site.delay = 8, 0.12
    wait_for(lambda: idle(pages), what="pages idle")
    client = sdk(pages)

    def ask(i: int) -> str:
        return "".join(
            c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents=f"Q{i}")
        )

    queued: list[dict[str, Any]] = []

    def watch_queue() -> None:
        while not queued and len(site.calls) < 3:
            queued.extend(q for c in pool_of(pages).values() for q in c["meta"]["queue"])

    with ThreadPoolExecutor(4) as pool:
        both = [pool.submit(ask, i) for i in range(2)]
        wait_for(lambda: len(site.calls) == 2, what="two pages running")
        third = pool.submit(ask, 2)
        watch_queue()
        answers = [f.result() for f in [*both, third]]
    assert all(f"heard 'Q{i}'" in a for i, a in enumerate(answers))
    first, second, _ = site.calls
    assert {first.account, second.account} == {"alice", "bob"}
    assert max(first.started, second.started) < min(first.ended or 0, second.ended or 0)  # at once
    assert queued and queued[0]["position"] == 1 and queued[0]["model"] == MODEL  # shown in /api/pool


def test_a_client_that_goes_away_stops_the_page(pages: RunningGateway, site: StandinState) -> None:
    site.chunks, site.delay = 60, 0.1
    wait_for(lambda: idle(pages), what="pages idle")
    body = {"contents": [{"role": "user", "parts": [{"text": "A long story"}]}]}
    path = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    with httpx.stream("POST", pages.url + path, json=body, timeout=30) as response:
        assert response.status_code == 200
        next(response.iter_bytes())  # one event, then hang up
    wait_for(lambda: site.stops() == 1, what="the Stop click")
    wait_for(lambda: idle(pages), what="the page's turn released")
    call = site.calls[0]
    assert not call.completed and call.ended is not None  # the page's RPC was aborted
    served_by = pool_of(pages)[call.account]
    assert served_by["meta"]["counts"]["cancelled"] == 1 and served_by["failures"] == 0

    site.chunks = 3  # the stopped page serves again
    client = sdk(pages)  # held: a dropped Client closes its HTTP client
    text = "".join(c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents="After"))
    assert "heard 'After'" in text


def test_a_hanging_page_is_reclaimed_and_its_call_fails_over(
    pages: RunningGateway, site: StandinState
) -> None:
    site.modes["alice"] = "hang"
    client = sdk(pages)
    started = time.monotonic()
    for i in range(2):  # the pool's turn rotates: one of two calls starts on alice
        text = "".join(
            c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents=f"H{i}")
        )
        assert f"bob heard 'H{i}'" in text
        if site.calls_of("alice"):
            break
    # Not held to the queue's or a client's timeout (what ended it is the silence, below).
    assert time.monotonic() - started < 60
    hung = site.calls_of("alice")
    assert len(hung) == 1
    wait_for(lambda: all(h.ended for h in hung), what="the hung RPCs to be dropped")  # pages discarded
    wait_for(lambda: idle(pages), what="pages idle")
    alice = pool_of(pages)["alice"]
    assert alice["failures"] == len(hung) and "silent for 2s" in (alice["last_error"] or "")
    assert alice["meta"]["page"]["pages_created"] >= 2 or not alice["meta"]["page"]["open"]

    # Not wedged: with alice answering again, two calls at once are served by both profiles.
    site.modes.clear()
    with ThreadPoolExecutor(2) as pool:
        texts = list(
            pool.map(
                lambda i: "".join(
                    c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents=f"W{i}")
                ),
                range(2),
            )
        )
    assert {t.split(" heard")[0] for t in texts} == {"alice", "bob"}


def test_a_page_still_showing_stop_after_its_answer_is_stopped(
    pages: RunningGateway, site: StandinState
) -> None:
    site.modes.update(alice="linger", bob="linger")
    client = sdk(pages)
    for i in range(3):
        response = client.models.generate_content(model=MODEL, contents=f"L{i}")
        assert response.text and f"heard 'L{i}'" in response.text
    wait_for(lambda: site.stops() == 3, what="a Stop click after each lingering answer")


def test_tool_calls_from_the_page_reach_an_openai_client(pages: RunningGateway, site: StandinState) -> None:
    chat = openai.OpenAI(api_key="client", base_url=pages.url + "/v1", max_retries=0)
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    reply = chat.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[weather]
    )
    calls = reply.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {
        "city": "Paris",
        "days": 3,
        "metric": True,
        "tags": ["a", "b"],
        "nested": {"x": None},
    }
    sent = site.calls[0].functions
    assert sent[0]["name"] == "get_weather" and "city" in str(sent[0]["parameters"])


def test_profiles_api_imports_lists_and_deletes(
    pages: RunningGateway, standin: tuple[str, StandinState]
) -> None:
    url, _ = standin
    api = pages.url + "/api/aistudio/profiles"
    assert httpx.get(api).status_code == 401
    listed = httpx.get(api, headers=ADMIN).json()
    assert [p["name"] for p in listed["profiles"]] == ["alice", "bob"]
    assert listed["page_version"].startswith("aistudio-") and listed["browser"]["running"] is True
    assert listed["profiles"][0]["credential"]["meta"]["profile"] == "alice"
    assert "value" not in str(listed)  # cookie values never leave the gateway

    bad = httpx.post(api, headers=ADMIN, json={"name": "../x", "storage_state": profile_state(url, "x")})
    assert bad.status_code == 400
    made = httpx.post(
        api, headers=ADMIN, json={"name": "carol", "storage_state": profile_state(url, "carol")}
    )
    assert made.status_code == 201 and made.json()["credential"]["kind"] == "aistudio"
    assert "carol" in pool_of(pages)
    assert Path(made.json()["file"]).stat().st_mode & 0o777 == 0o600

    locks = httpx.get(pages.url + "/api/load-balancing", headers=ADMIN).json()["instances"]
    assert {i["label"] for i in locks} >= {"alice", "bob", "carol"} and all("meta" in i for i in locks)
    assert httpx.delete(api + "/carol", headers=ADMIN).status_code == 200
    assert "carol" not in pool_of(pages) and not Path(made.json()["file"]).exists()
    assert httpx.delete(api + "/carol", headers=ADMIN).status_code == 404


def test_tools_are_emulated_where_the_page_has_no_function_calling_and_the_round_trip_works(
    pages: RunningGateway, site: StandinState
) -> None:
    """gemini-2.5-pro's stand-in page has no function-calling control: the native dialog fails,
    the functions are described in the prompt, and the call is read from the answer."""
    client = genai.Client(api_key="client", http_options={"base_url": pages.url, "api_version": "v1beta"})
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="Weather in a city",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[weather])])
    question = types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])
    first = client.models.generate_content(model="gemini-2.5-pro", contents=[question], config=config)
    assert first.function_calls and first.function_calls[0].name == "get_weather"
    assert first.function_calls[0].args == {"city": "Paris", "days": 3}
    assert first.text is None or "<function_call>" not in first.text  # the block became the call
    called = first.candidates[0].content  # type: ignore[index]
    assert called is not None and called.parts is not None
    signed = [p for p in called.parts if p.function_call]
    assert signed[0].thought_signature  # Gemini 3 accepts the replayed call
    assert site.calls[0].functions == [] and "get_weather" in site.calls[0].prompt

    result = types.Part.from_function_response(name="get_weather", response={"sky": "clear"})
    second = client.models.generate_content(
        model="gemini-2.5-pro",
        contents=[question, called, types.Content(role="user", parts=[result])],
        config=config,
    )
    assert second.text and "clear" in second.text and not second.function_calls
    assert '[function get_weather returned {"sky":"clear"}]' in site.calls[1].prompt


def test_images_are_attached_through_the_pages_upload_control(
    pages: RunningGateway, site: StandinState
) -> None:
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    client = sdk(pages)
    answer = client.models.generate_content(
        model=MODEL,
        contents=[types.Part.from_bytes(data=picture, mime_type="image/png"), "What is in the picture?"],
    )
    assert answer.text and f"saw image/png of {len(picture)} bytes" in answer.text
    call = site.calls[-1]
    assert call.prompt == "What is in the picture?" and call.attachments == [("image/png", picture)]

    # An OpenAI client's data URL arrives the same way, as a file chosen in the page's upload menu.
    paper = b"%PDF-1.4 a small paper"
    chat = openai.OpenAI(api_key="client", base_url=pages.url + "/v1", max_retries=0)
    reply = chat.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Read both"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {
                        "type": "file",
                        "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQgYSBzbWFsbCBwYXBlcg=="},
                    },
                ],
            }
        ],
    )
    assert "saw image/png of 8 bytes, application/pdf of 22 bytes" in (reply.choices[0].message.content or "")
    assert site.calls[-1].attachments == [("image/png", b"\x89PNG\r\n\x1a\n"), ("application/pdf", paper)]

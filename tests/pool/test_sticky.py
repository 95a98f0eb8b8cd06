"""STICKY_SECONDS: a conversation's turns stay on one credential (Google's implicit prompt cache is
per project), other conversations still rotate, and failover moves the conversation."""

from __future__ import annotations

import openai
from google import genai

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.sticky import StickyBook, conversation_key
from tests.conftest import KEYS, GatewayFactory

MODEL = "gemini-2.5-flash"


def sdk(url: str) -> genai.Client:
    return genai.Client(api_key="client-token", http_options={"base_url": url, "api_version": "v1beta"})


def test_a_conversation_stays_on_its_key(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory(sticky_seconds=600, pool_strategy="round_robin") as running:
        client = sdk(running.url)
        chat = client.chats.create(model=MODEL)
        other = client.chats.create(model=MODEL)
        for turn in range(3):
            assert chat.send_message(f"Pelicans, part {turn}").text
            assert other.send_message(f"Lighthouses, part {turn}").text
    keys = [c.key for c in fake.calls]
    assert len(set(keys[0::2])) == 1 and len(set(keys[1::2])) == 1  # each conversation on one key
    assert keys[0] != keys[1]  # round robin still spreads new conversations


def test_without_stickiness_turns_rotate(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory(pool_strategy="round_robin") as running:
        client = sdk(running.url)  # held: a client no longer referenced closes its connections
        chat = client.chats.create(model=MODEL)
        for turn in range(3):
            assert chat.send_message(f"Pelicans, part {turn}").text
    assert len({c.key for c in fake.calls}) == 3


def test_failover_moves_the_conversation(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory(sticky_seconds=600, pool_strategy="round_robin") as running:
        client = openai.OpenAI(api_key="client-token", base_url=running.url + "/v1", max_retries=0)
        messages: list[openai.types.chat.ChatCompletionMessageParam] = []
        for turn in range(4):
            if turn == 2:
                fake.add_fault(fake.calls[-1].key, "503", count=1)
            messages.append({"role": "user", "content": f"Otters, part {turn}"})
            stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            messages.append({"role": "assistant", "content": text})
    keys = [c.key for c in fake.calls]
    first, failed_over = keys[0], keys[3]
    assert keys[:3] == [first] * 3 and failed_over != first  # turn 2: the 503, then another key
    assert keys[4] == failed_over  # turn 3 stays where turn 2 was served
    assert set(keys) <= set(KEYS)


def test_bindings_lapse_after_the_last_turn() -> None:
    now = [1000.0]
    book = StickyBook(60, clock=lambda: now[0])
    book.bind("conversation", "api_key:1")
    now[0] += 59
    assert book.credential_of("conversation") == "api_key:1"
    book.bind("conversation", "api_key:1")  # a turn: another 60 s from now
    now[0] += 59
    assert book.credential_of("conversation") == "api_key:1"
    now[0] += 2
    assert book.credential_of("conversation") is None and len(book) == 0


def test_conversations_are_known_by_client_model_and_first_turn() -> None:
    first = b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
    later = (
        b'{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"yo"}]},'
        b'{"role":"user","parts":[{"text":"more"}]}],"generationConfig":{"temperature":0.2}}'
    )
    key = conversation_key("token:a", MODEL, first)
    assert key is not None and key == conversation_key("token:a", MODEL, later)
    assert key != conversation_key("token:b", MODEL, first)
    assert key != conversation_key("token:a", "gemini-2.5-pro", first)
    assert conversation_key("token:a", MODEL, b'{"contents":[]}') is None

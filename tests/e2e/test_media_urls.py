"""Image URLs in OpenAI and Anthropic messages, through the gateway with the official SDKs: the
gateway fetches from the address it checked, never from a second DNS answer, and re-checks every
redirect."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import RunningGateway
from tests.media_hosts import PNG, PUBLIC, LoopbackHost, ScriptedDNS, canary_and_site, treat_as_public

MODEL = "gemini-2.5-flash"


def sdk(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(api_key="client-token", base_url=gateway.url + "/v1", max_retries=0)


def ask_about(gateway: RunningGateway, url: str) -> str:
    completion = sdk(gateway).chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )
    return completion.choices[0].message.content or ""


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LoopbackHost, LoopbackHost]]:
    treat_as_public(monkeypatch, PUBLIC)
    with canary_and_site() as pair:
        yield pair


def test_a_name_rebinding_to_loopback_is_fetched_from_the_checked_address(
    gateway: RunningGateway,
    fake: FakeState,
    hosts: tuple[LoopbackHost, LoopbackHost],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary, site = hosts
    site.serve("/heron.png", PNG)
    canary.serve("/heron.png", b"secret from loopback")
    ScriptedDNS(monkeypatch, {"media.rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    answer = ask_about(gateway, f"http://media.rebind.test:{site.port}/heron.png")
    assert canary.requests == []
    assert site.requests == [("/heron.png", f"media.rebind.test:{site.port}")]
    assert f"image/png of {len(PNG)} bytes" in answer
    assert fake.calls[-1].method == "generateContent"


def test_a_redirect_to_loopback_is_refused(
    gateway: RunningGateway,
    fake: FakeState,
    hosts: tuple[LoopbackHost, LoopbackHost],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary, site = hosts
    canary.serve("/secret.png", b"secret from loopback")
    site.redirect("/heron.png", f"http://127.0.0.1:{canary.port}/secret.png")
    site.redirect("/egret.png", f"http://media.inside.test:{canary.port}/secret.png")
    site.redirect("/stork.png", "/secret.png")  # same name, which answers loopback the second time
    ScriptedDNS(
        monkeypatch,
        {
            "media.site.test": [[PUBLIC]],
            "media.inside.test": [["127.0.0.1"]],
            "media.rebind.test": [[PUBLIC], ["127.0.0.1"]],
        },
    )
    for url in (
        f"http://media.site.test:{site.port}/heron.png",
        f"http://media.site.test:{site.port}/egret.png",
        f"http://media.rebind.test:{site.port}/stork.png",
    ):
        with pytest.raises(openai.BadRequestError) as info:
            ask_about(gateway, url)
        assert "loopback or private" in str(info.value.body)
    assert canary.requests == []
    assert not fake.calls


def test_a_redirect_to_a_public_address_is_followed(
    gateway: RunningGateway,
    fake: FakeState,
    hosts: tuple[LoopbackHost, LoopbackHost],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary, site = hosts
    site.redirect("/old/heron.png", "/new/heron.png", 301)
    site.serve("/new/heron.png", PNG)
    ScriptedDNS(monkeypatch, {"media.site.test": [[PUBLIC]]})
    answer = ask_about(gateway, f"http://media.site.test:{site.port}/old/heron.png")
    assert f"image/png of {len(PNG)} bytes" in answer
    assert [path for path, _ in site.requests] == ["/old/heron.png", "/new/heron.png"]
    assert canary.requests == []


def test_anthropic_url_images_use_the_checked_address_too(
    gateway: RunningGateway,
    fake: FakeState,
    hosts: tuple[LoopbackHost, LoopbackHost],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary, site = hosts
    site.serve("/heron.png", PNG)
    canary.serve("/heron.png", b"secret from loopback")
    ScriptedDNS(monkeypatch, {"media.rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    client = anthropic.Anthropic(api_key="client-token", base_url=gateway.url, max_retries=0)
    url = f"http://media.rebind.test:{site.port}/heron.png"
    message = client.messages.create(
        model=MODEL,
        max_tokens=200,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image", "source": {"type": "url", "url": url}},
                ],
            }
        ],
    )
    text = "".join(block.text for block in message.content if block.type == "text")
    assert f"image/png of {len(PNG)} bytes" in text
    assert canary.requests == [] and len(site.requests) == 1
    site.redirect("/egret.png", f"http://127.0.0.1:{canary.port}/heron.png")
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=200,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "url",
                                "url": f"http://media.rebind.test:{site.port}/egret.png",
                            },
                        }
                    ],
                }
            ],
        )
    assert "loopback or private" in str(info.value.body)
    assert canary.requests == []

"""The official openai SDK naming files uploaded through the gateway: a chat `file` part (by
name or URI) and an `image_url` holding a Files API file become `fileData` parts, and every such
call lands on the key whose project holds the file while other calls keep balancing."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS, RunningGateway
from tests.routes.test_files import MODEL, owner_key, upload

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def sdk(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(api_key="client-token", base_url=gateway.url + "/v1", max_retries=0)


def ask(client: openai.OpenAI, part: Any, *, stream: bool = False) -> str:
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, part]}]
    if stream:
        chunks = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    completion = client.chat.completions.create(model=MODEL, messages=messages)
    return completion.choices[0].message.content or ""


@pytest.mark.parametrize("by", ["name", "uri"])
def test_a_file_part_names_an_uploaded_file_and_goes_to_its_owner(
    gateway: RunningGateway, fake: FakeState, by: str
) -> None:
    file = upload(gateway.url, b"%PDF-1.4 a tiny paper", mime="application/pdf", name="paper.pdf")
    owner = owner_key(fake, file["name"])
    client = sdk(gateway)
    part = {"type": "file", "file": {"file_id": file["name"] if by == "name" else file["uri"]}}
    plain = []
    for stream in (False, True, False, True):
        assert ask(client, part, stream=stream)
        assert fake.calls[-1].key == owner
        assert fake.calls[-1].method == ("streamGenerateContent" if stream else "generateContent")
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Nothing attached"}]
        )
        plain.append(fake.calls[-1].key)
    assert len(set(plain)) > 1 and set(plain) <= set(KEYS)  # calls naming nothing still balance
    with_name = {"type": "file", "file": {"file_id": file["name"], "filename": "paper.pdf"}}
    assert ask(client, with_name) and fake.calls[-1].key == owner


def test_an_image_url_may_name_an_uploaded_image(gateway: RunningGateway, fake: FakeState) -> None:
    image = upload(gateway.url, PNG, mime="image/png", name="pixel.png")
    owner = owner_key(fake, image["name"])
    client = sdk(gateway)
    for url in (image["uri"], image["name"]):
        part = {"type": "image_url", "image_url": {"url": url}}
        for _ in range(3):
            assert ask(client, part)
            assert fake.calls[-1].key == owner


def test_a_file_id_that_is_not_a_gemini_file_is_refused(gateway: RunningGateway, fake: FakeState) -> None:
    client = sdk(gateway)
    with pytest.raises(openai.BadRequestError) as refused:
        ask(client, {"type": "file", "file": {"file_id": "file-abc123"}})
    assert "files/" in str(refused.value)

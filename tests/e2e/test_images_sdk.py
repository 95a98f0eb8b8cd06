"""Image models through the gateway: google-genai's generate_content with an image model
(`responseModalities` IMAGE, `imageConfig`), and the OpenAI SDK's images.generate and images.edit
served by a Gemini image model's generateContent, all answered by the fake upstream."""

from __future__ import annotations

import base64
import io
import struct

import openai
import pytest
from google import genai
from google.genai import types

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.fake_upstream.media import png
from tests.conftest import RunningGateway

IMAGE_MODEL = "gemini-2.5-flash-image"


def dimensions(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), data[:16]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def openai_sdk(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(api_key="client-token", base_url=gateway.url + "/v1", max_retries=0)


def test_genai_image_model_answers_inline_images_in_the_aspect_ratio(
    gateway: RunningGateway, fake: FakeState
) -> None:
    sdk = genai.Client(api_key="any-client-token", http_options={"base_url": gateway.url})
    answer = sdk.models.generate_content(
        model=IMAGE_MODEL,
        contents="A heron at dawn",
        config=types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(aspect_ratio="16:9", image_size="1K"),
        ),
    )
    parts = answer.candidates[0].content.parts if answer.candidates and answer.candidates[0].content else None
    images = [p.inline_data for p in parts or () if p.inline_data]
    assert len(images) == 1 and images[0].mime_type == "image/png" and images[0].data
    width, height = dimensions(images[0].data)
    assert width > height and abs(width / height - 16 / 9) < 0.1
    assert fake.calls[-1].method == "generateContent" and fake.calls[-1].model == IMAGE_MODEL


@pytest.mark.parametrize(("size", "landscape"), [("1536x1024", True), ("1024x1536", False)])
def test_openai_images_generate_n_images_from_an_image_model(
    gateway: RunningGateway, fake: FakeState, size: str, landscape: bool
) -> None:
    result = openai_sdk(gateway).images.generate(model=IMAGE_MODEL, prompt="a red fox", n=2, size=size)  # type: ignore[arg-type]
    assert result.data and len(result.data) == 2
    for image in result.data:
        width, height = dimensions(base64.b64decode(image.b64_json or ""))
        assert (width > height) is landscape
    assert [c.method for c in fake.calls] == ["generateContent", "generateContent"]


def test_openai_images_generate_url_form_is_a_data_url(gateway: RunningGateway, fake: FakeState) -> None:
    result = openai_sdk(gateway).images.generate(model=IMAGE_MODEL, prompt="an owl", response_format="url")
    assert result.data and (result.data[0].url or "").startswith("data:image/png;base64,")
    data = base64.b64decode((result.data[0].url or "").partition(",")[2])
    assert dimensions(data) == (16, 16)


def test_openai_images_edit_sends_the_image_to_the_model(gateway: RunningGateway, fake: FakeState) -> None:
    source = png("source picture", 16, 8)
    result = openai_sdk(gateway).images.edit(
        model=IMAGE_MODEL,
        image=("fox.png", io.BytesIO(source), "image/png"),
        prompt="Give the fox a hat",
        n=1,
        size="1024x1024",
    )
    assert result.data and len(result.data) == 1
    assert dimensions(base64.b64decode(result.data[0].b64_json or "")) == (16, 16)
    assert fake.calls[-1].method == "generateContent" and fake.calls[-1].model == IMAGE_MODEL


def test_openai_images_edit_without_an_image_is_a_400(gateway: RunningGateway, fake: FakeState) -> None:
    with pytest.raises(openai.BadRequestError) as failed:
        openai_sdk(gateway).images.edit(
            model=IMAGE_MODEL, image=("notes.txt", io.BytesIO(b"plain text"), "text/plain"), prompt="Edit it"
        )
    assert "image" in str(failed.value.body)
    assert not fake.calls

"""The RPCs other than generation: token counting, embeddings and Imagen's predict.

Each takes the model and the raw body and returns the response object; problems raise
`FakeApiError` with Google's status and message.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from gemini_gateway.fake_upstream.embeddings import embed_request
from gemini_gateway.fake_upstream.errors import FakeApiError, Json, invalid_argument, invalid_json
from gemini_gateway.fake_upstream.media import png
from gemini_gateway.fake_upstream.models import ModelInfo
from gemini_gateway.fake_upstream.prompt import read_prompt
from gemini_gateway.fake_upstream.proto_json import (
    BATCH_EMBED_REQUEST,
    COUNT_TOKENS_REQUEST,
    EMBED_CONTENT_REQUEST,
    parse_body,
)

MAX_BATCH_EMBED = 100
MAX_IMAGE_SAMPLES = 4


def count_tokens(model: ModelInfo, body: bytes) -> Json:
    request = parse_body(body, COUNT_TOKENS_REQUEST)
    contents = request.get("contents")
    inner = request.get("generateContentRequest")
    if contents and inner:
        raise invalid_argument(
            "* CountTokensRequest: contents and generate_content_request must not both be set.\n"
        )
    system = tools = None
    if inner:
        contents = inner.get("contents")
        system, tools = inner.get("systemInstruction"), inner.get("tools")
    if not contents:
        raise FakeApiError(400, "* CountTokensRequest.contents: contents is not specified\n")
    prompt = read_prompt(contents, system, tools)
    return {
        "totalTokens": prompt.token_total,
        "promptTokensDetails": [{"modality": m, "tokenCount": n} for m, n in prompt.tokens.items()],
    }


def embed_content(model: ModelInfo, body: bytes) -> Json:
    request = parse_body(body, EMBED_CONTENT_REQUEST)
    return {"embedding": embed_request(model, request, "EmbedContentRequest")}


def batch_embed_contents(model: ModelInfo, body: bytes) -> Json:
    request = parse_body(body, BATCH_EMBED_REQUEST)
    requests = request.get("requests") or []
    if not requests:
        raise FakeApiError(400, "* BatchEmbedContentsRequest.requests: requests is not specified\n")
    if len(requests) > MAX_BATCH_EMBED:
        raise FakeApiError(
            400,
            f"* BatchEmbedContentsRequest.requests: at most {MAX_BATCH_EMBED} requests can be in one batch\n",
        )
    embeddings = []
    for index, item in enumerate(requests):
        path = f"BatchEmbedContentsRequest.requests[{index}]"
        if item.get("model") != f"models/{model.id}":
            raise FakeApiError(
                400,
                f"* {path}.model: the model in the request ({item.get('model')}) must match the model "
                f"in the URL (models/{model.id}).\n",
            )
        embeddings.append(embed_request(model, item, path))
    return {"embeddings": embeddings}


def predict(model: ModelInfo, body: bytes) -> Json:
    """Imagen: one PNG per requested sample for each instance's prompt."""
    try:
        request: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise invalid_json("Unexpected token.") from None
    if not isinstance(request, dict):
        raise invalid_json("Root element must be a message.")
    instances = request.get("instances")
    if not isinstance(instances, list) or not instances:
        raise invalid_argument("* PredictRequest.instances: instances is not specified\n", "instances")
    parameters = request.get("parameters") or {}
    samples = parameters.get("sampleCount", MAX_IMAGE_SAMPLES) if isinstance(parameters, dict) else 0
    if not isinstance(samples, int) or not 1 <= samples <= MAX_IMAGE_SAMPLES:
        raise invalid_argument(f"Number of images must be between 1 and {MAX_IMAGE_SAMPLES}.", "parameters")
    predictions = []
    for instance in instances:
        prompt = instance.get("prompt") if isinstance(instance, dict) else None
        if not isinstance(prompt, str) or not prompt:
            raise invalid_argument("The prompt is required.", "instances.prompt")
        for sample in range(samples):
            image = base64.b64encode(png(f"{prompt}#{sample}")).decode()
            predictions.append({"bytesBase64Encoded": image, "mimeType": "image/png"})
    return {"predictions": predictions}

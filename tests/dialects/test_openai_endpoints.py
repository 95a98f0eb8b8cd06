"""OpenAI models, embeddings, images, speech and the error envelope."""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from gemini_gateway.dialects.common import ParamError
from gemini_gateway.dialects.media import wav_header
from gemini_gateway.dialects.openai_embeddings import parse_embeddings_request, render_embeddings_response
from gemini_gateway.dialects.openai_errors import render_openai_error
from gemini_gateway.dialects.openai_images import parse_images_request, render_images_response
from gemini_gateway.dialects.openai_models import render_model, render_models
from gemini_gateway.dialects.openai_speech import parse_speech_request, render_speech_audio
from gemini_gateway.errors import GatewayError, NoCredentialAvailable, RequestError, UpstreamError

Validate = Callable[[str, Any], None]  # the `openai_schema` fixture


# --- models --------------------------------------------------------------------------------------


def test_models_list(openai_schema: Validate) -> None:
    gemini = {
        "models": [
            {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent"]},
            {"name": "models/gemini-embedding-001"},
        ]
    }
    out = render_models(
        gemini, created=1700000000, extra_ids=["gemini-2.5-flash-search", "models/gemini-2.5-flash"]
    )
    openai_schema("ListModelsResponse", out)
    assert out == {
        "object": "list",
        "data": [
            {"id": "gemini-2.5-flash", "object": "model", "created": 1700000000, "owned_by": "google"},
            {"id": "gemini-embedding-001", "object": "model", "created": 1700000000, "owned_by": "google"},
            {"id": "gemini-2.5-flash-search", "object": "model", "created": 1700000000, "owned_by": "google"},
        ],
    }
    openai_schema("Model", render_model("models/gemini-2.5-pro", created=1))


# --- embeddings ----------------------------------------------------------------------------------


def test_embeddings_request() -> None:
    call = parse_embeddings_request({"model": "gemini-embedding-001", "input": ["a", "b"], "dimensions": 768})
    assert call.batches == [
        {
            "requests": [
                {
                    "model": "models/gemini-embedding-001",
                    "content": {"parts": [{"text": "a"}]},
                    "outputDimensionality": 768,
                },
                {
                    "model": "models/gemini-embedding-001",
                    "content": {"parts": [{"text": "b"}]},
                    "outputDimensionality": 768,
                },
            ]
        }
    ]
    single = parse_embeddings_request({"model": "models/text-embedding-004", "input": "hello"})
    assert single.batches == [
        {"requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]}}]}
    ]


def test_embeddings_are_split_into_batches_of_100() -> None:
    call = parse_embeddings_request({"model": "e", "input": [f"t{i}" for i in range(250)]})
    assert [len(b["requests"]) for b in call.batches] == [100, 100, 50]
    assert call.batches[2]["requests"][-1]["content"]["parts"][0]["text"] == "t249"


def test_embeddings_response_float_and_base64(openai_schema: Validate) -> None:
    answers = [{"embeddings": [{"values": [0.5, -1.25]}, {"values": [2.0, 0.0]}]}]
    call = parse_embeddings_request({"model": "gemini-embedding-001", "input": ["a", "b"]})
    out = render_embeddings_response(answers, call)
    openai_schema("CreateEmbeddingResponse", out)
    assert out == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -1.25]},
            {"object": "embedding", "index": 1, "embedding": [2.0, 0.0]},
        ],
        "model": "gemini-embedding-001",
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    b64_call = parse_embeddings_request(
        {"model": "gemini-embedding-001", "input": ["a", "b"], "encoding_format": "base64"}
    )
    b64 = render_embeddings_response(answers, b64_call)
    # The spec types `embedding` as an array only; the SDKs decode the base64 string form.
    raw = base64.b64decode(b64["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -1.25)  # little-endian float32, as the openai SDK decodes


def test_embeddings_count_mismatch_is_a_gateway_error() -> None:
    call = parse_embeddings_request({"model": "e", "input": ["a", "b"]})
    with pytest.raises(GatewayError) as info:
        render_embeddings_response([{"embeddings": [{"values": [1.0]}]}], call)
    assert info.value.status_code == 502


@pytest.mark.parametrize(
    ("body", "param", "text"),
    [
        ({"model": "e", "input": [1, 2, 3]}, "input", "token arrays"),
        ({"model": "e", "input": [[1, 2], [3]]}, "input", "token arrays"),
        ({"model": "e", "input": ""}, "input[0]", "empty"),
        ({"model": "e", "input": []}, "input", "non-empty"),
        ({"model": "e", "input": ["a", 3]}, "input[1]", "expected a string"),
        ({"model": "e", "input": "a", "encoding_format": "int8"}, "encoding_format", "float or base64"),
        ({"model": "e", "input": "a", "dimensions": 0}, "dimensions", ">= 1"),
        ({"input": "a"}, "model", "required"),
    ],
)
def test_embeddings_errors(body: dict[str, Any], param: str, text: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_embeddings_request(body)
    assert (info.value.param, info.value.status_code) == (param, 400)
    assert text in info.value.message


# --- images --------------------------------------------------------------------------------------


def test_imagen_request_and_response(openai_schema: Validate) -> None:
    call = parse_images_request(
        {"model": "imagen-4.0-generate-001", "prompt": "a red fox", "n": 2, "size": "1792x1024"}
    )
    assert (call.method, call.calls) == ("predict", 1)
    assert call.request == {
        "instances": [{"prompt": "a red fox"}],
        "parameters": {"sampleCount": 2, "aspectRatio": "16:9"},
    }
    answer = {
        "predictions": [{"bytesBase64Encoded": "AAA", "mimeType": "image/png"}, {"bytesBase64Encoded": "BBB"}]
    }
    out = render_images_response([answer], call, created=5)
    openai_schema("ImagesResponse", out)
    assert out == {"created": 5, "data": [{"b64_json": "AAA"}, {"b64_json": "BBB"}]}


def test_gemini_image_model_path() -> None:
    call = parse_images_request(
        {"model": "dall-e-3", "prompt": "a cat", "n": 2, "size": "1024x1536", "response_format": "url"}
    )
    assert (call.model, call.method, call.calls) == ("gemini-2.5-flash-image", "generateContent", 2)
    assert call.request == {
        "contents": [{"role": "user", "parts": [{"text": "a cat"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "2:3"}},
    }
    answer = {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": "Here"}, {"inlineData": {"mimeType": "image/png", "data": "QQ=="}}]
                }
            }
        ]
    }
    out = render_images_response([answer, answer], call, created=1)
    assert out["data"] == [{"url": "data:image/png;base64,QQ=="}] * 2


def test_images_without_any_image_explain_why() -> None:
    call = parse_images_request({"model": "imagen-4.0-generate-001", "prompt": "x"})
    with pytest.raises(RequestError, match="filtered for safety"):
        render_images_response(
            [{"predictions": [{"raiFilteredReason": "filtered for safety"}]}], call, created=1
        )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "imagen-4.0-generate-001"}, "prompt"),
        ({"prompt": "x", "n": 11}, "n"),
        ({"prompt": "x", "size": "big"}, "size"),
        ({"prompt": "x", "response_format": "png"}, "response_format"),
        ({"prompt": "x", "output_format": "bmp"}, "output_format"),
    ],
)
def test_images_errors(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_images_request(body)
    assert info.value.param == param


# --- speech --------------------------------------------------------------------------------------


def test_speech_request() -> None:
    call = parse_speech_request({"model": "tts-1", "input": "Hello there", "voice": "alloy", "speed": 1.5})
    assert call.model == "gemini-2.5-flash-preview-tts"
    assert call.response_format == "wav"
    assert call.request == {
        "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
        "generationConfig": {
            "responseModalities": ["AUDIO"],
            "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
        },
    }
    native = parse_speech_request(
        {"model": "gemini-2.5-pro-preview-tts", "input": "x", "voice": "puck", "response_format": "pcm"}
    )
    assert native.model == "gemini-2.5-pro-preview-tts"
    assert native.request["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"] == {
        "voiceName": "Puck"
    }
    assert native.response_format == "pcm"


def test_speech_audio_is_wrapped_in_a_wav_header() -> None:
    pcm = bytes(range(200))
    answer = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "audio/L16;codec=pcm;rate=24000",
                                "data": base64.b64encode(pcm).decode(),
                            }
                        }
                    ]
                }
            }
        ]
    }
    call = parse_speech_request({"model": "tts-1", "input": "x", "response_format": "wav"})
    audio, content_type = render_speech_audio(answer, call)
    assert content_type == "audio/wav"
    assert audio[44:] == pcm
    riff, size, wave, fmt, _, pcm_tag, channels, rate, byte_rate, align, bits = struct.unpack(
        "<4sI4s4sIHHIIHH", audio[:36]
    )
    assert (riff, wave, fmt, size) == (b"RIFF", b"WAVE", b"fmt ", 36 + len(pcm))
    assert (pcm_tag, channels, rate, byte_rate, align, bits) == (1, 1, 24000, 48000, 2, 16)
    assert audio[36:44] == b"data" + struct.pack("<I", len(pcm))
    raw, raw_type = render_speech_audio(
        answer, parse_speech_request({"model": "tts-1", "input": "x", "response_format": "pcm"})
    )
    assert (raw, raw_type) == (pcm, "audio/pcm")
    assert wav_header(10, 16000)[24:28] == struct.pack("<I", 16000)


def test_speech_errors() -> None:
    for fmt in ("mp3", "opus", "aac", "flac"):
        with pytest.raises(ParamError, match="use wav or pcm") as info:
            parse_speech_request({"model": "tts-1", "input": "x", "response_format": fmt})
        assert info.value.param == "response_format"
    with pytest.raises(ParamError) as missing:
        parse_speech_request({"model": "tts-1"})
    assert missing.value.param == "input"
    with pytest.raises(GatewayError) as silent:
        render_speech_audio(
            {"candidates": [{"content": {"parts": [{"text": "no"}]}}]},
            parse_speech_request({"model": "tts-1", "input": "x"}),
        )
    assert silent.value.status_code == 502


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "error"),
    [
        (
            ParamError("messages[0].role", "unknown role 'robot'"),
            400,
            {
                "message": "messages[0].role: unknown role 'robot'",
                "type": "invalid_request_error",
                "param": "messages[0].role",
                "code": None,
            },
        ),
        (
            RequestError("bad token", status_code=401),
            401,
            {
                "message": "bad token",
                "type": "authentication_error",
                "param": None,
                "code": "invalid_api_key",
            },
        ),
        (
            RequestError("no", status_code=403),
            403,
            {"message": "no", "type": "permission_error", "param": None, "code": "permission_denied"},
        ),
        (
            NoCredentialAvailable("every key is cooling", retry_after=12),
            429,
            {
                "message": "every key is cooling",
                "type": "rate_limit_error",
                "param": None,
                "code": "rate_limit_exceeded",
            },
        ),
        (
            UpstreamError(
                404,
                b'{"error":{"code":404,"message":"models/x is not found for API version v1beta","status":"NOT_FOUND"}}',
            ),
            404,
            {
                "message": "models/x is not found for API version v1beta",
                "type": "not_found_error",
                "param": None,
                "code": "model_not_found",
            },
        ),
        (
            UpstreamError(500, b'[{"error":{"code":500,"message":"Internal error","status":"INTERNAL"}}]'),
            500,
            {"message": "Internal error", "type": "api_error", "param": None, "code": "server_error"},
        ),
    ],
)
def test_openai_error_envelope(
    exc: GatewayError, status: int, error: dict[str, Any], openai_schema: Validate
) -> None:
    got_status, body = render_openai_error(exc)
    assert got_status == status
    payload = orjson.loads(body)
    assert payload == {"error": error}
    openai_schema("ErrorResponse", payload)


def test_daily_quota_is_insufficient_quota() -> None:
    body = orjson.dumps(
        {
            "error": {
                "code": 429,
                "message": "You exceeded your current quota",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
                    }
                ],
            }
        }
    )
    _, out = render_openai_error(UpstreamError(429, body))
    assert orjson.loads(out)["error"]["type"] == "insufficient_quota"
    minute = body.replace(b"PerDay", b"PerMinute")
    _, out = render_openai_error(UpstreamError(429, minute))
    assert orjson.loads(out)["error"]["type"] == "rate_limit_error"

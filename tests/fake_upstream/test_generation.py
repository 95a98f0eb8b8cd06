"""What the fake answers, over HTTP: derived from the request, shaped like Gemini's answers."""

from __future__ import annotations

import base64
import struct
from typing import Any

import httpx
import orjson
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.fake_upstream.conftest import user

Json = dict[str, Any]
TINY_PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 60).decode()


def generate(http: httpx.Client, body: Json, model: str = "gemini-2.5-flash") -> Json:
    response = http.post(f"/v1beta/models/{model}:generateContent", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def fails(http: httpx.Client, body: Json, model: str = "gemini-2.5-flash") -> str:
    response = http.post(f"/v1beta/models/{model}:generateContent", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    return str(response.json()["error"]["message"])


def parts_of(answer: Json, index: int = 0) -> list[Json]:
    return answer["candidates"][index]["content"]["parts"]  # type: ignore[no-any-return]


def with_config(text: str, **config: Any) -> Json:
    return {**user(text), "generationConfig": config}


def test_candidate_count(http: httpx.Client) -> None:
    answer = generate(http, with_config("several", candidateCount=3))
    assert [c["index"] for c in answer["candidates"]] == [0, 1, 2]
    texts = {parts_of(answer, i)[-1]["text"] for i in range(3)}
    assert len(texts) == 3


def test_max_output_tokens_truncates(http: httpx.Client) -> None:
    answer = generate(
        http, with_config("a long enough prompt to answer", maxOutputTokens=3), "gemini-2.0-flash"
    )
    candidate = answer["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS" and len(parts_of(answer)[0]["text"]) == 12
    assert answer["usageMetadata"]["candidatesTokenCount"] == 3


def test_answers_can_be_padded_for_benchmarks(http: httpx.Client, state: FakeState) -> None:
    state.config.merge({"min_answer_chars": 2000})
    answer = generate(http, user("make it long"), "gemini-2.0-flash")
    assert len(parts_of(answer)[0]["text"]) >= 2000
    assert answer["usageMetadata"]["candidatesTokenCount"] >= 500


def test_stop_sequences(http: httpx.Client) -> None:
    answer = generate(http, with_config("alpha bravo charlie", stopSequences=["bravo"]), "gemini-2.0-flash")
    assert parts_of(answer)[0]["text"] == 'You said: "alpha '
    assert answer["candidates"][0]["finishReason"] == "STOP"


def test_usage_omits_zero_counts(http: httpx.Client) -> None:
    usage = generate(http, user("no thinking here"), "gemini-2.0-flash")["usageMetadata"]
    assert "thoughtsTokenCount" not in usage
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    off = with_config("thinking off", thinkingConfig={"thinkingBudget": 0})
    assert "thoughtsTokenCount" not in generate(http, off)["usageMetadata"]


def test_json_mode_follows_response_schema(http: httpx.Client) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING"},
            "age": {"type": "INTEGER", "minimum": 18},
            "mood": {"type": "STRING", "enum": ["happy", "sad"]},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 2},
            "address": {
                "type": "OBJECT",
                "properties": {"zip": {"type": "NUMBER"}, "ok": {"type": "BOOLEAN"}},
            },
        },
        "required": ["name"],
    }
    body = with_config("person", responseMimeType="application/json", responseSchema=schema)
    value = orjson.loads(parts_of(generate(http, body, "gemini-2.0-flash"))[0]["text"])
    assert value == {
        "name": "example name",
        "age": 18,
        "mood": "happy",
        "tags": ["example tags", "example tags"],
        "address": {"zip": 1.5, "ok": True},
    }


def test_json_mode_follows_response_json_schema(http: httpx.Client) -> None:
    schema = {
        "type": "object",
        "$defs": {"step": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}},
        "properties": {
            "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
            "note": {"type": ["string", "null"]},
            "kind": {"const": "plan"},
        },
        "additionalProperties": False,
    }
    body = with_config("plan", response_mime_type="application/json", response_json_schema=schema)
    value = orjson.loads(parts_of(generate(http, body, "gemini-2.0-flash"))[0]["text"])
    assert value == {"steps": [{"n": 1}], "note": "example note", "kind": "plan"}


def test_speech_output(http: httpx.Client) -> None:
    speech = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}
    body = with_config("Say hello", responseModalities=["AUDIO"], speechConfig=speech)
    answer = generate(http, body, "gemini-2.5-flash-preview-tts")
    (part,) = parts_of(answer)
    assert part["inlineData"]["mimeType"] == "audio/L16;codec=pcm;rate=24000"
    pcm = base64.b64decode(part["inlineData"]["data"])
    assert len(pcm) >= 9600 and len(pcm) % 2 == 0
    assert max(abs(s) for (s,) in struct.iter_unpack("<h", pcm[:2000])) > 1000
    multi = {
        "multiSpeakerVoiceConfig": {
            "speakerVoiceConfigs": [
                {"speaker": "Joe", "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
                {"speaker": "Jane", "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}},
            ]
        }
    }
    body = with_config("Joe: Hi!\nJane: Hello!", responseModalities=["AUDIO"], speechConfig=multi)
    assert "inlineData" in parts_of(generate(http, body, "gemini-2.5-flash-preview-tts"))[0]
    assert "response modalities" in fails(http, user("text please"), "gemini-2.5-flash-preview-tts")


def test_image_output_is_a_real_png(http: httpx.Client) -> None:
    body = with_config("a red fox", responseModalities=["TEXT", "IMAGE"])
    text, image = parts_of(generate(http, body, "gemini-2.5-flash-image"))
    assert "a red fox" in text["text"]
    data = base64.b64decode(image["inlineData"]["data"])
    assert image["inlineData"]["mimeType"] == "image/png" and data.startswith(b"\x89PNG\r\n\x1a\n")
    assert data[12:16] == b"IHDR" and data.endswith(b"IEND\xaeB`\x82")
    assert "image" in fails(http, body, "gemini-2.5-flash")


def test_inline_images_are_acknowledged(http: httpx.Client) -> None:
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "what is this?"},
                    {"inlineData": {"mimeType": "image/png", "data": TINY_PNG}},
                ],
            }
        ]
    }
    answer = generate(http, body)
    assert "I see an image/png of 68 bytes." in parts_of(answer)[-1]["text"]
    details = {d["modality"]: d["tokenCount"] for d in answer["usageMetadata"]["promptTokensDetails"]}
    assert details["IMAGE"] == 258
    body["contents"][0]["parts"][1]["inlineData"]["data"] = "***"
    assert "Base64 decoding failed" in fails(http, body)


TOOLS = [
    {
        "functionDeclarations": [
            {"name": "lookup", "description": "d", "parametersJsonSchema": {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}}}},
            {"name": "book", "description": "d", "parameters": {"type": "OBJECT", "properties": {"day": {"type": "STRING", "format": "date"}}}},
        ]
    }
]  # fmt: skip


def tool_request(text: str, **calling: Any) -> Json:
    body: Json = {**user(text), "tools": TOOLS}
    if calling:
        body["toolConfig"] = {"functionCallingConfig": calling}
    return body


def test_function_call_for_first_declaration(http: httpx.Client) -> None:
    (part,) = parts_of(generate(http, tool_request("find"), "gemini-2.0-flash"))
    assert part == {"functionCall": {"name": "lookup", "args": {"q": "example q", "n": 1}}}
    signed = parts_of(generate(http, tool_request("find")))[-1]
    assert "id" not in signed["functionCall"] and base64.b64decode(signed["thoughtSignature"])


def test_function_calling_modes(http: httpx.Client) -> None:
    (part,) = parts_of(
        generate(http, tool_request("book", mode="ANY", allowedFunctionNames=["book"]), "gemini-2.0-flash")
    )
    assert part["functionCall"] == {"name": "book", "args": {"day": "2025-01-01"}}
    (text,) = parts_of(generate(http, tool_request("no tools", mode="NONE"), "gemini-2.0-flash"))
    assert "no tools" in text["text"]


def test_function_results_are_echoed(http: httpx.Client) -> None:
    body = tool_request("find")
    body["contents"] += [
        {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": "x"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"hits": 3}}}]},
    ]
    (part,) = parts_of(generate(http, body, "gemini-2.0-flash"))
    assert part["text"].startswith('The function lookup returned {"hits":3}.')


def gemini3_history(signature: str | None) -> Json:
    call: Json = {"functionCall": {"name": "lookup", "args": {"q": "x"}}}
    if signature is not None:
        call["thoughtSignature"] = signature
    body = tool_request("find")
    body["contents"] += [
        {"role": "model", "parts": [call]},
        {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"hits": 3}}}]},
    ]
    return body


def test_gemini3_requires_thought_signatures(http: httpx.Client) -> None:
    assert "thought_signature" in fails(http, gemini3_history(None), "gemini-3-pro-preview")
    assert "Corrupted" in fails(
        http, gemini3_history(base64.b64encode(b"forged").decode()), "gemini-3-pro-preview"
    )
    generate(http, gemini3_history("skip_thought_signature_validator"), "gemini-3-pro-preview")
    generate(http, gemini3_history(None), "gemini-2.5-flash")  # older models let it pass
    signature = parts_of(generate(http, tool_request("find"), "gemini-3-flash-preview"))[-1][
        "thoughtSignature"
    ]
    generate(http, gemini3_history(signature), "gemini-3-flash-preview")


def test_signature_check_only_covers_the_current_step(http: httpx.Client) -> None:
    body = gemini3_history(None)
    body["contents"] += [
        {"role": "model", "parts": [{"text": "3 hits"}]},
        {"role": "user", "parts": [{"text": "thanks, and now?"}]},
    ]
    generate(http, body, "gemini-3-pro-preview")


@pytest.mark.parametrize(
    ("model", "thinking", "message"),
    [
        ("gemini-2.0-flash", {"thinkingBudget": 100}, "not supported"),
        ("gemini-2.5-pro", {"thinkingBudget": 0}, "only works in thinking mode"),
        ("gemini-3-pro-preview", {"thinkingLevel": "MEDIUM"}, "MEDIUM is not supported"),
        ("gemini-3-flash-preview", {"thinkingLevel": "low", "thinkingBudget": 10}, "only one of"),
    ],
)
def test_thinking_config_checks(http: httpx.Client, model: str, thinking: Json, message: str) -> None:
    assert message in fails(http, with_config("hi", thinkingConfig=thinking), model)


def test_count_tokens_both_forms(http: httpx.Client) -> None:
    path = "/v1beta/models/gemini-2.5-flash:countTokens"
    plain = http.post(path, json=user("x" * 80)).json()
    assert plain == {"totalTokens": 20, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 20}]}
    inner = {
        "model": "models/gemini-2.5-flash",
        **user("x" * 80),
        "systemInstruction": {"parts": [{"text": "y" * 40}]},
    }
    wrapped = http.post(path, json={"generateContentRequest": inner}).json()
    assert wrapped["totalTokens"] == 30
    both = http.post(path, json={**user("x"), "generateContentRequest": inner})
    assert both.status_code == 400


def test_embed_content_single_and_batch(http: httpx.Client) -> None:
    single = http.post(
        "/v1beta/models/text-embedding-004:embedContent", json={"content": {"parts": [{"text": "hello"}]}}
    ).json()
    assert len(single["embedding"]["values"]) == 768
    batch = http.post(
        "/v1beta/models/text-embedding-004:batchEmbedContents",
        json={
            "requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]}}]
        },
    ).json()
    assert batch["embeddings"][0]["values"] == single["embedding"]["values"]
    default = http.post(
        "/v1beta/models/gemini-embedding-001:embedContent", json={"content": {"parts": [{"text": "hello"}]}}
    ).json()
    assert len(default["embedding"]["values"]) == 3072


def test_batch_embed_model_must_match_the_path(http: httpx.Client) -> None:
    response = http.post(
        "/v1beta/models/gemini-embedding-001:batchEmbedContents",
        json={"requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "x"}]}}]},
    )
    assert response.status_code == 400 and "must match the model" in response.text


def test_imagen_predict(http: httpx.Client) -> None:
    body = {"instances": [{"prompt": "a red fox"}], "parameters": {"sampleCount": 2}}
    predictions = http.post("/v1beta/models/imagen-4.0-generate-001:predict", json=body).json()["predictions"]
    assert (
        len(predictions) == 2 and predictions[0]["bytesBase64Encoded"] != predictions[1]["bytesBase64Encoded"]
    )
    assert all(p["mimeType"] == "image/png" for p in predictions)
    assert base64.b64decode(predictions[0]["bytesBase64Encoded"]).startswith(b"\x89PNG")

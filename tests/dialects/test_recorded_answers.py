"""Golden tests: real recorded Gemini answers (tests/dialects/recorded/, with their sources) rendered
in each dialect, whole and streamed: citations, finish and block reasons, block messages, images.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from gemini_gateway.dialects.anthropic_messages import parse_messages_request, render_messages_response
from gemini_gateway.dialects.anthropic_stream import MessagesStreamTranslator
from gemini_gateway.dialects.openai_chat import parse_chat_request, render_chat_response
from gemini_gateway.dialects.openai_responses import parse_responses_request, render_responses_response
from gemini_gateway.dialects.openai_responses_stream import ResponsesStreamTranslator
from gemini_gateway.dialects.openai_stream import ChatStreamTranslator
from tests.dialects.conftest import Validate

RECORDED = Path(__file__).parent / "recorded"
SSEPayloads = Callable[[list[bytes]], list[Any]]
SSEEvents = Callable[[list[bytes]], list[tuple[str, Any]]]


def recorded(name: str) -> Any:
    return orjson.loads((RECORDED / name).read_bytes())


def chat(answer: dict[str, Any]) -> dict[str, Any]:
    call = parse_chat_request({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "q"}]})
    return render_chat_response(answer, call, response_id="chatcmpl-r", created=1)


def chat_stream(events: list[dict[str, Any]], sse_payloads: SSEPayloads) -> list[Any]:
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "q"}], "stream": True}
    translator = ChatStreamTranslator(parse_chat_request(body), "chatcmpl-s", 1)
    frames = [frame for event in events for frame in translator.feed(event)] + translator.finish()
    return [p for p in sse_payloads(frames) if p != "[DONE]"]


def responses(answer: dict[str, Any]) -> dict[str, Any]:
    call = parse_responses_request({"model": "gemini-2.5-flash", "input": "q"})
    return render_responses_response(answer, call, response_id="resp_r", created_at=1)


def responses_stream(events: list[dict[str, Any]], sse_events: SSEEvents) -> list[tuple[str, Any]]:
    translator = ResponsesStreamTranslator(
        parse_responses_request({"model": "gemini-2.5-flash", "input": "q", "stream": True}), "resp_s", 1
    )
    frames = [frame for event in events for frame in translator.feed(event)] + translator.finish()
    return sse_events(frames)


def messages(answer: dict[str, Any]) -> dict[str, Any]:
    call = parse_messages_request(
        {"model": "gemini-2.5-flash", "max_tokens": 100, "messages": [{"role": "user", "content": "q"}]}
    )
    return render_messages_response(answer, call, message_id="msg_r")


def messages_stream(events: list[dict[str, Any]], sse_events: SSEEvents) -> list[tuple[str, Any]]:
    call = parse_messages_request(
        {"model": "gemini-2.5-flash", "max_tokens": 100, "messages": [{"role": "user", "content": "q"}]}
    )
    translator = MessagesStreamTranslator(call, "msg_s")
    frames = [frame for event in events for frame in translator.feed(event)] + translator.finish()
    return sse_events(frames)


def expected_citations(answer: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(cited text, url, title) per support and source, read straight off the recording."""
    meta = answer["candidates"][0]["groundingMetadata"]
    chunks = meta["groundingChunks"]
    return [
        (s["segment"]["text"], chunks[i]["web"]["uri"], chunks[i]["web"]["title"])
        for s in meta["groundingSupports"]
        for i in s["groundingChunkIndices"]
    ]


def stream_answer_metadata(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(
        e
        for e in reversed(events)
        if e["candidates"][0].get("groundingMetadata", {}).get("groundingSupports")
    )


# --- citations ---------------------------------------------------------------------------------


def test_chat_citations_from_search_grounding(openai_schema: Validate) -> None:
    answer = recorded("search_grounding.json")
    body = chat(answer)
    openai_schema("CreateChatCompletionResponse", body)
    message = body["choices"][0]["message"]
    text = message["content"]
    got = [
        (
            text[a["url_citation"]["start_index"] : a["url_citation"]["end_index"]],
            a["url_citation"]["url"],
            a["url_citation"]["title"],
        )
        for a in message["annotations"]
    ]
    assert all(a["type"] == "url_citation" for a in message["annotations"])
    assert got == expected_citations(answer) and len(got) == 9


def test_chat_stream_citations_on_a_closing_delta(sse_payloads: SSEPayloads) -> None:
    events = recorded("search_grounding_stream.json")
    chunks = chat_stream(events, sse_payloads)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    annotations = [a for c in chunks for a in c["choices"][0]["delta"].get("annotations", [])]
    got = [
        (
            text[a["url_citation"]["start_index"] : a["url_citation"]["end_index"]],
            a["url_citation"]["url"],
            a["url_citation"]["title"],
        )
        for a in annotations
    ]
    assert got == expected_citations(stream_answer_metadata(events)) and len(got) == 9


def test_responses_citations(openai_schema: Validate) -> None:
    answer = recorded("search_grounding.json")
    body = responses(answer)
    openai_schema("Response", body)
    (message,) = body["output"]
    (part,) = message["content"]
    got = [
        (part["text"][a["start_index"] : a["end_index"]], a["url"], a["title"]) for a in part["annotations"]
    ]
    assert all(a["type"] == "url_citation" for a in part["annotations"])
    assert got == expected_citations(answer)


def test_responses_stream_citations(sse_events: SSEEvents) -> None:
    events = recorded("url_context_stream.json")
    out = responses_stream(events, sse_events)
    added = [p for name, p in out if name == "response.output_text.annotation.added"]
    assert [a["annotation_index"] for a in added] == [0]
    final = out[-1][1]["response"]["output"][0]["content"][0]
    assert final["annotations"] == [added[0]["annotation"]]
    start, end = final["annotations"][0]["start_index"], final["annotations"][0]["end_index"]
    assert final["text"][start:end] == "Pydantic AI Gateway is now available!"
    assert final["annotations"][0]["url"] == "https://ai.pydantic.dev"


def test_anthropic_citations_on_text_blocks() -> None:
    answer = recorded("search_grounding.json")
    body = messages(answer)
    cited = [
        (b["text"], c["url"], c["title"])
        for b in body["content"]
        if b["type"] == "text"
        for c in b.get("citations") or []
    ]
    assert cited == expected_citations(answer)
    assert all(
        c["type"] == "web_search_result_location" and c["cited_text"] == b["text"]
        for b in body["content"]
        for c in b.get("citations") or []
    )
    full = answer["candidates"][0]["content"]["parts"][0]["text"]
    assert "".join(b["text"] for b in body["content"]) == full  # split, nothing lost


def test_anthropic_stream_citations_delta(sse_events: SSEEvents) -> None:
    events = recorded("search_grounding_stream.json")
    out = messages_stream(events, sse_events)
    deltas = [
        p["delta"]["citation"]
        for n, p in out
        if n == "content_block_delta" and p["delta"]["type"] == "citations_delta"
    ]
    expected = expected_citations(stream_answer_metadata(events))
    assert [(c["cited_text"], c["url"], c["title"]) for c in deltas] == expected


def test_citation_indices_are_characters_not_bytes() -> None:
    """Gemini counts UTF-8 bytes (generative_service.proto, Segment); OpenAI counts characters."""
    text = "Zürich liegt am See. 東京は日本の首都です。"
    cited = "東京は日本の首都です。"
    start = len(text.encode()) - len(cited.encode())
    answer = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": "STOP",
                "groundingMetadata": {
                    "groundingChunks": [
                        {"web": {"uri": "https://example.org/tokyo", "title": "example.org"}}
                    ],
                    "groundingSupports": [
                        {
                            "segment": {"startIndex": start, "endIndex": len(text.encode()), "text": cited},
                            "groundingChunkIndices": [0],
                        }
                    ],
                },
            }
        ]
    }
    (annotation,) = chat(answer)["choices"][0]["message"]["annotations"]
    assert annotation["url_citation"]["start_index"] == text.index(cited)
    assert annotation["url_citation"]["end_index"] == len(text)


# --- finish and block reasons ------------------------------------------------------------------


def test_model_armor_answer_block_is_a_refusal_in_every_dialect(openai_schema: Validate) -> None:
    answer = recorded("model_armor_answer_blocked.json")
    why = answer["candidates"][0]["finishMessage"]
    choice = chat(answer)["choices"][0]
    openai_schema("CreateChatCompletionResponse", chat(answer))
    assert choice["finish_reason"] == "content_filter" and choice["message"]["refusal"] == why
    assert choice["native_finish_reason"] == "MODEL_ARMOR"
    body = messages(answer)
    assert body["stop_reason"] == "refusal"
    assert body["stop_details"] == {"type": "refusal", "category": None, "explanation": why}
    assert body["content"] == [{"type": "text", "text": why}]
    resp = responses(answer)
    assert resp["status"] == "incomplete" and resp["incomplete_details"] == {"reason": "content_filter"}
    assert resp["output"][0]["content"] == [{"type": "refusal", "refusal": why}]


def test_model_armor_prompt_block_carries_its_message(openai_schema: Validate) -> None:
    answer = recorded("model_armor_prompt_blocked.json")
    why = answer["promptFeedback"]["blockReasonMessage"]
    body = chat(answer)
    openai_schema("CreateChatCompletionResponse", body)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["refusal"] == why
    assert choice["native_finish_reason"] == "MODEL_ARMOR"
    assert messages(answer)["stop_details"]["explanation"] == why
    assert responses(answer)["output"][0]["content"] == [{"type": "refusal", "refusal": why}]


def test_model_armor_streamed(sse_payloads: SSEPayloads, sse_events: SSEEvents) -> None:
    answer = recorded("model_armor_answer_blocked.json")
    why = answer["candidates"][0]["finishMessage"]
    chunks = chat_stream([answer], sse_payloads)
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]] == [
        "content_filter"
    ]
    assert "".join(c["choices"][0]["delta"].get("refusal") or "" for c in chunks) == why
    out = messages_stream([answer], sse_events)
    (delta,) = [p["delta"] for n, p in out if n == "message_delta"]
    assert delta["stop_reason"] == "refusal" and delta["stop_details"]["explanation"] == why
    assert [p["delta"]["text"] for n, p in out if n == "content_block_delta"] == [why]
    events = responses_stream([answer], sse_events)
    assert [p["refusal"] for n, p in events if n == "response.refusal.done"] == [why]
    name, final = events[-1]
    assert name == "response.incomplete" and final["response"]["output"][0]["content"][0]["refusal"] == why


def test_prompt_block_streamed(sse_payloads: SSEPayloads, sse_events: SSEEvents) -> None:
    answer = recorded("model_armor_prompt_blocked.json")
    why = answer["promptFeedback"]["blockReasonMessage"]
    chunks = chat_stream([answer], sse_payloads)
    assert "".join(c["choices"][0]["delta"].get("refusal") or "" for c in chunks) == why
    out = messages_stream([answer], sse_events)
    assert [p["delta"]["stop_details"]["explanation"] for n, p in out if n == "message_delta"] == [why]


@pytest.mark.parametrize(
    ("reason", "chat_reason", "stop_reason", "incomplete"),
    [
        ("STOP", "stop", "end_turn", None),
        ("MAX_TOKENS", "length", "max_tokens", "max_output_tokens"),
        *[
            (r, "content_filter", "refusal", "content_filter")
            for r in (
                "SAFETY",
                "RECITATION",
                "LANGUAGE",
                "OTHER",
                "BLOCKLIST",
                "PROHIBITED_CONTENT",
                "SPII",
                "MALFORMED_FUNCTION_CALL",
                "IMAGE_SAFETY",
                "IMAGE_PROHIBITED_CONTENT",
                "IMAGE_OTHER",
                "NO_IMAGE",
                "IMAGE_RECITATION",
                "UNEXPECTED_TOOL_CALL",
                "TOO_MANY_TOOL_CALLS",
                "MODEL_ARMOR",
                "SOME_FUTURE_REASON",
            )
        ],
    ],
)
def test_every_finish_reason(reason: str, chat_reason: str, stop_reason: str, incomplete: str | None) -> None:
    answer = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "partial"}]}, "finishReason": reason}]
    }
    choice = chat(answer)["choices"][0]
    assert choice["finish_reason"] == chat_reason
    body = messages(answer)
    assert body["stop_reason"] == stop_reason
    resp = responses(answer)
    assert (resp["incomplete_details"] or {}).get("reason") == incomplete
    if chat_reason == "content_filter":
        # No finishMessage: the Gemini reason itself is what the user gets to see.
        assert reason in choice["message"]["refusal"] and reason in body["stop_details"]["explanation"]
        assert choice["native_finish_reason"] == reason
        assert any(reason in p.get("refusal", "") for p in resp["output"][-1]["content"])
    else:
        assert choice["message"]["refusal"] is None and "stop_details" not in body


def test_recorded_safety_and_max_tokens() -> None:
    safety = recorded("safety_finish.json")
    assert chat(safety)["choices"][0]["finish_reason"] == "content_filter"
    assert messages(safety)["stop_reason"] == "refusal"
    limited = recorded("max_tokens.json")
    choice = chat(limited)["choices"][0]
    assert choice["finish_reason"] == "length" and choice["message"]["content"] == "The capital of France is"
    assert responses(limited)["incomplete_details"] == {"reason": "max_output_tokens"}


# --- images --------------------------------------------------------------------------------------


def image_of(answer: dict[str, Any]) -> tuple[str, str]:
    blob = answer["candidates"][0]["content"]["parts"][1]["inlineData"]
    return blob["mimeType"], blob["data"]


def test_chat_images_out_of_the_text(openai_schema: Validate, sse_payloads: SSEPayloads) -> None:
    answer = recorded("image_and_text.json")
    mime, data = image_of(answer)
    message = chat(answer)["choices"][0]["message"]
    assert message["content"] == answer["candidates"][0]["content"]["parts"][0]["text"]
    assert message["images"] == [{"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}]
    chunks = chat_stream([answer], sse_payloads)
    assert "base64" not in "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    images = [i for c in chunks for i in c["choices"][0]["delta"].get("images", [])]
    assert images == message["images"]
    assert base64.b64decode(data).startswith(b"\x89PNG")


def test_anthropic_image_blocks(sse_events: SSEEvents) -> None:
    answer = recorded("image_and_text.json")
    mime, data = image_of(answer)
    image = {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    assert messages(answer)["content"][1] == image
    out = messages_stream([answer], sse_events)
    assert [p["content_block"] for n, p in out if n == "content_block_start"][1] == image


def test_responses_image_generation_call(openai_schema: Validate, sse_events: SSEEvents) -> None:
    answer = recorded("image_and_text.json")
    _, data = image_of(answer)
    body = responses(answer)
    openai_schema("Response", body)
    assert [item["type"] for item in body["output"]] == ["message", "image_generation_call"]
    assert body["output"][1]["result"] == data and body["output"][1]["status"] == "completed"
    assert "base64" not in body["output"][0]["content"][0]["text"]
    out = responses_stream([answer], sse_events)
    done = [p["item"] for n, p in out if n == "response.output_item.done"]
    assert [item["type"] for item in done] == ["message", "image_generation_call"]
    assert done[1]["result"] == data

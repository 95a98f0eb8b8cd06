"""The official openai and anthropic SDKs read what the dialects write (no server, no network).

An httpx MockTransport plays a thin handler: it parses the SDK's request with the dialect, checks
the canonical call, and answers with the dialect's rendering of a canned Gemini answer. The SDKs'
own parsers and stream accumulators then decide whether the output is right.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from gemini_gateway.dialects.anthropic_errors import render_anthropic_error
from gemini_gateway.dialects.anthropic_messages import parse_messages_request, render_messages_response
from gemini_gateway.dialects.anthropic_stream import MessagesStreamTranslator
from gemini_gateway.dialects.openai_chat import parse_chat_request, render_chat_response
from gemini_gateway.dialects.openai_embeddings import parse_embeddings_request, render_embeddings_response
from gemini_gateway.dialects.openai_errors import render_openai_error
from gemini_gateway.dialects.openai_responses import parse_responses_request
from gemini_gateway.dialects.openai_responses_stream import ResponsesStreamTranslator
from gemini_gateway.dialects.openai_stream import ChatStreamTranslator
from gemini_gateway.errors import GatewayError, NoCredentialAvailable

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

SIG = base64.b64encode(b"\xfa\xfb\xfc opaque gemini signature bytes \xff").decode()
TOOL_CALL_EVENTS = [
    {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Need the weather.", "thought": True}]}}
        ]
    },
    {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Checking."},
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                            "thoughtSignature": SIG,
                        },
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 30,
            "candidatesTokenCount": 9,
            "thoughtsTokenCount": 12,
            "totalTokenCount": 51,
        },
    },
]


def merged(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The unary answer equal to a stream: parts concatenated, last finish and usage."""
    parts = [p for e in events for c in e["candidates"] for p in c["content"]["parts"]]
    last = events[-1]
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": last["candidates"][0]["finishReason"],
            }
        ],
        "usageMetadata": last["usageMetadata"],
    }


Handler = Callable[[dict[str, Any]], tuple[int, bytes, str]]


def _http_module(sdk: Any) -> Any:
    """The httpx flavour an SDK is built on (newer anthropic releases ship on `httpx2`)."""
    base = sdk._base_client
    return getattr(base, "httpx", None) or base.httpx2


def transport(handler: Handler, seen: list[Any], http: Any) -> Any:
    def handle(request: Any) -> Any:
        payload = orjson.loads(request.content)
        try:
            status, content, kind = handler(payload)
        except GatewayError as exc:
            seen.append(exc)
            if "/messages" in request.url.path:
                status, content = render_anthropic_error(exc)
            else:
                status, content = render_openai_error(exc)
            kind = "application/json"
            return http.Response(status, content=content, headers={"content-type": kind, **exc.headers()})
        return http.Response(status, content=content, headers={"content-type": kind})

    return http.MockTransport(handle)


def openai_client(handler: Handler, seen: list[Any]) -> Any:
    module = _http_module(openai)
    http = module.Client(transport=transport(handler, seen, module))
    return openai.OpenAI(api_key="k", base_url="http://gw/v1", http_client=http, max_retries=0)


def anthropic_client(handler: Handler, seen: list[Any]) -> Any:
    module = _http_module(anthropic)
    http = module.Client(transport=transport(handler, seen, module))
    return anthropic.Anthropic(api_key="k", base_url="http://gw", http_client=http, max_retries=0)


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def chat_handler(seen: list[Any]) -> Handler:
    def handle(body: dict[str, Any]) -> tuple[int, bytes, str]:
        call = parse_chat_request(body)
        seen.append(call)
        if not call.stream:
            answer = render_chat_response(merged(TOOL_CALL_EVENTS), call, response_id="chatcmpl-1", created=1)
            return 200, orjson.dumps(answer), "application/json"
        t = ChatStreamTranslator(call, "chatcmpl-1", 1)
        frames = [f for e in TOOL_CALL_EVENTS for f in t.feed(e)] + t.finish()
        return 200, b"".join(frames), "text/event-stream"

    return handle


def test_openai_sdk_non_stream_tool_round_trip() -> None:
    seen: list[Any] = []
    client = openai_client(chat_handler(seen), seen)
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    assert choice.message.reasoning_content == "Need the weather."  # type: ignore[attr-defined]
    call = choice.message.tool_calls[0]
    assert (call.function.name, orjson.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert first.usage is not None and first.usage.completion_tokens == 21
    assert first.usage.completion_tokens_details.reasoning_tokens == 12

    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C"},
    ]
    client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER])
    replayed = seen[-1].request["contents"]
    assert replayed[1]["parts"][1] == {
        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
        "thoughtSignature": SIG,
    }
    assert replayed[2]["parts"][0]["functionResponse"]["name"] == "get_weather"


def test_openai_sdk_stream_accumulates_tool_calls() -> None:
    seen: list[Any] = []
    client = openai_client(chat_handler(seen), seen)
    with client.chat.completions.stream(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER],
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.content == "Checking."
    call = message.tool_calls[0]
    assert orjson.loads(call.function.arguments) == {"city": "Paris"}
    assert final.usage is not None and final.usage.total_tokens == 51
    follow_up = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": message.content,
            "tool_calls": [call.model_dump(include={"id", "type", "function"})],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "18C"},
    ]
    client.chat.completions.create(model="gemini-2.5-flash", messages=follow_up)
    assert seen[-1].request["contents"][1]["parts"][1]["thoughtSignature"] == SIG


def test_openai_sdk_sees_errors_with_param_and_retry_after() -> None:
    seen: list[Any] = []
    client = openai_client(chat_handler(seen), seen)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "robot", "content": "x"}])  # type: ignore[misc, list-item]
    assert bad.value.param == "messages[0].role"  # type: ignore[attr-defined]

    def cooling(body: dict[str, Any]) -> tuple[int, bytes, str]:
        raise NoCredentialAvailable("all credentials are cooling down", retry_after=7)

    client = openai_client(cooling, seen)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.code == "rate_limit_exceeded"  # type: ignore[attr-defined]


def test_openai_sdk_embeddings_default_base64() -> None:
    vectors = [[0.25, -0.5, 1.0], [0.0, 2.0, -3.5]]

    def handle(body: dict[str, Any]) -> tuple[int, bytes, str]:
        call = parse_embeddings_request(body)
        answers = [{"embeddings": [{"values": v} for v in vectors]}]
        return 200, orjson.dumps(render_embeddings_response(answers, call)), "application/json"

    client = openai_client(handle, [])
    result = client.embeddings.create(model="gemini-embedding-001", input=["a", "b"])
    assert [d.embedding for d in result.data] == vectors  # the SDK asked for base64 and decoded it
    assert struct.calcsize("<3f") == 12


def test_openai_sdk_responses_stream() -> None:
    seen: list[Any] = []

    def handle(body: dict[str, Any]) -> tuple[int, bytes, str]:
        call = parse_responses_request(body)
        seen.append(call)
        t = ResponsesStreamTranslator(call, "resp_1", 1700000000)
        frames = [f for e in TOOL_CALL_EVENTS for f in t.feed(e)] + t.finish()
        return 200, b"".join(frames), "text/event-stream"

    client = openai_client(handle, seen)
    tool = {
        "type": "function",
        "name": "get_weather",
        "parameters": WEATHER["function"]["parameters"],
        "strict": False,
    }  # type: ignore[index]
    with client.responses.stream(
        model="gemini-2.5-flash",
        input="Weather?",
        tools=[tool],
        reasoning={"effort": "low", "summary": "auto"},
    ) as stream:
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text == "Checking."
    call = next(item for item in final.output if item.type == "function_call")
    assert orjson.loads(call.arguments) == {"city": "Paris"}
    with client.responses.stream(
        model="gemini-2.5-flash",
        input=[
            {"role": "user", "content": "Weather?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C"},
        ],
        tools=[tool],
    ) as again:
        again.get_final_response()
    assert seen[-1].request["contents"][1]["parts"][0]["thoughtSignature"] == SIG


def messages_handler(seen: list[Any]) -> Handler:
    def handle(body: dict[str, Any]) -> tuple[int, bytes, str]:
        call = parse_messages_request(body)
        seen.append(call)
        if not call.stream:
            answer = render_messages_response(merged(TOOL_CALL_EVENTS), call, message_id="msg_1")
            return 200, orjson.dumps(answer), "application/json"
        t = MessagesStreamTranslator(call, "msg_1")
        frames = [f for e in TOOL_CALL_EVENTS for f in t.feed(e)] + t.finish()
        return 200, b"".join(frames), "text/event-stream"

    return handle


ANTHROPIC_TOOL = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.mark.parametrize("streamed", [False, True], ids=["non-stream", "stream"])
def test_anthropic_sdk_round_trip(streamed: bool) -> None:
    seen: list[Any] = []
    client = anthropic_client(messages_handler(seen), seen)
    args: dict[str, Any] = {
        "model": "gemini-2.5-pro",
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [ANTHROPIC_TOOL],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    if streamed:
        with client.messages.stream(**args) as stream:
            message = stream.get_final_message()
    else:
        message = client.messages.create(**args)
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool_use = message.content
    assert thinking.thinking == "Need the weather."  # type: ignore[union-attr]
    # Gemini signed the call, not the text right after the thoughts: the id carries it instead.
    assert thinking.signature == ""  # type: ignore[union-attr]
    assert text.text == "Checking."  # type: ignore[union-attr]
    assert tool_use.input == {"city": "Paris"}  # type: ignore[union-attr]
    assert message.usage.output_tokens == 21

    follow = [
        *args["messages"],
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in message.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18C"}]},  # type: ignore[union-attr]
    ]
    client.messages.create(**{**args, "messages": follow})
    model_turn = seen[-1].request["contents"][1]["parts"]
    assert model_turn == [
        {"text": "Checking."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG},
    ]


def test_anthropic_sdk_error_classes() -> None:
    seen: list[Any] = []
    client = anthropic_client(messages_handler(seen), seen)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(
            model="gemini-2.5-pro", max_tokens=10, messages=[{"role": "system", "content": "x"}]
        )  # type: ignore[list-item, typeddict-item]
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]

    def cooling(body: dict[str, Any]) -> tuple[int, bytes, str]:
        raise NoCredentialAvailable("all credentials are cooling down", retry_after=3)

    client = anthropic_client(cooling, seen)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(
            model="gemini-2.5-pro", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )

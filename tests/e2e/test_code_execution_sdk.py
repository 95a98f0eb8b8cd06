"""Server-side tools declared the dialects' own way, through the official SDKs, the gateway and the
fake upstream (which runs code when a codeExecution tool reaches it): the code and its result come
back as each SDK's own types, streamed and not, and the history the client sends back is accepted.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway

PROMPT = "How many words are in this sentence of mine?"
WORDS = f"{len(PROMPT.split())}\n"  # what the fake's code prints
FUNCTION = {"name": "lookup", "description": "Look a word up", "input_schema": {"type": "object"}}


def openai_sdk(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(api_key="client-token", base_url=gateway.url + "/v1", max_retries=0)


def anthropic_sdk(gateway: RunningGateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="client-token", base_url=gateway.url, max_retries=0)


@pytest.mark.parametrize("stream", [False, True])
def test_responses_code_interpreter(gateway: RunningGateway, stream: bool) -> None:
    client = openai_sdk(gateway)
    kwargs: dict[str, Any] = {
        "model": "gemini-3-flash-preview",
        "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}],
    }
    if stream:
        with client.responses.stream(input=PROMPT, **kwargs) as events:
            names = [event.type for event in events]
            response = events.get_final_response()
        assert "response.code_interpreter_call_code.done" in names
        assert "response.code_interpreter_call.completed" in names
    else:
        response = client.responses.create(input=PROMPT, **kwargs)
    assert [item.type for item in response.output] == ["code_interpreter_call", "message"]
    call = response.output[0]
    assert call.type == "code_interpreter_call"
    assert call.code is not None and PROMPT in call.code
    assert call.status == "completed"
    assert [(o.type, getattr(o, "logs", None)) for o in call.outputs or ()] == [("logs", WORDS)]
    assert "```" not in response.output_text
    # Stateless replay: the output items go back as input, then the next question.
    history = [
        {"role": "user", "content": PROMPT},
        *[item.model_dump(exclude_none=True) for item in response.output],
        {"role": "user", "content": "And in this one?"},
    ]
    again = client.responses.create(input=history, **kwargs)
    assert again.status == "completed" and "And in this one?" in again.output_text


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_code_execution_server_tool(gateway: RunningGateway, stream: bool) -> None:
    client = anthropic_sdk(gateway)
    kwargs: dict[str, Any] = {
        "model": "gemini-3-flash-preview",
        "max_tokens": 1024,
        "tools": [{"type": "code_execution_20250825", "name": "code_execution"}],
    }
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    if stream:
        with client.messages.stream(messages=messages, **kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(messages=messages, **kwargs)
    assert [block.type for block in message.content] == [
        "server_tool_use",
        "code_execution_tool_result",
        "text",
    ]
    use, result = message.content[0], message.content[1]
    assert use.type == "server_tool_use" and result.type == "code_execution_tool_result"
    assert use.name == "code_execution" and PROMPT in str(use.input["code"])
    assert result.tool_use_id == use.id
    assert result.content.type == "code_execution_result"
    assert (result.content.stdout, result.content.return_code) == (WORDS, 0)
    assert message.stop_reason == "end_turn"
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in message.content]},
        {"role": "user", "content": "And in this one?"},
    ]
    again = client.messages.create(messages=messages, **kwargs)
    assert "And in this one?" in "".join(block.text for block in again.content if block.type == "text")


@pytest.mark.parametrize(
    ("model", "dropped"), [("gemini-3-flash-preview", None), ("gemini-2.5-flash", "urlContext,codeExecution")]
)
def test_anthropic_server_tools_beside_functions_only_where_the_model_takes_them(
    gateway: RunningGateway, model: str, dropped: str | None
) -> None:
    raw = anthropic_sdk(gateway).messages.with_raw_response.create(
        model=model,
        max_tokens=256,
        messages=[{"role": "user", "content": PROMPT}],
        tools=[
            FUNCTION,
            {"type": "web_fetch_20250910", "name": "web_fetch"},
            {"type": "code_execution_20250825", "name": "code_execution"},
        ],
    )
    assert raw.headers.get("x-gateway-dropped-tools") == dropped
    message = raw.parse()
    assert message.stop_reason == "tool_use"  # the fake calls the declared function first
    assert [block.name for block in message.content if block.type == "tool_use"] == ["lookup"]

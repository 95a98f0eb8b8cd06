"""What Claude Code and Codex CLI really send, through the official SDKs, over loopback HTTP.

The bodies are captured from the CLIs themselves (tests/e2e/agents/README.md says how); only the
model is swapped for a Gemini one. The fake upstream refuses what live Gemini refuses (built-in
tools beside function declarations on 2.x, unsigned Gemini 3 history), so an answer means the
translation was acceptable to Google's contract.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.conftest import RunningGateway
from tests.recorder.conftest import record, wait_for_records

AGENTS = Path(__file__).parent / "agents"
CLAUDE_CODE = orjson.loads((AGENTS / "claude_code_2.1.332_messages.json").read_bytes())
CODEX = orjson.loads((AGENTS / "codex_0.171.0_responses.json").read_bytes())
# What Claude Code 2.1.332 puts in `anthropic-beta`, plus the beta the issue saw with system turns.
CLAUDE_BETAS = [
    "claude-code-20250219",
    "interleaved-thinking-2025-05-14",
    "context-management-2025-06-27",
    "per-turn-control-2026-07-01",
    "mid-conversation-tool-changes-2026-07-01",
    "effort-2025-11-24",
    "mid-conversation-system-2026-04-07",
]


def claude_code_body(model: str) -> dict[str, Any]:
    body = copy.deepcopy(CLAUDE_CODE)
    body["model"] = model
    body.pop("stream")
    return body


def claude(gateway: RunningGateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=gateway.url, max_retries=0)


def create(client: anthropic.Anthropic, body: dict[str, Any], stream: bool) -> Any:
    """Claude Code's body as the SDK sends it (beta messages, `?beta=true`)."""
    if not stream:
        return client.beta.messages.create(**body, betas=CLAUDE_BETAS, timeout=60)
    with client.beta.messages.stream(**body, betas=CLAUDE_BETAS) as events:
        return events.get_final_message()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-3-pro-preview"])
def test_claude_code_turn_with_system_message_and_tool_round_trip(
    gateway: RunningGateway, model: str, stream: bool
) -> None:
    client = claude(gateway)
    body = claude_code_body(model)
    assert [m["role"] for m in body["messages"]] == ["user", "system"]
    first = create(client, body, stream)
    # The fake calls the first declared tool (Claude Code's `Agent`) with schema-valid arguments.
    assert first.stop_reason == "tool_use"
    kinds = [block.type for block in first.content]
    assert "thinking" in kinds  # adaptive thinking shows the thought summary
    tool_use = next(block for block in first.content if block.type == "tool_use")
    assert tool_use.name == "Agent"
    # Next turn as Claude Code builds it: the assistant's blocks unchanged (signatures included),
    # then the tool result, then its system message again.
    body["messages"] = [
        body["messages"][0],
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "done"}]},
        body["messages"][1],
    ]
    second = create(client, body, stream)
    text = "".join(block.text for block in second.content if block.type == "text")
    assert 'The function Agent returned {"output":"done"}' in text
    assert second.stop_reason == "end_turn"


def test_anthropic_errors_use_anthropics_wording(gateway: RunningGateway) -> None:
    client = claude(gateway)
    body = claude_code_body("gemini-2.5-flash")
    body["messages"].append({"role": "tool", "content": "x"})
    with pytest.raises(anthropic.BadRequestError) as info:
        client.beta.messages.create(**body, betas=CLAUDE_BETAS, timeout=60)
    assert info.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "messages.2.role: Input should be 'user', 'assistant' or 'system'",
        },
    }
    body = claude_code_body("gemini-2.5-flash")
    body["messages"][1]["content"] = [{"type": "image", "source": {"type": "base64", "data": "AA=="}}]
    with pytest.raises(anthropic.BadRequestError) as info:
        client.beta.messages.create(**body, betas=CLAUDE_BETAS, timeout=60)
    # The wording Claude Code's own fallback recognises: it then resends without system turns.
    assert info.value.body["error"]["message"] == (  # type: ignore[index]
        "messages.1.content.0: text-only role 'system' messages require text content blocks"
    )


def codex_body(model: str, *, namespace_first: bool = False) -> dict[str, Any]:
    body = copy.deepcopy(CODEX)
    body["model"] = model
    body.pop("stream")
    if namespace_first:  # the fake calls the first declared function: make it a sub-agent one
        body["tools"].sort(key=lambda tool: tool["type"] != "namespace")
    # Fields this SDK release has no parameter for travel as they do on the wire.
    known = inspect.signature(openai.resources.responses.Responses.create).parameters
    extra = {key: body.pop(key) for key in list(body) if key not in known}
    return {**body, "extra_body": extra}


def codex(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(api_key="k", base_url=gateway.url + "/v1", max_retries=0)


@pytest.mark.parametrize(
    ("model", "dropped"), [("gemini-2.5-flash", "googleSearch"), ("gemini-3-flash-preview", None)]
)
def test_codex_web_search_beside_functions_only_where_the_model_takes_it(
    gateway: RunningGateway, model: str, dropped: str | None
) -> None:
    raw = codex(gateway).responses.with_raw_response.create(**codex_body(model))
    assert raw.headers.get("x-gateway-dropped-tools") == dropped
    response = raw.parse()
    assert response.status == "completed"
    assert [item.type for item in response.output if item.type == "function_call"] == ["function_call"]
    (summary,) = wait_for_records(gateway.url, 1)
    kept = record(gateway.url, summary["id"])
    assert kept["response_headers"].get("x-gateway-dropped-tools") == dropped


@pytest.mark.parametrize("stream", [False, True])
def test_codex_namespaced_tool_is_called_and_mapped_back(gateway: RunningGateway, stream: bool) -> None:
    client = codex(gateway)
    body = codex_body("gemini-3-flash-preview", namespace_first=True)
    if stream:
        with client.responses.stream(**body) as events:
            first = events.get_final_response()
    else:
        first = client.responses.create(**body)
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert (call.namespace, call.name) == ("multi_agent_v1", "close_agent")
    # Codex replays the call as it got it, namespace included, with its output.
    body["input"] += [
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "closed"},
    ]
    second = client.responses.create(**body)
    assert 'The function multi_agent_v1.close_agent returned {"output":"closed"}' in second.output_text


def test_codex_records_name_its_tools(gateway: RunningGateway) -> None:
    codex(gateway).responses.create(**codex_body("gemini-3-flash-preview"))
    (summary,) = wait_for_records(gateway.url, 1)
    names = record(gateway.url, summary["id"])["generation_settings"]["tools"]
    assert names == [
        "exec_command",
        "write_stdin",
        "request_user_input",
        "view_image",
        "multi_agent_v1.close_agent",
        "multi_agent_v1.resume_agent",
        "multi_agent_v1.send_input",
        "multi_agent_v1.spawn_agent",
        "multi_agent_v1.wait_agent",
        "get_goal",
        "create_goal",
        "update_goal",
        "web_search",
    ]


def test_claude_code_records_name_its_tools(gateway: RunningGateway) -> None:
    claude(gateway).beta.messages.create(
        **claude_code_body("gemini-2.5-flash"), betas=CLAUDE_BETAS, timeout=60
    )
    (summary,) = wait_for_records(gateway.url, 1)
    names = record(gateway.url, summary["id"])["generation_settings"]["tools"]
    assert names == [tool["name"] for tool in CLAUDE_CODE["tools"]]


def test_a_refused_streaming_request_is_recorded_as_a_stream(gateway: RunningGateway) -> None:
    body = codex_body("gemini-2.5-flash")
    body["input"] = [{"type": "item_reference", "id": "msg_1"}]
    with pytest.raises(openai.BadRequestError):
        codex(gateway).responses.create(**body, stream=True)
    (summary,) = wait_for_records(gateway.url, 1)
    kept = record(gateway.url, summary["id"])
    assert (kept["status"], kept["stream"]) == (400, True)

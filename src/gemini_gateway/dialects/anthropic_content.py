"""Anthropic `messages[]` content blocks -> Gemini contents.

Signatures come back two ways: folded into `tool_use.id` (like OpenAI call ids), and as the
`signature` of a `thinking` block, which Gemini attaches to the first part after the thoughts.
Thinking signatures minted here carry `SIGNATURE_PREFIX`, so a Claude signature left in a history
from a real Claude model is recognised and never sent to Gemini (which would reject it).
"""

from __future__ import annotations

from typing import Final

from gemini_gateway.dialects.code_execution import server_tool_use_parts, tool_result_parts
from gemini_gateway.dialects.common import (
    JSON,
    SKIP_SIGNATURE,
    ParamError,
    append_turn,
    as_dict,
    function_call_part,
    function_response_part,
    opt_str,
)
from gemini_gateway.dialects.media import url_part

SIGNATURE_PREFIX: Final = "gemini."
# Server-side blocks a history from the real Anthropic API can hold; they have no Gemini meaning
# (but code execution's, which become Gemini's code parts again).
_SERVER_BLOCKS: Final = frozenset(
    {
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
        "search_result",
    }
)


def thinking_signature(gemini_signature: str) -> str:
    return SIGNATURE_PREFIX + gemini_signature


def _own_signature(signature: object) -> str | None:
    if isinstance(signature, str) and signature.startswith(SIGNATURE_PREFIX):
        return signature[len(SIGNATURE_PREFIX) :] or None
    return None


def convert_system(system: object) -> JSON | None:
    if system is None:
        return None
    if isinstance(system, str):
        return {"parts": [{"text": system}]} if system else None
    if not isinstance(system, list):
        raise ParamError(
            "system", f"expected a string or an array of text blocks, got {type(system).__name__}"
        )
    parts = []
    for i, raw in enumerate(system):
        block = as_dict(raw, f"system[{i}]")
        text = block.get("text")
        if block.get("type") != "text" or not isinstance(text, str):
            raise ParamError(f"system[{i}]", "expected a text block")
        if text:
            parts.append({"text": text})
    return {"parts": parts} if parts else None


def convert_messages(messages: object) -> tuple[list[JSON], list[JSON]]:
    """(system instruction parts, contents) for `messages`.

    `role: "system"` messages (Anthropic's mid-conversation system beta, which Claude Code uses)
    are taken anywhere: those before the first user or assistant message join the system
    instruction after the top-level `system`; later ones become text of a user turn at their place,
    so the order the client chose is kept (Gemini has one system instruction, at the start). One
    with `clear_at: "next_user_message"` is left out once a later user message exists, as Anthropic
    does.
    """
    if not isinstance(messages, list):
        raise ParamError("messages", f"expected an array, got {type(messages).__name__}")
    if not messages:
        raise ParamError("messages", "must contain at least one message")
    system: list[JSON] = []
    contents: list[JSON] = []
    tool_names: dict[str, str] = {}
    last_user = max(
        (i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"), default=-1
    )
    for i, raw in enumerate(messages):
        param = f"messages[{i}]"
        message = as_dict(raw, param)
        role = message.get("role")
        if role == "system":
            parts = _system_message(message, param)
            if message.get("clear_at") == "next_user_message" and i < last_user:
                continue
            if contents:
                append_turn(contents, "user", parts)
            else:
                system.extend(parts)
            continue
        if role not in ("user", "assistant"):
            raise ParamError(f"{param}.role", "Input should be 'user', 'assistant' or 'system'")
        content = message.get("content")
        if isinstance(content, str):
            blocks: list[object] = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            blocks = content
        else:
            raise ParamError(
                f"{param}.content", f"expected a string or an array of blocks, got {type(content).__name__}"
            )
        parts = _blocks(blocks, f"{param}.content", role, tool_names)
        append_turn(contents, "user" if role == "user" else "model", parts)
    if not contents:
        raise ParamError("messages", "all messages are empty")
    return system, contents


def _system_message(message: JSON, param: str) -> list[JSON]:
    """A system message's text parts; tool addition and removal blocks have no Gemini meaning
    (the declared tools stay what `tools` says)."""
    content = message.get("content")
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise ParamError(f"{param}.content", "Input should be a valid string or a list of text blocks")
    parts: list[JSON] = []
    for j, raw in enumerate(content):
        block = as_dict(raw, f"{param}.content[{j}]")
        kind = block.get("type")
        if kind in ("tool_addition", "tool_removal"):
            continue
        text = block.get("text")
        if kind != "text" or not isinstance(text, str):
            # Anthropic's wording, which Claude Code's fallback (resend without system turns) knows.
            raise ParamError(
                f"{param}.content[{j}]", "text-only role 'system' messages require text content blocks"
            )
        if text:
            parts.append({"text": text})
    return parts


def _blocks(blocks: list[object], param: str, role: str, tool_names: dict[str, str]) -> list[JSON]:
    parts: list[JSON] = []
    pending: str | None = None  # a thinking block's signature, owed to the next part
    for j, raw in enumerate(blocks):
        where = f"{param}[{j}]"
        block = as_dict(raw, where)
        kind = opt_str(block, "type", f"{where}.type")
        if kind == "thinking":
            pending = _own_signature(block.get("signature")) or pending
            continue
        if kind == "server_tool_use" and role == "assistant":
            new = server_tool_use_parts(block)  # code the model ran; other server tools: none
        elif kind == "code_execution_tool_result" and role == "assistant":
            new = tool_result_parts(block)
        elif kind in _SERVER_BLOCKS:
            continue
        else:
            new = _block(block, kind, where, role, tool_names)
        if not new:
            continue
        if pending and new[0].get("thoughtSignature") in (None, SKIP_SIGNATURE) and role == "assistant":
            new[0]["thoughtSignature"] = pending
        pending = None
        parts.extend(new)
    return parts


def _block(block: JSON, kind: object, param: str, role: str, tool_names: dict[str, str]) -> list[JSON]:
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise ParamError(f"{param}.text", "expected a string")
        return [{"text": text}] if text else []
    if kind in ("image", "document"):
        return [_media(as_dict(block.get("source"), f"{param}.source"), f"{param}.source", kind)]
    if kind == "tool_use":
        name, call_id = block.get("name"), block.get("id")
        if not isinstance(name, str) or not name:
            raise ParamError(f"{param}.name", "is required")
        call_id = call_id if isinstance(call_id, str) else None
        if call_id:
            tool_names[call_id] = name
        args = block.get("input") if isinstance(block.get("input"), dict) else {}
        return [function_call_part(name, args or {}, call_id)]
    if kind == "tool_result":
        return _tool_result(block, param, tool_names)
    raise ParamError(f"{param}.type", f"unsupported content block type {kind!r}")


def _media(source: JSON, param: str, kind: object) -> JSON:
    source_type = source.get("type")
    if source_type == "base64":
        data, mime = source.get("data"), source.get("media_type")
        if not isinstance(data, str) or not data:
            raise ParamError(f"{param}.data", "expected base64 data")
        default = "application/pdf" if kind == "document" else "image/png"
        return {"inlineData": {"mimeType": mime if isinstance(mime, str) else default, "data": data}}
    if source_type == "url":
        return url_part(source.get("url"), f"{param}.url", "application/pdf" if kind == "document" else None)
    if source_type == "text" and isinstance(source.get("data"), str):
        return {"text": source["data"]}
    raise ParamError(f"{param}.type", f"unsupported source type {source_type!r}; use base64, url or text")


def _tool_result(block: JSON, param: str, tool_names: dict[str, str]) -> list[JSON]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise ParamError(f"{param}.tool_use_id", "is required")
    name = tool_names.get(call_id)
    if name is None:
        raise ParamError(f"{param}.tool_use_id", f"{call_id!r} does not match an earlier tool_use block")
    content = block.get("content")
    texts: list[str] = []
    media: list[JSON] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, raw in enumerate(content):
            inner = as_dict(raw, f"{param}.content[{k}]")
            for part in _block(inner, inner.get("type"), f"{param}.content[{k}]", "user", tool_names):
                if "text" in part:
                    texts.append(part["text"])
                else:
                    media.append(part)  # screenshots etc. ride next to the response
    elif content is not None:
        raise ParamError(f"{param}.content", "expected a string or an array of blocks")
    key = "error" if block.get("is_error") is True else "output"
    return [function_response_part(name, {key: "\n".join(texts)}, call_id), *media]

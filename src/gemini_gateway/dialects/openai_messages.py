"""OpenAI chat `messages[]` -> Gemini `systemInstruction` + `contents[]`.

Tool results name only a `tool_call_id`, while Gemini's functionResponse needs the function name:
it is found by scanning the assistant tool_calls earlier in the same history (no server state).
"""

from __future__ import annotations

from typing import Any

from gemini_gateway.dialects.common import (
    JSON,
    ParamError,
    append_turn,
    as_dict,
    function_call_part,
    function_response_part,
    parse_arguments,
)
from gemini_gateway.dialects.media import file_uri, mime_for_filename, parse_data_url, url_part

_AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mp3"}


def convert_messages(messages: object) -> tuple[JSON | None, list[JSON]]:
    """(systemInstruction or None, contents) for a chat `messages` array."""
    if not isinstance(messages, list):
        raise ParamError("messages", f"expected an array, got {type(messages).__name__}")
    if not messages:
        raise ParamError("messages", "must contain at least one message")
    system: list[JSON] = []
    contents: list[JSON] = []
    call_names: dict[str, str] = {}
    for i, raw in enumerate(messages):
        param = f"messages[{i}]"
        message = as_dict(raw, param)
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend({"text": t} for t in _texts(message.get("content"), f"{param}.content") if t)
        elif role == "user":
            append_turn(contents, "user", content_parts(message.get("content"), f"{param}.content"))
        elif role == "assistant":
            append_turn(contents, "model", _assistant_parts(message, param, call_names))
        elif role == "tool":
            append_turn(contents, "user", _tool_parts(message, param, call_names))
        elif role == "function":  # the pre-tools spelling of a tool result
            name = message.get("name")
            if not isinstance(name, str) or not name:
                raise ParamError(f"{param}.name", "is required for function messages")
            text = "\n".join(_texts(message.get("content"), f"{param}.content"))
            append_turn(contents, "user", [function_response_part(name, {"output": text}, None)])
        else:
            raise ParamError(
                f"{param}.role",
                f"unknown role {role!r}; expected system, developer, user, assistant or tool",
            )
    if not contents:
        raise ParamError("messages", "must contain at least one user or assistant message")
    return ({"parts": system} if system else None), contents


def _texts(content: object, param: str) -> list[str]:
    """A content that may only hold text: a string, or an array of text parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise ParamError(param, f"expected a string or an array of text parts, got {type(content).__name__}")
    texts = []
    for j, part in enumerate(content):
        part = as_dict(part, f"{param}[{j}]")
        text = part.get("text", part.get("refusal"))
        if not isinstance(text, str):
            raise ParamError(f"{param}[{j}]", "expected a text part")
        texts.append(text)
    return texts


def content_parts(content: object, param: str) -> list[JSON]:
    """User content (string or typed parts) -> Gemini parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise ParamError(
            param, f"expected a string or an array of content parts, got {type(content).__name__}"
        )
    parts = []
    for j, raw in enumerate(content):
        part = _content_part(as_dict(raw, f"{param}[{j}]"), f"{param}[{j}]")
        if part is not None:
            parts.append(part)
    return parts


def _content_part(part: JSON, param: str) -> JSON | None:
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise ParamError(f"{param}.text", "expected a string")
        return {"text": text} if text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return url_part(url, f"{param}.image_url.url")
    if kind == "input_audio":
        audio = as_dict(part.get("input_audio"), f"{param}.input_audio")
        data, fmt = audio.get("data"), audio.get("format")
        if not isinstance(data, str) or not data:
            raise ParamError(f"{param}.input_audio.data", "expected base64 audio")
        if not isinstance(fmt, str):
            raise ParamError(f"{param}.input_audio.format", "expected wav or mp3")
        return {"inlineData": {"mimeType": _AUDIO_MIME.get(fmt, f"audio/{fmt}"), "data": data}}
    if kind == "file":
        return _file_part(as_dict(part.get("file"), f"{param}.file"), f"{param}.file")
    if kind == "refusal":
        return None
    raise ParamError(f"{param}.type", f"unsupported content part type {kind!r}")


def _file_part(file: JSON, param: str) -> JSON:
    filename = file.get("filename") if isinstance(file.get("filename"), str) else None
    data = file.get("file_data")
    if isinstance(data, str) and data:
        parsed = parse_data_url(data)
        if parsed is not None:
            return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
        return {"inlineData": {"mimeType": mime_for_filename(filename), "data": data}}
    file_id = file.get("file_id")
    if isinstance(file_id, str) and file_id:
        ref: JSON = {"fileUri": file_uri(file_id, f"{param}.file_id")}
        if mime := mime_for_filename(filename, ""):
            ref["mimeType"] = mime
        return {"fileData": ref}
    raise ParamError(param, "expected file_data or file_id")


def _assistant_parts(message: JSON, param: str, call_names: dict[str, str]) -> list[JSON]:
    parts: list[JSON] = [{"text": t} for t in _texts(message.get("content"), f"{param}.content") if t]
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise ParamError(f"{param}.tool_calls", f"expected an array, got {type(calls).__name__}")
    for k, raw in enumerate(calls or ()):
        call = as_dict(raw, f"{param}.tool_calls[{k}]")
        parts.append(_replayed_call(call, call.get("function"), f"{param}.tool_calls[{k}]", call_names))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        parts.append(_replayed_call({}, legacy, f"{param}.function_call", call_names))
    return parts


def _replayed_call(call: JSON, function: Any, param: str, call_names: dict[str, str]) -> JSON:
    function = as_dict(function, f"{param}.function")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ParamError(f"{param}.function.name", "is required")
    call_id = call.get("id") if isinstance(call.get("id"), str) else None
    if call_id:
        call_names[call_id] = name
    args = parse_arguments(function.get("arguments"), f"{param}.function.arguments")
    return function_call_part(name, args, call_id)


def _tool_parts(message: JSON, param: str, call_names: dict[str, str]) -> list[JSON]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise ParamError(f"{param}.tool_call_id", "is required for tool messages")
    name = call_names.get(call_id)
    if name is None:
        raise ParamError(
            f"{param}.tool_call_id", f"{call_id!r} does not match a tool call of an earlier assistant message"
        )
    content = message.get("content")
    # Some clients put images in tool results; Gemini takes them as parts next to the response.
    media: list[JSON] = []
    if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") != "text" for p in content):
        parts = content_parts(content, f"{param}.content")
        text = "\n".join(p["text"] for p in parts if "text" in p)
        media = [p for p in parts if "text" not in p]
    else:
        text = "\n".join(_texts(content, f"{param}.content"))
    return [function_response_part(name, {"output": text}, call_id), *media]

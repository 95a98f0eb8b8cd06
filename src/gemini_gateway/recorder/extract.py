"""What the writer pulls out of bodies into columns: generation settings and token usage.

Works on the wire shapes a record can hold: Gemini (also the merged answer of every stream),
OpenAI (chat, responses, embeddings), Anthropic messages and Gemini Interactions. Only what the client
sent is kept; nothing is filled in.
"""

from __future__ import annotations

from typing import Any

from gemini_gateway.json_depth import MAX_JSON_DEPTH, nests_deeper_than

# Top-level request fields of the OpenAI and Anthropic dialects that steer generation.
_DIALECT_SETTINGS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "stop",
    "stop_sequences",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "logprobs",
    "top_logprobs",
    "response_format",
    "reasoning_effort",
    "reasoning",
    "thinking",
    "tool_choice",
    "parallel_tool_calls",
    "modalities",
    "text",
    "dimensions",
    "encoding_format",
)
# Both spellings: Google's proto3 JSON parser takes the snake_case field names too.
_GEMINI_SETTINGS = (
    "generationConfig",
    "generation_config",
    "safetySettings",
    "safety_settings",
    "toolConfig",
    "tool_config",
    "cachedContent",
    "cached_content",
)


def _scalar_text(value: Any, limit: int = 200) -> str | None:
    """A name or reason as text; None for lists and objects, whose text form could be huge (or
    overflow the interpreter's recursion, as repr() of a value nested 1,000 levels does)."""
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, int | float):
        return str(value)[:limit]
    return None


def _tool_names(tools: Any, namespace: str = "") -> list[str]:
    """Names of declared tools, not their schemas: enough to analyse usage, small to store.

    Gemini tool entries name their functions, and their other keys are built-in tools
    (`googleSearch`, `codeExecution`...). A dialect's entry (it has a `type`, a `name` or a
    `function`) is one tool: its name, a namespace's functions as `namespace.name`, or a hosted
    tool's type (`web_search`); its other keys (`strict`, `cache_control`...) are settings, not names.
    """
    names: list[str] = []
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        declarations = tool.get("functionDeclarations") or tool.get("function_declarations")
        if declarations is not None or not ({"type", "name", "function"} & tool.keys()):
            for declaration in declarations if isinstance(declarations, list) else ():
                if isinstance(declaration, dict) and (name := _scalar_text(declaration.get("name"))):
                    names.append(name)
            names.extend(
                key[:200] for key in tool if key not in ("functionDeclarations", "function_declarations")
            )
            continue
        function = tool.get("function")
        name = (
            _scalar_text(function.get("name"))
            if isinstance(function, dict)
            else _scalar_text(tool.get("name"))
        )
        if tool.get("type") == "namespace" and not namespace and isinstance(tool.get("tools"), list):
            names.extend(_tool_names(tool["tools"], f"{name or ''}."[:100]))
        elif name:
            names.append((namespace + name)[:200])
        elif kind := _scalar_text(tool.get("type")):
            names.append(namespace + kind)
    return names


def generation_settings(request: Any) -> dict[str, Any] | None:
    if not isinstance(request, dict):
        return None
    found = {key: request[key] for key in _GEMINI_SETTINGS if key in request}
    found.update((key, request[key]) for key in _DIALECT_SETTINGS if key in request)
    for key, value in found.items():
        # The body as the client sent it, refused at the door or not: a value nested past what any
        # request may hold is named, not kept (the store's JSON encoder stops at 254 levels).
        if nests_deeper_than(value, MAX_JSON_DEPTH):
            found[key] = f"(not kept: nested deeper than {MAX_JSON_DEPTH} levels)"
    names = _tool_names(request.get("tools"))
    if names:
        found["tools"] = names
    return found or None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage(response: Any) -> dict[str, int | None] | None:
    """prompt / candidates / thoughts / cached / total tokens, from whichever shape the body has."""
    if not isinstance(response, dict):
        return None
    gemini = response.get("usageMetadata")
    if isinstance(gemini, dict):
        return {
            "prompt": _int(gemini.get("promptTokenCount")),
            "candidates": _int(gemini.get("candidatesTokenCount")),
            "thoughts": _int(gemini.get("thoughtsTokenCount")),
            "cached": _int(gemini.get("cachedContentTokenCount")),
            "total": _int(gemini.get("totalTokenCount")),
        }
    other = response.get("usage")
    if not isinstance(other, dict):
        return None
    if "total_input_tokens" in other or "total_output_tokens" in other:
        return _interaction(other)
    if "input_tokens" in other and "prompt_tokens" not in other:
        return _anthropic_or_responses(other)
    details = other.get("completion_tokens_details") or {}
    prompt_details = other.get("prompt_tokens_details") or {}
    return {
        "prompt": _int(other.get("prompt_tokens")),
        "candidates": _int(other.get("completion_tokens")),
        "thoughts": _int(details.get("reasoning_tokens")) if isinstance(details, dict) else None,
        "cached": _int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else None,
        "total": _int(other.get("total_tokens")),
    }


def _interaction(other: dict[str, Any]) -> dict[str, int | None]:
    """An Interaction's usage (google-genai's `Usage`: total_* counts)."""
    return {
        "prompt": _int(other.get("total_input_tokens")),
        "candidates": _int(other.get("total_output_tokens")),
        "thoughts": _int(other.get("total_thought_tokens")),
        "cached": _int(other.get("total_cached_tokens")),
        "total": _int(other.get("total_tokens")),
    }


def _anthropic_or_responses(other: dict[str, Any]) -> dict[str, int | None]:
    prompt, output = _int(other.get("input_tokens")), _int(other.get("output_tokens"))
    output_details = other.get("output_tokens_details") or {}
    input_details = other.get("input_tokens_details") or {}
    cached = _int(other.get("cache_read_input_tokens"))
    if cached is None and isinstance(input_details, dict):
        cached = _int(input_details.get("cached_tokens"))
    total = _int(other.get("total_tokens"))
    if total is None and prompt is not None:
        total = prompt + (output or 0)
    return {
        "prompt": prompt,
        "candidates": output,
        "thoughts": _int(output_details.get("reasoning_tokens"))
        if isinstance(output_details, dict)
        else None,
        "cached": cached,
        "total": total,
    }


def finish_reason(response: Any) -> str | None:
    if not isinstance(response, dict):
        return None
    candidates = response.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return _scalar_text(candidates[0].get("finishReason"), 64) or None
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return _scalar_text(choices[0].get("finish_reason"), 64) or None
    return _scalar_text(response.get("stop_reason"), 64) or None

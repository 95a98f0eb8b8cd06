"""POST /v1/messages and /v1/messages/count_tokens (Anthropic) <-> Gemini.

Server tools with a Gemini equivalent (web search, web fetch, code execution) switch on Google
Search, URL context and code execution; code the model ran comes back as `server_tool_use` +
`code_execution_tool_result` blocks (dialects/code_execution.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from gemini_gateway.dialects.anthropic_content import convert_messages, convert_system, thinking_signature
from gemini_gateway.dialects.code_execution import answers, code_of, result_block, result_of, server_tool_use
from gemini_gateway.dialects.common import (
    JSON,
    Ending,
    ParamError,
    Usage,
    answer_ending,
    as_dict,
    candidates_of,
    encode_call_id,
    inline_image,
    opt_bool,
    opt_dict,
    opt_int,
    opt_list,
    opt_num,
    parts_of,
    req_str,
    stop_list,
    visible_text,
)
from gemini_gateway.dialects.generation import (
    apply_model_suffixes,
    is_gemini3,
    settle_tools,
    strip_model_prefix,
    thinking_for_budget,
    thinking_for_effort,
    with_built_in_tools,
)
from gemini_gateway.dialects.grounding import Citation, citations, split_by_segments
from gemini_gateway.dialects.media import RemoteImage, remote_images
from gemini_gateway.dialects.schema import function_declaration

# Anthropic server tool types (`web_search_20250305`, `code_execution_20250825`...) by prefix ->
# the Gemini built-in tool doing that job. Gemini's sandbox runs Python only, where Anthropic's
# newer code execution also offers bash and a file editor: the closest there is.
_SERVER_TOOLS: Final = (
    ("web_search_", "googleSearch"),
    ("web_fetch_", "urlContext"),
    ("code_execution_", "codeExecution"),
)
STOP_REASONS: Final = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


@dataclass(slots=True)
class MessagesCall:
    model: str
    request: JSON
    client_model: str
    stream: bool = False
    remote_images: list[RemoteImage] = field(default_factory=list)
    dropped_tools: list[str] = field(default_factory=list)  # built-in tools the model cannot combine


def parse_messages_request(
    body: object, *, aliases: Mapping[str, str] | None = None, suffixes: bool = True
) -> MessagesCall:
    if not isinstance(body, dict):
        raise ParamError(None, "the request body must be a JSON object")
    client_model = strip_model_prefix(req_str(body, "model"))
    if body.get("max_tokens") is None:
        raise ParamError("max_tokens", "Field required")
    model, _ = apply_model_suffixes(client_model, {}, aliases, suffixes=suffixes)
    request = _request(body, model)
    if config := _generation_config(body, model):
        request["generationConfig"] = config
    model, request = apply_model_suffixes(client_model, request, aliases, suffixes=suffixes)
    request, dropped = settle_tools(model, request)
    return MessagesCall(
        model=model,
        request=request,
        client_model=client_model,
        stream=opt_bool(body, "stream") or False,
        remote_images=remote_images(request["contents"]),
        dropped_tools=dropped,
    )


def parse_count_tokens_request(
    body: object, *, aliases: Mapping[str, str] | None = None, suffixes: bool = True
) -> tuple[str, JSON]:
    """(model, countTokens body): the same translation, wrapped as Gemini's generateContentRequest."""
    if not isinstance(body, dict):
        raise ParamError(None, "the request body must be a JSON object")
    client_model = strip_model_prefix(req_str(body, "model"))
    model, _ = apply_model_suffixes(client_model, {}, aliases, suffixes=suffixes)
    request = _request(body, model)
    model, request = apply_model_suffixes(client_model, request, aliases, suffixes=suffixes)
    request, _ = settle_tools(model, request)
    request.pop("toolConfig", None)  # counting needs what is sent, not how tools are chosen
    return model, {"generateContentRequest": {"model": f"models/{model}", **request}}


def render_count_tokens(gemini: JSON) -> JSON:
    return {"input_tokens": int(gemini.get("totalTokens") or 0)}


def _request(body: JSON, model: str) -> JSON:
    system_messages, contents = convert_messages(body.get("messages"))
    request: JSON = {"contents": contents}
    system = convert_system(body.get("system"))
    if parts := [*(system["parts"] if system else ()), *system_messages]:
        request["systemInstruction"] = {"parts": parts}
    declarations, servers = _tools(body)
    choice = opt_dict(body, "tool_choice")
    forced = _forced_server_tool(choice, servers, {d["name"] for d in declarations})
    if forced is not None and not is_gemini3(model):
        # Gemini cannot be made to call a built-in tool, and Gemini 2.x takes built-in tools only
        # without function declarations. A turn forced onto a server tool calls no function, so
        # the declarations go and the built-in tool stays, left to the model (AUTO).
        declarations = []
    tools: list[JSON] = [{"functionDeclarations": declarations}] if declarations else []
    if tools := with_built_in_tools(tools, servers.values()):
        request["tools"] = tools
    if choice is not None and declarations and forced is None:
        request["toolConfig"] = _tool_config(choice, {d["name"] for d in declarations})
    return request


def _forced_server_tool(choice: JSON | None, servers: Mapping[str, str], functions: set[str]) -> str | None:
    """The Gemini built-in tool a `{"type": "tool", "name": ...}` choice names, if it names one of
    the request's server tools (`web_search`, `web_fetch`, `code_execution`) and no function."""
    if choice is None or choice.get("type") != "tool":
        return None
    name = choice.get("name")
    if not isinstance(name, str) or name in functions:
        return None
    return servers.get(name)


def _tools(body: JSON) -> tuple[list[JSON], dict[str, str]]:
    """(function declarations, server tool name -> Gemini built-in tool key) for `tools`:
    Anthropic's server tools that have a Gemini equivalent become it (their options, such as
    allowed domains or use limits, have none)."""
    declarations = []
    servers: dict[str, str] = {}
    for i, raw in enumerate(opt_list(body, "tools") or ()):
        tool = as_dict(raw, f"tools[{i}]")
        kind = tool.get("type")
        found = next(((prefix, key) for prefix, key in _SERVER_TOOLS if str(kind).startswith(prefix)), None)
        if kind is not None and found is not None:
            name = tool.get("name")
            # Anthropic names them `web_search`, `web_fetch`, `code_execution` (the type's stem).
            servers[name if isinstance(name, str) and name else found[0].rstrip("_")] = found[1]
            continue
        if kind not in (None, "custom"):
            continue  # Anthropic-defined tools (bash, text_editor, computer) come without a schema
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise ParamError(f"tools[{i}].name", "Field required")
        description = tool.get("description") if isinstance(tool.get("description"), str) else None
        declarations.append(
            function_declaration(name, description, tool.get("input_schema"), f"tools[{i}].input_schema")
        )
    return declarations, servers


def _tool_config(choice: JSON, known: set[str]) -> JSON:
    kind = choice.get("type")
    modes = {"auto": "AUTO", "any": "ANY", "none": "NONE"}
    if kind in modes:
        return {"functionCallingConfig": {"mode": modes[str(kind)]}}
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or name not in known:
            raise ParamError("tool_choice.name", f"{name!r} is not among the tools")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise ParamError("tool_choice.type", f"expected auto, any, tool or none, got {kind!r}")


def _generation_config(body: JSON, model: str) -> JSON:
    config: JSON = {}
    config["maxOutputTokens"] = opt_int(body, "max_tokens", minimum=1)
    if (temperature := opt_num(body, "temperature", minimum=0.0, maximum=1.0)) is not None:
        config["temperature"] = temperature
    if (top_p := opt_num(body, "top_p", minimum=0.0, maximum=1.0)) is not None:
        config["topP"] = top_p
    if (top_k := opt_int(body, "top_k", minimum=1)) is not None:
        config["topK"] = top_k
    if stops := stop_list(body.get("stop_sequences"), "stop_sequences"):
        config["stopSequences"] = stops
    if thinking := _thinking(body, model):
        config["thinkingConfig"] = thinking
    return config


def _thinking(body: JSON, model: str) -> JSON | None:
    thinking = opt_dict(body, "thinking")
    effort = (opt_dict(body, "output_config") or {}).get("effort")
    if thinking is None:
        return thinking_for_effort(model, effort, "output_config.effort") if effort is not None else None
    kind = thinking.get("type")
    if kind == "enabled":
        budget = opt_int(thinking, "budget_tokens", "thinking.budget_tokens", minimum=0)
        if budget is None:
            raise ParamError("thinking.budget_tokens", "Field required")
        return {"includeThoughts": True, **thinking_for_budget(model, budget)}
    if kind == "adaptive":
        # Gemini's default is already to think as needed; the effort, when given, says how much.
        if effort is None:
            return {"includeThoughts": True}
        return {**thinking_for_effort(model, effort, "output_config.effort"), "includeThoughts": True}
    if kind == "disabled":
        off = thinking_for_effort(model, "none", "thinking")
        off.pop("includeThoughts", None)
        return off
    raise ParamError("thinking.type", f"expected enabled, disabled or adaptive, got {kind!r}")


# --- answers ---------------------------------------------------------------------------------------


def anthropic_usage(usage: Usage, server_tools: tuple[int, int] = (0, 0)) -> JSON:
    """Anthropic's input_tokens excludes cache reads (total input = input + cache read + creation).
    `server_tools`: (web searches, web fetches) the answer used, as `usage.server_tool_use`."""
    out: JSON = {
        "input_tokens": max(0, usage.prompt + usage.tool_prompt - usage.cached),
        "output_tokens": usage.output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage.cached,
    }
    searches, fetches = server_tools
    if searches or fetches:
        out["server_tool_use"] = {"web_search_requests": searches, "web_fetch_requests": fetches}
    return out


def server_tool_counts(candidate: JSON) -> tuple[int, int]:
    """(web searches, web fetches) a Gemini candidate's grounding says were made: the queries
    Google Search ran (one when grounded without naming them) and the URLs URL context fetched."""
    grounding = candidate.get("groundingMetadata")
    searches = 0
    if isinstance(grounding, dict):
        queries = grounding.get("webSearchQueries")
        if isinstance(queries, list) and queries:
            searches = len(queries)
        elif grounding.get("searchEntryPoint") or any(
            isinstance(chunk, dict) and "web" in chunk for chunk in grounding.get("groundingChunks") or ()
        ):
            searches = 1
    fetched = candidate.get("urlContextMetadata")
    urls = fetched.get("urlMetadata") if isinstance(fetched, dict) else None
    fetches = len(urls) if isinstance(urls, list) else 0
    return searches, fetches


def tool_use_block(part: JSON) -> JSON:
    fc = part["functionCall"]
    return {
        "type": "tool_use",
        "id": encode_call_id("toolu_", part.get("thoughtSignature"), fc.get("id")),
        "name": fc.get("name", ""),
        "input": fc.get("args") or {},
    }


def image_block(image: tuple[str, str]) -> JSON:
    """An image the model drew, in the shape Anthropic uses for image content."""
    return {"type": "image", "source": {"type": "base64", "media_type": image[0], "data": image[1]}}


def web_citation(citation: Citation, cited_text: str) -> JSON:
    """Anthropic's web search citation; Gemini has no encrypted index, so the source's number
    stands in for it (clients only hand it back)."""
    return {
        "type": "web_search_result_location",
        "url": citation.url,
        "title": citation.title,
        "cited_text": cited_text,
        "encrypted_index": str(citation.source),
    }


def stop_details(ending: Ending) -> JSON | None:
    if ending.message is None:
        return None
    return {"type": "refusal", "category": None, "explanation": ending.message}


def render_messages_response(gemini: JSON, call: MessagesCall, *, message_id: str) -> JSON:
    candidates = candidates_of(gemini)
    candidate: JSON = candidates[0] if candidates else {}
    content: list[JSON] = []
    code_id: str | None = None  # the server_tool_use waiting for its result
    for part in parts_of(candidate):
        signature = part.get("thoughtSignature")
        last = content[-1] if content else None
        result = result_of(part)
        is_code = code_of(part) is not None or result is not None  # also run while thinking
        if part.get("thought") is True and not is_code:
            if last is None or last["type"] != "thinking":
                last = {"type": "thinking", "thinking": "", "signature": ""}
                content.append(last)
            last["thinking"] += str(part.get("text", ""))
            if signature:
                last["signature"] = thinking_signature(signature)
            continue
        if signature and last is not None and last["type"] == "thinking" and not last["signature"]:
            last["signature"] = thinking_signature(signature)  # the part after thoughts signs them
        if "functionCall" in part:
            content.append(tool_use_block(part))
        elif code_of(part) is not None:
            content.append(server_tool_use(part))
            code_id = content[-1]["id"]
        elif result is not None:
            if code_id is None or not answers(code_id, result):
                content.append(server_tool_use({}))  # a result that came without its code
                code_id = content[-1]["id"]
            content.append(result_block(code_id, result))
            code_id = None
        elif text := visible_text(part):
            if last is not None and last["type"] == "text":
                last["text"] += text
            else:
                content.append({"type": "text", "text": text})
        elif (image := inline_image(part)) is not None:
            content.append(image_block(image))
    has_calls = any(block["type"] == "tool_use" for block in content)
    ending = answer_ending(gemini, candidate, has_calls)
    content = _with_citations(content, candidate)
    if ending.message is not None and not content:
        content.append({"type": "text", "text": ending.message})  # never an empty answer
    body: JSON = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": call.client_model,
        "content": content,
        "stop_reason": STOP_REASONS[ending.kind],
        "stop_sequence": None,
        "usage": anthropic_usage(Usage.of(gemini), server_tool_counts(candidate)),
    }
    if (details := stop_details(ending)) is not None:
        body["stop_details"] = details
    return body


def _with_citations(content: list[JSON], candidate: JSON) -> list[JSON]:
    """Text blocks cut at the cited spans, each span its own block carrying its citations, the way
    Anthropic answers with web search results."""
    texts = [block["text"] for block in content if block["type"] == "text"]
    found = citations(candidate, "".join(texts))
    if not found:
        return content
    per_block = iter(split_by_segments(found, [len(t) for t in texts]))
    out: list[JSON] = []
    for block in content:
        if block["type"] == "text":
            out += _cut(block["text"], next(per_block))
        else:
            out.append(block)
    return out


def _cut(text: str, cited: list[Citation]) -> list[JSON]:
    spans: dict[tuple[int, int], list[Citation]] = {}
    for citation in cited:
        spans.setdefault((citation.start, citation.end), []).append(citation)
    out: list[JSON] = []
    position = 0
    for (start, end), group in sorted(spans.items()):
        if start < position:  # overlaps the previous span: cite it there
            out[-1]["citations"] += [web_citation(c, out[-1]["text"]) for c in group]
            continue
        if start > position:
            out.append({"type": "text", "text": text[position:start]})
        span = text[start:end]
        out.append({"type": "text", "text": span, "citations": [web_citation(c, span) for c in group]})
        position = end
    if position < len(text):
        out.append({"type": "text", "text": text[position:]})
    return out

"""POST /v1/chat/completions: request -> GenerateContentRequest, GenerateContentResponse -> answer.

Only what the client sent is translated: no temperature, top_k or token cap is ever filled in.
Unknown fields are ignored (clients send plenty: `user`, `store`, `metadata`, `service_tier`...);
known fields with the wrong type are refused with the field's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gemini_gateway.dialects.common import (
    JSON,
    Ending,
    ParamError,
    Usage,
    answer_ending,
    as_dict,
    candidate_ending,
    candidates_of,
    data_url,
    encode_call_id,
    inline_image,
    json_text,
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
    SEARCH_TOOL,
    apply_model_suffixes,
    google_thinking_config,
    settle_tools,
    strip_model_prefix,
    thinking_for_effort,
)
from gemini_gateway.dialects.grounding import Citation, citations
from gemini_gateway.dialects.media import RemoteImage, remote_images
from gemini_gateway.dialects.openai_messages import convert_messages
from gemini_gateway.dialects.schema import function_declaration, response_schema_fields


@dataclass(slots=True)
class ChatCall:
    """A parsed chat request: the Gemini call to make and what rendering the answer needs.

    `remote_images` lists http(s) images left as placeholders in `request`; fetch them and apply
    `media.substitute_remote_images` before sending.
    """

    model: str  # upstream Gemini model id (alias and suffixes resolved, no "models/")
    request: JSON  # GenerateContentRequest
    client_model: str  # echoed back as `model`
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    logprobs: bool = False
    remote_images: list[RemoteImage] = field(default_factory=list)
    dropped_tools: list[str] = field(default_factory=list)  # built-in tools the model cannot combine


def parse_chat_request(
    body: object, *, aliases: Mapping[str, str] | None = None, suffixes: bool = True
) -> ChatCall:
    if not isinstance(body, dict):
        raise ParamError(None, "the request body must be a JSON object")
    client_model = strip_model_prefix(req_str(body, "model"))
    model, _ = apply_model_suffixes(client_model, {}, aliases, suffixes=suffixes)
    system, contents = convert_messages(body.get("messages"))
    request: JSON = {"contents": contents}
    if system:
        request["systemInstruction"] = system
    declarations = chat_declarations(body)
    choice = body.get("tool_choice")
    if choice is not None and declarations:
        calling, declarations = tool_config(choice, declarations, "tool_choice")
        if declarations:
            request["toolConfig"] = calling
    tools: list[JSON] = [{"functionDeclarations": declarations}] if declarations else []
    if body.get("web_search_options") is not None:
        tools.append(dict(SEARCH_TOOL))
    if tools:
        request["tools"] = tools
    if config := generation_config(body, model):
        request["generationConfig"] = config
    google = _google_extension(body)
    if isinstance(google.get("cached_content"), str):
        request["cachedContent"] = google["cached_content"]
    stream_options = opt_dict(body, "stream_options") or {}
    model, request = apply_model_suffixes(client_model, request, aliases, suffixes=suffixes)
    request, dropped = settle_tools(model, request)
    return ChatCall(
        model=model,
        request=request,
        client_model=client_model,
        stream=opt_bool(body, "stream") or False,
        include_usage=stream_options.get("include_usage") is True,
        n=opt_int(body, "n", minimum=1, maximum=128) or 1,
        logprobs=opt_bool(body, "logprobs") or False,
        remote_images=remote_images(contents),
        dropped_tools=dropped,
    )


def generation_config(body: JSON, model: str) -> JSON:
    config: JSON = {}
    for key, name, low, high in (
        ("temperature", "temperature", 0.0, 2.0),
        ("top_p", "topP", 0.0, 1.0),
        ("presence_penalty", "presencePenalty", -2.0, 2.0),
        ("frequency_penalty", "frequencyPenalty", -2.0, 2.0),
    ):
        value = opt_num(body, key, minimum=low, maximum=high)
        # A zero penalty is OpenAI's no-op default, and some Gemini models refuse the field.
        if value is not None and not (value == 0 and key.endswith("penalty")):
            config[name] = value
    if (top_k := opt_int(body, "top_k", minimum=1)) is not None:
        config["topK"] = top_k
    cap = opt_int(body, "max_completion_tokens", minimum=1)
    cap = cap if cap is not None else opt_int(body, "max_tokens", minimum=1)
    if cap is not None:
        config["maxOutputTokens"] = cap
    if stops := stop_list(body.get("stop"), "stop"):
        config["stopSequences"] = stops
    if (n := opt_int(body, "n", minimum=1, maximum=128)) and n > 1:
        config["candidateCount"] = n
    if (seed := opt_int(body, "seed")) is not None:
        config["seed"] = seed
    if opt_bool(body, "logprobs"):
        config["responseLogprobs"] = True
        if (top := opt_int(body, "top_logprobs", minimum=0, maximum=20)) is not None:
            config["logprobs"] = top
    if (fmt := body.get("response_format")) is not None:
        config.update(response_format_fields(fmt, "response_format"))
    if thinking := _thinking(body, model):
        config["thinkingConfig"] = thinking
    return config


def _google_extension(body: JSON) -> JSON:
    """Google's compat extras: `extra_body.google` as the SDK flattens it, or nested as in curl docs."""
    google = body.get("google")
    if google is None and isinstance(body.get("extra_body"), dict):
        google = body["extra_body"].get("google")
    return google if isinstance(google, dict) else {}


def _thinking(body: JSON, model: str) -> JSON | None:
    effort = body.get("reasoning_effort")
    config = _google_extension(body).get("thinking_config")
    if effort is not None and config is not None:
        raise ParamError("reasoning_effort", "cannot be combined with extra_body.google.thinking_config")
    if config is not None:
        return google_thinking_config(config, "extra_body.google.thinking_config")
    if effort is not None:
        return thinking_for_effort(model, effort, "reasoning_effort")
    return None


def response_format_fields(fmt: object, param: str) -> JSON:
    fmt = as_dict(fmt, param)
    kind = fmt.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = as_dict(fmt.get("json_schema"), f"{param}.json_schema")
        return response_schema_fields(spec.get("schema"), f"{param}.json_schema.schema")
    raise ParamError(f"{param}.type", f"expected text, json_object or json_schema, got {kind!r}")


def chat_declarations(body: JSON) -> list[JSON]:
    declarations = []
    for i, raw in enumerate(opt_list(body, "tools") or ()):
        tool = as_dict(raw, f"tools[{i}]")
        if tool.get("type", "function") != "function":
            continue  # custom / hosted tools have no Gemini counterpart
        fn = as_dict(tool.get("function"), f"tools[{i}].function")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise ParamError(f"tools[{i}].function.name", "is required")
        description = fn.get("description") if isinstance(fn.get("description"), str) else None
        declarations.append(
            function_declaration(name, description, fn.get("parameters"), f"tools[{i}].function.parameters")
        )
    return declarations


def tool_config(choice: object, declarations: list[JSON], param: str) -> tuple[JSON, list[JSON]]:
    """OpenAI tool_choice (chat or Responses spelling) -> (toolConfig, declarations to offer)."""
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if isinstance(choice, str):
        if choice not in modes:
            raise ParamError(param, f"expected auto, none, required or a function, got {choice!r}")
        return {"functionCallingConfig": {"mode": modes[choice]}}, declarations
    choice = as_dict(choice, param)
    known = {d["name"] for d in declarations}
    if choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else choice.get("name")
        if not isinstance(name, str) or name not in known:
            raise ParamError(param, f"names function {name!r}, which is not among the tools")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}, declarations
    if choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools", choice)
        allowed = as_dict(allowed, param)
        names = {_tool_name(t) for t in allowed.get("tools") or () if isinstance(t, dict)} & known
        offered = [d for d in declarations if d["name"] in names]
        if allowed.get("mode") == "required":
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": sorted(names)}}, offered
        return {"functionCallingConfig": {"mode": "AUTO"}}, offered
    raise ParamError(f"{param}.type", f"expected function or allowed_tools, got {choice.get('type')!r}")


def _tool_name(tool: JSON) -> str | None:
    fn = tool.get("function")
    name = fn.get("name") if isinstance(fn, dict) else tool.get("name")
    return name if isinstance(name, str) else None


# --- answers -------------------------------------------------------------------------------------


def render_chat_response(gemini: JSON, call: ChatCall, *, response_id: str, created: int) -> JSON:
    candidates = candidates_of(gemini)
    if candidates:
        choices = [_choice(c, pos, call.logprobs) for pos, c in enumerate(candidates)]
    else:
        # No candidates: the prompt was blocked (promptFeedback) or nothing came back at all.
        ending = answer_ending(gemini, None, False)
        message: JSON = {"role": "assistant", "content": "", "refusal": None}
        choice: JSON = {"index": 0, "message": message, "logprobs": None, "finish_reason": ending.kind}
        choices = [with_ending(choice, message, ending)]
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": call.client_model,
        "choices": choices,
        "usage": openai_usage(Usage.of(gemini)),
    }


def with_ending(choice: JSON, message: JSON, ending: Ending) -> JSON:
    """The block message goes where OpenAI puts refusals; Gemini's own reason rides beside
    finish_reason as `native_finish_reason` (OpenRouter's name for it), so no reason is hidden."""
    if ending.message is not None:
        message["refusal"] = ending.message
        if not message.get("content"):
            message["content"] = None
    if ending.unusual:
        choice["native_finish_reason"] = ending.reason
    return choice


def url_annotation(citation: Citation) -> JSON:
    return {
        "type": "url_citation",
        "url_citation": {
            "url": citation.url,
            "title": citation.title,
            "start_index": citation.start,
            "end_index": citation.end,
        },
    }


def image_url(image: tuple[str, str]) -> JSON:
    """The OpenAI-compatible image-output convention (OpenRouter's `message.images`)."""
    return {"type": "image_url", "image_url": {"url": data_url(image)}}


def tool_call_of(part: JSON) -> JSON:
    """A Gemini functionCall part -> an OpenAI tool call, its signature folded into the id."""
    fc = part["functionCall"]
    return {
        "id": encode_call_id("call_", part.get("thoughtSignature"), fc.get("id")),
        "type": "function",
        "function": {"name": fc.get("name", ""), "arguments": json_text(fc.get("args") or {})},
    }


def _choice(candidate: JSON, position: int, logprobs: bool) -> JSON:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[JSON] = []
    images: list[JSON] = []
    for part in parts_of(candidate):
        if "functionCall" in part:
            calls.append(tool_call_of(part))
        elif part.get("thought") is True:
            thoughts.append(str(part.get("text", "")))
        elif (text := visible_text(part)) is not None:
            texts.append(text)
        elif (image := inline_image(part)) is not None:
            images.append(image_url(image))
    content = "".join(texts)
    message: JSON = {
        "role": "assistant",
        "content": content if texts or not calls else None,
        "refusal": None,
    }
    if found := citations(candidate, content):
        message["annotations"] = [url_annotation(c) for c in found]
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = calls
    if images:
        message["images"] = images
    ending = candidate_ending(candidate, bool(calls))
    choice = {
        "index": candidate.get("index", position),
        "message": message,
        "logprobs": chat_logprobs(candidate) if logprobs else None,
        "finish_reason": ending.kind,
    }
    return with_ending(choice, message, ending)


def openai_usage(usage: Usage) -> JSON:
    return {
        # Grounding/tool prompt tokens are billed as input, so they count as prompt here.
        "prompt_tokens": usage.prompt + usage.tool_prompt,
        "completion_tokens": usage.output,
        "total_tokens": usage.total,
        "prompt_tokens_details": {"cached_tokens": usage.cached},
        "completion_tokens_details": {"reasoning_tokens": usage.thoughts},
    }


def chat_logprobs(candidate: JSON) -> JSON | None:
    result = candidate.get("logprobsResult")
    if not isinstance(result, dict):
        return None
    chosen = result.get("chosenCandidates") or []
    tops = result.get("topCandidates") or []
    content = []
    for i, token in enumerate(chosen):
        alternatives = tops[i].get("candidates", []) if i < len(tops) and isinstance(tops[i], dict) else []
        entry = _token_logprob(token)
        entry["top_logprobs"] = [_token_logprob(t) for t in alternatives]
        content.append(entry)
    return {"content": content, "refusal": None}


def _token_logprob(token: Any) -> JSON:
    text = str(token.get("token", ""))
    return {"token": text, "logprob": float(token.get("logProbability", 0.0)), "bytes": list(text.encode())}

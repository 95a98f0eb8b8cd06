"""POST /v1/responses (stateless): request -> GenerateContentRequest, answer -> response object.

The gateway keeps no conversation store, so `previous_response_id` and item references are refused
with a clear message; clients resend the whole input (what Codex-style agents do with `store:false`).
Function-call signatures ride in `call_id` exactly as in chat completions. Code the model ran
(Gemini's code execution, asked for with a `code_interpreter` tool) comes out as
`code_interpreter_call` items and is taken back from them (dialects/code_execution.py).

The hosted `file_search` tool searches Gemini File Search stores: its `vector_store_ids` name
stores (`fileSearchStores/{id}`, or the bare id) and become a `fileSearch` tool, so the call goes
to the key whose project holds them (the dispatcher's binder reads the store names).

Functions grouped in a `namespace` tool (Codex CLI's sub-agent tools) are declared to Gemini as
`<namespace>.<name>`: Gemini takes dots in function names, OpenAI function names never hold one,
so a dotted name in an answer is split back into `namespace` and `name` without any state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gemini_gateway.dialects.code_execution import (
    add_image,
    add_result,
    code_of,
    finished_call,
    interpreter_call,
    interpreter_call_parts,
    result_of,
    takes_result,
)
from gemini_gateway.dialects.common import (
    JSON,
    Ending,
    ParamError,
    Usage,
    answer_ending,
    append_turn,
    as_dict,
    candidates_of,
    encode_call_id,
    function_call_part,
    function_response_part,
    inline_image,
    json_text,
    new_id,
    opt_bool,
    opt_dict,
    opt_int,
    opt_list,
    opt_num,
    opt_str,
    parse_arguments,
    parts_of,
    req_str,
    visible_text,
)
from gemini_gateway.dialects.generation import (
    apply_model_suffixes,
    settle_tools,
    strip_model_prefix,
    thinking_for_effort,
    with_built_in_tools,
)
from gemini_gateway.dialects.grounding import Citation, citations, split_by_segments
from gemini_gateway.dialects.media import RemoteImage, remote_images
from gemini_gateway.dialects.openai_chat import response_format_fields, tool_config
from gemini_gateway.dialects.openai_messages import content_parts
from gemini_gateway.dialects.schema import function_declaration
from gemini_gateway.resource_names import RESOURCE_ID

_ECHOED = ("instructions", "tools", "tool_choice", "temperature", "top_p", "parallel_tool_calls", "metadata")
_SEARCH_TOOLS = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26"})
NAMESPACE_SEPARATOR: Final = "."
_MAX_FUNCTION_NAME: Final = 64  # Gemini's limit on a function name


@dataclass(slots=True)
class ResponsesCall:
    model: str
    request: JSON
    client_model: str
    stream: bool = False
    echo: JSON = field(default_factory=dict)  # request fields the response object repeats
    remote_images: list[RemoteImage] = field(default_factory=list)
    dropped_tools: list[str] = field(default_factory=list)  # built-in tools the model cannot combine


def parse_responses_request(
    body: object, *, aliases: Mapping[str, str] | None = None, suffixes: bool = True
) -> ResponsesCall:
    if not isinstance(body, dict):
        raise ParamError(None, "the request body must be a JSON object")
    client_model = strip_model_prefix(req_str(body, "model"))
    model, _ = apply_model_suffixes(client_model, {}, aliases, suffixes=suffixes)
    if body.get("previous_response_id"):
        raise ParamError(
            "previous_response_id", "this gateway stores no responses; send the full input instead"
        )
    system, contents = convert_input(body.get("input"))
    if instructions := opt_str(body, "instructions"):
        system.insert(0, {"text": instructions})
    request: JSON = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    declarations, built_in, hosted = _tools(body)
    choice = body.get("tool_choice")
    if choice is not None and declarations:
        calling, declarations = tool_config(choice, declarations, "tool_choice")
        if declarations:
            request["toolConfig"] = calling
    tools: list[JSON] = [{"functionDeclarations": declarations}] if declarations else []
    tools += hosted
    if tools := with_built_in_tools(tools, built_in):
        request["tools"] = tools
    if config := _generation_config(body, model):
        request["generationConfig"] = config
    model, request = apply_model_suffixes(client_model, request, aliases, suffixes=suffixes)
    request, dropped = settle_tools(model, request)
    echo = {key: body.get(key) for key in _ECHOED}
    echo["max_output_tokens"] = body.get("max_output_tokens")
    return ResponsesCall(
        model=model,
        request=request,
        client_model=client_model,
        stream=opt_bool(body, "stream") or False,
        echo=echo,
        remote_images=remote_images(contents),
        dropped_tools=dropped,
    )


def _generation_config(body: JSON, model: str) -> JSON:
    config: JSON = {}
    if (temperature := opt_num(body, "temperature", minimum=0.0, maximum=2.0)) is not None:
        config["temperature"] = temperature
    if (top_p := opt_num(body, "top_p", minimum=0.0, maximum=1.0)) is not None:
        config["topP"] = top_p
    if (cap := opt_int(body, "max_output_tokens", minimum=1)) is not None:
        config["maxOutputTokens"] = cap
    text = opt_dict(body, "text") or {}
    if (fmt := text.get("format")) is not None:
        fmt = as_dict(fmt, "text.format")
        if fmt.get("type") == "json_schema":
            # Responses flattens the json_schema object into `format` itself.
            fmt = {"type": "json_schema", "json_schema": fmt}
        config.update(response_format_fields(fmt, "text.format"))
    reasoning = opt_dict(body, "reasoning") or {}
    thinking: JSON = {}
    if reasoning.get("effort") is not None:
        thinking = thinking_for_effort(model, reasoning["effort"], "reasoning.effort")
    # Thought text is surfaced only when the client asked for reasoning summaries.
    if reasoning.get("summary") and thinking.get("thinkingBudget") != 0:
        thinking["includeThoughts"] = True
    else:
        thinking.pop("includeThoughts", None)
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _tools(body: JSON) -> tuple[list[JSON], list[str], list[JSON]]:
    """(function declarations, Gemini built-in tool keys, Gemini tools standing for OpenAI's
    hosted ones that carry settings: File Search) for `tools`."""
    declarations = []
    built_in: list[str] = []
    hosted: list[JSON] = []
    for i, raw in enumerate(opt_list(body, "tools") or ()):
        tool = as_dict(raw, f"tools[{i}]")
        kind = opt_str(tool, "type", f"tools[{i}].type")
        if kind in _SEARCH_TOOLS:
            built_in.append("googleSearch")
        elif kind == "code_interpreter":
            # OpenAI's container (files, memory limit) has no Gemini counterpart: Gemini's sandbox
            # runs Python with the files of the conversation.
            built_in.append("codeExecution")
        elif kind == "file_search":
            if (search := _file_search(tool, f"tools[{i}]")) is not None:
                hosted.append(search)
        elif kind == "function":
            declarations.append(_declaration(tool, f"tools[{i}]"))
        elif kind == "namespace":
            namespace = req_str(tool, "name", f"tools[{i}].name")
            for j, inner in enumerate(opt_list(tool, "tools", f"tools[{i}].tools") or ()):
                inner = as_dict(inner, f"tools[{i}].tools[{j}]")
                if inner.get("type") == "function":
                    declarations.append(_declaration(inner, f"tools[{i}].tools[{j}]", namespace))
        # other hosted tools (computer, mcp...) have no Gemini counterpart here
    return declarations, built_in, hosted


def _file_search(tool: JSON, param: str) -> JSON | None:
    """OpenAI's `file_search` over vector stores -> Gemini's File Search over stores of the same
    names; `max_num_results` is Gemini's `topK`. OpenAI's attribute `filters` have no faithful
    counterpart in Gemini's `metadataFilter` (a filter expression string): refused, not dropped."""
    ids = opt_list(tool, "vector_store_ids", f"{param}.vector_store_ids")
    if not ids:
        return None  # nothing to search: left out, as a hosted tool without a counterpart is
    names = []
    for j, raw in enumerate(ids):
        store = raw.removeprefix("fileSearchStores/") if isinstance(raw, str) else ""
        if RESOURCE_ID.fullmatch(store) is None:
            raise ParamError(
                f"{param}.vector_store_ids[{j}]", "is not a File Search store name (fileSearchStores/...)"
            )
        names.append(f"fileSearchStores/{store}")
    if tool.get("filters") is not None:
        raise ParamError(f"{param}.filters", "is not supported for Gemini File Search stores")
    search: JSON = {"fileSearchStoreNames": names}
    top = opt_int(tool, "max_num_results", f"{param}.max_num_results", minimum=1, maximum=50)
    if top is not None:
        search["topK"] = top
    return {"fileSearch": search}


def _declaration(tool: JSON, param: str, namespace: str | None = None) -> JSON:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise ParamError(f"{param}.name", "is required")
    description = tool.get("description") if isinstance(tool.get("description"), str) else None
    return function_declaration(
        gemini_function_name(namespace, name, param),
        description,
        tool.get("parameters"),
        f"{param}.parameters",
    )


def gemini_function_name(namespace: str | None, name: str, param: str) -> str:
    if not namespace:
        return name
    joined = f"{namespace}{NAMESPACE_SEPARATOR}{name}"
    if len(joined) > _MAX_FUNCTION_NAME:
        raise ParamError(
            param, f"namespace and function name {joined!r} exceed Gemini's {_MAX_FUNCTION_NAME} characters"
        )
    return joined


def split_function_name(name: str) -> tuple[str | None, str]:
    """(namespace, name) of a function Gemini called."""
    namespace, dot, short = name.partition(NAMESPACE_SEPARATOR)
    return (namespace, short) if dot and namespace and short else (None, name)


# --- input items ----------------------------------------------------------------------------------


def convert_input(value: object) -> tuple[list[JSON], list[JSON]]:
    """(system parts, contents) for `input`: a string, or an array of items."""
    if isinstance(value, str):
        if not value:
            raise ParamError("input", "must not be empty")
        return [], [{"role": "user", "parts": [{"text": value}]}]
    if not isinstance(value, list) or not value:
        raise ParamError("input", "expected a string or a non-empty array of input items")
    system: list[JSON] = []
    contents: list[JSON] = []
    call_names: dict[str, str] = {}
    for i, raw in enumerate(value):
        param = f"input[{i}]"
        item = as_dict(raw, param)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            parts = _message_parts(item.get("content"), f"{param}.content")
            if role in ("system", "developer"):
                system.extend(p for p in parts if "text" in p)
            elif role in ("user", "assistant"):
                append_turn(contents, "user" if role == "user" else "model", parts)
            else:
                raise ParamError(
                    f"{param}.role", f"expected user, assistant, system or developer, got {role!r}"
                )
        elif kind == "function_call":
            namespace = opt_str(item, "namespace", f"{param}.namespace")
            name = gemini_function_name(namespace, req_str(item, "name", f"{param}.name"), param)
            call_id = opt_str(item, "call_id", f"{param}.call_id")
            if call_id:
                call_names[call_id] = name
            args = parse_arguments(item.get("arguments"), f"{param}.arguments")
            append_turn(contents, "model", [function_call_part(name, args, call_id)])
        elif kind == "function_call_output":
            append_turn(contents, "user", _call_output(item, param, call_names))
        elif kind == "code_interpreter_call":
            append_turn(contents, "model", interpreter_call_parts(item))
        elif kind == "reasoning":
            continue  # summaries are not model input; signatures travel in call ids
        elif kind == "item_reference":
            raise ParamError(
                f"{param}.type", "item references need stored responses, which this gateway keeps none of"
            )
        else:
            raise ParamError(f"{param}.type", f"unsupported input item type {kind!r}")
    if not contents:
        raise ParamError("input", "must contain at least one user or assistant item")
    return system, contents


def _message_parts(content: object, param: str) -> list[JSON]:
    if isinstance(content, list):
        content = [_as_chat_part(as_dict(p, f"{param}[{j}]"), f"{param}[{j}]") for j, p in enumerate(content)]
    return content_parts(content, param)


def _as_chat_part(part: JSON, param: str) -> JSON:
    """Responses content parts -> their chat-completions spelling, to share one converter."""
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": part.get("text")}
    if kind == "refusal":
        return {"type": "refusal"}
    if kind == "input_image":
        url = part.get("image_url")
        if url is None and isinstance(part.get("file_id"), str):
            return {"type": "file", "file": {"file_id": part["file_id"]}}
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "input_file":
        if isinstance(part.get("file_url"), str):
            return {"type": "image_url", "image_url": {"url": part["file_url"]}}
        return {"type": "file", "file": {k: part.get(k) for k in ("file_data", "file_id", "filename")}}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part.get("input_audio", part)}
    raise ParamError(f"{param}.type", f"unsupported content part type {kind!r}")


def _call_output(item: JSON, param: str, call_names: dict[str, str]) -> list[JSON]:
    call_id = req_str(item, "call_id", f"{param}.call_id")
    name = call_names.get(call_id)
    if name is None:
        raise ParamError(f"{param}.call_id", f"{call_id!r} does not match an earlier function_call item")
    output = item.get("output")
    media: list[JSON] = []
    if isinstance(output, list):
        parts = _message_parts(output, f"{param}.output")
        text = "\n".join(p["text"] for p in parts if "text" in p)
        media = [p for p in parts if "text" not in p]
    elif isinstance(output, str):
        text = output
    else:
        raise ParamError(f"{param}.output", "expected a string or an array of content parts")
    return [function_response_part(name, {"output": text}, call_id), *media]


# --- the response object ----------------------------------------------------------------------------


def response_status(ending: Ending) -> tuple[str, JSON | None]:
    if ending.kind == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if ending.kind == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def refusal_part(ending: Ending) -> JSON | None:
    return {"type": "refusal", "refusal": ending.message} if ending.message else None


def url_citation(citation: Citation) -> JSON:
    return {
        "type": "url_citation",
        "url": citation.url,
        "title": citation.title,
        "start_index": citation.start,
        "end_index": citation.end,
    }


def image_item(image: tuple[str, str], status: str = "completed") -> JSON:
    """An inline image the model drew, as the Responses API returns generated images."""
    return {"type": "image_generation_call", "id": new_id("ig_"), "status": status, "result": image[1]}


def responses_usage(usage: Usage) -> JSON:
    return {
        "input_tokens": usage.prompt + usage.tool_prompt,
        # Gemini's implicit cache reports reads only; nothing is "written" the way OpenAI bills it.
        "input_tokens_details": {"cached_tokens": usage.cached, "cache_write_tokens": 0},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.thoughts},
        "total_tokens": usage.total,
    }


def response_object(
    call: ResponsesCall,
    *,
    response_id: str,
    created_at: int,
    status: str,
    output: list[JSON],
    usage: JSON | None = None,
    incomplete: JSON | None = None,
) -> JSON:
    echo = call.echo
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": echo.get("instructions"),
        "max_output_tokens": echo.get("max_output_tokens"),
        "model": call.client_model,
        "output": output,
        "parallel_tool_calls": echo.get("parallel_tool_calls") is not False,
        "metadata": echo.get("metadata") or {},
        "temperature": echo.get("temperature"),
        "top_p": echo.get("top_p"),
        "tool_choice": echo.get("tool_choice") or "auto",
        "tools": echo.get("tools") or [],
        **({"usage": usage} if usage is not None else {}),
    }


def function_call_item(part: JSON, status: str = "completed") -> JSON:
    fc = part["functionCall"]
    namespace, name = split_function_name(str(fc.get("name", "")))
    item: JSON = {
        "type": "function_call",
        "id": new_id("fc_"),
        "call_id": encode_call_id("call_", part.get("thoughtSignature"), fc.get("id")),
        "name": name,
        "arguments": json_text(fc.get("args") or {}),
        "status": status,
    }
    if namespace is not None:
        item["namespace"] = namespace
    return item


def render_responses_response(
    gemini: JSON, call: ResponsesCall, *, response_id: str, created_at: int
) -> JSON:
    candidates = candidates_of(gemini)
    candidate: JSON = candidates[0] if candidates else {}
    output: list[JSON] = []
    for part in parts_of(candidate):
        if "functionCall" in part:
            output.append(function_call_item(part))
        elif code_of(part) is not None:  # code the model ran (also while thinking)
            output.append(interpreter_call(part))
        elif (result := result_of(part)) is not None:
            if not output or not takes_result(output[-1], result):
                output.append(interpreter_call(None))
            add_result(output[-1], result)
        elif part.get("thought") is True:
            _last_or_new(output, "reasoning")["summary"][0]["text"] += str(part.get("text", ""))
        elif (text := visible_text(part)) is not None and text:
            _last_or_new(output, "message")["content"][0]["text"] += text
        elif (image := inline_image(part)) is not None:
            if output and output[-1]["type"] == "code_interpreter_call":
                add_image(output[-1], image)  # what the code drew
            else:
                output.append(image_item(image))
    has_calls = any(item["type"] == "function_call" for item in output)
    ending = answer_ending(gemini, candidate, has_calls)
    status, incomplete = response_status(ending)
    annotate(output, citations(candidate, answer_text(output)))
    if (refusal := refusal_part(ending)) is not None:
        _last_or_new(output, "message")["content"].append(refusal)
    for item in output:
        if item["type"] == "code_interpreter_call":
            finished_call(item)
        if item["type"] == "message":
            item["status"] = status
            item["content"] = [p for p in item["content"] if p["type"] != "output_text" or p["text"]]
    return response_object(
        call,
        response_id=response_id,
        created_at=created_at,
        status=status,
        output=output,
        usage=responses_usage(Usage.of(gemini)),
        incomplete=incomplete,
    )


def answer_text(output: list[JSON]) -> str:
    return "".join(_texts(output))


def annotate(output: list[JSON], found: list[Citation]) -> list[list[JSON]]:
    """Put citations over the whole answer text on the output_text parts they fall in; answer
    what each message item gained, in order."""
    messages = [item for item in output if item["type"] == "message"]
    per_item = split_by_segments(found, [len(t) for t in _texts(output)])
    added = []
    for item, cited in zip(messages, per_item, strict=True):
        new = [url_citation(c) for c in cited]
        item["content"][0]["annotations"].extend(new)
        added.append(new)
    return added


def _texts(output: list[JSON]) -> list[str]:
    return [item["content"][0]["text"] for item in output if item["type"] == "message"]


def new_item(kind: str) -> JSON:
    if kind == "reasoning":
        return {"type": "reasoning", "id": new_id("rs_"), "summary": [{"type": "summary_text", "text": ""}]}
    return {
        "type": "message",
        "id": new_id("msg_"),
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "", "annotations": [], "logprobs": []}],
    }


def _last_or_new(output: list[JSON], kind: str) -> Any:
    if not output or output[-1]["type"] != kind:
        output.append(new_item(kind))
    return output[-1]

"""Model names and generation knobs shared by the dialects: suffixes, aliases, thinking."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from gemini_gateway.dialects.common import JSON, ParamError

SEARCH_TOOL: Final[JSON] = {"googleSearch": {}}
_SEARCH_SUFFIX: Final = "-search"
# Suffixes that switch on one of Gemini's built-in tools, by its key in a `tools[]` entry.
_TOOL_SUFFIXES: Final = {
    _SEARCH_SUFFIX: "googleSearch",
    "-urlcontext": "urlContext",
    "-codeexecution": "codeExecution",
}
# gemini-balance spells it -nothinking; some of its forks -non-thinking.
_NO_THINKING_SUFFIXES: Final = ("-nothinking", "-non-thinking")
# `-high`, `-low`...: the reasoning effort of that name, as the model's own knob (level or budget).
_EFFORT_SUFFIXES: Final = {"-minimal": "minimal", "-low": "low", "-medium": "medium", "-high": "high"}
# Gemini models that answer generateContent but take no Google Search grounding.
_NOT_SEARCHABLE: Final = ("tts", "image", "audio", "embedding", "live")

# reasoning_effort -> thinkingBudget on 2.5-era models (Google's OpenAI-compat table).
_BUDGETS: Final = {"minimal": 1024, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576, "max": 24576}
_PRO_MAX_BUDGET: Final = 32768
_PRO_MIN_BUDGET: Final = 128
# reasoning_effort -> thinkingLevel on Gemini 3; Pro models take only LOW and HIGH.
_LEVELS: Final = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "HIGH",
    "max": "HIGH",
}
_PRO_LEVELS: Final = {"none": "LOW", "minimal": "LOW", "low": "LOW"}
EFFORTS: Final = frozenset(_LEVELS)


def strip_model_prefix(model: str) -> str:
    return model.removeprefix("models/")


def apply_model_suffixes(
    model: str, request: JSON, aliases: Mapping[str, str] | None = None, *, suffixes: bool = True
) -> tuple[str, JSON]:
    """Resolve an alias, then honour gemini-balance style suffixes; the request is not mutated.

    `-search` adds Google Search grounding (next to any function tools), `-urlcontext` URL context
    and `-codeexecution` code execution; `-nothinking` turns thinking off (or down to the least a
    Pro or Gemini 3 model accepts). Suffixes stack in any order: `gemini-2.5-flash-search-nothinking`.
    With `suffixes` off (the MODEL_SUFFIXES setting) the resolved name is passed on as it is.
    """
    model = strip_model_prefix(model)
    if aliases:
        model = strip_model_prefix(aliases.get(model, model))
    if not suffixes:
        return model, request
    built_in: list[str] = []
    no_thinking = False
    effort: str | None = None
    while True:
        if (tool := next((s for s in _TOOL_SUFFIXES if model.endswith(s)), None)) is not None:
            model = model.removesuffix(tool)
            built_in.insert(0, _TOOL_SUFFIXES[tool])
            continue
        if (level := next((s for s in _EFFORT_SUFFIXES if model.endswith(s)), None)) is not None:
            model, effort = model.removesuffix(level), _EFFORT_SUFFIXES[level]
            continue
        suffix = next((s for s in _NO_THINKING_SUFFIXES if model.endswith(s)), None)
        if suffix is None:
            break
        model, no_thinking = model.removesuffix(suffix), True
    if aliases and model in aliases:
        model = strip_model_prefix(aliases[model])
    if not (built_in or no_thinking or effort):
        return model, request
    request = dict(request)
    if built_in:
        request["tools"] = with_built_in_tools(list(request.get("tools") or []), built_in)
    if no_thinking:
        config = dict(request.get("generationConfig") or {})
        # Pro and Gemini 3 models refuse a zero budget with a 400: give them the least they take.
        config["thinkingConfig"] = thinking_for_effort(model, "none", "model")
        request["generationConfig"] = config
    elif effort is not None:
        config = dict(request.get("generationConfig") or {})
        asked = config.get("thinkingConfig") or {}
        knob = thinking_for_effort(model, effort, "model")
        knob.pop("includeThoughts", None)  # whether thoughts are shown stays the client's choice
        if "includeThoughts" in asked:
            knob["includeThoughts"] = asked["includeThoughts"]
        config["thinkingConfig"] = knob
        request["generationConfig"] = config
    return model, request


def with_built_in_tools(tools: list[JSON], keys: Iterable[str]) -> list[JSON]:
    """`tools` with an entry for each built-in tool key (`googleSearch`, `urlContext`,
    `codeExecution`) it does not hold yet, in the order given."""
    for key in keys:
        if not any(isinstance(tool, dict) and key in tool for tool in tools):
            tools.append({key: {}})
    return tools


def is_gemini3(model: str) -> bool:
    return "gemini-3" in model


# Gemini's built-in tools, by their key in a `tools[]` entry.
SERVER_TOOLS: Final = ("googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext", "googleMaps")


def settle_tools(model: str, request: JSON) -> tuple[JSON, list[str]]:
    """(request, built-in tools left out) for what the model accepts.

    Gemini 3 runs built-in tools (Google Search, URL context, code execution...) in the same request
    as function declarations; Gemini 2.x answers 400 "Tool use with function calling is
    unsupported". There the functions win (an agent's tools are what it cannot do without) and the
    built-in ones are left out, named so the caller can say so. Call after `apply_model_suffixes`.
    """
    tools = request.get("tools")
    if is_gemini3(model) or not isinstance(tools, list):
        return request, []
    if not any(isinstance(t, dict) and t.get("functionDeclarations") for t in tools):
        return request, []
    kept: list[JSON] = []
    dropped: list[str] = []
    for tool in tools:
        built_in = [key for key in SERVER_TOOLS if isinstance(tool, dict) and key in tool]
        if built_in:
            dropped += built_in
        else:
            kept.append(tool)
    if not dropped:
        return request, []
    return {**request, "tools": kept}, dropped


def suffixed_model_ids(models: Iterable[JSON]) -> list[str]:
    """The suffixed names a model list offers next to the upstream's own (Gemini `Model` objects).

    `-search` for Gemini chat models (not TTS, image, audio or embedding ones); `-nothinking`
    for thinking models (Pro and Gemini 3 ones then think as little as they can); both stacked,
    `-search-nothinking`, where each applies on its own.
    """
    ids: list[str] = []
    for info in models:
        name = strip_model_prefix(str(info.get("name", "")))
        methods = info.get("supportedGenerationMethods") or ()
        if not name.startswith("gemini-") or "generateContent" not in methods:
            continue
        if any(marker in name for marker in _NOT_SEARCHABLE):
            continue
        ids.append(name + _SEARCH_SUFFIX)
        if info.get("thinking") is True:
            no_thinking = _NO_THINKING_SUFFIXES[0]
            ids += [name + no_thinking, name + _SEARCH_SUFFIX + no_thinking, name + "-low", name + "-high"]
            if is_gemini3(name) and "pro" not in name:  # Gemini 3 Pro takes only LOW and HIGH
                ids += [name + "-minimal", name + "-medium"]
    return ids


def thinking_for_effort(model: str, effort: object, param: str) -> JSON:
    """OpenAI `reasoning_effort` -> Gemini thinkingConfig, per model generation."""
    if not isinstance(effort, str) or effort not in EFFORTS:
        raise ParamError(param, f"expected one of {', '.join(sorted(EFFORTS))}, got {effort!r}")
    pro = "pro" in model
    if is_gemini3(model):
        # Gemini 3 cannot switch thinking off; "none" asks for the least of it.
        level = _PRO_LEVELS.get(effort, "HIGH") if pro else _LEVELS[effort]
        return {"thinkingLevel": level, "includeThoughts": effort != "none"}
    if effort == "none":
        # 2.5 Pro cannot think less than 128 tokens; Flash and Flash-Lite can stop entirely.
        return {"thinkingBudget": _PRO_MIN_BUDGET if pro else 0}
    budget = _BUDGETS[effort]
    if pro and effort in ("xhigh", "max"):
        budget = _PRO_MAX_BUDGET
    return {"thinkingBudget": budget, "includeThoughts": True}


def with_default_safety(request: JSON, defaults: Mapping[str, str]) -> JSON:
    """The configured SAFETY_SETTINGS where the client sent none (its own always win whole)."""
    if not defaults or request.get("safetySettings"):
        return request
    settings = [{"category": category, "threshold": threshold} for category, threshold in defaults.items()]
    return {**request, "safetySettings": settings}


def thinking_for_budget(model: str, budget: int) -> JSON:
    """A thinking budget (Anthropic's `budget_tokens`) as the model's own knob: kept as a budget on
    2.5, read as the closest level on Gemini 3 (whose levels stand for about 0, 1K, 8K and 24K+)."""
    if not is_gemini3(model):
        return {"thinkingBudget": budget}
    effort = "minimal" if budget == 0 else "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
    return {"thinkingLevel": thinking_for_effort(model, effort, "thinking")["thinkingLevel"]}


def google_thinking_config(config: object, param: str) -> JSON:
    """`extra_body.google.thinking_config` (Google's OpenAI-compat extension), snake or camel case."""
    if not isinstance(config, dict):
        raise ParamError(param, f"expected an object, got {type(config).__name__}")
    out: JSON = {}
    for snake, camel, kind in (
        ("thinking_budget", "thinkingBudget", int),
        ("include_thoughts", "includeThoughts", bool),
        ("thinking_level", "thinkingLevel", str),
    ):
        value = config.get(snake, config.get(camel))
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ParamError(f"{param}.{snake}", f"expected {kind.__name__}, got {type(value).__name__}")
        out[camel] = value.upper() if isinstance(value, str) else value
    if "thinkingBudget" in out and "thinkingLevel" in out:
        raise ParamError(param, "set thinking_budget or thinking_level, not both")
    return out

"""Checks Google makes on a GenerateContentRequest before generating, with Google's messages."""

from __future__ import annotations

from typing import Any

from gemini_gateway.fake_upstream.errors import FakeApiError, Json, invalid_argument
from gemini_gateway.fake_upstream.models import ModelInfo
from gemini_gateway.fake_upstream.signatures import check_history

ROLES = frozenset({None, "", "user", "model", "function"})
THINKING_LEVELS = frozenset({"MINIMAL", "LOW", "MEDIUM", "HIGH"})
PRO_THINKING_LEVELS = frozenset({"LOW", "HIGH"})
JSON_MIME_TYPES = frozenset({"application/json", "text/x.enum"})
MAX_CANDIDATES = 8


def validate_generate(model: ModelInfo, request: Json, *, prefix: str = "GenerateContentRequest") -> None:
    contents = request.get("contents")
    if not contents:
        raise FakeApiError(400, f"* {prefix}.contents: contents is not specified\n")
    for index, content in enumerate(contents):
        if content.get("role") not in ROLES:
            raise FakeApiError(400, "Please use a valid role: user, model.")
        if not content.get("parts"):
            raise FakeApiError(
                400, f"* {prefix}.contents[{index}].parts: contents.parts must not be empty.\n"
            )
    config = request.get("generationConfig") or {}
    _check_counts(config, prefix)
    _check_thinking(model, config.get("thinkingConfig") or {})
    _check_modalities(model, config)
    _check_schema(config, prefix)
    _check_tool_mix(model, request.get("tools") or [])
    if model.is_gemini3:
        check_history(contents)


def _check_counts(config: Json, prefix: str) -> None:
    count = config.get("candidateCount")
    if count is not None and not (isinstance(count, int) and 1 <= count <= MAX_CANDIDATES):
        raise invalid_argument(
            f"* {prefix}.generation_config.candidate_count: must be in the range [1, {MAX_CANDIDATES}].\n",
            "generation_config.candidate_count",
        )
    limit = config.get("maxOutputTokens")
    if limit is not None and not (isinstance(limit, int) and limit > 0):
        raise invalid_argument(
            f"* {prefix}.generation_config.max_output_tokens: max_output_tokens must be positive.\n",
            "generation_config.max_output_tokens",
        )
    stops = config.get("stopSequences") or []
    if len(stops) > 5:
        raise invalid_argument(
            f"* {prefix}.generation_config.stop_sequences: at most 5 stop sequences are allowed.\n",
            "generation_config.stop_sequences",
        )


# Built-in tools Gemini 2.x will not run in the same request as function declarations.
SERVER_TOOLS = ("googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext", "googleMaps")


def _check_tool_mix(model: ModelInfo, tools: list[Json]) -> None:
    """Live Gemini 2.x refuses built-in tools beside function declarations; Gemini 3 combines them."""
    if model.is_gemini3:
        return
    declares = any(tool.get("functionDeclarations") for tool in tools if isinstance(tool, dict))
    built_in = any(key in tool for tool in tools if isinstance(tool, dict) for key in SERVER_TOOLS)
    if declares and built_in:
        raise invalid_argument("Tool use with function calling is unsupported")


def _check_thinking(model: ModelInfo, thinking: Json) -> None:
    if not thinking:
        return
    if not model.thinking:
        raise invalid_argument(
            "Thinking is not supported for this model.", "generation_config.thinking_config"
        )
    budget: Any = thinking.get("thinkingBudget")
    level: Any = thinking.get("thinkingLevel")
    if budget is not None and level is not None:
        raise invalid_argument(
            "You can only set only one of thinking budget and thinking level.",
            "generation_config.thinking_config",
        )
    if level is not None:
        name = str(level).upper()
        if not model.is_gemini3:
            raise invalid_argument("Thinking level is not supported for this model.")
        if name not in THINKING_LEVELS:
            raise invalid_argument(
                "Invalid value at 'generation_config.thinking_config.thinking_level' "
                f'(type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel), "{level}"',
                "generation_config.thinking_config.thinking_level",
            )
        if "-pro" in model.id and name not in PRO_THINKING_LEVELS:
            raise invalid_argument(f"Thinking level {name} is not supported for this model.")
    if budget == 0 and "-pro" in model.id:
        raise invalid_argument("Budget 0 is invalid. This model only works in thinking mode.")


def _check_modalities(model: ModelInfo, config: Json) -> None:
    wanted = [str(m).upper() for m in config.get("responseModalities") or ()]
    if model.kind == "tts":
        if wanted != ["AUDIO"]:
            asked = ", ".join(wanted) or "TEXT"
            raise invalid_argument(
                f"The requested combination of response modalities ({asked}) is not supported by the model. "
                f"models/{model.id} accepts the following combination of response modalities:\n* AUDIO\n"
            )
    elif "AUDIO" in wanted:
        raise invalid_argument("Multi-modal output is not supported.")
    elif "IMAGE" in wanted and model.kind != "image":
        raise invalid_argument("Model does not support the requested response modalities: image")
    speech = config.get("speechConfig") or {}
    if speech.get("voiceConfig") and speech.get("multiSpeakerVoiceConfig"):
        raise invalid_argument(
            "speech_config: voice_config and multi_speaker_voice_config are mutually exclusive.",
            "generation_config.speech_config",
        )


def _check_schema(config: Json, prefix: str) -> None:
    has_schema = config.get("responseSchema") is not None
    if has_schema and config.get("responseJsonSchema") is not None:
        raise invalid_argument(
            f"* {prefix}.generation_config.response_json_schema: response_json_schema and response_schema "
            "cannot both be set.\n",
            "generation_config.response_json_schema",
        )
    mime = config.get("responseMimeType") or "text/plain"
    if (has_schema or config.get("responseJsonSchema") is not None) and mime not in JSON_MIME_TYPES:
        raise invalid_argument(
            f"* {prefix}.generation_config.response_mime_type: response_mime_type must be one of "
            "application/json, text/x.enum when a response schema is set.\n",
            "generation_config.response_mime_type",
        )

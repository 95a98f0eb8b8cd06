"""Request bodies read the way Google's proto3 JSON parser reads them.

Field names are accepted in lowerCamelCase and in their proto (snake_case) spelling and come out
camelCase; user data (`functionCall.args`, JSON Schemas, map keys) is left untouched. Unknown field
names are rejected with Google's message, because leaking a foreign field (an OpenAI `max_tokens`,
a JSON-Schema `additionalProperties` inside `parameters`) is exactly what gateways get wrong.
Message types Google keeps adding fields to (search tools, retrieval) are passed through as they are.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

import orjson

from gemini_gateway.fake_upstream.errors import FakeApiError, Json, invalid_json, unknown_field


class Kind(Enum):
    VALUE = 1  # scalar, enum, or opaque JSON kept as sent
    MESSAGE = 2
    LIST = 3  # repeated message
    MAP = 4  # map<string, message>


_CAPITAL = re.compile(r"(?<!^)(?=[A-Z])")


class Message:
    """A proto message type: its fields by every accepted spelling."""

    __slots__ = ("fields", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        # spelling -> (camelName, snake_name, kind, child)
        self.fields: dict[str, tuple[str, str, Kind, Message | None]] = {}

    def define(self, *values: str, **children: tuple[Kind, Message]) -> Message:
        for camel in values:
            self._add(camel, Kind.VALUE, None)
        for camel, (kind, child) in children.items():
            self._add(camel, kind, child)
        return self

    def _add(self, camel: str, kind: Kind, child: Message | None) -> None:
        snake = _CAPITAL.sub("_", camel).lower()
        entry = (camel, snake, kind, child)
        self.fields[camel] = entry
        self.fields[snake] = entry


def one(message: Message) -> tuple[Kind, Message]:
    return (Kind.MESSAGE, message)


def many(message: Message) -> tuple[Kind, Message]:
    return (Kind.LIST, message)


def mapping(message: Message) -> tuple[Kind, Message]:
    return (Kind.MAP, message)


_PKG = "google.ai.generativelanguage.v1beta."
SCHEMA = Message("Schema")
SCHEMA.define(
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "required",
    "minProperties", "maxProperties", "minimum", "maximum", "minLength", "maxLength", "pattern",
    "example", "propertyOrdering", "default",
    items=one(SCHEMA), properties=mapping(SCHEMA), anyOf=many(SCHEMA),
)  # fmt: skip
BLOB = Message("Blob").define("mimeType", "data")
FILE_DATA = Message("FileData").define("mimeType", "fileUri")
FUNCTION_CALL = Message("FunctionCall").define("id", "name", "args", "partialArgs", "willContinue")
FUNCTION_RESPONSE = Message("FunctionResponse").define(
    "id", "name", "response", "parts", "willContinue", "scheduling"
)
PART = Message("Part").define(
    "text", "executableCode", "codeExecutionResult", "videoMetadata", "thought", "thoughtSignature",
    "partMetadata", "mediaResolution", "toolCall", "toolResponse",
    inlineData=one(BLOB), fileData=one(FILE_DATA),
    functionCall=one(FUNCTION_CALL), functionResponse=one(FUNCTION_RESPONSE),
)  # fmt: skip
CONTENT = Message("Content").define("role", parts=many(PART))
FUNCTION_DECLARATION = Message("FunctionDeclaration").define(
    "name", "description", "parametersJsonSchema", "responseJsonSchema", "behavior",
    parameters=one(SCHEMA), response=one(SCHEMA),
)  # fmt: skip
TOOL = Message("Tool").define(
    "googleSearchRetrieval", "codeExecution", "googleSearch", "computerUse", "urlContext",
    "fileSearch", "googleMaps", "mcpServers",
    functionDeclarations=many(FUNCTION_DECLARATION),
)  # fmt: skip
FUNCTION_CALLING_CONFIG = Message("FunctionCallingConfig").define("mode", "allowedFunctionNames")
TOOL_CONFIG = Message("ToolConfig").define(
    "retrievalConfig", "includeServerSideToolInvocations", functionCallingConfig=one(FUNCTION_CALLING_CONFIG)
)
SAFETY_SETTING = Message("SafetySetting").define("category", "threshold")
VOICE_CONFIG = Message("VoiceConfig").define(
    prebuiltVoiceConfig=one(Message("PrebuiltVoiceConfig").define("voiceName"))
)
SPEAKER_VOICE_CONFIG = Message("SpeakerVoiceConfig").define("speaker", voiceConfig=one(VOICE_CONFIG))
SPEECH_CONFIG = Message("SpeechConfig").define(
    "languageCode",
    voiceConfig=one(VOICE_CONFIG),
    multiSpeakerVoiceConfig=one(
        Message("MultiSpeakerVoiceConfig").define(speakerVoiceConfigs=many(SPEAKER_VOICE_CONFIG))
    ),
)
THINKING_CONFIG = Message("ThinkingConfig").define("includeThoughts", "thinkingBudget", "thinkingLevel")
GENERATION_CONFIG = Message("GenerationConfig").define(
    "candidateCount", "stopSequences", "maxOutputTokens", "temperature", "topP", "topK", "seed",
    "responseMimeType", "responseJsonSchema", "presencePenalty", "frequencyPenalty", "responseLogprobs",
    "logprobs", "enableEnhancedCivicAnswers", "responseModalities", "mediaResolution",
    responseSchema=one(SCHEMA), speechConfig=one(SPEECH_CONFIG), thinkingConfig=one(THINKING_CONFIG),
    imageConfig=one(Message("ImageConfig").define("aspectRatio", "imageSize")),
)  # fmt: skip
# `response_json_schema` is the proto name of the field whose JSON name is `_responseJsonSchema`;
# both spellings mean the same JSON Schema here.
GENERATION_CONFIG.fields["_responseJsonSchema"] = GENERATION_CONFIG.fields["responseJsonSchema"]
GENERATE_CONTENT_REQUEST = Message("GenerateContentRequest").define(
    "model", "cachedContent", "serviceTier", "store",
    contents=many(CONTENT), systemInstruction=one(CONTENT), tools=many(TOOL), toolConfig=one(TOOL_CONFIG),
    safetySettings=many(SAFETY_SETTING), generationConfig=one(GENERATION_CONFIG),
)  # fmt: skip
COUNT_TOKENS_REQUEST = Message("CountTokensRequest").define(
    "model", contents=many(CONTENT), generateContentRequest=one(GENERATE_CONTENT_REQUEST)
)
EMBED_CONTENT_REQUEST = Message("EmbedContentRequest").define(
    "model", "taskType", "title", "outputDimensionality", content=one(CONTENT)
)
BATCH_EMBED_REQUEST = Message("BatchEmbedContentsRequest").define(
    "model", requests=many(EMBED_CONTENT_REQUEST)
)


def parse_body(body: bytes, message: Message) -> Json:
    """Decode a request body and read it as `message`, raising Google's 400 on any problem."""
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise invalid_json(
            f"Unexpected token.\n{body[:40].decode('utf-8', 'replace')}\n^ ({exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise invalid_json("Root element must be a message.")
    try:
        return _read(data, message)
    except _Problem as problem:
        raise problem.error() from None


class _Problem(Exception):
    """A bad field deep in the body. Its path is collected while the exception unwinds, so
    reading a valid body never builds path strings."""

    def __init__(self, name: str | None = None, message: Message | None = None, value: Any = None) -> None:
        super().__init__(name)
        self.name = name  # an unknown field name, or None for a value of the wrong JSON type
        self.message = message
        self.value = value
        self.steps: list[str] = []  # innermost first: "[0]", "parts", "[1]", "contents"

    def error(self) -> FakeApiError:
        path = ""
        for step in reversed(self.steps):
            path += step if step.startswith("[") or not path else "." + step
        if self.name is not None:
            return unknown_field(self.name, path)
        shown = orjson.dumps(self.value).decode()[:60]
        type_url = f"type.googleapis.com/{_PKG}{self.message.name if self.message else ''}"
        return invalid_json(f"Invalid value at '{path}' ({type_url}), {shown}", path)


def _read(data: Json, message: Message) -> Json:
    out: Json = {}
    fields = message.fields
    for key, value in data.items():
        entry = fields.get(key)
        if entry is None:
            raise _Problem(key)
        camel, snake, kind, child = entry
        if kind is Kind.VALUE or value is None or child is None:
            out[camel] = value
            continue
        try:
            if kind is Kind.MESSAGE:
                out[camel] = _read_item(value, child, None)
            elif kind is Kind.LIST:
                if not isinstance(value, list):
                    raise _Problem(None, child, value)
                out[camel] = [_read_item(item, child, index) for index, item in enumerate(value)]
            else:
                if not isinstance(value, dict):
                    raise _Problem(None, child, value)
                out[camel] = {name: _read_item(item, child, name) for name, item in value.items()}
        except _Problem as problem:
            problem.steps.append(snake)
            raise
    return out


def _read_item(value: Any, message: Message, position: int | str | None) -> Json:
    try:
        if not isinstance(value, dict):
            raise _Problem(None, message, value)
        return _read(value, message)
    except _Problem as problem:
        if position is not None:
            problem.steps.append(f"[{position}]")
        raise

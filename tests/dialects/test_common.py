"""Shared helpers: the stateless thought-signature codec, finish reasons, usage, field checks."""

from __future__ import annotations

import base64
import os

import pytest

from gemini_gateway.dialects.anthropic_messages import parse_count_tokens_request, parse_messages_request
from gemini_gateway.dialects.common import (
    SKIP_SIGNATURE,
    ParamError,
    Usage,
    decode_call_id,
    encode_call_id,
    finish_kind,
    function_call_part,
    function_response_part,
    new_id,
    opt_int,
    opt_num,
    parse_arguments,
    stop_list,
)
from gemini_gateway.dialects.generation import (
    apply_model_suffixes,
    google_thinking_config,
    suffixed_model_ids,
    thinking_for_effort,
)
from gemini_gateway.dialects.openai_chat import parse_chat_request
from gemini_gateway.dialects.openai_responses import parse_responses_request

# Real signatures are standard base64 of opaque bytes, often with + / and padding.
SIGNATURE = base64.b64encode(b"\xfb\xff\xfe" + os.urandom(300)).decode()


@pytest.mark.parametrize("prefix", ["call_", "toolu_", "fc_"])
def test_signature_survives_the_call_id(prefix: str) -> None:
    call_id = encode_call_id(prefix, SIGNATURE)
    assert call_id.startswith(prefix)
    # Anthropic validates tool_use ids against ^[a-zA-Z0-9_-]+$
    assert all(c.isalnum() or c in "_-" for c in call_id)
    ref = decode_call_id(call_id)
    assert ref is not None
    assert ref.signature is not None and base64.b64decode(ref.signature) == base64.b64decode(SIGNATURE)
    assert ref.gemini_id is None


def test_new_ids_have_their_size_and_a_forked_child_does_not_repeat_its_parent() -> None:
    ids = {new_id("chatcmpl-") for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == len("chatcmpl-") + 24 and int(i[9:], 16) >= 0 for i in ids)
    assert len(new_id("x", 4)) == 9
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's next id, to compare with the parent's next one
        os.write(write, new_id("").encode())
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != new_id("")


def test_ids_are_unique_and_unsigned_ids_are_still_recognised() -> None:
    first, second = encode_call_id("call_"), encode_call_id("call_")
    assert first != second
    ref = decode_call_id(first)
    assert ref is not None and ref.signature is None


def test_gemini_call_id_is_carried() -> None:
    call_id = encode_call_id("toolu_", SIGNATURE, gemini_id="x7-abc")
    ref = decode_call_id(call_id)
    assert ref is not None and ref.gemini_id == "x7-abc"
    part = function_call_part("f", {"a": 1}, call_id)
    assert part["functionCall"] == {"name": "f", "args": {"a": 1}, "id": "x7-abc"}
    assert part["thoughtSignature"] == ref.signature
    assert function_response_part("f", {"output": "ok"}, call_id)["functionResponse"]["id"] == "x7-abc"


@pytest.mark.parametrize(
    "foreign", ["call_abc123", "toolu_01A09q90qw90lq917835lq9", "call_Xy7aBcDeFgHiJkLmNoPqRsTu", "", None]
)
def test_foreign_ids_get_the_bypass_signature(foreign: str | None) -> None:
    part = function_call_part("f", {}, foreign)
    assert part["thoughtSignature"] == SKIP_SIGNATURE
    assert "id" not in part["functionCall"]


def test_own_unsigned_call_replays_without_signature() -> None:
    # The 2nd call of a parallel step has no signature of its own; inventing one would be wrong.
    part = function_call_part("f", {}, encode_call_id("call_"))
    assert "thoughtSignature" not in part


def test_parse_arguments() -> None:
    assert parse_arguments('{"a": [1]}', "p") == {"a": [1]}
    assert parse_arguments("", "p") == {}
    assert parse_arguments(None, "p") == {}
    assert parse_arguments("[1, 2]", "p") == {"value": [1, 2]}
    with pytest.raises(ParamError, match="not valid JSON") as info:
        parse_arguments("{oops", "messages[1].tool_calls[0].function.arguments")
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


@pytest.mark.parametrize(
    ("reason", "calls", "kind"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        (None, True, "tool_calls"),
        ("MAX_TOKENS", False, "length"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", False, "content_filter"),
        ("MODEL_ARMOR", False, "content_filter"),
        ("A_REASON_ADDED_LATER", False, "content_filter"),
        ("FINISH_REASON_UNSPECIFIED", False, "stop"),
    ],
)
def test_finish_kind(reason: str | None, calls: bool, kind: str) -> None:
    assert finish_kind(reason, calls) == kind


def test_usage_treats_absent_counts_as_zero_and_derives_total() -> None:
    usage = Usage.of(
        {"usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4, "thoughtsTokenCount": 6}}
    )
    assert (usage.prompt, usage.output, usage.thoughts, usage.cached, usage.total) == (10, 10, 6, 0, 20)
    assert Usage.of({}).total == 0


def test_field_checks_name_the_field() -> None:
    with pytest.raises(ParamError) as info:
        opt_num({"temperature": "hot"}, "temperature")
    assert info.value.param == "temperature" and "expected a number" in info.value.message
    with pytest.raises(ParamError, match=r"must be <= 2\.0"):
        opt_num({"temperature": 3}, "temperature", maximum=2.0)
    with pytest.raises(ParamError):
        opt_int({"n": True}, "n")  # booleans are ints in Python, never in JSON
    assert opt_int({"n": 2.0}, "n") == 2
    with pytest.raises(ParamError, match="at most 5"):
        stop_list(["a", "b", "c", "d", "e", "f"], "stop")
    assert stop_list("END", "stop") == ["END"]


def test_model_suffixes_and_aliases() -> None:
    request = {"contents": [], "tools": [{"functionDeclarations": [{"name": "f"}]}]}
    model, out = apply_model_suffixes("models/gemini-2.5-flash-search-nothinking", request)
    assert model == "gemini-2.5-flash"
    assert out["tools"] == [{"functionDeclarations": [{"name": "f"}]}, {"googleSearch": {}}]
    assert out["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}
    assert request == {"contents": [], "tools": [{"functionDeclarations": [{"name": "f"}]}]}  # untouched
    model, same = apply_model_suffixes("gpt-4o", request, {"gpt-4o": "models/gemini-2.5-pro"})
    assert (model, same) == ("gemini-2.5-pro", request)
    model, out = apply_model_suffixes("fast", {}, {"fast": "gemini-2.5-flash-search"})
    assert model == "gemini-2.5-flash" and out["tools"] == [{"googleSearch": {}}]


@pytest.mark.parametrize(
    ("model", "thinking"),
    [
        ("gemini-2.5-flash-nothinking", {"thinkingBudget": 0}),
        ("gemini-2.5-pro-nothinking", {"thinkingBudget": 128}),  # Pro refuses 0
        ("gemini-3-pro-preview-nothinking", {"thinkingLevel": "LOW", "includeThoughts": False}),
        ("gemini-3-flash-preview-non-thinking", {"thinkingLevel": "MINIMAL", "includeThoughts": False}),
    ],
)
def test_nothinking_asks_each_model_for_the_least_thinking_it_accepts(model: str, thinking: dict) -> None:
    _, out = apply_model_suffixes(model, {"contents": []})
    assert out["generationConfig"] == {"thinkingConfig": thinking}


@pytest.mark.parametrize(
    ("model", "upstream", "thinking"),
    [
        ("gemini-3-flash-preview-minimal", "gemini-3-flash-preview", {"thinkingLevel": "MINIMAL"}),
        ("gemini-3-flash-preview-medium", "gemini-3-flash-preview", {"thinkingLevel": "MEDIUM"}),
        ("gemini-3-pro-preview-low", "gemini-3-pro-preview", {"thinkingLevel": "LOW"}),
        ("gemini-3-pro-preview-high-search", "gemini-3-pro-preview", {"thinkingLevel": "HIGH"}),
        ("gemini-2.5-flash-high", "gemini-2.5-flash", {"thinkingBudget": 24576}),
        ("gemini-2.5-pro-low", "gemini-2.5-pro", {"thinkingBudget": 1024}),
    ],
)
def test_effort_suffixes_set_the_models_own_thinking_knob(model: str, upstream: str, thinking: dict) -> None:
    """Level on Gemini 3, budget on 2.5; the client's own includeThoughts is kept."""
    request = {
        "contents": [],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 5, "includeThoughts": True}},
    }
    name, out = apply_model_suffixes(model, request)
    assert name == upstream
    assert out["generationConfig"] == {"thinkingConfig": {**thinking, "includeThoughts": True}}


def test_model_suffixes_off_pass_the_name_through() -> None:
    request = {"contents": [], "tools": [{"functionDeclarations": [{"name": "f"}]}]}
    for name in (
        "gemini-2.5-flash-search",
        "gemini-2.5-flash-nothinking",
        "gemini-2.5-flash-search-non-thinking",
    ):
        model, out = apply_model_suffixes(f"models/{name}", request, suffixes=False)
        assert (model, out) == (name, request)
    # Aliases still resolve, to a target taken as it is.
    model, out = apply_model_suffixes("fast", {}, {"fast": "models/gemini-2.5-flash-search"}, suffixes=False)
    assert (model, out) == ("gemini-2.5-flash-search", {})


def test_dialects_honour_the_suffix_switch() -> None:
    chat = {"model": "gemini-2.5-flash-search-nothinking", "messages": [{"role": "user", "content": "hi"}]}
    on = parse_chat_request(chat)
    assert on.model == "gemini-2.5-flash" and on.request["tools"] == [{"googleSearch": {}}]
    assert on.request["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}
    off = parse_chat_request(chat, suffixes=False)
    assert off.model == "gemini-2.5-flash-search-nothinking" == off.client_model
    assert "tools" not in off.request and "generationConfig" not in off.request
    responses = parse_responses_request({"model": "gemini-2.5-flash-search", "input": "hi"}, suffixes=False)
    assert responses.model == "gemini-2.5-flash-search" and "tools" not in responses.request
    messages = {
        "model": "gemini-2.5-flash-search",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert parse_messages_request(messages, suffixes=False).model == "gemini-2.5-flash-search"
    model, body = parse_count_tokens_request(messages, suffixes=False)
    assert model == "gemini-2.5-flash-search" and "tools" not in body["generateContentRequest"]


def _model(name: str, *methods: str, thinking: bool = False) -> dict[str, object]:
    info: dict[str, object] = {"name": f"models/{name}", "supportedGenerationMethods": list(methods)}
    if thinking:
        info["thinking"] = True
    return info


def test_suffixed_model_ids_for_a_model_dropdown() -> None:
    chat = ("generateContent", "countTokens")
    models = [
        _model("gemini-2.5-flash", *chat, thinking=True),
        _model("gemini-2.5-pro", *chat, thinking=True),  # thinks 128 tokens at least
        _model("gemini-3-flash-preview", *chat, thinking=True),  # thinks at the MINIMAL level
        _model("gemini-2.0-flash", *chat),
        _model("gemini-2.5-flash-preview-tts", *chat),
        _model("gemini-2.5-flash-image", *chat),
        _model("gemini-2.5-flash-native-audio-latest", "bidiGenerateContent"),
        _model("gemini-embedding-001", "embedContent"),
        _model("imagen-4.0-generate-001", "predict"),
        _model("gemma-3-27b-it", *chat),
    ]
    assert suffixed_model_ids(models) == [
        "gemini-2.5-flash-search",
        "gemini-2.5-flash-nothinking",
        "gemini-2.5-flash-search-nothinking",
        "gemini-2.5-flash-low",
        "gemini-2.5-flash-high",
        "gemini-2.5-pro-search",
        "gemini-2.5-pro-nothinking",
        "gemini-2.5-pro-search-nothinking",
        "gemini-2.5-pro-low",
        "gemini-2.5-pro-high",
        "gemini-3-flash-preview-search",
        "gemini-3-flash-preview-nothinking",
        "gemini-3-flash-preview-search-nothinking",
        "gemini-3-flash-preview-low",
        "gemini-3-flash-preview-high",
        "gemini-3-flash-preview-minimal",  # Gemini 3 Flash takes all four levels, Pro LOW and HIGH
        "gemini-3-flash-preview-medium",
        "gemini-2.0-flash-search",
    ]
    # Every listed name resolves back to its model with the promised changes, and only those.
    least_thinking = (
        {"thinkingBudget": 0},
        {"thinkingBudget": 128},
        {"thinkingLevel": "MINIMAL", "includeThoughts": False},
    )
    for name in suffixed_model_ids(models):
        model, out = apply_model_suffixes(name, {})
        assert f"models/{model}" in {m["name"] for m in models}
        search, quiet = "-search" in name, name.endswith("-nothinking")
        effort = name.rsplit("-", 1)[1] if name.endswith(("-minimal", "-low", "-medium", "-high")) else None
        thinks = quiet or effort is not None
        assert set(out) == {key for key, on in (("tools", search), ("generationConfig", thinks)) if on}
        assert out.get("tools", [{"googleSearch": {}}]) == [{"googleSearch": {}}]
        assert not quiet or out["generationConfig"]["thinkingConfig"] in least_thinking
        if effort is not None:
            knob = out["generationConfig"]["thinkingConfig"]
            assert knob == (
                {"thinkingLevel": effort.upper()}
                if "gemini-3" in model
                else {"thinkingBudget": knob["thinkingBudget"]}
            )


@pytest.mark.parametrize(
    ("model", "effort", "config"),
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
        ("gemini-2.5-pro", "none", {"thinkingBudget": 128}),
        ("gemini-2.5-flash", "low", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("gemini-2.5-flash", "medium", {"thinkingBudget": 8192, "includeThoughts": True}),
        ("gemini-2.5-flash", "high", {"thinkingBudget": 24576, "includeThoughts": True}),
        ("gemini-3-flash-preview", "minimal", {"thinkingLevel": "MINIMAL", "includeThoughts": True}),
        ("gemini-3-flash-preview", "medium", {"thinkingLevel": "MEDIUM", "includeThoughts": True}),
        ("gemini-3-pro-preview", "medium", {"thinkingLevel": "HIGH", "includeThoughts": True}),
        ("gemini-3-pro-preview", "low", {"thinkingLevel": "LOW", "includeThoughts": True}),
    ],
)
def test_reasoning_effort(model: str, effort: str, config: dict[str, object]) -> None:
    assert thinking_for_effort(model, effort, "reasoning_effort") == config


def test_reasoning_effort_errors_and_google_thinking_config() -> None:
    with pytest.raises(ParamError, match="expected one of"):
        thinking_for_effort("gemini-2.5-flash", "extreme", "reasoning_effort")
    assert google_thinking_config({"thinking_budget": 800, "include_thoughts": True}, "p") == {
        "thinkingBudget": 800,
        "includeThoughts": True,
    }
    assert google_thinking_config({"thinking_level": "low"}, "p") == {"thinkingLevel": "LOW"}
    with pytest.raises(ParamError, match="not both"):
        google_thinking_config({"thinking_budget": 1, "thinking_level": "low"}, "p")
    with pytest.raises(ParamError) as info:
        google_thinking_config({"thinking_budget": "lots"}, "extra_body.google.thinking_config")
    assert info.value.param == "extra_body.google.thinking_config.thinking_budget"


def test_default_safety_settings_apply_only_where_the_client_sent_none() -> None:
    from gemini_gateway.dialects.generation import with_default_safety

    defaults = {"HARM_CATEGORY_HARASSMENT": "BLOCK_NONE", "HARM_CATEGORY_CIVIC_INTEGRITY": "OFF"}
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert with_default_safety(request, defaults) == {
        **request,
        "safetySettings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
            {"category": "HARM_CATEGORY_CIVIC_INTEGRITY", "threshold": "OFF"},
        ],
    }
    own = {
        **request,
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}],
    }
    assert with_default_safety(own, defaults) is own
    assert with_default_safety(request, {}) is request


def test_safety_settings_setting_reads_json_and_refuses_unknown_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    from gemini_gateway.settings import Settings

    monkeypatch.setenv("SAFETY_SETTINGS", '{"HARM_CATEGORY_DANGEROUS_CONTENT":"BLOCK_NONE"}')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.safety_settings == {"HARM_CATEGORY_DANGEROUS_CONTENT": "BLOCK_NONE"}
    monkeypatch.delenv("SAFETY_SETTINGS")
    with pytest.raises(ValidationError, match="threshold"):
        Settings(_env_file=None, safety_settings={"HARM_CATEGORY_HARASSMENT": "BLOCK_SOME"})  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="category"):
        Settings(_env_file=None, safety_settings={"HARASSMENT": "OFF"})  # type: ignore[call-arg]

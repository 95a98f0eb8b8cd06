"""Deterministic answers derived from the request: same request, same answer.

The answer echoes the last user turn (its words, its media, its function results), so tests can
see that what they sent reached the upstream intact. `plan_answer` decides what each candidate
says; `responses` turns a plan into GenerateContentResponse objects.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

import orjson

from gemini_gateway.fake_upstream.errors import Json, invalid_argument
from gemini_gateway.fake_upstream.media import PCM_MIME, aspect_size, audio_tokens, pcm_speech, png
from gemini_gateway.fake_upstream.models import ModelInfo
from gemini_gateway.fake_upstream.prompt import Prompt, excerpt, read_prompt, tokens_for_chars
from gemini_gateway.fake_upstream.schema_values import example_value
from gemini_gateway.fake_upstream.signatures import make_signature
from gemini_gateway.fake_upstream.validation import validate_generate

IMAGE_OUTPUT_TOKENS = 1290  # what Google bills for one generated image
CLOSING = "This reply comes from the fake Gemini upstream."
FILLER = " The fake upstream keeps talking to reach the requested length."


@dataclass(slots=True)
class CandidatePlan:
    """One candidate's answer, before it is cut into parts (whole) or stream chunks."""

    thought: str | None = None  # only when the caller asked for thoughts
    text: str | None = None
    function_call: Json | None = None
    code: Json | None = None  # executableCode the model "ran" (a codeExecution tool was declared)
    code_result: Json | None = None  # its codeExecutionResult
    code_signature: str | None = None  # Gemini 3 signs the code part
    media: list[Json] = field(default_factory=list)  # inlineData parts
    signature: str | None = None  # on the functionCall part, else on the last text part
    finish_reason: str = "STOP"
    tokens: int = 0
    output_modality: str = "TEXT"


@dataclass(slots=True)
class AnswerPlan:
    candidates: list[CandidatePlan]
    prompt: Prompt
    thoughts_tokens: int
    model_version: str
    response_id: str

    def usage(self, *, final: bool = True) -> Json:
        """usageMetadata; zero counts are left out as Google does. Non-final stream chunks carry
        only the prompt side, as captured Google streams do."""
        prompt_tokens = self.prompt.token_total
        usage: Json = {"promptTokenCount": prompt_tokens}
        output = 0
        if final:
            output = sum(c.tokens for c in self.candidates)
            if output:
                usage["candidatesTokenCount"] = output
            if self.thoughts_tokens:
                usage["thoughtsTokenCount"] = self.thoughts_tokens
        usage["totalTokenCount"] = prompt_tokens + output + (self.thoughts_tokens if final else 0)
        usage["promptTokensDetails"] = [
            {"modality": m, "tokenCount": n} for m, n in self.prompt.tokens.items()
        ]
        if final and output and self.candidates[0].output_modality != "TEXT":
            usage["candidatesTokensDetails"] = [
                {"modality": self.candidates[0].output_modality, "tokenCount": output}
            ]
        if not prompt_tokens:
            del usage["promptTokenCount"]
        return usage


def plan_answer(model: ModelInfo, request: Json, body: bytes, *, min_chars: int = 0) -> AnswerPlan:
    """Validate a GenerateContentRequest (read by `proto_json`) and decide the answer."""
    validate_generate(model, request)
    config = request.get("generationConfig") or {}
    prompt = read_prompt(request["contents"], request.get("systemInstruction"), request.get("tools"))
    thinking = _thinks(model, config)
    thought = _thought(prompt) if thinking else None
    shown_thought = thought if (config.get("thinkingConfig") or {}).get("includeThoughts") else None
    call = _function_call(request, prompt)
    count = config.get("candidateCount") or 1
    candidates = []
    for index in range(count):
        if model.kind == "tts":
            candidate = _speech(prompt, config)
        elif call is not None:
            candidate = CandidatePlan(function_call=call, tokens=tokens_for_chars(len(orjson.dumps(call))))
        else:
            candidate = _text(model, config, prompt, index, min_chars)
            _run_code(candidate, model, request, prompt)
        if thinking:
            candidate.thought = shown_thought
            candidate.signature = make_signature(model.id, candidate.text or str(call), str(index))
            if candidate.code is not None:
                candidate.code_signature = make_signature(model.id, candidate.code["code"], str(index))
        candidates.append(candidate)
    digest = hashlib.blake2b(body + model.id.encode(), digest_size=16).digest()
    return AnswerPlan(
        candidates=candidates,
        prompt=prompt,
        thoughts_tokens=tokens_for_chars(len(thought)) * count if thought else 0,
        model_version=model.id,
        response_id=base64.urlsafe_b64encode(digest).decode().rstrip("="),
    )


def _thinks(model: ModelInfo, config: Json) -> bool:
    if not model.thinking:
        return False
    budget = (config.get("thinkingConfig") or {}).get("thinkingBudget")
    return model.is_gemini3 or budget != 0  # Gemini 3 cannot turn thinking off


def _thought(prompt: Prompt) -> str:
    topic = excerpt(prompt.text, 12) or "the conversation so far"
    return f'**Considering the request**\n\nThe user wrote "{topic}". I will answer briefly and echo their words.'


def _function_call(request: Json, prompt: Prompt) -> Json | None:
    """The call the model "decides" to make: the first declared function (or first allowed one)."""
    if prompt.function_results:
        return None
    declarations = [d for tool in request.get("tools") or () for d in tool.get("functionDeclarations") or ()]
    if not declarations:
        return None
    calling = (request.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = str(calling.get("mode") or "AUTO").upper()
    if mode == "NONE":
        return None
    chosen = declarations[0]
    allowed = calling.get("allowedFunctionNames") or []
    if allowed and mode in ("ANY", "VALIDATED"):
        matches = [d for d in declarations if d.get("name") in allowed]
        if not matches:
            raise invalid_argument(
                "allowed_function_names must name declared functions.",
                "tool_config.function_calling_config.allowed_function_names",
            )
        chosen = matches[0]
    schema = chosen.get("parametersJsonSchema") or chosen.get("parameters")
    args = example_value(schema) if schema else {}
    return {"name": str(chosen.get("name", "")), "args": args if isinstance(args, dict) else {}}


def _text(model: ModelInfo, config: Json, prompt: Prompt, index: int, min_chars: int) -> CandidatePlan:
    text = _answer_text(prompt)
    mime = config.get("responseMimeType") or "text/plain"
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if mime == "application/json":
        value = example_value(schema) if schema else {"answer": text}
        text = orjson.dumps(value).decode()
    elif mime == "text/x.enum" and isinstance(schema, dict) and schema.get("enum"):
        text = str(schema["enum"][0])
    else:
        if index:
            text = f"{text} (candidate {index + 1})"
        while len(text) < min_chars:
            text += FILLER
    candidate = CandidatePlan(text=text)
    _apply_limits(candidate, config)
    candidate.tokens = tokens_for_chars(len(candidate.text or ""))
    wanted = [str(m).upper() for m in config.get("responseModalities") or ()]
    if model.kind == "image" and (not wanted or "IMAGE" in wanted):
        width, height = aspect_size((config.get("imageConfig") or {}).get("aspectRatio"))
        image = base64.b64encode(png(f"{prompt.text}#{index}", width, height)).decode()
        candidate.media.append({"inlineData": {"mimeType": "image/png", "data": image}})
        candidate.tokens += IMAGE_OUTPUT_TOKENS
    return candidate


def _run_code(candidate: CandidatePlan, model: ModelInfo, request: Json, prompt: Prompt) -> None:
    """With a codeExecution tool declared, the answer first runs Python that counts the words of
    the prompt: an executableCode part and its codeExecutionResult (Gemini 3 gives both an id)."""
    if not any("codeExecution" in tool for tool in request.get("tools") or ()):
        return
    text = prompt.text[:200]
    candidate.code = {"language": "PYTHON", "code": f"print(len({text!r}.split()))"}
    candidate.code_result = {"outcome": "OUTCOME_OK", "output": f"{len(text.split())}\n"}
    if model.is_gemini3:
        run_id = hashlib.blake2b(text.encode(), digest_size=4).hexdigest()
        candidate.code["id"] = candidate.code_result["id"] = run_id
    candidate.tokens += tokens_for_chars(len(candidate.code["code"]) + len(candidate.code_result["output"]))


def _answer_text(prompt: Prompt) -> str:
    sentences = [
        f"The function {name} returned {orjson.dumps(result).decode()}."
        for name, result in prompt.function_results
    ]
    if prompt.text:
        sentences.append(f'You said: "{excerpt(prompt.text)}".')
    sentences += [f"I see {media}." for media in prompt.media]
    if prompt.system:
        sentences.append(f'Following the instruction: "{excerpt(prompt.system, 12)}".')
    sentences.append(CLOSING)
    return " ".join(sentences)


def _apply_limits(candidate: CandidatePlan, config: Json) -> None:
    """stopSequences end the text before the stop; maxOutputTokens cuts it with MAX_TOKENS."""
    text = candidate.text or ""
    stops = [s for s in config.get("stopSequences") or () if s]
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    if cuts:
        text = text[: min(cuts)]
    limit = config.get("maxOutputTokens")
    if limit is not None and tokens_for_chars(len(text)) > limit:
        text = text[: limit * 4]
        candidate.finish_reason = "MAX_TOKENS"
    candidate.text = text


def _speech(prompt: Prompt, config: Json) -> CandidatePlan:
    speech = config.get("speechConfig") or {}
    speakers = (speech.get("multiSpeakerVoiceConfig") or {}).get("speakerVoiceConfigs") or ()
    voices = [_voice_name(s.get("voiceConfig")) for s in speakers] + [_voice_name(speech.get("voiceConfig"))]
    pcm = pcm_speech(prompt.text, "+".join(v for v in voices if v) or "default")
    return CandidatePlan(
        media=[{"inlineData": {"mimeType": PCM_MIME, "data": base64.b64encode(pcm).decode()}}],
        tokens=audio_tokens(pcm),
        output_modality="AUDIO",
    )


def _voice_name(voice_config: Json | None) -> str:
    prebuilt = (voice_config or {}).get("prebuiltVoiceConfig") or {}
    return str(prebuilt.get("voiceName") or "")

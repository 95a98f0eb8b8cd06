"""POST /v1/audio/speech -> a Gemini TTS generateContent call, and its PCM back as wav or pcm.

Gemini TTS answers raw 16-bit little-endian mono PCM (`audio/L16;codec=pcm;rate=24000`), which is
exactly OpenAI's `pcm`; `wav` is the same behind a 44-byte header. mp3/opus/aac/flac would need a
real encoder, which this pure layer does not have, so they are refused rather than mislabelled.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from gemini_gateway.dialects.common import JSON, ParamError, candidates_of, opt_str, parts_of, req_str
from gemini_gateway.dialects.generation import apply_model_suffixes, strip_model_prefix
from gemini_gateway.dialects.media import pcm_rate, wav_header
from gemini_gateway.errors import GatewayError

DEFAULT_TTS_MODEL: Final = "gemini-2.5-flash-preview-tts"
_OPENAI_TTS_MODELS: Final = frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-tts"})
# OpenAI voice -> a Gemini prebuilt voice of similar character.
VOICES: Final = {
    "alloy": "Kore",
    "ash": "Orus",
    "ballad": "Algieba",
    "coral": "Aoede",
    "echo": "Puck",
    "fable": "Fenrir",
    "onyx": "Charon",
    "nova": "Leda",
    "sage": "Zephyr",
    "shimmer": "Despina",
    "verse": "Iapetus",
    "marin": "Callirrhoe",
    "cedar": "Algenib",
}
_CONTENT_TYPES: Final = {"wav": "audio/wav", "pcm": "audio/pcm"}


@dataclass(slots=True)
class SpeechCall:
    model: str
    request: JSON
    response_format: Literal["wav", "pcm"]


def parse_speech_request(
    body: object,
    *,
    default_model: str = DEFAULT_TTS_MODEL,
    aliases: Mapping[str, str] | None = None,
    suffixes: bool = True,
) -> SpeechCall:
    if not isinstance(body, dict):
        raise ParamError(None, "the request body must be a JSON object")
    text = req_str(body, "input")
    raw_model = strip_model_prefix(req_str(body, "model"))
    if raw_model in _OPENAI_TTS_MODELS:
        raw_model = default_model
    model, _ = apply_model_suffixes(raw_model, {}, aliases, suffixes=suffixes)
    fmt = opt_str(body, "response_format")
    # OpenAI's own default is mp3, which cannot be produced here; wav plays everywhere mp3 does.
    if fmt not in (None, "wav", "pcm"):
        raise ParamError(
            "response_format",
            f"{fmt!r} is not supported by this gateway; use wav or pcm (24 kHz 16-bit mono)",
        )
    config: JSON = {"responseModalities": ["AUDIO"]}
    if (voice := _voice(body.get("voice"))) is not None:
        config["speechConfig"] = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}}
    request = {"contents": [{"role": "user", "parts": [{"text": text}]}], "generationConfig": config}
    return SpeechCall(model, request, "pcm" if fmt == "pcm" else "wav")


def _voice(voice: object) -> str | None:
    if isinstance(voice, dict):
        voice = voice.get("id")
    if voice is None:
        return None
    if not isinstance(voice, str) or not voice:
        raise ParamError("voice", "expected a voice name")
    # Anything else is taken as a Gemini voice name, so all of Gemini's voices stay reachable.
    return VOICES.get(voice.lower(), voice[:1].upper() + voice[1:])


def render_speech_audio(gemini: JSON, call: SpeechCall) -> tuple[bytes, str]:
    """(audio bytes, content type) from a TTS answer."""
    for candidate in candidates_of(gemini):
        for part in parts_of(candidate):
            blob = part.get("inlineData")
            if isinstance(blob, dict) and str(blob.get("mimeType", "")).startswith("audio/"):
                pcm = base64.b64decode(blob.get("data", ""))
                if pcm[:4] == b"RIFF":  # already framed (some backends answer audio/wav)
                    pcm = pcm[44:]
                if call.response_format == "pcm":
                    return pcm, _CONTENT_TYPES["pcm"]
                return wav_header(len(pcm), pcm_rate(blob["mimeType"])) + pcm, _CONTENT_TYPES["wav"]
    raise GatewayError("the upstream answered without audio", status_code=502)

"""Emulated function calling on the page: the tools described in the prompt, the calls parsed from
the answer. Pure; no I/O.

Used where the page's native function-calling dialog is missing or fails (AISTUDIO_FUNCTION_CALLING
`auto` falls back to it; `emulated` always uses it), as AIstudioProxyAPI's emulated mode does.
The model is asked to answer a call as one block per call,

    <function_call>{"name": "get_weather", "args": {"city": "Paris"}}</function_call>

which becomes a `functionCall` part. A call made this way carries no thought signature of the
model's; Gemini 3 refuses a replayed function call without one, so each gets the placeholder
Google documents for calls that did not come from the model's own thinking
(`skip_thought_signature_validator`). Signatures a client sends back are not typed into the page
(the transcript shows only names, arguments and results).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

OPEN, CLOSE = "<function_call>", "</function_call>"
# Google's documented placeholder for a function call whose signature is unknown.
PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator"
HEADER = "You can call these functions (JSON declarations):"
_BLOCK = re.compile(re.escape(OPEN) + r"\s*(.*?)\s*" + re.escape(CLOSE), re.DOTALL)


def instructions(declarations: list[dict[str, Any]]) -> str:
    """The text put before the conversation in the prompt box."""
    listed = orjson.dumps(declarations).decode()
    return (
        f"{HEADER}\n{listed}\n\n"
        "To call a function, answer with one block per call and nothing else in the answer:\n"
        f'{OPEN}{{"name": "FUNCTION_NAME", "args": {{...}}}}{CLOSE}\n'
        "The results come back in the conversation as [function NAME returned ...]. "
        "Answer in plain text when no function is needed.\n\n"
    )


def parse(text: str, known: set[str]) -> tuple[str, list[dict[str, Any]]]:
    """The answer's text without its call blocks, and the calls of known functions in it.

    A block that is not JSON, or names a function that was not declared, stays in the text: the
    client sees what the model wrote rather than a call nobody can run.
    """
    calls: list[dict[str, Any]] = []
    kept: list[str] = []
    position = 0
    for match in _BLOCK.finditer(text):
        call = _call(match.group(1), known)
        if call is None:
            continue
        kept.append(text[position : match.start()])
        position = match.end()
        calls.append(call)
    kept.append(text[position:])
    return "".join(kept).strip() if calls else text, calls


def _call(raw: str, known: set[str]) -> dict[str, Any] | None:
    raw = raw.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("name") not in known:
        return None
    args = data.get("args", data.get("arguments", {}))
    return {"name": data["name"], "args": args if isinstance(args, dict) else {}}


def answer_event(text: str, calls: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
    """The one GenerateContentResponse an emulated answer becomes."""
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts += [{"functionCall": call, "thoughtSignature": PLACEHOLDER_SIGNATURE} for call in calls]
    event: dict[str, Any] = {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts or [{"text": ""}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ]
    }
    if usage:
        event["usageMetadata"] = usage
    return event

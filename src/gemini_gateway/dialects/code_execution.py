"""Gemini's code execution (`executableCode` / `codeExecutionResult` parts) in each dialect's shape.

Responses has a `code_interpreter_call` output item (code, then logs and images as `outputs`);
Anthropic a `server_tool_use` block (`name: "code_execution"`, `input.code`) answered by a
`code_execution_tool_result` block. Chat completions has no such slot and keeps fenced markdown
(`common.visible_text`). Gemini 3 gives each code part an `id` (the result repeats it) and signs
the code part; both are folded into the item or block id, as for function calls, so a history the
client sends back restores the parts exactly.
"""

from __future__ import annotations

from typing import Final

from gemini_gateway.dialects.common import JSON, data_url, decode_call_id, encode_call_id

LANGUAGE: Final = "PYTHON"  # the only language Gemini's sandbox runs
# Responses requires a container id; Gemini's sandbox has none a client could reuse.
CONTAINER_ID: Final = "gemini-code-execution"
_INTERPRETER_STATUS: Final = {"OUTCOME_FAILED": "failed", "OUTCOME_DEADLINE_EXCEEDED": "incomplete"}
_OUTCOME_OF_STATUS: Final = {"failed": "OUTCOME_FAILED", "incomplete": "OUTCOME_DEADLINE_EXCEEDED"}


def code_of(part: JSON) -> JSON | None:
    code = part.get("executableCode")
    return code if isinstance(code, dict) else None


def result_of(part: JSON) -> JSON | None:
    result = part.get("codeExecutionResult")
    return result if isinstance(result, dict) else None


def _gemini_id(value: JSON) -> str | None:
    found = value.get("id")
    return found if isinstance(found, str) and found else None


def code_parts(code: str | None, output: str | None, outcome: str, ref_id: str | None) -> list[JSON]:
    """The model-turn parts for code a client sends back: the code (signature and id restored from
    an id minted here) and its result."""
    ref = decode_call_id(ref_id) if ref_id else None
    gemini_id = ref.gemini_id if ref else None
    parts: list[JSON] = []
    if code is not None:
        executable: JSON = {"language": LANGUAGE, "code": code}
        part: JSON = {"executableCode": executable}
        if gemini_id:
            executable["id"] = gemini_id
        if ref is not None and ref.signature:
            part["thoughtSignature"] = ref.signature
        parts.append(part)
    if output is not None:
        result: JSON = {"outcome": outcome, "output": output}
        if gemini_id:
            result["id"] = gemini_id
        parts.append({"codeExecutionResult": result})
    return parts


# --- OpenAI Responses ----------------------------------------------------------------------------


def interpreter_call(part: JSON | None) -> JSON:
    """A `code_interpreter_call` item for a code part (None: a result that came without its code),
    waiting for its result."""
    code = code_of(part) if part is not None else None
    return {
        "type": "code_interpreter_call",
        "id": encode_call_id(
            "ci_", part.get("thoughtSignature") if part else None, _gemini_id(code) if code else None
        ),
        "code": str(code.get("code", "")) if code is not None else None,
        "container_id": CONTAINER_ID,
        "outputs": [],
        "status": "interpreting",
    }


def takes_result(item: JSON, result: JSON) -> bool:
    """Whether `result` answers the code of `item` (the last code item, still waiting)."""
    if item.get("type") != "code_interpreter_call" or item["status"] != "interpreting":
        return False
    ref = decode_call_id(item["id"])
    expected = ref.gemini_id if ref else None
    return expected is None or _gemini_id(result) in (None, expected)


def add_result(item: JSON, result: JSON) -> None:
    output = str(result.get("output") or "")
    if output:
        item["outputs"].append({"type": "logs", "logs": output})
    item["status"] = _INTERPRETER_STATUS.get(str(result.get("outcome")), "completed")


def add_image(item: JSON, image: tuple[str, str]) -> None:
    """A chart or picture the code drew (Gemini sends it as an inline image right after the result)."""
    item["outputs"].append({"type": "image", "url": data_url(image)})


def finished_call(item: JSON) -> JSON:
    """The item as sent once nothing more can come for it: code whose result never came (the
    answer was cut) is incomplete."""
    if item["status"] == "interpreting":
        item["status"] = "incomplete"
    return item


def interpreter_call_parts(item: JSON) -> list[JSON]:
    """A `code_interpreter_call` input item -> the model parts Gemini produced for it."""
    code = item.get("code")
    logs = [
        o.get("logs") for o in item.get("outputs") or () if isinstance(o, dict) and o.get("type") == "logs"
    ]
    status = item.get("status")
    output = "".join(str(text) for text in logs if isinstance(text, str))
    ref_id = item.get("id") if isinstance(item.get("id"), str) else None
    finished = status in ("completed", "failed", "incomplete") or bool(logs)
    return code_parts(
        code if isinstance(code, str) else None,
        output if finished else None,
        _OUTCOME_OF_STATUS.get(str(status), "OUTCOME_OK"),
        ref_id,
    )


# --- Anthropic Messages ----------------------------------------------------------------------------


def server_tool_use(part: JSON) -> JSON:
    code = code_of(part) or {}
    return {
        "type": "server_tool_use",
        "id": encode_call_id("srvtoolu_", part.get("thoughtSignature"), _gemini_id(code)),
        "name": "code_execution",
        "input": {"code": str(code.get("code", ""))},
    }


def result_block(tool_use_id: str, result: JSON) -> JSON:
    """A `code_execution_tool_result` for Gemini's result: stdout on success, stderr and a non-zero
    return code on failure (Gemini gives one output for both), the timeout error when it ran out."""
    outcome = result.get("outcome")
    output = str(result.get("output") or "")
    if outcome == "OUTCOME_DEADLINE_EXCEEDED":
        content: JSON = {"type": "code_execution_tool_result_error", "error_code": "execution_time_exceeded"}
    else:
        failed = outcome == "OUTCOME_FAILED"
        content = {
            "type": "code_execution_result",
            "stdout": "" if failed else output,
            "stderr": output if failed else "",
            "return_code": 1 if failed else 0,
            "content": [],
        }
    return {"type": "code_execution_tool_result", "tool_use_id": tool_use_id, "content": content}


def answers(tool_use_id: str, result: JSON) -> bool:
    """Whether `result` answers the server_tool_use block of that id."""
    ref = decode_call_id(tool_use_id)
    expected = ref.gemini_id if ref else None
    return expected is None or _gemini_id(result) in (None, expected)


def server_tool_use_parts(block: JSON) -> list[JSON]:
    """A replayed `server_tool_use` of code execution -> its executableCode part ([] for other
    server tools, which have no Gemini part)."""
    code = (block.get("input") or {}).get("code") if isinstance(block.get("input"), dict) else None
    if block.get("name") != "code_execution" or not isinstance(code, str):
        return []
    block_id = block.get("id")
    return code_parts(code, None, "", block_id if isinstance(block_id, str) else None)


def tool_result_parts(block: JSON) -> list[JSON]:
    """A replayed `code_execution_tool_result` -> its codeExecutionResult part."""
    content = block.get("content")
    tool_use_id = block.get("tool_use_id")
    if not isinstance(content, dict):
        return []
    if content.get("type") == "code_execution_result":
        output = f"{content.get('stdout') or ''}{content.get('stderr') or ''}"
        outcome = "OUTCOME_OK" if content.get("return_code") in (0, None) else "OUTCOME_FAILED"
    elif content.get("type") == "code_execution_tool_result_error":
        output = ""
        timed_out = content.get("error_code") == "execution_time_exceeded"
        outcome = "OUTCOME_DEADLINE_EXCEEDED" if timed_out else "OUTCOME_FAILED"
    else:
        return []
    return code_parts(None, output, outcome, tool_use_id if isinstance(tool_use_id, str) else None)

"""JSON Lines export of recorded exchanges: raw records, or chat transcripts for fine-tuning.

The chat format is one `{"messages": [...]}` object per exchange, with the system prompt, the
conversation the client sent (Gemini, OpenAI or Anthropic shape) and the final answer as the
last assistant message. Exchanges without a text answer (errors, embeddings) are left out.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import orjson

from gemini_gateway.merge.stream import answer_text
from gemini_gateway.store.database import Database
from gemini_gateway.store.exchanges import ExchangeStore, LogFilter

ExportFormat = Literal["raw", "chat"]


def _text_of(content: Any) -> str:
    """Text of a message content in any of the three shapes (string, parts, content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return _text_of(content.get("parts") or content.get("text") or "")
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
        return "".join(texts)
    return ""


def request_messages(request: Any) -> list[dict[str, str]]:
    if not isinstance(request, dict):
        return []
    messages: list[dict[str, str]] = []
    system = request.get("systemInstruction") or request.get("system_instruction") or request.get("system")
    if system:
        messages.append({"role": "system", "content": _text_of(system)})
    if isinstance(request.get("contents"), list):  # Gemini
        for content in request["contents"]:
            if isinstance(content, dict):
                role = "assistant" if content.get("role") == "model" else "user"
                messages.append({"role": role, "content": _text_of(content)})
    elif isinstance(request.get("messages"), list):  # OpenAI chat, Anthropic messages
        for message in request["messages"]:
            if isinstance(message, dict) and message.get("role") in (
                "system",
                "developer",
                "user",
                "assistant",
            ):
                role = "system" if message["role"] == "developer" else message["role"]
                messages.append({"role": role, "content": _text_of(message.get("content"))})
    return [m for m in messages if m["content"]]


def response_text(response: Any) -> str | None:
    if not isinstance(response, dict):
        return None
    if "candidates" in response:
        return answer_text(response)
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        return content if isinstance(content, str) and content else None
    if response.get("type") == "message":  # Anthropic
        return _text_of(response.get("content")) or None
    return None


def chat_line(record: dict[str, Any]) -> dict[str, Any] | None:
    answer = response_text(record.get("response_body"))
    if not answer or (record.get("status") or 0) >= 400:
        return None
    messages = request_messages(record.get("request_body"))
    if not any(m["role"] == "user" for m in messages):
        return None
    return {"messages": [*messages, {"role": "assistant", "content": answer}]}


def raw_line(record: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return base64.b64encode(value).decode() if isinstance(value, bytes) else value

    return {key: plain(value) for key, value in record.items()}


async def export_lines(
    store: ExchangeStore, where: LogFilter, fmt: ExportFormat = "raw"
) -> AsyncIterator[bytes]:
    async for record in store.iterate(where):
        line = raw_line(record) if fmt == "raw" else chat_line(record)
        if line is not None:
            yield orjson.dumps(line) + b"\n"


async def export_file(database_url: str, where: LogFilter, fmt: ExportFormat, output: Path | None) -> int:
    """Write the matching exchanges to `output` (stdout when None); how many were written."""
    database = Database(database_url)
    try:
        await database.migrate()  # a fresh store just has no records; the tables must exist to say so
        store = ExchangeStore(database)
        count = 0
        handle = sys.stdout.buffer if output is None else open(output, "wb")  # noqa: ASYNC230, SIM115
        try:
            async for line in export_lines(store, where, fmt):
                handle.write(line)
                count += 1
        finally:
            if output is not None:
                handle.close()
        return count
    finally:
        await database.aclose()

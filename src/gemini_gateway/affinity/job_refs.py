"""Project-bound names in the 2026 surfaces' bodies: File Search stores, batch inputs and what
an interaction names (pure).

A generateContent's `fileSearch` tool names stores as `fileSearchStoreNames`; google-genai
writes the snake_case `file_search_store_names` inside the camelCase `fileSearch` key (proto3
JSON accepts both spellings, for the tool key too), so every combination is read. An
interaction's tool is flat and snake_case: `{"type": "file_search", "file_search_store_names"}`;
its `input` names uploaded files as the `uri` of content blocks (`document`, `image`, ...). A batch names
its input file as `batch.inputConfig.fileName`, and each inlined request may name files and
caches as a generateContent does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_STORE_NAME = re.compile(r"^fileSearchStores/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STORE_MARK = b"fileSearchStores/"


def _get(data: Any, camel: str, snake: str) -> Any:
    if not isinstance(data, dict):
        return None
    value = data.get(camel)
    return data.get(snake) if value is None else value


def store_names(scope: dict[str, Any]) -> set[str]:
    """Store names the `tools` of a generateContent request (`{"fileSearch": {...}}`) or of an
    interaction (`{"type": "file_search", "file_search_store_names": [...]}`) name."""
    found: set[str] = set()
    tools = scope.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        search = _get(tool, "fileSearch", "file_search")
        if search is None and isinstance(tool, dict) and tool.get("type") == "file_search":
            search = tool
        names = _get(search, "fileSearchStoreNames", "file_search_store_names")
        for name in names if isinstance(names, list) else ():
            if isinstance(name, str) and _STORE_NAME.match(name.strip()):
                found.add(name.strip())
    return found


def batch_input(request: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """The input file a batchGenerateContent body names, and its inlined generateContent requests."""
    config = _get(_get(request, "batch", "batch"), "inputConfig", "input_config")
    file_name = _get(config, "fileName", "file_name")
    wrapper = _get(config, "requests", "requests")
    inner = [_get(item, "request", "request") for item in _items(_get(wrapper, "requests", "requests"))]
    return (file_name if isinstance(file_name, str) else None), [r for r in inner if isinstance(r, dict)]


def _items(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else ()

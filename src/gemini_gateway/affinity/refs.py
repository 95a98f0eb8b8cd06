"""Which project-bound resources a request names: pure functions, no I/O.

A generateContent, streamGenerateContent or countTokens body (and a cachedContents.create body)
can name Files API files in any content part, as `fileData.fileUri` or `file_data.file_uri`, and
a cached content as `cachedContent` or `cached_content`; countTokens may wrap all of it in
`generateContentRequest`. Its `fileSearch` tool names File Search stores, and a
batchGenerateContent body names an input file and inlined requests (see `job_refs`). Every dialect arrives here in canonical (Gemini) form, so one reader
serves them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from gemini_gateway.affinity.job_refs import STORE_MARK, batch_input, store_names

# A Files API file as a part names it: its full uri (any host: Google's, or a fake's in tests)
# or the bare resource name.
_FILE_URI = re.compile(r"^(?:https?://[^/]+/(?:v1beta|v1)/)?(files/[a-z0-9-]{1,40})$")
_CACHE_NAME = re.compile(r"^cachedContents/[A-Za-z0-9_-]{1,128}$")
# Methods whose bodies can name a file or a cached content.
BINDING_METHODS = frozenset(
    {"generateContent", "streamGenerateContent", "countTokens", "cachedContents.create", "batches.create"}
)


def file_name(uri: str) -> str | None:
    """`https://…/v1beta/files/abc` or `files/abc` -> `files/abc`; None for any other uri."""
    match = _FILE_URI.match(uri.strip())
    return match.group(1) if match else None


def cache_name(value: str) -> str | None:
    name = value.strip()
    if not name.startswith("cachedContents/"):
        name = f"cachedContents/{name}"
    return name if _CACHE_NAME.match(name) else None


def named_resources(body: bytes) -> set[str]:
    """Resource names (`files/x`, `cachedContents/y`) a request body refers to; empty if none.

    Byte scans decide the common case (nothing named) without parsing the body. The cache keys
    are matched with their closing quote, which base64 media can never contain.
    """
    # find, not `in`: on CPython 3.11 `bytes in bytes` first tries the needle as an int and
    # raises (and clears) a TypeError, a few thousand instructions a test on every call.
    if (
        body.find(b"files/") < 0
        and body.find(b'achedContent"') < 0
        and body.find(b'ached_content"') < 0
        and body.find(STORE_MARK) < 0
    ):
        return set()
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return set()  # the upstream reports a broken body; it names nothing we can route by
    if not isinstance(request, dict):
        return set()
    found: set[str] = set()
    input_file, inlined = batch_input(request)
    if input_file is not None and (name := file_name(input_file)):
        found.add(name)
    for scope in (request, _get(request, "generateContentRequest", "generate_content_request"), *inlined):
        if isinstance(scope, dict):
            found |= _scope_names(scope)
    return found


def _scope_names(scope: dict[str, Any]) -> set[str]:
    """What one generateContent-shaped request names: files, a cache, File Search stores."""
    found = store_names(scope)
    cached = _get(scope, "cachedContent", "cached_content")
    if isinstance(cached, str) and (name := cache_name(cached)):
        found.add(name)
    found.update(_file_names(_get(scope, "contents", "contents")))
    content = scope.get("content")  # an embedding request (asyncBatchEmbedContent) has one
    if isinstance(content, dict):
        found.update(_file_names([content]))
    system = _get(scope, "systemInstruction", "system_instruction")
    if isinstance(system, dict):
        found.update(_file_names([system]))
    return found


def _file_names(contents: Any) -> Iterable[str]:
    if not isinstance(contents, list):
        return
    for content in contents:
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            continue
        for part in parts:
            if not isinstance(part, dict):
                continue
            data = _get(part, "fileData", "file_data")
            uri = _get(data, "fileUri", "file_uri") if isinstance(data, dict) else None
            if isinstance(uri, str) and (name := file_name(uri)):
                yield name


def _get(data: dict[str, Any], camel: str, snake: str) -> Any:
    value = data.get(camel)
    return data.get(snake) if value is None else value


def interaction_names(request: dict[str, Any]) -> set[str]:
    """What an interaction names: the stores of its `file_search` tools and the Files API files
    its `input` names as a content block's `uri` (at any depth: turns wrap blocks)."""
    found = store_names(request)
    stack: list[Any] = [request.get("input")]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            uri = item.get("uri")
            if isinstance(uri, str) and (name := file_name(uri)):
                found.add(name)
            stack.extend(value for value in item.values() if isinstance(value, (list, dict)))
    return found

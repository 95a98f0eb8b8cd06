"""JSON values kept to a nesting depth that every writer and reader of the store can take.

A client may send JSON nested as deep as the gateway's parser allows (orjson reads 1,024 levels),
but orjson writes at most 255, MySQL's JSON type holds at most 100, and Python's own recursion
ends near 1,000. What the store keeps as JSON (columns, and bodies served as objects) is held
below those limits; the bodies themselves are kept as the bytes that were sent, whatever their depth.

The walks here are iterative: nothing recurses on what a client sent.
"""

from __future__ import annotations

from typing import Any

# JSON columns (generation settings): below MySQL's 100, with room for the envelope they are
# served and spooled in.
STORED_DEPTH = 64
# Bodies read back as objects (admin API, export); deeper ones are served as their text.
READ_DEPTH = 128
CUT_MARKER = "[gemini-gateway: nested deeper than %d levels, cut]"


def may_nest_deeper(data: bytes, depth: int) -> bool:
    """False when raw JSON cannot nest deeper than `depth`: it has no more brackets than that.

    Counting bytes runs at memory speed, so the walk below is paid only by bodies with many
    objects or arrays in them.
    """
    return data.count(b"{") + data.count(b"[") > depth


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether dicts and lists nest deeper than `limit` in `value` (the outermost one is level 1)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def cut_deep(value: Any, limit: int) -> Any:
    """A copy of `value` in which dicts and lists below level `limit` are replaced by a marker."""
    if not isinstance(value, dict | list):
        return value
    marker = CUT_MARKER % limit
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any, int]] = [(value, root, 1)]
    while stack:
        source, target, depth = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            copy = item
            if isinstance(item, dict | list):
                if depth >= limit:
                    copy = marker
                else:
                    copy = {} if isinstance(item, dict) else []
                    stack.append((item, copy, depth + 1))
            if isinstance(target, dict):
                target[key] = copy
            else:
                target.append(copy)
    return root


def within_depth(value: Any, limit: int, raw: bytes | None = None) -> Any:
    """`value` itself when it nests no deeper than `limit`, else a copy cut at that depth.

    `raw` is the JSON `value` was parsed from, if any: it answers most values without a walk.
    """
    if raw is not None and not may_nest_deeper(raw, limit):
        return value
    return cut_deep(value, limit) if depth_exceeds(value, limit) else value

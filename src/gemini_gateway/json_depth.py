"""How deeply parsed JSON nests, found without recursion.

Request bodies nesting deeper than `MAX_JSON_DEPTH` are refused at the door (routes.asgi), and
the recorder keeps no deeper value in a JSON column (recorder.extract): past 254 levels the
store's JSON encoder (orjson) gives up, and anything recursive on the way costs a frame a level.
"""

from __future__ import annotations

from typing import Any

# How deeply a request body may nest, the top-level object being level 1. Real bodies stay well
# under 30 (OpenAI caps structured-output schemas at 10 levels of nesting, each about two JSON
# levels); much deeper JSON only costs recursion further on (schema translation, the upstream's
# own parser, the recorder's serialisation).
MAX_JSON_DEPTH = 64


def nests_deeper_than(data: object, limit: int) -> bool:
    """Whether parsed JSON has more than `limit` levels of objects and arrays (a scalar has none).

    A walk one level at a time, without recursion, touching each member of an object or array
    once. Measured against the parse it follows: about as long on chat and agent bodies (text in
    many small objects), next to nothing on inline media (one long string), about 4x on long arrays
    of numbers (token-id embedding input). Scanning the raw bytes instead (drop the strings, count
    brackets) was 4x slower on the chat bodies and 1000x on media, faster only on number arrays.
    """
    level: list[Any] = [data] if type(data) is dict or type(data) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) is dict or type(child) is list
        ]
    return False

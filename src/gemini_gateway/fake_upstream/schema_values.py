"""Deterministic example values that conform to a schema, in either dialect Google accepts:
its OpenAPI-subset `Schema` (upper-case types) or real JSON Schema (`responseJsonSchema`,
`parametersJsonSchema`, with `$ref`, `oneOf`, `const`, type lists)."""

from __future__ import annotations

import math
from typing import Any

from gemini_gateway.fake_upstream.errors import Json

MAX_DEPTH = 8
_STRING_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def example_value(schema: Any, name: str = "value", root: Any = None) -> Any:
    """A value valid against `schema`; `name` (the property it fills) seeds string values."""
    return _value(schema, name, root if root is not None else schema, 0)


def _value(schema: Any, name: str, root: Any, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return f"example {name}"
    if "$ref" in schema:
        return _value(_resolve(root, str(schema["$ref"])), name, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if options:
            concrete = [o for o in options if not (isinstance(o, dict) and _type_of(o) == "null")]
            return _value((concrete or options)[0], name, root, depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, name, root, depth)
    if kind == "string":
        return _string(schema, name)
    if kind == "integer":
        return math.ceil(_number(schema, 1))
    if kind == "number":
        return _number(schema, 1.5)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"example {name}"


def _type_of(schema: Json) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    if kind:
        return str(kind).lower()
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return ""


def _resolve(root: Any, ref: str) -> Any:
    node = root
    for step in ref.removeprefix("#").strip("/").split("/"):
        if not step:
            continue
        if not isinstance(node, dict):
            return None
        node = node.get(step.replace("~1", "/").replace("~0", "~"))
    return node


def _object(schema: Json, root: Any, depth: int) -> Json:
    properties = schema.get("properties") or {}
    order = [p for p in schema.get("propertyOrdering") or () if p in properties]
    order += [p for p in properties if p not in order]
    return {prop: _value(properties[prop], prop, root, depth + 1) for prop in order}


def _array(schema: Json, name: str, root: Any, depth: int) -> list[Any]:
    prefix = schema.get("prefixItems") or []
    wanted = max(int(schema.get("minItems") or 0), len(prefix), 1)
    limit = schema.get("maxItems")
    if limit is not None:
        wanted = min(wanted, int(limit))
    items = [_value(p, name, root, depth + 1) for p in prefix[:wanted]]
    while len(items) < wanted:
        items.append(_value(schema.get("items"), name, root, depth + 1))
    return items


def _string(schema: Json, name: str) -> str:
    text = _STRING_FORMATS.get(str(schema.get("format", "")), f"example {name}")
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None and len(text) < int(low):
        text = text.ljust(int(low), "x")
    if high is not None:
        text = text[: int(high)]
    return text


def _number(schema: Json, default: float) -> float:
    low, high = schema.get("minimum"), schema.get("maximum")
    value = default
    if low is not None and value < float(low):
        value = float(low)
    if high is not None and value > float(high):
        value = float(high)
    if schema.get("exclusiveMinimum") is not None and value <= float(schema["exclusiveMinimum"]):
        value = math.floor(float(schema["exclusiveMinimum"])) + 1
    return value

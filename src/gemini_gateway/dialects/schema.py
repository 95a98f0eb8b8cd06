"""JSON Schema (as agents send it) -> what Gemini accepts, for tools and structured output.

Gemini has two slots: `parameters` / `responseSchema` take its OpenAPI-3.0-subset `Schema`
(upper-case types, `nullable`, no `$ref`, no `additionalProperties`, enum only on strings, every
OBJECT needs non-empty `properties`, every ARRAY needs `items`); `parametersJsonSchema` /
`responseJsonSchema` take a restricted real JSON Schema. The Schema form works with every model
and backend, so it is preferred; when a schema cannot be said in it without changing its meaning
(free-form objects, "any" values, recursion), the JSON Schema form is used instead.

Both forms come from the same walk: `$ref` inlined (recursion cut), `allOf` merged, `const` as a
one-value enum, unknown keywords dropped by whitelist rather than a blacklist that lags the agents.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from gemini_gateway.dialects.common import JSON, ParamError

Target = Literal["gemini", "json"]

_SCALAR_KEYS: Final = {
    "gemini": frozenset(
        {
            "description",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
            "minimum",
            "maximum",
            "minLength",
            "maxLength",
            "pattern",
        }
    ),
    "json": frozenset({"title", "description", "minItems", "maxItems", "minimum", "maximum"}),
}
_FORMATS: Final = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}
_TYPES: Final = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
_MAX_DEPTH: Final = 40


class _Unrepresentable(Exception):
    """The Gemini Schema form cannot say this without changing the schema's meaning."""


class _Walk:
    def __init__(self, root: JSON, target: Target) -> None:
        self.root = root
        self.target: Target = target
        self.expanding: list[str] = []

    # -- entry ---------------------------------------------------------------------------------

    def node(self, schema: object, depth: int = 0) -> JSON:
        if depth > _MAX_DEPTH:
            return self._anything()
        if schema is True or schema == {}:
            return self._anything()
        if not isinstance(schema, dict):
            return self._anything()
        if isinstance(schema.get("$ref"), str):
            return self._ref(schema, depth)
        schema = self._all_of(schema)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and not _constraints_only(branches):
                return self._union(schema, branches, depth)
        return self._plain(schema, depth)

    # -- pieces --------------------------------------------------------------------------------

    def _ref(self, schema: JSON, depth: int) -> JSON:
        ref: str = schema["$ref"]
        if ref in self.expanding:
            return self._anything(recursive=True)
        target = _resolve(self.root, ref)
        if target is None:
            return self._anything()
        # Sibling keywords (a description next to the $ref) override the referenced ones.
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        self.expanding.append(ref)
        try:
            return self.node(merged, depth + 1)
        finally:
            self.expanding.pop()

    def _all_of(self, schema: JSON) -> JSON:
        parts = schema.get("allOf")
        if not isinstance(parts, list):
            return schema
        merged: JSON = {k: v for k, v in schema.items() if k != "allOf"}
        for part in parts:
            if isinstance(part, dict) and isinstance(part.get("$ref"), str):
                ref = part["$ref"]
                target = None if ref in self.expanding else _resolve(self.root, ref)
                part = {**(target or {}), **{k: v for k, v in part.items() if k != "$ref"}}
            if not isinstance(part, dict):
                continue
            for key, value in self._all_of(part).items():
                if key == "properties" and isinstance(value, dict):
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required" and isinstance(value, list):
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def _union(self, schema: JSON, branches: list[Any], depth: int) -> JSON:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
        nullable = schema.get("nullable") is True
        kept: list[JSON] = []
        for branch in branches:
            if isinstance(branch, dict) and branch.get("type") == "null":
                nullable = True
            else:
                kept.append(self.node(_with_parent_type(branch, rest), depth + 1))
        if not kept:
            out = self.node({**rest, "type": "null"}, depth + 1)
        elif len(kept) == 1:
            out = {**kept[0], **self._plain(rest, depth, typed=False)}
        else:
            out = self._plain(rest, depth, typed=False)
            out["anyOf"] = kept
        return self._nullable(out) if nullable else out

    def _plain(self, schema: JSON, depth: int, typed: bool = True) -> JSON:
        types, nullable = _types_of(schema)
        if not typed:
            types = []
        elif not types:
            types = _infer_types(schema)
        if len(types) > 1:
            base = {k: v for k, v in schema.items() if k != "description"}
            branches = [self._plain({**base, "type": t, "nullable": False}, depth) for t in types]
            out = self._scalars(schema)
            out["anyOf"] = branches
            return self._nullable(out) if nullable else out
        out = self._scalars(schema)
        if types:
            self._typed(out, schema, types[0], depth)
        elif typed:
            return self._anything(description=out.get("description"))
        return self._nullable(out) if nullable else out

    def _typed(self, out: JSON, schema: JSON, kind: str, depth: int) -> None:
        out["type"] = kind.upper() if self.target == "gemini" else kind
        if kind == "null":
            if self.target == "gemini":
                # Gemini's Schema has no null type that every model accepts.
                out["type"] = "STRING"
                out["nullable"] = True
            return
        self._format(out, schema, kind)
        self._enum(out, schema, kind)
        if kind == "object":
            self._object(out, schema, depth)
        elif kind == "array":
            self._array(out, schema, depth)

    def _object(self, out: JSON, schema: JSON, depth: int) -> None:
        props = schema.get("properties")
        properties = {
            str(name): self.node(sub, depth + 1)
            for name, sub in (props.items() if isinstance(props, dict) else ())
        }
        extra = schema.get("additionalProperties")
        if self.target == "json":
            if properties:
                out["properties"] = properties
            if isinstance(extra, bool):
                out["additionalProperties"] = extra
            elif isinstance(extra, dict):
                out["additionalProperties"] = self.node(extra, depth + 1)
        elif not properties:
            # Gemini rejects an OBJECT with no properties; a free-form map needs the JSON form.
            raise _Unrepresentable("free-form object")
        else:
            out["properties"] = properties
        required = schema.get("required")
        if isinstance(required, list):
            # Gemini rejects required names that are not declared properties.
            names = [r for r in required if isinstance(r, str) and r in properties]
            if names:
                out["required"] = list(dict.fromkeys(names))
        order = schema.get("propertyOrdering")
        if isinstance(order, list) and all(isinstance(o, str) for o in order):
            out["propertyOrdering"] = [o for o in order if o in properties]

    def _array(self, out: JSON, schema: JSON, depth: int) -> None:
        items = schema.get("items")
        if isinstance(items, list):  # draft-4 tuple form
            items = {"anyOf": items} if items else None
        if items is None and isinstance(schema.get("prefixItems"), list):
            items = {"anyOf": schema["prefixItems"]}
        if items is None or items is True or items == {}:
            if self.target == "gemini":
                raise _Unrepresentable("array without items")
            return
        out["items"] = self.node(items, depth + 1)

    def _format(self, out: JSON, schema: JSON, kind: str) -> None:
        fmt = schema.get("format")
        if not isinstance(fmt, str):
            return
        if self.target == "json" or fmt in _FORMATS.get(kind.upper(), ()):
            out["format"] = fmt

    def _enum(self, out: JSON, schema: JSON, kind: str) -> None:
        values = schema.get("enum")
        if "const" in schema:
            values = [schema["const"]]
        if not isinstance(values, list) or not values:
            return
        if self.target == "json":
            out["enum"] = values
            return
        if None in values:
            out["nullable"] = True
            values = [v for v in values if v is not None]
        if kind == "string" and all(isinstance(v, str) for v in values):
            out["enum"] = values
        elif values:
            # Gemini takes enums on strings only; keep the type and say the choices in words.
            choices = ", ".join(_json_literal(v) for v in values)
            note = f"Allowed values: {choices}."
            out["description"] = f"{out['description']} {note}" if out.get("description") else note

    def _scalars(self, schema: JSON) -> JSON:
        allowed = _SCALAR_KEYS[self.target]
        out = {k: v for k, v in schema.items() if k in allowed and v is not None}
        if self.target == "gemini" and not isinstance(out.get("pattern", ""), str):
            del out["pattern"]
        return out

    def _nullable(self, out: JSON) -> JSON:
        if self.target == "gemini":
            out["nullable"] = True
            return out
        kind = out.get("type")
        if isinstance(kind, str) and kind != "null":
            out["type"] = [kind, "null"]
        elif "anyOf" in out:
            out["anyOf"].append({"type": "null"})
        if "enum" in out and None not in out["enum"]:
            out["enum"].append(None)
        return out

    def _anything(self, *, recursive: bool = False, description: object = None) -> JSON:
        if self.target == "gemini":
            raise _Unrepresentable("recursive schema" if recursive else "value of any type")
        out: JSON = {"type": "object"} if recursive else {}
        if isinstance(description, str):
            out["description"] = description
        return out


def _types_of(schema: JSON) -> tuple[list[str], bool]:
    raw = schema.get("type")
    listed = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    types = [t.lower() for t in listed if isinstance(t, str) and t.lower() in _TYPES]
    nullable = schema.get("nullable") is True or ("null" in types and len(types) > 1)
    if len(types) > 1:
        types = [t for t in types if t != "null"]
    return list(dict.fromkeys(types)), nullable


def _infer_types(schema: JSON) -> list[str]:
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return ["object"]
    if "items" in schema or "prefixItems" in schema:
        return ["array"]
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if isinstance(values, list) and values:
        sample = next((v for v in values if v is not None), None)
        return [_json_type(sample)]
    return []


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _json_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _with_parent_type(branch: object, parent: JSON) -> object:
    """`{"type":"object","anyOf":[{"properties":..}]}`: branches inherit the parent's type."""
    if isinstance(branch, dict) and "type" not in branch and "$ref" not in branch and "type" in parent:
        return {"type": parent["type"], **branch}
    return branch


def _constraints_only(branches: list[Any]) -> bool:
    """`anyOf: [{"required": ["a"]}, {"required": ["b"]}]` states a rule, not alternative shapes."""
    shape_free = {"required", "not", "minProperties", "maxProperties", "description", "title"}
    return bool(branches) and all(isinstance(b, dict) and b.keys() <= shape_free for b in branches)


def _resolve(root: JSON, ref: str) -> JSON | None:
    if not ref.startswith("#"):
        return None  # remote references are never fetched
    node: Any = root
    for raw in ref[1:].split("/"):
        if not raw:
            continue
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node if isinstance(node, dict) else None


# --- public API -------------------------------------------------------------------------------------


def to_gemini_schema(schema: JSON) -> JSON | None:
    """The Gemini `Schema` form, or None when the schema cannot be expressed in it."""
    try:
        return _Walk(schema, "gemini").node(schema)
    except _Unrepresentable:
        return None


def to_json_schema(schema: JSON) -> JSON:
    """The subset of JSON Schema Gemini's `*JsonSchema` fields accept, references inlined."""
    return _Walk(schema, "json").node(schema)


def function_declaration(name: str, description: str | None, parameters: object, param: str) -> JSON:
    """One Gemini functionDeclaration from a client tool definition (any dialect)."""
    if parameters is not None and not isinstance(parameters, dict):
        raise ParamError(param, f"expected a JSON Schema object, got {type(parameters).__name__}")
    declaration: JSON = {"name": name}
    if description:
        declaration["description"] = description
    if not parameters or not _has_properties(parameters):
        return declaration  # a function without arguments: Gemini wants no parameters at all
    converted = to_gemini_schema(parameters)
    if converted is not None:
        declaration["parameters"] = converted
    else:
        declaration["parametersJsonSchema"] = to_json_schema(parameters)
    return declaration


def response_schema_fields(schema: object, param: str) -> JSON:
    """generationConfig fields for a structured-output request (`responseMimeType` included)."""
    fields: JSON = {"responseMimeType": "application/json"}
    if schema is None:
        return fields
    if not isinstance(schema, dict):
        raise ParamError(param, f"expected a JSON Schema object, got {type(schema).__name__}")
    converted = to_gemini_schema(schema)
    if converted is not None:
        fields["responseSchema"] = converted
    else:
        fields["responseJsonSchema"] = to_json_schema(schema)
    return fields


def _has_properties(schema: JSON) -> bool:
    """False for the argument-less `{"type":"object","properties":{}}` (and its $ref'd twins)."""
    if schema.get("properties") or schema.get("$ref") or schema.get("anyOf") or schema.get("oneOf"):
        return True
    if schema.get("allOf"):
        return True
    extra = schema.get("additionalProperties")
    return bool(extra) and extra is not False

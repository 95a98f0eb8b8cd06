"""JSON Schema cleaning, with schemas shaped like the ones real coding agents send."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_gateway.dialects.common import ParamError
from gemini_gateway.dialects.schema import (
    function_declaration,
    response_schema_fields,
    to_gemini_schema,
    to_json_schema,
)

GEMINI_SCHEMA_KEYS = {
    "type",
    "format",
    "description",
    "nullable",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "anyOf",
    "propertyOrdering",
}
GEMINI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}


def assert_valid_gemini(schema: Any, path: str = "$") -> None:
    """What Gemini's `Schema` validation enforces, as far as its 400 messages tell."""
    assert isinstance(schema, dict), path
    assert set(schema) <= GEMINI_SCHEMA_KEYS, f"{path}: {set(schema) - GEMINI_SCHEMA_KEYS}"
    if "anyOf" in schema:
        for i, branch in enumerate(schema["anyOf"]):
            assert_valid_gemini(branch, f"{path}.anyOf[{i}]")
        return
    assert schema.get("type") in GEMINI_TYPES, f"{path}: type {schema.get('type')!r}"
    kind = schema["type"]
    if kind == "OBJECT":
        assert schema.get("properties"), f"{path}: OBJECT needs properties"
        for name, sub in schema["properties"].items():
            assert_valid_gemini(sub, f"{path}.{name}")
        assert set(schema.get("required", [])) <= set(schema["properties"]), path
    else:
        assert "properties" not in schema and "required" not in schema, path
    if kind == "ARRAY":
        assert_valid_gemini(schema.get("items"), f"{path}[]")
    if "enum" in schema:
        assert kind == "STRING" and all(isinstance(v, str) for v in schema["enum"]), path
    if "format" in schema:
        allowed = {
            "STRING": {"enum", "date-time"},
            "NUMBER": {"float", "double"},
            "INTEGER": {"int32", "int64"},
        }
        assert schema["format"] in allowed.get(kind, set()), path


# A Claude Code-like tool (zod -> JSON Schema draft 7).
CLAUDE_CODE_EDIT = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "file_path": {"type": "string", "description": "The absolute path to the file to modify"},
        "old_string": {"type": "string"},
        "replace_all": {"type": "boolean", "default": False, "description": "Replace all occurences"},
        "edits": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                "required": ["old", "new"],
            },
        },
    },
    "required": ["file_path", "old_string"],
}

# Pydantic v2 output (MCP servers written in Python): $defs, $ref, anyOf-null, titles, defaults.
PYDANTIC_MODEL = {
    "$defs": {
        "Priority": {"enum": ["low", "high"], "title": "Priority", "type": "string"},
        "Owner": {
            "properties": {"name": {"title": "Name", "type": "string"}},
            "required": ["name"],
            "title": "Owner",
            "type": "object",
        },
    },
    "properties": {
        "title": {"title": "Title", "type": "string"},
        "priority": {"$ref": "#/$defs/Priority", "default": "low"},
        "owner": {"anyOf": [{"$ref": "#/$defs/Owner"}, {"type": "null"}], "default": None},
        "due": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "title": "Due"},
        "labels": {"items": {"type": "string"}, "title": "Labels", "type": "array", "examples": [["a"]]},
    },
    "required": ["title"],
    "title": "CreateTask",
    "type": "object",
}


def test_claude_code_tool_is_cleaned_to_valid_gemini() -> None:
    out = to_gemini_schema(CLAUDE_CODE_EDIT)
    assert out == {
        "type": "OBJECT",
        "properties": {
            "file_path": {"type": "STRING", "description": "The absolute path to the file to modify"},
            "old_string": {"type": "STRING"},
            "replace_all": {"type": "BOOLEAN", "description": "Replace all occurences"},
            "edits": {
                "type": "ARRAY",
                "minItems": 1,
                "items": {
                    "type": "OBJECT",
                    "properties": {"old": {"type": "STRING"}, "new": {"type": "STRING"}},
                    "required": ["old", "new"],
                },
            },
        },
        "required": ["file_path", "old_string"],
    }


def test_pydantic_refs_are_inlined_and_anyof_null_becomes_nullable() -> None:
    out = to_gemini_schema(PYDANTIC_MODEL)
    assert out is not None
    assert_valid_gemini(out)
    props = out["properties"]
    # A property literally named "title" survives although the `title` keyword is dropped.
    assert props["title"] == {"type": "STRING"}
    assert props["priority"] == {"type": "STRING", "enum": ["low", "high"]}
    assert props["owner"] == {
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}},
        "required": ["name"],
        "nullable": True,
    }
    assert props["due"] == {"type": "STRING", "format": "date-time", "nullable": True}
    assert props["labels"] == {"type": "ARRAY", "items": {"type": "STRING"}}


def test_type_lists_const_and_unsupported_formats() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": ["string", "null"], "format": "uri"},
            "b": {"const": "fixed"},
            "c": {"type": "integer", "enum": [1, 2, 3], "description": "Level."},
            "d": {"type": ["string", "integer"]},
            "e": {"type": "number", "format": "double", "exclusiveMinimum": 0, "multipleOf": 2},
            "f": {"type": "string", "enum": ["x", None]},
        },
        "required": ["a", "ghost"],
    }
    out = to_gemini_schema(schema)
    assert out is not None
    assert_valid_gemini(out)
    props = out["properties"]
    assert props["a"] == {"type": "STRING", "nullable": True}
    assert props["b"] == {"type": "STRING", "enum": ["fixed"]}
    # Gemini takes enums on strings only: the integer keeps its type, the choices go to the text.
    assert props["c"] == {"type": "INTEGER", "description": "Level. Allowed values: 1, 2, 3."}
    assert props["d"] == {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}
    assert props["e"] == {"type": "NUMBER", "format": "double"}
    assert props["f"] == {"type": "STRING", "enum": ["x"], "nullable": True}
    assert out["required"] == ["a"]  # names without a property are refused by Gemini


def test_untyped_nodes_get_the_type_their_keywords_imply() -> None:
    # Notion-MCP style: properties without "type": "object"; items without "type": "array".
    schema = {
        "properties": {
            "data": {"properties": {"page_id": {"type": "string"}}, "required": ["page_id"]},
            "ids": {"items": {"type": "string"}},
            "mode": {"enum": ["a", "b"]},
        }
    }
    out = to_gemini_schema(schema)
    assert out is not None
    assert_valid_gemini(out)
    assert out["properties"]["data"]["type"] == "OBJECT"
    assert out["properties"]["ids"]["type"] == "ARRAY"
    assert out["properties"]["mode"] == {"type": "STRING", "enum": ["a", "b"]}


def test_all_of_is_merged_and_constraint_only_any_of_ignored() -> None:
    schema = {
        "allOf": [
            {"$ref": "#/definitions/Base"},
            {"type": "object", "properties": {"extra": {"type": "integer"}}, "required": ["extra"]},
        ],
        "anyOf": [{"required": ["id"]}, {"required": ["extra"]}],
        "definitions": {"Base": {"type": "object", "properties": {"id": {"type": "string"}}}},
    }
    out = to_gemini_schema(schema)
    assert out == {
        "type": "OBJECT",
        "properties": {"id": {"type": "STRING"}, "extra": {"type": "INTEGER"}},
        "required": ["extra"],
    }


def test_discriminated_union_keeps_branches() -> None:
    schema = {
        "type": "object",
        "properties": {
            "action": {
                "oneOf": [
                    {"type": "object", "properties": {"kind": {"const": "click"}, "x": {"type": "number"}}},
                    {"type": "object", "properties": {"kind": {"const": "type"}, "text": {"type": "string"}}},
                ]
            }
        },
    }
    out = to_gemini_schema(schema)
    assert out is not None
    assert_valid_gemini(out)
    branches = out["properties"]["action"]["anyOf"]
    assert [b["properties"]["kind"]["enum"] for b in branches] == [["click"], ["type"]]


@pytest.mark.parametrize(
    "schema",
    [
        # opencode/MCP: free-form maps
        {
            "type": "object",
            "properties": {"env": {"type": "object", "additionalProperties": {"type": "string"}}},
        },
        # "any" value
        {"type": "object", "properties": {"value": {"description": "anything"}}},
        # array without items
        {"type": "object", "properties": {"list": {"type": "array"}}},
        # recursion
        {
            "type": "object",
            "properties": {"tree": {"$ref": "#/$defs/Node"}},
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                }
            },
        },
    ],
    ids=["free-form-map", "any", "array-no-items", "recursive"],
)
def test_unrepresentable_schemas_fall_back_to_json_schema(schema: dict[str, Any]) -> None:
    assert to_gemini_schema(schema) is None
    declaration = function_declaration("tool", "d", schema, "tools[0]")
    assert "parameters" not in declaration
    json_form = declaration["parametersJsonSchema"]
    assert "$defs" not in json_form and "$ref" not in str(json_form)
    assert json_form["type"] == "object"


def test_json_schema_form_keeps_what_gemini_json_schema_supports() -> None:
    out = to_json_schema(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": {"Env": {"type": "object", "additionalProperties": {"type": "string"}}},
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "env": {"$ref": "#/$defs/Env"},
                "mode": {"const": "a", "default": "a"},
                "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "tags": {"type": ["array", "null"], "items": {"type": "string"}},
            },
            "required": ["env"],
        }
    )
    assert out == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
            "mode": {"type": "string", "enum": ["a"]},
            "maybe": {"type": ["string", "null"]},
            "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        },
        "required": ["env"],
    }


def test_recursion_is_cut_in_json_form() -> None:
    out = to_json_schema(
        {
            "$ref": "#/$defs/N",
            "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
        }
    )
    assert out == {"type": "object", "properties": {"next": {"type": "object"}}}


def test_function_without_arguments_has_no_parameters() -> None:
    for params in (
        None,
        {},
        {"type": "object"},
        {"type": "object", "properties": {}, "additionalProperties": False},
    ):
        assert function_declaration("todoread", None, params, "p") == {"name": "todoread"}


def test_function_declaration_rejects_non_object_parameters() -> None:
    with pytest.raises(ParamError) as info:
        function_declaration("f", None, "string", "tools[2].function.parameters")
    assert info.value.param == "tools[2].function.parameters"
    assert info.value.status_code == 400


def test_response_schema_fields() -> None:
    assert response_schema_fields(None, "p") == {"responseMimeType": "application/json"}
    fields = response_schema_fields({"type": "object", "properties": {"a": {"type": "string"}}}, "p")
    assert fields == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
    }
    free = response_schema_fields({"type": "object", "additionalProperties": True}, "p")
    assert free == {
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object", "additionalProperties": True},
    }


def test_input_is_not_mutated() -> None:
    import copy

    before = copy.deepcopy(PYDANTIC_MODEL)
    to_gemini_schema(PYDANTIC_MODEL)
    to_json_schema(PYDANTIC_MODEL)
    assert before == PYDANTIC_MODEL


JSON_SCHEMA_KEYS = {
    "type",
    "format",
    "title",
    "description",
    "enum",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "anyOf",
    "oneOf",
    "properties",
    "additionalProperties",
    "required",
    "propertyOrdering",
}


def assert_valid_json_form(schema: Any, path: str = "$") -> None:
    """Only keywords Gemini's `*JsonSchema` fields document, references already inlined."""
    assert isinstance(schema, dict), path
    assert set(schema) <= JSON_SCHEMA_KEYS, f"{path}: {set(schema) - JSON_SCHEMA_KEYS}"
    for name, sub in (schema.get("properties") or {}).items():
        assert_valid_json_form(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            assert_valid_json_form(schema[key], f"{path}.{key}")
    for key in ("anyOf", "oneOf", "prefixItems"):
        for i, sub in enumerate(schema.get(key) or ()):
            assert_valid_json_form(sub, f"{path}.{key}[{i}]")


# Keywords agents' schema generators emit that Gemini has never accepted in `parameters`.
EXOTIC = {
    "type": "object",
    "$id": "https://example.com/tool.json",
    "$comment": "generated",
    "properties": {
        "glob": {
            "type": "string",
            "minLength": 1,
            "contentEncoding": "utf-8",
            "deprecated": True,
            "readOnly": True,
        },
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "uniqueItems": True,
            "contains": {"const": "x"},
        },
        "mode": {
            "type": "string",
            "enum": ["a", "b"],
            "x-order": 1,
            "markdownDescription": "**m**",
            "examples": ["a"],
        },
        "n": {"type": "integer", "exclusiveMaximum": 10, "multipleOf": 1, "format": "int64"},
        "conditional": {
            "type": "object",
            "properties": {"kind": {"type": "string"}},
            "if": {"properties": {"kind": {"const": "a"}}},
            "then": {"required": ["kind"]},
            "not": {"required": ["other"]},
            "dependentRequired": {"kind": ["x"]},
            "unevaluatedProperties": False,
        },
    },
    "propertyNames": {"pattern": "^[a-z]+$"},
    "patternProperties": {"^x-": {"type": "string"}},
}

AGENT_SCHEMAS = [CLAUDE_CODE_EDIT, PYDANTIC_MODEL, EXOTIC]


@pytest.mark.parametrize("schema", AGENT_SCHEMAS, ids=["claude-code", "pydantic", "exotic"])
def test_agent_schemas_come_out_valid_in_both_forms(schema: dict[str, Any]) -> None:
    gemini = to_gemini_schema(schema)
    assert gemini is not None
    assert_valid_gemini(gemini)
    assert_valid_json_form(to_json_schema(schema))


def test_exotic_keywords_are_dropped_but_meaning_kept() -> None:
    out = to_gemini_schema(EXOTIC)
    assert out is not None
    props = out["properties"]
    assert props["glob"] == {"type": "STRING", "minLength": 1}
    assert props["tags"] == {"type": "ARRAY", "items": {"type": "STRING"}}
    assert props["mode"] == {"type": "STRING", "enum": ["a", "b"]}
    assert props["n"] == {"type": "INTEGER", "format": "int64"}
    assert props["conditional"] == {"type": "OBJECT", "properties": {"kind": {"type": "STRING"}}}

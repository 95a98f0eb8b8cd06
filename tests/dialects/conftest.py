"""Shared fixtures: OpenAI's published OpenAPI schemas as validators for what the dialects emit."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

SPEC_PATH = Path(os.environ.get("OPENAI_OPENAPI_SPEC", "/work/shared/reference/specs/openapi.yaml"))

Validate = Callable[[str, Any], None]


def _openapi_nullable_to_json_schema(node: Any) -> Any:
    """The spec is 3.1 but still says `nullable: true` in places; JSON Schema spells it as a type."""
    if isinstance(node, list):
        return [_openapi_nullable_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_nullable_to_json_schema(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        if not isinstance(out.get("type"), str):
            return {"anyOf": [out, {"type": "null"}]}  # e.g. a nullable $ref
        out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list):
            out["enum"] = [*out["enum"], None]
    return out


@pytest.fixture(scope="session")
def openai_schema() -> Validate:
    """`openai_schema("CreateChatCompletionResponse", body)` fails the test if body breaks the spec."""
    yaml = pytest.importorskip("yaml")
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT202012

    if not SPEC_PATH.exists():
        pytest.skip(f"OpenAI spec not found at {SPEC_PATH}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = _openapi_nullable_to_json_schema(yaml.load(SPEC_PATH.read_text(), Loader=loader))
    registry = referencing.Registry().with_resource("urn:openai", DRAFT202012.create_resource(spec))
    validators: dict[str, Any] = {}

    def validate(name: str, instance: Any) -> None:
        if name not in validators:
            schema = {"$ref": f"urn:openai#/components/schemas/{name}"}
            validators[name] = jsonschema.Draft202012Validator(schema, registry=registry)
        errors = sorted(validators[name].iter_errors(instance), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])

    return validate


def _sse_payloads(frames: list[bytes]) -> list[Any]:
    """`data: {...}` frames -> decoded payloads ("[DONE]" kept as the string)."""
    out = []
    for frame in frames:
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n"), frame
        body = frame[6:-2]
        out.append(body.decode() if body == b"[DONE]" else orjson.loads(body))
    return out


def _sse_events(frames: list[bytes]) -> list[tuple[str, Any]]:
    """`event: x\\ndata: {...}` frames -> (name, payload)."""
    out = []
    for frame in frames:
        head, _, rest = frame.partition(b"\n")
        assert head.startswith(b"event: ") and rest.startswith(b"data: ") and rest.endswith(b"\n\n"), frame
        out.append((head[7:].decode(), orjson.loads(rest[6:-2])))
    return out


@pytest.fixture
def sse_payloads() -> Callable[[list[bytes]], list[Any]]:
    return _sse_payloads


@pytest.fixture
def sse_events() -> Callable[[list[bytes]], list[tuple[str, Any]]]:
    return _sse_events

"""The executor wire protocol: versions, close codes, and the frames both sides exchange.

Every frame is one WebSocket text message holding a JSON object with a `type`. The full
description, with examples, is in docs/executor-protocol.md; this module is its executable half
and keeps no state, so it is tested without sockets.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson

from gemini_gateway.backends.base import MODEL_METHODS, UpstreamCall
from gemini_gateway.errors import (
    CallRefused,
    GatewayError,
    UpstreamError,
    UpstreamUnreachable,
    google_error_body,
)

PROTOCOL_VERSION = 1
MIN_PROTOCOL_VERSION = 1  # raise when a change breaks old clients; they are told to reload

# Close codes (4000-4999 are the application's). Browsers show them with the reason text.
CLOSE_BAD_MESSAGE = 4400
CLOSE_MISSING_TOKEN = 4401
CLOSE_FORBIDDEN = 4403  # wrong token, or executors disabled on this gateway
CLOSE_TIMEOUT = 4408  # no register in time, or heartbeats missed
CLOSE_UNSUPPORTED_PROTOCOL = 4426
CLOSE_TRY_LATER = 4429  # a wrong token while its address or prefix is braked (gemini_gateway.brake)
CLOSE_GOING_AWAY = 1001  # the gateway shuts down; reconnecting later is right
# Codes after which retrying with the same settings cannot succeed: the client stops and says why.
FATAL_CLOSE_CODES = frozenset(
    {CLOSE_MISSING_TOKEN, CLOSE_FORBIDDEN, CLOSE_TRY_LATER, CLOSE_UNSUPPORTED_PROTOCOL}
)

ALL_CAPABILITIES = frozenset(MODEL_METHODS | {"models.list", "models.get"})
# Files API and cached contents relayed to a tab (docs/executor-protocol.md, *Files and cached
# contents*). Only a tab that lists them gets them: an empty list keeps meaning the model methods,
# so a client older than these tasks is never sent one.
RESOURCE_CAPABILITIES = frozenset(
    {
        "files.upload",
        "files.get",
        "files.list",
        "files.delete",
        "cachedContents.create",
        "cachedContents.get",
        "cachedContents.list",
        "cachedContents.patch",
        "cachedContents.delete",
    }
)
# The pseudo-models resource calls are scoped to (gemini_gateway.affinity.resources): a tab serves
# them whatever models it announced.
RESOURCE_SCOPES = frozenset({"files", "cachedContents"})
UPLOAD_FRAME_BYTES = 1024 * 1024  # raw bytes per `upload` frame (base64 makes it 1.4 MiB of text)
MAX_CONCURRENCY_LIMIT = 256
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")


class ProtocolError(Exception):
    """A frame the gateway cannot accept; `code` is the close code to end the connection with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class RegisterInfo:
    name: str
    protocol: int
    max_concurrency: int
    capabilities: frozenset[str]
    models: frozenset[str]  # empty: any model
    client: str  # free text the client reports about itself (version, user agent)
    token: str | None
    keeper: dict[str, Any] | None = None  # what a keeper holding the tab open says of itself


def decode(text: str | bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(CLOSE_BAD_MESSAGE, f"frame is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError(CLOSE_BAD_MESSAGE, "frame must be a JSON object with a string 'type'")
    return data


def check_version(message: dict[str, Any]) -> int:
    """The client's protocol version, or ProtocolError with a message a user can act on."""
    version = message.get("protocol")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProtocolError(
            CLOSE_UNSUPPORTED_PROTOCOL,
            f"register must say which executor protocol it speaks ('protocol': {PROTOCOL_VERSION}); "
            "reload the executor page or reinstall the userscript from this gateway",
        )
    if version < MIN_PROTOCOL_VERSION:
        raise ProtocolError(
            CLOSE_UNSUPPORTED_PROTOCOL,
            f"executor protocol {version} is too old: this gateway speaks {MIN_PROTOCOL_VERSION}"
            f"..{PROTOCOL_VERSION}. Reload /executor or reinstall /executor.user.js from the gateway",
        )
    if version > PROTOCOL_VERSION:
        raise ProtocolError(
            CLOSE_UNSUPPORTED_PROTOCOL,
            f"executor protocol {version} is newer than this gateway's ({PROTOCOL_VERSION}); "
            "upgrade the gateway or use the executor it serves",
        )
    return version


def parse_register(message: dict[str, Any]) -> RegisterInfo:
    if message.get("type") != "register":
        raise ProtocolError(CLOSE_BAD_MESSAGE, "the first frame must be 'register'")
    version = check_version(message)
    raw_name = message.get("name")
    name = _NAME_UNSAFE.sub("-", raw_name.strip())[:48].strip("-") if isinstance(raw_name, str) else ""
    if not name:
        raise ProtocolError(CLOSE_BAD_MESSAGE, "register needs a 'name' (letters, digits, . _ @ -)")
    concurrency = message.get("max_concurrency", 1)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ProtocolError(CLOSE_BAD_MESSAGE, "'max_concurrency' must be a positive integer")
    # Unknown capabilities are ignored so newer clients can announce things this gateway lacks.
    offered = _string_set(message.get("capabilities"), "capabilities")
    methods = offered & ALL_CAPABILITIES if offered else ALL_CAPABILITIES
    capabilities = methods | (offered & RESOURCE_CAPABILITIES)
    if not capabilities:
        raise ProtocolError(CLOSE_BAD_MESSAGE, "'capabilities' names no method this gateway uses")
    models = frozenset(m.removeprefix("models/") for m in _string_set(message.get("models"), "models"))
    token = message.get("token")
    client = message.get("client")
    return RegisterInfo(
        name=name,
        protocol=version,
        max_concurrency=min(concurrency, MAX_CONCURRENCY_LIMIT),
        capabilities=capabilities,
        models=models,
        client=client[:200] if isinstance(client, str) else "",
        token=token if isinstance(token, str) and token else None,
        keeper=_keeper_facts(message.get("keeper")),
    )


# What a keeper (gemini-gateway executors keep) may report: plain values, short, no secrets.
_KEEPER_FIELDS = {"profile": str, "opened": int, "reopens": int, "since": float, "last_reopen_reason": str}


def _keeper_facts(value: object) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    facts: dict[str, Any] = {}
    for name, kind in _KEEPER_FIELDS.items():
        item = value.get(name)
        if isinstance(item, bool) or item is None:
            continue
        if kind is str and isinstance(item, str):
            facts[name] = item[:200]
        elif kind is int and isinstance(item, int):
            facts[name] = item
        elif kind is float and isinstance(item, int | float):
            facts[name] = float(item)
    return facts


def _string_set(value: object, field: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(CLOSE_BAD_MESSAGE, f"'{field}' must be a list of strings")
    return frozenset(v for v in value if v)


# Frames the gateway sends ----------------------------------------------------------------------


def registered_frame(credential_id: str, name: str, heartbeat_seconds: float) -> bytes:
    return orjson.dumps(
        {
            "type": "registered",
            "protocol": PROTOCOL_VERSION,
            "id": credential_id,
            "name": name,  # may differ from the requested one when that name was taken
            "heartbeat_interval": heartbeat_seconds,
        }
    )


def task_frame(task_id: str, call: UpstreamCall) -> bytes:
    # The body is already JSON the route checked; Fragment embeds it without parsing it again.
    body = orjson.Fragment(call.body) if call.body.strip() else None
    return orjson.dumps(
        {
            "type": "task",
            "id": task_id,
            "method": call.method,
            "model": call.model,
            "api_version": call.api_version,
            "stream": call.stream,
            "params": call.params,
            "body": body,
        }
    )


def resource_task_frame(task_id: str, method: str, fields: dict[str, Any]) -> bytes:
    """A Files API or cachedContents task: `name`, `params`, `body` (and `upload` for an upload)."""
    return orjson.dumps({"type": "task", "id": task_id, "method": method, "stream": False, **fields})


def upload_frame(task_id: str, data: bytes) -> bytes:
    """A piece of the file an upload task carries, in order; base64 in a text frame."""
    return orjson.dumps({"type": "upload", "id": task_id, "data": base64.b64encode(data).decode()})


def upload_end_frame(task_id: str) -> bytes:
    """The file is whole: the tab uploads it and answers with `{"file": {...}}`."""
    return orjson.dumps({"type": "upload", "id": task_id, "final": True})


def cancel_frame(task_id: str, reason: str) -> bytes:
    return orjson.dumps({"type": "cancel", "id": task_id, "reason": reason})


def heartbeat_frame() -> bytes:
    return orjson.dumps({"type": "heartbeat", "time": time.time()})


def error_frame(message: str, code: int) -> bytes:
    """A connection-level error (no task id), sent just before closing with `code`."""
    return orjson.dumps({"type": "error", "code": code, "message": message})


# Frames the executor sends ---------------------------------------------------------------------


def chunk_payload(message: dict[str, Any]) -> bytes:
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise ProtocolError(CLOSE_BAD_MESSAGE, "chunk 'payload' must be a JSON object")
    return orjson.dumps(payload)


def task_error(message: dict[str, Any], executor: str) -> GatewayError:
    """What an executor's `error` frame means for the dispatcher.

    `"unsupported": true` is the tab declining a method or model it cannot run: a refusal, which
    moves the call on without holding anything against the executor. A status of 0 (or none)
    says the tab never got an answer (network, CORS, offline): that is the upstream being
    unreachable, so the call fails over. Any HTTP status is Google's own answer and passes
    through with its body, exactly like the API-key backend's.
    """
    status = message.get("status")
    text = message.get("message")
    detail = text[:300] if isinstance(text, str) and text else "no details"
    if message.get("unsupported") is True:
        return CallRefused(f"executor {executor} does not offer this call: {detail}")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return UpstreamUnreachable(f"executor {executor} could not reach Gemini: {detail}")
    body = message.get("body")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return UpstreamError(status, orjson.dumps(body))
    return UpstreamError(status, google_error_body(status, f"executor {executor}: {detail}"))

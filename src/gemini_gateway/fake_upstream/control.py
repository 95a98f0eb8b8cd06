"""The /_fake control routes tests and benchmarks use to script and observe the fake.

GET    /_fake/calls    calls so far, oldest first: [{key, method, model, stream, version, time}]
POST   /_fake/reset    forget calls and faults ({"config": true} also restores the default config)
GET    /_fake/config   current config
POST   /_fake/config   merge a partial config, answer the result
GET    /_fake/faults   pending faults
POST   /_fake/faults   add one fault object or a list of them, answer what was added
DELETE /_fake/faults   drop all pending faults
"""

from __future__ import annotations

from typing import Any

import orjson

from gemini_gateway.fake_upstream import asgi
from gemini_gateway.fake_upstream.asgi import Receive, Scope, Send
from gemini_gateway.fake_upstream.errors import error_body
from gemini_gateway.fake_upstream.state import FakeState, make_fault

FAULT_OPTIONS = ("count", "model", "retry_delay", "quota_id", "delay_ms", "after_chunks", "message", "answer")


async def handle_control(state: FakeState, scope: Scope, receive: Receive, send: Send) -> None:
    name = scope["path"].removeprefix("/_fake/").rstrip("/")
    method = scope["method"]
    body = await asgi.read_body(receive)
    try:
        answer = _dispatch(state, name, method, body)
    except (ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        await asgi.send_json(send, 400, error_body(400, str(exc)))
        return
    if answer is None:
        await asgi.send_json(send, 404, error_body(404, f"No control route {method} /_fake/{name}."))
        return
    await asgi.send_json(send, 200, orjson.dumps(answer, option=orjson.OPT_INDENT_2))


def _dispatch(state: FakeState, name: str, method: str, body: bytes) -> Any:
    if name == "calls" and method == "GET":
        return [call.to_json() for call in state.calls]
    if name == "reset" and method == "POST":
        options = _object(body) if body else {}
        state.reset(config=bool(options.get("config")))
        return {"ok": True}
    if name == "config" and method == "GET":
        return state.config.to_json()
    if name == "config" and method == "POST":
        state.config.merge(_object(body))
        return state.config.to_json()
    if name == "faults" and method == "GET":
        return [fault.to_json() for fault in state.faults]
    if name == "faults" and method == "POST":
        return _add_faults(state, orjson.loads(body))
    if name == "faults" and method == "DELETE":
        state.clear_faults()
        return {"ok": True}
    return None


def _object(body: bytes) -> dict[str, Any]:
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _add_faults(state: FakeState, data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, dict) or "fault" not in item:
            raise ValueError('each fault must be an object with a "fault" kind')
        unknown = set(item) - {"key", "fault", *FAULT_OPTIONS}
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    faults = [
        make_fault(item.get("key"), str(item["fault"]), **{n: item[n] for n in FAULT_OPTIONS if n in item})
        for item in items
    ]
    state.add_faults(faults)
    return [fault.to_json() for fault in faults]

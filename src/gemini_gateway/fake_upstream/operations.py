"""Long-running operations on the fake: Veo's `models/{m}:predictLongRunning` (its REST call;
google-genai 3.x sends `generate_videos` in Vertex mode only) and the operations API Google serves:

    POST   /{v}/models/{m}:predictLongRunning      -> Operation `models/{m}/operations/{id}`
    GET    /{v}/models/{m}/operations/{id}         the poll `client.operations.get` sends
    GET    /{v}/operations                         operations.list of the key's project
    GET    /{v}/operations/{id}                    operations.get (Google's generic form)
    POST   /{v}/operations/{id}:cancel             -> {}
    DELETE /{v}/operations/{id}                    -> {}

An operation lives in the project of the key that created it (403 for any other key, as for
batches). A video operation is done on its first poll; its video is a generated file of the same
project, downloaded as `files/{id}:download?alt=media`. Nothing in the SDK creates a top-level
`operations/{id}`: tests put one in a project (`Project.operations`) to exercise that form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from gemini_gateway.fake_upstream.asgi import Receive, Scope, Send
from gemini_gateway.fake_upstream.errors import FakeApiError, Json, invalid_argument, route_not_found
from gemini_gateway.fake_upstream.files import base_url, paged_list, read_small, send_answer
from gemini_gateway.fake_upstream.models import find_model
from gemini_gateway.fake_upstream.projects import Project, StoredFile, json_body, new_id

_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta."
_PATH = re.compile(
    r"^/(?P<version>v1beta|v1)/(?:"
    r"models/(?P<model>[^/:]+)(?::(?P<create>predictLongRunning)|/operations/(?P<model_op>[^/:]+))"
    r"|operations(?:/(?P<op>[^/:]+)(?P<cancel>:cancel)?)?)$"
)


def operation_denied(name: str) -> FakeApiError:
    return FakeApiError(
        403, f"You do not have permission to access the Operation {name} or it may not exist."
    )


@dataclass(slots=True)
class StoredOperation:
    name: str
    metadata: Json
    response: Json | None = None  # set when done
    polls_left: int = 1  # GETs before it is done
    cancelled: bool = False

    def poll(self) -> Json:
        if self.polls_left > 0:
            self.polls_left -= 1
        return self.to_json()

    def to_json(self) -> Json:
        data: Json = {"name": self.name, "metadata": self.metadata}
        if self.cancelled:
            data.update(done=True, error={"code": 1, "message": "Operation cancelled."})
        elif self.polls_left == 0:
            data["done"] = True
            if self.response is not None:
                data["response"] = self.response
        return data


def claims(path: str) -> bool:
    return _PATH.match(path) is not None


def rpc_name(scope: Scope) -> str:
    match = _PATH.match(scope["path"])
    if match is None:
        return "operations"
    if match["create"]:
        return "predictLongRunning"
    if match["cancel"]:
        return "cancelOperation"
    if match["op"] or match["model_op"]:
        return "deleteOperation" if scope["method"] == "DELETE" else "getOperation"
    return "listOperations"


async def handle_operations(state: Any, key: str, scope: Scope, receive: Receive, send: Send) -> None:
    match = _PATH.match(scope["path"])
    assert match is not None  # claims() said so
    method = scope["method"]
    project: Project = state.projects.project(key)
    name = f"models/{match['model']}/operations/{match['model_op']}" if match["model_op"] else None
    name = name or (f"operations/{match['op']}" if match["op"] else None)
    if match["create"] and method == "POST":
        answer = _predict_long_running(
            project, match["model"], await read_small(receive, 16 * 1024 * 1024), scope
        )
    elif name is None and method == "GET":
        answer = _list(project, scope)
    elif name is not None:
        operation = project.operations.get(name)
        if operation is None:
            raise operation_denied(name)
        if match["cancel"] and method == "POST":
            operation.cancelled = True
            answer = json_body({})
        elif not match["cancel"] and method == "GET":
            answer = json_body(operation.poll())
        elif not match["cancel"] and method == "DELETE":
            del project.operations[name]
            answer = json_body({})
        else:
            raise route_not_found()
    else:
        raise route_not_found()
    await send_answer(send, 200, answer)


def _predict_long_running(project: Project, model_id: str, body: bytes, scope: Scope) -> bytes:
    model = find_model(model_id)
    if model is None or not model.supports("predictLongRunning"):
        raise FakeApiError(404, f"models/{model_id} is not found for predictLongRunning.")
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise invalid_argument("Invalid JSON payload received.") from None
    instances = request.get("instances") if isinstance(request, dict) else None
    prompt = (
        instances[0].get("prompt")
        if isinstance(instances, list) and instances and isinstance(instances[0], dict)
        else None
    )
    if not isinstance(prompt, str) or not prompt:
        raise invalid_argument(
            "* PredictLongRunningRequest.instances[0].prompt: prompt is required", "instances"
        )
    version = scope["path"].split("/")[1]
    video = _video_file(project, prompt, base_url(scope), version)
    uri = f"{video.base_url}/{version}/{video.name}:download?alt=media"
    operation = StoredOperation(
        name=f"models/{model.id}/operations/{new_id(12)}",
        metadata={"@type": _TYPE + "PredictLongRunningMetadata"},
        response={
            "@type": _TYPE + "PredictLongRunningResponse",
            "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]},
        },
    )
    project.operations[operation.name] = operation
    return json_body({"name": operation.name})


def _video_file(project: Project, prompt: str, base: str, version: str) -> StoredFile:
    """A few bytes standing in for an MP4, named after the prompt so each video differs."""
    content = b"\x00\x00\x00\x18ftypmp42fake-video:" + prompt.encode()[:200]
    return project.add_generated_file(new_id(12), None, "video/mp4", content, base, version)


def _list(project: Project, scope: Scope) -> bytes:
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    operations = list(project.operations.values())
    return paged_list(operations, "operations", query, 10, 100, StoredOperation.to_json)

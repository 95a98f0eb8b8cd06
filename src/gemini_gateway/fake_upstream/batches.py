"""Batch mode on the fake: `models/{m}:batchGenerateContent` and (embeddings)
`models/{m}:asyncBatchEmbedContent`, `batches` get, list, cancel and delete, and the download of a
batch's responses file (`files/{id}:download`).

A batch lives in the project of the key that created it (403 for any other key, as for files).
Its state moves one step per poll of `batches/{id}`: BATCH_STATE_PENDING, RUNNING, SUCCEEDED,
so a client's polling loop runs as it does against Google. The answers are the fake's own
generateContent (or embedContent) answers, computed when the batch is created (a request Google
would refuse gets its error in place of a response). Inline requests answer inline; an input file (JSON lines of
`{"key", "request"}`, uploaded by the same key) answers with a generated responses file.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from gemini_gateway.fake_upstream.asgi import Receive, Scope, Send
from gemini_gateway.fake_upstream.embeddings import embed_request
from gemini_gateway.fake_upstream.errors import FakeApiError, Json, invalid_argument, route_not_found
from gemini_gateway.fake_upstream.files import base_url, paged_list, read_small, send_answer
from gemini_gateway.fake_upstream.generation import plan_answer
from gemini_gateway.fake_upstream.models import find_model
from gemini_gateway.fake_upstream.projects import (
    FILE_URI,
    Project,
    check_files,
    file_denied,
    json_body,
    new_id,
    rfc3339,
)
from gemini_gateway.fake_upstream.proto_json import (
    EMBED_CONTENT_REQUEST,
    GENERATE_CONTENT_REQUEST,
    parse_body,
)
from gemini_gateway.fake_upstream.responses import render_response

_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."
_PATH = re.compile(
    r"^(?:/download)?/(?P<version>v1beta|v1)/(?:"
    r"models/(?P<model>[^/:]+):(?P<rpc>batchGenerateContent|asyncBatchEmbedContent)"
    r"|batches(?:/(?P<batch>[^/:]+)(?P<cancel>:cancel)?)?"
    r"|files/(?P<file>[^/:]+):download)$"
)
_REQUEST = {
    "batchGenerateContent": "BatchGenerateContentRequest",
    "asyncBatchEmbedContent": "AsyncBatchEmbedContentRequest",
}
_TERMINAL = ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED")


def batch_denied(batch_id: str) -> FakeApiError:
    return FakeApiError(
        403, f"You do not have permission to access the Batch {batch_id} or it may not exist."
    )


# One request's result from (project, model, request): `{"response"}` or `{"error"}`.
Answer = Callable[[Project, Any, Any], Json]


@dataclass(slots=True)
class StoredBatch:
    id: str
    model: str  # "models/gemini-2.5-flash"
    display_name: str | None
    created: float
    results: list[Json]  # per request: {"response"} or {"error"}, with "metadata" or "key"
    input_file: str | None  # "files/x" for a file batch
    base_url: str
    version: str
    state: str = "BATCH_STATE_PENDING"
    updated: float = 0.0
    ended: float | None = None
    responses_file: str | None = None
    polls: int = field(default=0)
    kind: str = "GenerateContentBatch"  # or EmbedContentBatch: the metadata's and output's @type

    @property
    def name(self) -> str:
        return f"batches/{self.id}"

    def advance(self, project: Project) -> None:
        """One poll's worth of progress: pending -> running -> succeeded."""
        if self.state == "BATCH_STATE_PENDING":
            self._move("BATCH_STATE_RUNNING")
        elif self.state == "BATCH_STATE_RUNNING":
            if self.input_file is not None:
                self.responses_file = _write_responses(project, self)
            self._move("BATCH_STATE_SUCCEEDED")

    def cancel(self) -> None:
        if self.state in _TERMINAL:
            raise FakeApiError(
                400, f"Batch {self.name} is already in a terminal state.", status="FAILED_PRECONDITION"
            )
        self._move("BATCH_STATE_CANCELLED")

    def _move(self, state: str) -> None:
        self.state, self.updated = state, time.time()
        if state in _TERMINAL:
            self.ended = self.updated

    def to_operation(self) -> Json:
        done = self.state in _TERMINAL
        succeeded = sum(1 for r in self.results if "response" in r)
        stats = {"requestCount": str(len(self.results))}
        if self.state == "BATCH_STATE_SUCCEEDED":
            stats["successfulRequestCount"] = str(succeeded)
            if len(self.results) - succeeded:
                stats["failedRequestCount"] = str(len(self.results) - succeeded)
        elif not done:
            stats["pendingRequestCount"] = str(len(self.results))
        metadata: Json = {"@type": _TYPE + self.kind, "model": self.model}
        if self.display_name:
            metadata["displayName"] = self.display_name
        metadata.update(
            {
                "createTime": rfc3339(self.created),
                "updateTime": rfc3339(self.updated or self.created),
                "batchStats": stats,
                "state": self.state,
                "name": self.name,
            }
        )
        if self.ended is not None:
            metadata["endTime"] = rfc3339(self.ended)
        operation: Json = {"name": self.name, "metadata": metadata, "done": done}
        if self.state == "BATCH_STATE_SUCCEEDED":
            output: Json = (
                {"responsesFile": self.responses_file}
                if self.responses_file
                else {"inlinedResponses": {"inlinedResponses": self.results}}
            )
            metadata["output"] = output
            operation["response"] = {"@type": _TYPE + self.kind + "Output", **output}
        return operation


def claims(path: str) -> bool:
    return _PATH.match(path) is not None


async def handle_batches(state: Any, key: str, scope: Scope, receive: Receive, send: Send) -> None:
    """One admitted call (the key checked by the caller) on a batch route."""
    match = _PATH.match(scope["path"])
    assert match is not None  # claims() said so
    method = scope["method"]
    project: Project = state.projects.project(key)
    if match["model"] and method == "POST":
        body = await read_small(receive, 64 * 1024 * 1024)
        answer = _create(project, match["model"], match["rpc"], body, scope)
    elif match["file"] and method == "GET":
        stored = project.files.get(match["file"])
        if stored is None or stored.content is None or stored.source != "GENERATED":
            raise file_denied(match["file"])
        await send_answer(send, 200, stored.content, [(b"content-type", b"application/jsonl")])
        return
    elif match["batch"] is None and not match["file"] and method == "GET" and not match["model"]:
        answer = _list(project, scope)
    elif match["batch"] is not None:
        batch = project.batches.get(match["batch"])
        if batch is None:
            raise batch_denied(match["batch"])
        if match["cancel"] and method == "POST":
            batch.cancel()
            answer = json_body({})
        elif not match["cancel"] and method == "GET":
            batch.advance(project)
            answer = json_body(batch.to_operation())
        elif not match["cancel"] and method == "DELETE":
            del project.batches[batch.id]
            answer = json_body({})
        else:
            raise route_not_found()
    else:
        raise route_not_found()
    await send_answer(send, 200, answer)


def rpc_name(scope: Scope) -> str:
    """The call's name in the fake's call log."""
    match = _PATH.match(scope["path"])
    if match is None:
        return "batches"
    if match["model"]:
        return match["rpc"]
    if match["file"]:
        return "downloadFile"
    if match["cancel"]:
        return "cancelBatch"
    verb = {"GET": "get", "DELETE": "delete"}.get(scope["method"], "post")
    return f"{verb}Batch" if match["batch"] else "listBatches"


def _create(project: Project, model_id: str, rpc: str, body: bytes, scope: Scope) -> bytes:
    embedding = rpc == "asyncBatchEmbedContent"
    model = find_model(model_id)
    if model is None or not model.supports(rpc if embedding else "generateContent"):
        raise FakeApiError(404, f"models/{model_id} is not found for {rpc}.")
    answer = _embed_answer if embedding else _answer
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise invalid_argument("Invalid JSON payload received.") from None
    batch = request.get("batch") if isinstance(request, dict) else None
    config = batch.get("inputConfig") or batch.get("input_config") if isinstance(batch, dict) else None
    if not isinstance(batch, dict) or not isinstance(config, dict):
        raise invalid_argument(f"* {_REQUEST[rpc]}.batch.input_config: input_config is required")
    file_name = config.get("fileName") or config.get("file_name")
    wrapper = config.get("requests") or {}
    if isinstance(file_name, str):
        results, input_file = _file_requests(project, model, file_name, answer), file_name
    elif isinstance(wrapper, dict) and isinstance(wrapper.get("requests"), list) and wrapper["requests"]:
        results, input_file = _inline_requests(project, model, wrapper["requests"], answer), None
    else:
        raise invalid_argument(f"* {_REQUEST[rpc]}.batch.input_config: requests or file_name required")
    now = time.time()
    stored = StoredBatch(
        id=new_id(24),
        model=f"models/{model.id}",
        display_name=batch.get("displayName") or batch.get("display_name"),
        created=now,
        results=results,
        input_file=input_file,
        base_url=base_url(scope),
        version=scope["path"].split("/")[1],
        kind="EmbedContentBatch" if embedding else "GenerateContentBatch",
    )
    project.batches[stored.id] = stored
    return json_body(stored.to_operation())


def _answer(project: Project, model: Any, request: Any) -> Json:
    """One request's result: the fake's generateContent answer, or the error it would send."""
    try:
        if not isinstance(request, dict):
            raise invalid_argument("Each batch request must be a GenerateContentRequest.")
        request = {k: v for k, v in request.items() if k != "model"}
        body = orjson.dumps(request)
        parsed = parse_body(body, GENERATE_CONTENT_REQUEST)
        check_files(project, parsed.get("contents") or (), time.time())
        return {"response": render_response(plan_answer(model, parsed, body))}
    except FakeApiError as error:
        return {"error": {"code": error.code, "message": error.message}}


def _embed_answer(project: Project, model: Any, request: Any) -> Json:
    """One embedding request's result: the fake's embedContent answer, or its error."""
    try:
        if not isinstance(request, dict):
            raise invalid_argument("Each batch request must be an EmbedContentRequest.")
        parsed = parse_body(orjson.dumps(request), EMBED_CONTENT_REQUEST)
        return {"response": {"embedding": embed_request(model, parsed, "EmbedContentRequest")}}
    except FakeApiError as error:
        return {"error": {"code": error.code, "message": error.message}}


def _inline_requests(project: Project, model: Any, items: list[Any], answer: Answer) -> list[Json]:
    results = []
    for item in items:
        item = item if isinstance(item, dict) else {}
        result = answer(project, model, item.get("request"))
        if "metadata" in item:
            result["metadata"] = item["metadata"]
        results.append(result)
    return results


def _file_requests(project: Project, model: Any, file_name: str, answer: Answer) -> list[Json]:
    match = FILE_URI.match(file_name)
    if match is None:
        raise invalid_argument(f"Invalid file name {file_name!r}.")
    stored = project.files.get(match.group(1))
    if stored is None:
        raise file_denied(match.group(1))
    if stored.content is None:
        raise invalid_argument("The fake reads batch input files of up to 1 MiB.")
    results = []
    for line in stored.content.splitlines():
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            item = {}
        item = item if isinstance(item, dict) else {}
        result: Json = {"key": item["key"]} if "key" in item else {}
        results.append({**result, **answer(project, model, item.get("request"))})
    if not results:
        raise invalid_argument(f"The input file {file_name} holds no requests.")
    return results


def _write_responses(project: Project, batch: StoredBatch) -> str:
    content = b"".join(orjson.dumps(result) + b"\n" for result in batch.results)
    stored = project.add_generated_file(
        f"batch-{batch.id}"[:40],
        f"{batch.name} responses",
        "application/jsonl",
        content,
        batch.base_url,
        batch.version,
    )
    return stored.name


def _list(project: Project, scope: Scope) -> bytes:
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    batches = sorted(project.batches.values(), key=lambda b: b.created, reverse=True)
    return paged_list(batches, "operations", query, 10, 1000, StoredBatch.to_operation)

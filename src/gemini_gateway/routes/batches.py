"""Batch mode as Google serves it (google-genai's `client.batches`), for v1beta and v1, also
under `/gemini`:

    POST   /{v}/models/{model}:batchGenerateContent   create (inline requests or an input file)
    POST   /{v}/models/{model}:asyncBatchEmbedContent embeddings batch (`client.batches.create_embeddings`)
    GET    /{v}/batches                               list, merged over every credential
    GET    /{v}/batches/{id}                          get (the SDK's poll)
    POST   /{v}/batches/{id}:cancel                   cancel
    DELETE /{v}/batches/{id}                          delete
    GET    /{v}/files/{id}:download?alt=media         a responses file (also under /download/{v})

A batch runs in the project of the key that created it, and only that key can see it: the
gateway remembers `batches/{id}` with its credential and sends every later call there. A batch
whose input is an uploaded file must be created by the file's key; the dispatcher's binder pins
the create call to it (`affinity.refs` reads `batch.inputConfig.fileName` and what inlined
requests name; an embeddings batch's requests name content parts). A finished batch's responses file is in the same project, so it is remembered
with the batch's credential when a poll reveals it.

The SDK downloads with `GET /{v}/files/{id}:download?alt=media` (files.py in google-genai 3.x);
Google's REST reference shows the `/download/{v}/...` media path: both are served, the SDK wins.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from gemini_gateway.affinity.resources import (
    FILES_SCOPE,
    affinity_of,
    decode_object,
    on_owner,
)
from gemini_gateway.auth import ClientIdentity
from gemini_gateway.backends.base import ResourceReply
from gemini_gateway.context import Gateway
from gemini_gateway.errors import RequestError
from gemini_gateway.exchange import Exchange
from gemini_gateway.resource_names import api_version, resource_id
from gemini_gateway.routes.asgi import Receive, Scope, Send
from gemini_gateway.routes.owned import (
    answer,
    gemini_route,
    long_running_call,
    long_running_routes,
    merged_list,
    query_of,
    start_long_running,
)

# Batch calls keep their cooldowns apart from generation: Google's batch quotas (concurrent
# batches, enqueued tokens) are not a model's per-minute quota.
BATCHES_SCOPE = "batches"
# The create calls, and the request each names in Google's errors.
_REQUEST = {
    "batchGenerateContent": "BatchGenerateContentRequest",
    "asyncBatchEmbedContent": "AsyncBatchEmbedContentRequest",
}


async def _learn(gateway: Gateway, reply: ResourceReply, client_id: str | None) -> None:
    """The batch an answer names, and its responses file, live with the credential that answered."""
    operation = decode_object(reply.body)
    owners = affinity_of(gateway).owners
    name = operation.get("name")
    if isinstance(name, str) and name.startswith("batches/"):
        await owners.remember(name, reply.credential_id, client_id=client_id)
    responses = _responses_file(operation)
    if responses is not None:
        await owners.remember(responses, reply.credential_id, client_id=client_id)


def _responses_file(operation: dict[str, Any]) -> str | None:
    for holder in (operation.get("metadata"), operation.get("response")):
        output = holder.get("output") if isinstance(holder, dict) else None
        name = output.get("responsesFile") if isinstance(output, dict) else None
        if isinstance(name, str) and name.startswith("files/"):
            return name
    return None


async def create(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """POST /{v}/models/{model}:batchGenerateContent and :asyncBatchEmbedContent (an embeddings
    batch: the same Operation `batches/{id}`, polled, listed and cancelled as any batch). Bound by
    the dispatcher's binder when the batch names a file (its input, or in a request)."""
    await start_long_running(
        gateway, exchange, client, scope, receive, send, "batches.create", BATCHES_SCOPE, _learn, _check_batch
    )


def _check_batch(rpc: str, request: dict[str, Any]) -> None:
    if not isinstance(request.get("batch"), dict):
        raise RequestError(f"* {_REQUEST[rpc]}.batch: batch is required")


async def list_batches(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """GET /{v}/batches: every credential's batches as one paged list."""
    await merged_list(gateway, exchange, scope, send, "batches", BATCHES_SCOPE, 1000, items_key="operations")


async def one_batch(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """GET, DELETE /{v}/batches/{id} and POST /{v}/batches/{id}:cancel, on the batch's key."""
    name = f"batches/{resource_id('batches', scope['path_params']['batch_id'])}"
    await long_running_call(gateway, exchange, scope, send, name, "batches", BATCHES_SCOPE, _learn)


async def download(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """GET /{v}/files/{id}:download?alt=media: a generated file's bytes, from its project."""
    name = f"files/{resource_id('files', scope['path_params']['file_id'])}"
    version = api_version(scope["path"])
    params = {"alt": query_of(scope).get("alt", "media")}
    reply = await on_owner(
        gateway,
        exchange,
        name,
        "files.download",
        FILES_SCOPE,
        "GET",
        f"{version}/{name}:download",
        version=version,
        params=params,
    )
    await answer(send, exchange, reply)


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for prefix in ("", "/gemini"):
        for version in ("v1beta", "v1"):
            root = f"{prefix}/{version}"
            table += [gemini_route(f"{root}/models/{{model}}:{rpc}", create, "POST") for rpc in _REQUEST]
            table += [
                gemini_route(f"{root}/batches", list_batches, "GET"),
                *long_running_routes(f"{root}/batches", "batch_id", one_batch),
            ]
            for media in ("", "/download"):
                table.append(
                    gemini_route(f"{prefix}{media}/{version}/files/{{file_id}}:download", download, "GET")
                )
    return table

"""Long-running operations as google-genai reaches them, for v1beta and v1, also under `/gemini`:

    POST   /{v}/models/{model}:predictLongRunning    start one (Veo's REST call; google-genai 3.x
                                                     sends `generate_videos` in Vertex mode only)
    GET    /{v}/models/{model}/operations/{id}       its poll (`client.operations.get`)
    GET    /{v}/operations                           list, merged over every credential
    GET    /{v}/operations/{id}                      Google's generic operations.get
    POST   /{v}/operations/{id}:cancel               cancel
    DELETE /{v}/operations/{id}                      delete

`client.operations.get(op)` sends `GET /{v}/{op.name}` whatever the name is, so the other
operations it polls have routes of their own that already go to their holder's key: batches
(`batches/{id}`, routes/batches.py) and File Search imports and uploads
(`fileSearchStores/{id}/[upload/]operations/{op}`, routes/file_search.py).

An operation lives in the project of the key that started it (another key gets 403): the gateway
remembers the operation's name with that credential when it starts it, and finds it by asking each
key when it did not (started before the gateway, or by another tool). A finished video operation
names its videos as files of the same project; they are remembered there too, so their download
(`files/{id}:download`, routes/batches.py) goes to that key.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from gemini_gateway.affinity.refs import file_name
from gemini_gateway.affinity.resources import affinity_of, decode_object
from gemini_gateway.auth import ClientIdentity
from gemini_gateway.backends.base import ResourceReply
from gemini_gateway.context import Gateway
from gemini_gateway.exchange import Exchange
from gemini_gateway.resource_names import model_id, resource_id
from gemini_gateway.routes.asgi import Receive, Scope, Send
from gemini_gateway.routes.owned import (
    gemini_route,
    long_running_call,
    long_running_routes,
    merged_list,
    start_long_running,
)

# Polls keep their cooldowns apart from generation, as batch and file calls do; starting one
# spends its model's quota and is scoped to the model.
OPERATIONS_SCOPE = "operations"


def _operation_name(scope: Scope) -> str:
    params = scope["path_params"]
    operation = resource_id("operations", params["operation_id"])
    if "model" in params:
        return f"models/{model_id(params['model'])}/operations/{operation}"
    return f"operations/{operation}"


async def _learn(gateway: Gateway, reply: ResourceReply, client_id: str | None) -> None:
    """The operation an answer names, and the files a finished one generated, live with the
    credential that answered."""
    operation = decode_object(reply.body)
    owners = affinity_of(gateway).owners
    name = operation.get("name")
    if isinstance(name, str) and (name.startswith("operations/") or "/operations/" in name):
        await owners.remember(name, reply.credential_id, client_id=client_id)
    for generated in _generated_files(operation):
        await owners.remember(generated, reply.credential_id, client_id=client_id)


def _generated_files(operation: dict[str, Any]) -> list[str]:
    """`files/x` of each video a finished generateVideos operation names by uri."""
    response = operation.get("response")
    videos = response.get("generateVideoResponse") if isinstance(response, dict) else None
    samples = videos.get("generatedSamples") if isinstance(videos, dict) else None
    found: list[str] = []
    for sample in samples if isinstance(samples, list) else ():
        video = sample.get("video") if isinstance(sample, dict) else None
        uri = video.get("uri") if isinstance(video, dict) else None
        if isinstance(uri, str) and (name := file_name(uri.partition("?")[0].removesuffix(":download"))):
            found.append(name)
    return found


async def start(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """POST /{v}/models/{model}:predictLongRunning: a new operation balances like any call."""
    await start_long_running(
        gateway, exchange, client, scope, receive, send, "predictLongRunning", None, _learn
    )


async def one(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """GET and DELETE of an operation, and POST `…:cancel`, on the key that started it."""
    name = _operation_name(scope)
    await long_running_call(gateway, exchange, scope, send, name, "operations", OPERATIONS_SCOPE, _learn)


async def list_operations(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """GET /{v}/operations: every credential's operations as one paged list."""
    await merged_list(gateway, exchange, scope, send, "operations", OPERATIONS_SCOPE, 100)


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for prefix in ("", "/gemini"):
        for version in ("v1beta", "v1"):
            root = f"{prefix}/{version}"
            table += [
                gemini_route(f"{root}/models/{{model}}:predictLongRunning", start, "POST"),
                gemini_route(f"{root}/models/{{model}}/operations/{{operation_id}}", one, "GET"),
                gemini_route(f"{root}/operations", list_operations, "GET"),
                *long_running_routes(f"{root}/operations", "operation_id", one),
            ]
    return table

"""File Search stores as Google serves them (google-genai's `client.file_search_stores`,
`.documents` and `client.operations`), for v1beta and v1, also under `/gemini`:

    POST   /{v}/fileSearchStores                             create
    GET    /{v}/fileSearchStores                             list, merged over every credential
    GET    /{v}/fileSearchStores/{id}                        get
    DELETE /{v}/fileSearchStores/{id}?force=                 delete
    POST   /upload/{v}/fileSearchStores/{id}:uploadToFileSearchStore   resumable upload
    POST   /{v}/fileSearchStores/{id}:importFile             import an uploaded file
    GET    /{v}/fileSearchStores/{id}/operations/{op}        an import's operation
    GET    /{v}/fileSearchStores/{id}/upload/operations/{op} an upload's operation
    GET    /{v}/fileSearchStores/{id}/documents[/{doc}]      documents; DELETE one (?force=)

A store lives in the project of the key that created it, and so do its documents and
operations: every call under `fileSearchStores/{id}` goes to that key. A generateContent whose
`fileSearch` tool names a store is pinned to it by the dispatcher's binder (`affinity.refs`).

Uploads follow the Files API's resumable protocol (routes/files.py): the start goes to the
store's key, the client gets an upload URL pointing at the gateway with an opaque id, and the
chunks, which google-genai posts to that URL without an API key, go to the same key.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from gemini_gateway.affinity.resources import (
    affinity_of,
    decode_object,
    on_owner,
    owner_credential,
)
from gemini_gateway.affinity.upstream import resource_request
from gemini_gateway.auth import ClientIdentity
from gemini_gateway.backends.base import Backend, ResourceReply, UpstreamCall
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.errors import ClientGone, GatewayError, RequestError, UpstreamUnreachable
from gemini_gateway.exchange import Exchange, get_exchange
from gemini_gateway.pool.credential import Credential
from gemini_gateway.resource_names import RESOURCE_ID, api_version, resource_id, scope_of
from gemini_gateway.routes.asgi import ASGIEndpoint, Receive, Scope, Send, read_body
from gemini_gateway.routes.errors import send_error
from gemini_gateway.routes.files import (
    METADATA_LIMIT,
    answer_upload,
    continue_upload,
    public_url,
    send_upload_error,
    upload_headers,
)
from gemini_gateway.routes.owned import (
    answer,
    create_balanced,
    forwarded,
    gemini_route,
    merged_list,
    on_named,
    query_of,
)

STORES_SCOPE = "fileSearchStores"  # cooldowns apart from generation, as for files and caches
_LIST_PARAMS = ("pageSize", "pageToken", "page_size", "page_token")
_UNDER_STORE = {  # what lives under a store, and the verbs each takes
    ("documents",): ("GET",),
    ("documents", "*"): ("GET", "DELETE"),
    ("operations", "*"): ("GET",),
    ("upload", "operations", "*"): ("GET",),
}


def _store_name(scope: Scope) -> str:
    return f"fileSearchStores/{resource_id('fileSearchStores', scope['path_params']['store_id'])}"


async def collection(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """POST (create) and GET (list) /{v}/fileSearchStores."""
    version = api_version(scope["path"])
    if scope["method"] == "GET":
        await merged_list(gateway, exchange, scope, send, "fileSearchStores", STORES_SCOPE, 20)
        return
    body = await read_body(receive, METADATA_LIMIT)
    path = f"{version}/fileSearchStores"
    reply = await create_balanced(
        gateway, exchange, "fileSearchStores.create", STORES_SCOPE, path, body or b"{}"
    )
    name = decode_object(reply.body).get("name")
    if isinstance(name, str) and name.startswith("fileSearchStores/"):
        await affinity_of(gateway).owners.remember(name, reply.credential_id, client_id=exchange.client_id)
    await answer(send, exchange, reply)


async def one_store(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """GET and DELETE (`?force=`) /{v}/fileSearchStores/{id}, on the store's key."""
    params = forwarded(scope, ("force",)) if scope["method"] == "DELETE" else None
    reply = await on_named(
        gateway, exchange, scope, _store_name(scope), "fileSearchStores", STORES_SCOPE, params=params
    )
    await answer(send, exchange, reply)


async def import_file(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """POST /{v}/fileSearchStores/{id}:importFile `{fileName}`: the file must be in the store's project."""
    name = _store_name(scope)
    version = api_version(scope["path"])
    body = await read_body(receive, METADATA_LIMIT)
    file_name = decode_object(body).get("fileName") or decode_object(body).get("file_name")
    if isinstance(file_name, str):
        owners = affinity_of(gateway).owners
        store_owner, file_owner = await owners.owner(name), await owners.owner(file_name)
        if store_owner and file_owner and store_owner.credential_id != file_owner.credential_id:
            raise RequestError(
                f"{file_name} and {name} were created with different upstream credentials; a file "
                "can only be imported into a store of its own project (upload it into the store instead)"
            )
    reply = await on_owner(
        gateway,
        exchange,
        name,
        "fileSearchStores.importFile",
        STORES_SCOPE,
        "POST",
        f"{version}/{name}:importFile",
        version=version,
        body=body,
    )
    await answer(send, exchange, reply)


async def under_store(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """Documents and operations of a store: `documents`, `documents/{d}`, `operations/{o}`,
    `upload/operations/{o}` (GET; DELETE for one document), on the store's key."""
    name = _store_name(scope)
    version = api_version(scope["path"])
    rest = scope["path_params"]["rest"].split("/")
    verb = scope["method"]
    if not all(RESOURCE_ID.fullmatch(part) for part in rest):
        raise RequestError(f"{scope['path_params']['rest'][:80]!a} is not a resource name")
    shape = tuple(part if part in ("documents", "operations", "upload") else "*" for part in rest)
    if verb not in _UNDER_STORE.get(shape, ()):
        raise RequestError(f"the route {verb} {scope['path']} does not exist", status_code=404)
    method = "fileSearchStores.operations" if "operations" in rest else "fileSearchStores.documents"
    params = forwarded(scope, ("force",) if verb == "DELETE" else _LIST_PARAMS)
    reply = await on_owner(
        gateway,
        exchange,
        name,
        method,
        STORES_SCOPE,
        verb,
        f"{version}/{name}/{'/'.join(rest)}",
        version=version,
        params=params,
    )
    await answer(send, exchange, reply)


async def upload(scope: Scope, receive: Receive, send: Send) -> None:
    """POST /upload/{v}/fileSearchStores/{id}:uploadToFileSearchStore: a resumable start on the
    store's key, or (`?upload_id=`, keyless) a later request of that upload."""
    gateway = gateway_of(scope)
    exchange = get_exchange(scope)
    exchange.dialect, exchange.route = "gemini", scope["path"]
    upload_id = query_of(scope).get("upload_id")
    try:
        if upload_id:
            await continue_upload(gateway, exchange, scope, receive, send, upload_id)
            return
        exchange.client_id = gateway.auth.client(scope).id
        await _start(gateway, exchange, scope, receive, send)
    except GatewayError as exc:
        if upload_id and exc.status_code < 500:
            await send_upload_error(send, exc, exchange)  # final: the client must not retry it
        else:
            await send_error(send, exc, "gemini", exchange)
    except ClientGone:
        exchange.status, exchange.error = 499, "client disconnected"


async def _start(gateway: Gateway, exchange: Exchange, scope: Scope, receive: Receive, send: Send) -> None:
    name = _store_name(scope)
    version = api_version(scope["path"])
    body = await read_body(receive, METADATA_LIMIT)
    headers = upload_headers(scope)
    credential, _ = await owner_credential(gateway, exchange, name, STORES_SCOPE, version=version)
    target = f"upload/{version}/{name}:uploadToFileSearchStore"

    async def perform(backend: Backend, chosen: Credential) -> ResourceReply:
        reply = await resource_request(backend, chosen, "POST", target, body=body, headers=headers)
        if not reply.headers.get("x-goog-upload-url"):
            raise UpstreamUnreachable("the upstream started an upload without giving an upload URL")
        return reply

    call = UpstreamCall(
        "fileSearchStores.upload", model=scope_of(STORES_SCOPE), allowed=frozenset({credential.id})
    )
    reply = await gateway.dispatcher.run(call, exchange, perform)
    session = affinity_of(gateway).uploads.open(
        reply.headers["x-goog-upload-url"], reply.credential_id, exchange.client_id or ""
    )
    await answer_upload(send, exchange, reply, public_url(scope, session.id))


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for prefix in ("", "/gemini"):
        for version in ("v1beta", "v1"):
            root = f"{prefix}/{version}/fileSearchStores"
            table += [
                Route(
                    f"{prefix}/upload/{version}/fileSearchStores/{{store_id}}:uploadToFileSearchStore",
                    ASGIEndpoint(upload),
                    methods=["POST"],
                ),
                gemini_route(root, collection, "GET", "POST"),
                gemini_route(f"{root}/{{store_id}}:importFile", import_file, "POST"),
                gemini_route(f"{root}/{{store_id}}", one_store, "GET", "DELETE"),
                gemini_route(f"{root}/{{store_id}}/{{rest:path}}", under_store, "GET", "DELETE"),
            ]
    return table

"""Files API routes as Google serves them: uploads under `/upload/{v}/files`, the rest under
`/{v}/files`, for `v` in v1beta and v1 (the google-genai SDK's default), also under `/gemini`.

Uploads stream: request body chunks go to aiohttp as an async iterator, so a 2 GB file passes
through in pieces of the server's read size. The resumable protocol's upload URL is rewritten to
point at the gateway, with an opaque id standing for Google's URL (see `affinity.uploads`); every
later request of that upload goes to the credential that started it. The credential that ends up
holding each file is remembered (see `affinity.owners`), and calls naming the file go there.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from gemini_gateway.affinity.binder import check_ready
from gemini_gateway.affinity.resources import (
    FILES_SCOPE,
    affinity_of,
    decode_object,
    resource_credentials,
)
from gemini_gateway.affinity.upstream import body_chunks, resource_request
from gemini_gateway.auth import ClientIdentity, token_from_scope
from gemini_gateway.backends.base import Backend, ResourceReply, UpstreamCall
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.errors import (
    ClientGone,
    GatewayError,
    RequestError,
    UpstreamUnreachable,
)
from gemini_gateway.exchange import Exchange, get_exchange
from gemini_gateway.pool.credential import Credential
from gemini_gateway.resource_names import api_version, resource_id, scope_of
from gemini_gateway.routes.asgi import (
    ASGIEndpoint,
    Headers,
    Receive,
    Scope,
    Send,
    gateway_headers,
    header,
    read_body,
    send_response,
)
from gemini_gateway.routes.errors import send_error
from gemini_gateway.routes.owned import (
    answer_json,
    forwarded,
    gemini_route,
    merged_page,
    on_named,
    query_of,
)
from gemini_gateway.timestamps import rfc3339_seconds

UPLOAD_LIMIT = 2 * 1024**3  # Google's largest file
METADATA_LIMIT = 1024 * 1024
_UPLOAD_URL_HEADERS = (b"x-goog-upload-url", b"x-goog-upload-control-url")
_FORWARDED_QUERY = ("uploadType", "upload_protocol")


def _upload_headers(scope: Scope) -> dict[str, str]:
    """The request headers the upload protocol needs upstream; never the client's credentials."""
    kept: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name.startswith(b"x-goog-upload-") or name in (b"content-type", b"content-length"):
            kept[name.decode("latin-1")] = value.decode("latin-1")
    return kept


def _public_url(scope: Scope, upload_id: str) -> str:
    """Where this client reaches the gateway, with the opaque id in place of Google's upload URL.

    The scope's own scheme and Host: a trusted proxy's X-Forwarded-* are already in them
    (gemini_gateway.forwarded); anyone else's must not steer the client's bytes elsewhere."""
    scheme = scope.get("scheme", "http")
    host = header(scope, b"host") or "localhost"
    path = scope.get("root_path", "") + scope["path"]
    return f"{scheme}://{host}{path}?upload_id={upload_id}&upload_protocol=resumable"


async def _answer(
    send: Send, exchange: Exchange, reply: ResourceReply, public_url: str | None = None
) -> None:
    """Pass an upstream answer on with its upload-protocol headers (URLs pointing at the gateway)."""
    extra: Headers = []
    for name, value in reply.headers.items():
        lowered = name.lower().encode("latin-1")
        if not lowered.startswith(b"x-goog-upload-"):
            continue
        if lowered in _UPLOAD_URL_HEADERS:
            if public_url is None:
                continue  # Google's own URL never reaches the client
            value = public_url
        extra.append((lowered, value.encode("latin-1")))
    exchange.status = reply.status
    headers = gateway_headers(exchange, [(b"content-type", reply.content_type.encode()), *extra])
    await send_response(send, reply.status, reply.body, headers)


async def upload(scope: Scope, receive: Receive, send: Send) -> None:
    """POST /upload/v1beta/files: resumable start, a later request of a resumable upload, or a
    one-shot multipart / raw upload."""
    gateway = gateway_of(scope)
    exchange = get_exchange(scope)
    exchange.dialect, exchange.route = "gemini", scope["path"]
    query = query_of(scope)
    upload_id = query.get("upload_id")
    try:
        if upload_id:
            await _continue(gateway, exchange, scope, receive, send, upload_id)
            return
        client = gateway.auth.client(scope)
        exchange.client_id = client.id
        resource_credentials(gateway, "files.upload")  # a clear 501 when no key has a Files API
        protocol = (header(scope, b"x-goog-upload-protocol") or query.get("uploadType") or "").lower()
        if protocol == "resumable":
            await _start(gateway, exchange, scope, receive, send, client.id)
        else:
            await _upload_whole(gateway, exchange, scope, receive, send, client.id)
    except GatewayError as exc:
        if upload_id and exc.status_code < 500:
            # A resumable client retries any answer without an upload status; this one is final.
            await send_error(send, exc, "gemini", exchange, [(b"x-goog-upload-status", b"final")])
        else:
            await send_error(send, exc, "gemini", exchange)
    except ClientGone:
        exchange.status, exchange.error = 499, "client disconnected"


async def _start(
    gateway: Gateway, exchange: Exchange, scope: Scope, receive: Receive, send: Send, client_id: str
) -> None:
    body = await read_body(receive, METADATA_LIMIT)
    headers = _upload_headers(scope)
    params = forwarded(scope, _FORWARDED_QUERY)
    version = api_version(scope["path"])

    async def perform(backend: Backend, credential: Credential) -> ResourceReply:
        reply = await resource_request(
            backend, credential, "POST", f"upload/{version}/files", params=params, body=body, headers=headers
        )
        if not reply.headers.get("x-goog-upload-url"):
            raise UpstreamUnreachable("the upstream started an upload without giving an upload URL")
        return reply

    call = UpstreamCall("files.upload", model=scope_of(FILES_SCOPE), body=body)
    reply = await gateway.dispatcher.run(call, exchange, perform)
    upstream_url = reply.headers["x-goog-upload-url"]
    session = affinity_of(gateway).uploads.open(upstream_url, reply.credential_id, client_id)
    await _answer(send, exchange, reply, _public_url(scope, session.id))


async def _continue(
    gateway: Gateway, exchange: Exchange, scope: Scope, receive: Receive, send: Send, upload_id: str
) -> None:
    """upload / finalize / query of a resumable upload, on the credential that started it.

    The opaque id is the capability, as Google's upload URL is (SDKs send no key here); a caller
    that does present a token must be the client that started the upload.
    """
    affinity = affinity_of(gateway)
    session = affinity.uploads.get(upload_id)
    presented = session is not None and token_from_scope(scope) is not None
    if presented and session is not None and gateway.auth.client(scope).id != session.client_id:
        session = None  # another client's upload looks exactly like no upload at all
    if session is None:
        raise RequestError("no such upload session: unknown, finished or expired", status_code=404)
    exchange.client_id = session.client_id
    credential = gateway.pool.get(session.credential_id)
    if credential is None:
        raise RequestError("the upstream credential of this upload is no longer in the pool", status_code=404)
    check_ready(credential, FILES_SCOPE, "this upload", gateway.pool.clock())
    headers = _upload_headers(scope)
    commands = headers.get("x-goog-upload-command", "").lower()
    has_body = "upload" in commands and headers.get("content-length") != "0"
    chunks = body_chunks(receive, UPLOAD_LIMIT) if has_body else None
    call = UpstreamCall("files.upload", model=scope_of(FILES_SCOPE), allowed=frozenset({credential.id}))
    reply = await gateway.dispatcher.run(
        call,
        exchange,
        lambda backend, chosen: resource_request(
            backend, chosen, "POST", session.upstream_url, body=chunks, headers=headers
        ),
    )
    if reply.headers.get("x-goog-upload-status", "").lower() == "final":
        await _remember_file(gateway, reply, session.client_id)
        affinity.uploads.close(upload_id)
    await _answer(send, exchange, reply, _public_url(scope, upload_id))


async def _upload_whole(
    gateway: Gateway, exchange: Exchange, scope: Scope, receive: Receive, send: Send, client_id: str
) -> None:
    """Multipart or raw: one request carries the file. A streamed body cannot be sent twice, so
    the credential is chosen first and the call is bound to it (no failover)."""
    credentials = {c.id for c in resource_credentials(gateway, "files.upload")}
    chosen = gateway.pool.acquire(FILES_SCOPE, accept=lambda c: c.id in credentials)
    gateway.pool.release_neutral(chosen)  # only chosen here; the dispatcher takes it for the call
    params = forwarded(scope, _FORWARDED_QUERY)
    headers = _upload_headers(scope)
    chunks = body_chunks(receive, UPLOAD_LIMIT)
    target = f"upload/{api_version(scope['path'])}/files"
    call = UpstreamCall("files.upload", model=scope_of(FILES_SCOPE), allowed=frozenset({chosen.id}))
    reply = await gateway.dispatcher.run(
        call,
        exchange,
        lambda backend, credential: resource_request(
            backend, credential, "POST", target, params=params, body=chunks, headers=headers
        ),
    )
    await _remember_file(gateway, reply, client_id)
    await _answer(send, exchange, reply)


async def _remember_file(gateway: Gateway, reply: ResourceReply, client_id: str) -> None:
    file = decode_object(reply.body).get("file")
    if isinstance(file, dict) and isinstance(file.get("name"), str):
        await affinity_of(gateway).owners.remember(
            file["name"],
            reply.credential_id,
            expires_at=rfc3339_seconds(file.get("expirationTime")),
            client_id=client_id,
        )


async def list_files(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """GET /v1beta/files: every credential's files, as one paged list."""
    page = await merged_page(gateway, exchange, scope, "files", FILES_SCOPE, 100, expiry_key="expirationTime")
    await answer_json(send, exchange, page)


async def one_file(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """GET and DELETE /v1beta/files/{id}, on the credential that holds the file."""
    file_id = scope["path_params"]["file_id"]
    if ":" in file_id or not file_id:
        raise RequestError(f"method '{file_id}' is not found", status_code=404)
    name = f"files/{resource_id('files', file_id)}"
    await _answer(send, exchange, await on_named(gateway, exchange, scope, name, "files", FILES_SCOPE))


# File Search store uploads (routes/file_search.py) speak the same resumable protocol.
upload_headers, public_url, answer_upload, continue_upload = _upload_headers, _public_url, _answer, _continue


async def send_upload_error(send: Send, exc: GatewayError, exchange: Exchange) -> None:
    """A resumable client retries any answer without an upload status; this one is final."""
    await send_error(send, exc, "gemini", exchange, [(b"x-goog-upload-status", b"final")])


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for prefix in ("", "/gemini"):
        for version in ("v1beta", "v1"):
            table += [
                Route(f"{prefix}/upload/{version}/files", ASGIEndpoint(upload), methods=["POST"]),
                gemini_route(f"{prefix}/{version}/files", list_files, "GET"),
                gemini_route(f"{prefix}/{version}/files/{{file_id}}", one_file, "GET", "DELETE"),
            ]
    return table

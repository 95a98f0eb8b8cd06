"""The internal routes other replicas relay calls for this replica's tabs to (backends/executor_relay.py).

`RELAY_PATH` takes model calls, `RESOURCE_PATH` Files API and cachedContents calls, uploads
streamed. Both answer only signed requests, each nonce once.

Workers of one `serve --workers N` share its port, so a relay sent to that port reaches any of
them. A worker that does not hold the tab passes the request on, unchanged and streamed, to the
sibling that does, at the loopback address that sibling announced in the registry
(shared/executors.py, `local`, with the `group` of workers it belongs to); the request then
carries `HOP_HEADER`, so it is passed on once at most. The sibling verifies and takes the nonce.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.backends.executor import ExecutorBackend, next_item
from gemini_gateway.backends.executor_hub import ExecutorConnection, ExecutorHub
from gemini_gateway.backends.executor_relay import (
    CALL_HEADER,
    CHUNK,
    DONE,
    HOP_HEADER,
    KEEPALIVE,
    KEEPALIVE_SECONDS,
    RELAY_PATH,
    RELAY_TYPE,
    SIGN_HEADER,
    ExecutorRelay,
    RemoteExecutorCredential,
    failure_frame,
    frame,
    read_call,
    verify,
)
from gemini_gateway.backends.executor_relay_resources import (
    RESOURCE_PATH,
    body_key,
    read_resource,
    reply_frames,
    verified_body,
    whole,
)
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.errors import ClientGone, GatewayError, UpstreamUnreachable
from gemini_gateway.routes.asgi import ASGIEndpoint, Receive, Scope, Send
from gemini_gateway.transport.base import Body

_RELAY_HEADERS = [(b"content-type", RELAY_TYPE.encode())]


def _hub(gateway: Gateway) -> ExecutorHub:
    hub = gateway.executors
    assert hub is not None, "create_app builds the executor hub"
    return hub


def _relay_client(gateway: Gateway) -> ExecutorRelay | None:
    backend = gateway.dispatcher.backends.get("executor")
    return backend.relay if isinstance(backend, ExecutorBackend) else None


def sibling_of(gateway: Gateway, credential_id: str, headers: Mapping[str, str]) -> str | None:
    """The loopback address of the worker of this `serve` holding the tab, when it is not this one
    and the request was not passed on already."""
    hub = _hub(gateway)
    if HOP_HEADER in headers or not hub.worker_group or credential_id in hub.connections:
        return None
    remote = gateway.pool.get(credential_id)
    if isinstance(remote, RemoteExecutorCredential) and remote.local and remote.group == hub.worker_group:
        return remote.local
    return None


async def _passed_on(
    relay: ExecutorRelay, url: str, headers: Mapping[str, str], body: Body
) -> tuple[int, AsyncIterator[bytes]]:
    """(status, body) of the request as the sibling at `url` answers it; its failure as a frame."""
    sent = {
        CALL_HEADER: headers.get(CALL_HEADER, ""),
        SIGN_HEADER: headers.get(SIGN_HEADER, ""),
        HOP_HEADER: "1",
        "content-type": "application/octet-stream",
    }
    try:
        response = await relay.transport.stream("POST", url, sent, body)
    except UpstreamUnreachable as exc:
        failed = failure_frame(
            UpstreamUnreachable(f"the worker holding the tab did not answer: {exc.message}")
        )
        return 200, _one(failed)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for data in response.chunks():
                yield data
        finally:
            response.close()

    return response.status, chunks()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


# Model calls ---------------------------------------------------------------------------------


async def relay(request: Request) -> Response:
    """Run a call another replica relayed on one of this replica's tabs; stream its payloads back."""
    gateway = gateway_of(dict(request.scope))
    hub = _hub(gateway)
    described = request.headers.get(CALL_HEADER, "")
    signature = request.headers.get(SIGN_HEADER, "")
    body = await request.body()
    nonce = None if hub.relay_secret is None else verify(hub.relay_secret, signature, described, body)
    if nonce is None:
        return Response("not a signed relay from a replica of this gateway", status_code=403)
    try:
        credential_id, call = read_call(described, body)
    except (ValueError, GatewayError) as exc:
        return Response(f"bad relayed call: {exc}", status_code=400)
    sibling = sibling_of(gateway, credential_id, request.headers)
    client = _relay_client(gateway)
    if sibling is not None and client is not None:
        status, answer = await _passed_on(client, sibling + RELAY_PATH, request.headers, body)
        return StreamingResponse(answer, status_code=status, media_type=RELAY_TYPE)
    if not await hub.relay_nonces.first_use(nonce):
        return Response("this signed relay was received before: a replay is refused", status_code=403)
    connection = hub.connections.get(credential_id)
    idle = gateway.settings.upstream_timeout
    return StreamingResponse(_relayed(connection, credential_id, call, idle), media_type=RELAY_TYPE)


async def _relayed(
    connection: ExecutorConnection | None, credential_id: str, call: UpstreamCall, idle: float
) -> AsyncIterator[bytes]:
    if connection is None or connection.closed:
        # Gone since the registry said otherwise: the relaying replica fails over.
        yield failure_frame(UpstreamUnreachable(f"executor {credential_id} is not connected here"))
        return
    try:
        task = connection.start(call)
    except GatewayError as exc:
        yield failure_frame(exc)
        return
    credential = connection.credential
    credential.in_flight += 1  # this replica's own picks see the tab busy with relayed calls too
    try:
        while (item := await next_item(connection, task, idle)) is not None:
            yield frame(CHUNK, item)
        yield frame(DONE)
    except GatewayError as exc:
        yield failure_frame(exc)
    except BaseException:  # the relaying replica hung up: stop the tab spending quota on it
        connection.cancel(task, "the gateway gave the call up")
        raise
    finally:
        credential.in_flight -= 1


# Files API and cachedContents calls ----------------------------------------------------------


async def _received(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives; the relaying replica gone mid-way is ClientGone."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone("the relaying replica went away")
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body", False):
            return


async def _answer(send: Send, status: int, chunks: AsyncIterable[bytes], text: bool = False) -> None:
    kind = b"text/plain; charset=utf-8" if text else RELAY_TYPE.encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]})
    async for data in chunks:
        await send({"type": "http.response.body", "body": data, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def resource_relay(scope: Scope, receive: Receive, send: Send) -> None:
    """Run a Files API or cachedContents call another replica relayed for one of this replica's
    tabs, its body passed on to the tab as it arrives."""
    gateway = gateway_of(scope)
    hub = _hub(gateway)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    described, signature = headers.get(CALL_HEADER, ""), headers.get(SIGN_HEADER, "")
    secret = hub.relay_secret
    nonce = None if secret is None else verify(secret, signature, described, b"")
    if secret is None or nonce is None:
        await _answer(send, 403, _one(b"not a signed relay from a replica of this gateway"), text=True)
        return
    try:
        call = read_resource(described)
    except ValueError as exc:
        await _answer(send, 400, _one(f"bad relayed call: {exc}".encode()), text=True)
        return
    sibling = sibling_of(gateway, call["credential"], headers)
    client = _relay_client(gateway)
    if sibling is not None and client is not None:
        status, answer = await _passed_on(client, sibling + RESOURCE_PATH, headers, _received(receive))
        await _answer(send, status, answer)
        return
    if not await hub.relay_nonces.first_use(nonce):
        refused = b"this signed relay was received before: a replay is refused"
        await _answer(send, 403, _one(refused), text=True)
        return
    body = verified_body(body_key(secret, signature), _received(receive))
    with contextlib.suppress(ClientGone):  # the relaying replica left: nobody to answer
        await _answer(send, 200, _run_resource(gateway, hub, call, body))


async def _run_resource(
    gateway: Gateway, hub: ExecutorHub, call: dict[str, Any], body: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """Frames of one relayed resource call: keep-alives while it runs, then its answer or error."""
    connection = hub.connections.get(call["credential"])
    backend = gateway.dispatcher.backends.get("executor")
    if connection is None or connection.closed or not isinstance(backend, ExecutorBackend):
        yield failure_frame(UpstreamUnreachable(f"executor {call['credential']} is not connected here"))
        return

    async def run() -> bytes:
        given: Body | None = None
        if call["body"] == "bytes":
            given = await whole(body)
        elif call["body"] == "stream":
            given = body
        reply = await backend.resource(
            connection.credential,
            call["verb"],
            call["target"],
            params=call["params"],
            body=given,
            headers=call["headers"],
        )
        return reply_frames(reply)

    credential = connection.credential
    credential.in_flight += 1
    work = asyncio.ensure_future(run())
    try:
        while not work.done():
            await asyncio.wait({work}, timeout=KEEPALIVE_SECONDS)
            if not work.done():
                yield frame(KEEPALIVE)
        try:
            answer = work.result()
        except GatewayError as exc:
            answer = failure_frame(exc)
        yield answer
    finally:
        credential.in_flight -= 1
        if not work.done():
            work.cancel()
            with contextlib.suppress(BaseException):
                await work


def routes() -> list[BaseRoute]:
    return [
        Route(RELAY_PATH, relay, methods=["POST"]),
        Route(RESOURCE_PATH, ASGIEndpoint(resource_relay), methods=["POST"]),
    ]

"""Resource calls (Files API, cachedContents) on one credential, and upload bodies as they come.

Only the Gemini Developer API has these resources: the call goes to the credential's backend if
it is a `ResourceBackend` (the API-key backend, over its transport). Bodies may be bytes or an
async iterator of chunks: an upload streams from the client to Google without ever being whole
in the gateway's memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping

from gemini_gateway.backends.base import Backend, ResourceBackend, ResourceReply, ResourceStream
from gemini_gateway.errors import ClientGone, GatewayError
from gemini_gateway.pool.credential import Credential
from gemini_gateway.routes.asgi import Receive


async def resource_request(
    backend: Backend,
    credential: Credential,
    verb: str,
    target: str,
    *,
    params: Mapping[str, str] | None = None,
    body: bytes | AsyncIterable[bytes] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ResourceReply:
    """`verb` on `target` (a path of names under the API's base URL, or an absolute upload URL)."""
    if not isinstance(backend, ResourceBackend):  # the pool's accept hook keeps other kinds away
        raise GatewayError(f"the {backend.kind} backend has no Files API or cached contents", status_code=501)
    return await backend.resource(credential, verb, target, params=params, body=body, headers=headers)


async def resource_stream(
    backend: Backend,
    credential: Credential,
    verb: str,
    target: str,
    *,
    params: Mapping[str, str] | None = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> ResourceStream:
    """`verb` on `target` like `resource_request`, with the body relayed as it arrives."""
    if not isinstance(backend, ResourceBackend):
        raise GatewayError(f"the {backend.kind} backend has no Interactions API", status_code=501)
    return await backend.resource_stream(credential, verb, target, params=params, body=body, headers=headers)


async def body_chunks(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, chunk by chunk; nothing is joined or kept."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone("the client went away during the upload")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise GatewayError(f"the upload is larger than the {limit} byte limit", status_code=413)
            yield chunk
        if not message.get("more_body", False):
            return

"""The transport of resource calls (Files API, cachedContents) on one API-key credential.

Only the Gemini Developer API has these resources, so only the API-key backend's base URL and
shared session are used. Bodies may be bytes or an async iterator of chunks: an upload streams
from the client to Google without ever being whole in the gateway's memory.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp

from gemini_gateway.backends.api_key import ApiKeyBackend
from gemini_gateway.backends.base import Backend
from gemini_gateway.errors import GatewayError, UpstreamError, UpstreamUnreachable
from gemini_gateway.pool.credential import Credential
from gemini_gateway.resource_names import resource_path
from gemini_gateway.routes.asgi import Receive

JSON = "application/json"
_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")


@dataclass(slots=True)
class ResourceReply:
    status: int
    body: bytes
    headers: Mapping[str, str]  # the upstream's, case-insensitive (aiohttp's own mapping)
    content_type: str = JSON
    credential_id: str = ""  # which credential made the call (the owner of what it created)


def api_key_backend(backend: Backend) -> ApiKeyBackend:
    if not isinstance(backend, ApiKeyBackend):  # the pool's accept hook keeps other kinds away
        raise GatewayError(f"the {backend.kind} backend has no Files API or cached contents", status_code=501)
    return backend


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
    api = api_key_backend(backend)
    absolute = target.startswith(("http://", "https://"))
    url = target if absolute else f"{api.base_url}/{method_path(target)}"
    # The key goes in a header, never the URL, so it cannot leak through logged URLs.
    send_headers = {"content-type": JSON, **(headers or {}), "x-goog-api-key": credential.secret}
    try:
        async with api.http.session.request(
            verb,
            url,
            params=dict(params) if params else None,
            data=body,
            headers=send_headers,
            proxy=api.http.proxy,
        ) as response:
            data = await response.read()
            content_type = response.headers.get("content-type", JSON)
    except TimeoutError as exc:
        raise UpstreamUnreachable("the upstream did not answer in time", status_code=504) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnreachable(f"could not reach the upstream ({type(exc).__name__})") from exc
    if response.status >= 400:
        raise UpstreamError(response.status, data, content_type=content_type)
    return ResourceReply(response.status, data, response.headers, content_type, credential.id)


def method_path(target: str) -> str:
    """`v1/batches/x:cancel` -> the checked path with its custom method (`:cancel`) kept: names
    never hold a colon, so only a method name may follow one."""
    path, colon, method = target.partition(":")
    if colon and _METHOD.fullmatch(method) is None:
        raise GatewayError(f"{method[:40]!a} is not a method name", status_code=400)
    return resource_path(path) + (f":{method}" if colon else "")


class ClientGone(Exception):
    """The client went away in the middle of sending a body."""


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

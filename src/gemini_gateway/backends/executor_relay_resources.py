"""Files API and cachedContents calls of a tab on another replica, relayed like its model calls.

The relaying replica POSTs the backend's `resource` call (verb, target, params, the upload
protocol's headers) to the owner's `RESOURCE_PATH`; the owner runs it on the tab with its own
executor backend, which keeps the tab's open uploads (a resumable upload started through one
replica is continued through any: its upload URL names the owner's upload, the session itself
is sealed, see affinity/uploads.py). The answer comes back in the frames of executor_relay.py:
a head frame (status, headers, content type), the body as one chunk, done; or an error frame.

Bodies stream: an upload passes through in frames as the client sends it, never whole in
either replica. The signature (`sign`, over the call's description) cannot cover a body not yet
read, so each body frame carries its own MAC under a key derived from that signature, numbered,
and an end frame closes the body: a frame changed, dropped, reordered or cut short is refused.
While the owner works it sends a keep-alive frame every KEEPALIVE_SECONDS, so neither side's
read timeout ends an upload that simply takes long.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping
from typing import Any

import orjson

from gemini_gateway.backends.base import JSON, ResourceReply
from gemini_gateway.backends.executor_relay import (
    CALL_HEADER,
    CHUNK,
    DONE,
    ERROR,
    SIGN_HEADER,
    FrameReader,
    RemoteExecutorCredential,
    error_from,
    frame,
    sign,
)
from gemini_gateway.errors import ClientGone, RequestError, StreamCut, UpstreamUnreachable
from gemini_gateway.transport.lazy import LazyAiohttpTransport

RESOURCE_PATH = "/internal/executors/resource"
HEAD, BODY, BODY_END = b"h", b"b", b"z"
SEND_FRAME_BYTES = 1024 * 1024  # a body piece larger than this is sent in several frames
MAX_FRAME_BYTES = 4 * SEND_FRAME_BYTES  # what an owner reads into memory at most per frame
MAX_WHOLE_BYTES = 64 * 1024 * 1024  # a body the owner's backend wants whole (metadata, a cache)
_MAC = 32
BodyMode = str  # "none", "bytes" (the backend wants it whole) or "stream"


# The call, described -------------------------------------------------------------------------


def describe_resource(
    credential_id: str,
    verb: str,
    target: str,
    params: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    body: BodyMode,
) -> str:
    meta = {
        "op": "resource",  # never read as a model call's description (read_call needs "method")
        "credential": credential_id,
        "verb": verb,
        "target": target,
        "params": dict(params or {}),
        "headers": dict(headers or {}),
        "body": body,
    }
    return base64.urlsafe_b64encode(orjson.dumps(meta)).decode()


def read_resource(described: str) -> dict[str, Any]:
    """The described call's fields; ValueError when it is not one."""
    try:
        meta = orjson.loads(base64.urlsafe_b64decode(described))
        if meta["op"] != "resource" or meta["body"] not in ("none", "bytes", "stream"):
            raise ValueError("not a relayed resource call")
        return {
            "credential": str(meta["credential"]),
            "verb": str(meta["verb"]),
            "target": str(meta["target"]),
            "params": {str(k): str(v) for k, v in dict(meta["params"]).items()},
            "headers": {str(k): str(v) for k, v in dict(meta["headers"]).items()},
            "body": meta["body"],
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError("not a relayed resource call") from exc


# Body frames ---------------------------------------------------------------------------------


def body_key(secret: bytes, signature: str) -> bytes:
    """The key of one request's body frames: its signature is unique (a fresh nonce each time)."""
    return hmac.new(secret, b"relay body\n" + signature.encode(), hashlib.sha256).digest()


def _piece_mac(key: bytes, number: int, piece: bytes) -> bytes:
    return hmac.new(key, number.to_bytes(8, "big") + piece, hashlib.sha256).digest()


def _end_mac(key: bytes, count: int) -> bytes:
    return hmac.new(key, b"end" + count.to_bytes(8, "big"), hashlib.sha256).digest()


async def signed_body(
    key: bytes, pieces: AsyncIterable[bytes], failures: list[BaseException]
) -> AsyncGenerator[bytes, None]:
    """The body as MAC'd frames, then the end frame. What the source raised (the client went
    away, a body over the limit) is kept in `failures`: the relay's own error hides it otherwise."""
    number = 0
    try:
        async for piece in pieces:
            for start in range(0, len(piece), SEND_FRAME_BYTES):
                part = piece[start : start + SEND_FRAME_BYTES]
                yield frame(BODY, _piece_mac(key, number, part) + part)
                number += 1
    except BaseException as exc:
        failures.append(exc)
        raise
    yield frame(BODY_END, _end_mac(key, number))


async def verified_body(key: bytes, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The body pieces out of `signed_body`'s frames, each checked before it is passed on."""
    reader = FrameReader(MAX_FRAME_BYTES)
    number = 0
    async for data in chunks:
        try:
            frames = reader.feed(data)
        except ValueError as exc:
            raise RequestError(str(exc), status_code=413) from None
        for kind, payload in frames:
            mac, piece = payload[:_MAC], payload[_MAC:]
            if kind == BODY and hmac.compare_digest(mac, _piece_mac(key, number, piece)):
                number += 1
                if piece:
                    yield piece
            elif kind == BODY_END and hmac.compare_digest(mac, _end_mac(key, number)):
                return
            else:
                raise RequestError("a relayed body frame failed its check", status_code=403)
    raise ClientGone("the relaying replica went away before the body's end")


async def whole(pieces: AsyncIterable[bytes], limit: int = MAX_WHOLE_BYTES) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for piece in pieces:
        size += len(piece)
        if size > limit:
            raise RequestError(f"a relayed body over {limit} bytes", status_code=413)
        parts.append(piece)
    return b"".join(parts)


# The answer ----------------------------------------------------------------------------------


def reply_frames(reply: ResourceReply) -> bytes:
    head = {"status": reply.status, "headers": dict(reply.headers), "content_type": reply.content_type}
    return frame(HEAD, orjson.dumps(head)) + frame(CHUNK, reply.body) + frame(DONE)


# The relaying side ---------------------------------------------------------------------------


async def relay_resource(
    transport: LazyAiohttpTransport,
    secret: bytes,
    credential: RemoteExecutorCredential,
    verb: str,
    target: str,
    *,
    params: Mapping[str, str] | None,
    body: bytes | AsyncIterable[bytes] | None,
    headers: Mapping[str, str] | None,
) -> ResourceReply:
    """`verb target` run by the owner on the tab, as its executor backend answers it."""
    mode = "none" if body is None else "bytes" if isinstance(body, bytes) else "stream"
    described = describe_resource(credential.id, verb, target, params, headers, mode)
    signature = sign(secret, described, b"")
    failures: list[BaseException] = []
    pieces = _once(body or b"") if isinstance(body, bytes | None) else body
    request_headers = {
        CALL_HEADER: described,
        SIGN_HEADER: signature,
        "content-type": "application/octet-stream",
    }
    where = f"executor {credential.label} on replica {credential.owner}"
    stream = signed_body(body_key(secret, signature), pieces, failures)
    try:
        response = await transport.stream("POST", credential.url + RESOURCE_PATH, request_headers, stream)
    except UpstreamUnreachable as exc:
        if failures:
            raise failures[0] from None
        raise UpstreamUnreachable(f"{where} cannot be reached: {exc.message}") from None
    try:
        if response.status != 200:
            raise UpstreamUnreachable(f"{where} refused the relay ({response.status})")
        head: dict[str, Any] | None = None
        answer = b""
        reader = FrameReader()
        try:
            async for data in response.chunks():
                for kind, payload in reader.feed(data):
                    if kind == HEAD:
                        head = orjson.loads(payload)
                    elif kind == CHUNK:
                        answer = payload
                    elif kind == ERROR:
                        raise error_from(payload)
                    elif kind == DONE and head is not None:
                        return ResourceReply(
                            int(head["status"]),
                            answer,
                            {str(k): str(v) for k, v in dict(head["headers"]).items()},
                            str(head.get("content_type") or JSON),
                            credential.id,
                        )
        except StreamCut as exc:
            if failures:
                raise failures[0] from None
            raise UpstreamUnreachable(f"{where}: the relay broke ({exc.message})") from None
        if failures:
            raise failures[0]
        raise UpstreamUnreachable(f"{where}: the relay ended early")
    finally:
        response.close()
        await stream.aclose()


async def _once(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body

"""Executor tabs of other replicas: a call for one is relayed to the replica its tab is connected to.

A tab holds one WebSocket to one replica (its owner). Every replica lists the tabs of the others
in its pool as `RemoteExecutorCredential`s (shared/executors.py keeps that list from the shared
registry), so the dispatcher picks them like any credential, with cooldowns and failover as
usual. The executor backend hands a call for a remote tab to `ExecutorRelay`, which POSTs it to
the owner's internal route (`RELAY_PATH`, routes/executor.py); the owner runs it on the tab and
streams back the tab's payloads unchanged, in frames:

    1 byte kind ("c" a payload, "e" an error, "d" done), 4 bytes big-endian length, the bytes

An error frame holds the error the owner's backend raised (JSON: kind, status, message, and for
Google's own error answer its body), raised again here as the same class, so the dispatcher
judges it exactly as on the owner: Google's 429 cools the tab, a tab gone before any payload
fails over. An owner that cannot be reached is `UpstreamUnreachable` too: the call fails over
and the registry entry expires if the owner is gone for good.

Requests are signed (`sign` / `verify`): HMAC-SHA256 under a key every replica derives from the
shared secret key (or REPLICA_SECRET), over a timestamp, a random nonce, the call's description
and a digest of its body; never a token in the clear. The owner takes each nonce once
(`RelayNonces`, for as long as its timestamp is accepted): a captured request sent again within
that window is refused, so it cannot make a tab spend its quota twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson

from gemini_gateway.backends.base import UpstreamCall, UpstreamReply
from gemini_gateway.backends.executor_protocol import ALL_CAPABILITIES, RESOURCE_CAPABILITIES
from gemini_gateway.errors import (
    CallRefused,
    GatewayError,
    RequestError,
    StreamCut,
    UpstreamError,
    UpstreamUnreachable,
)
from gemini_gateway.pool.credential import Credential
from gemini_gateway.resource_names import bare_model_id
from gemini_gateway.transport.lazy import LazyAiohttpTransport

RELAY_PATH = "/internal/executors/relay"
RELAY_TYPE = "application/x-gateway-relay"
CALL_HEADER = "x-gateway-relay-call"
SIGN_HEADER = "x-gateway-relay-sign"
SIGN_PURPOSE = "gemini-gateway executor relay v1"
MAX_SKEW_SECONDS = 60.0  # a signed request older (or newer) than this is refused
CONNECT_TIMEOUT = 5.0

HOP_HEADER = "x-gateway-relay-hop"  # set by a worker forwarding to the sibling that holds the tab
KEEPALIVE_SECONDS = 15.0  # a frame this often while the owner works, so a long upload never idles out

CHUNK, ERROR, DONE, KEEPALIVE = b"c", b"e", b"d", b"k"
_HEAD = struct.Struct(">cI")


# Frames --------------------------------------------------------------------------------------


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


class FrameReader:
    """Frames out of a byte stream cut anywhere; a frame longer than `limit` is a ValueError."""

    def __init__(self, limit: int | None = None) -> None:
        self._buffer = bytearray()
        self.limit = limit

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buffer += data
        found: list[tuple[bytes, bytes]] = []
        while len(self._buffer) >= _HEAD.size:
            kind, size = _HEAD.unpack_from(self._buffer)
            if self.limit is not None and size > self.limit:
                raise ValueError(f"a relay frame of {size} bytes is over the {self.limit} byte limit")
            end = _HEAD.size + size
            if len(self._buffer) < end:
                break
            found.append((kind, bytes(self._buffer[_HEAD.size : end])))
            del self._buffer[:end]
        return found


def failure_frame(exc: GatewayError) -> bytes:
    """The owner's error as a frame the relaying replica raises again as the same class."""
    kind = (
        "upstream"
        if isinstance(exc, UpstreamError)
        else "request"
        if isinstance(exc, RequestError)
        else "refused"
        if isinstance(exc, CallRefused)
        else "cut"
        if isinstance(exc, StreamCut)
        else "unreachable"
        if isinstance(exc, UpstreamUnreachable)
        else "gateway"
    )
    data: dict[str, Any] = {"kind": kind, "status": exc.status_code, "message": exc.message}
    if isinstance(exc, UpstreamError):
        data["body"] = base64.b64encode(exc.body).decode()
        data["content_type"] = exc.content_type
    return frame(ERROR, orjson.dumps(data))


def error_from(payload: bytes) -> GatewayError:
    try:
        data = orjson.loads(payload)
        kind, status, message = str(data["kind"]), int(data["status"]), str(data["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return UpstreamUnreachable("the relaying replica sent an unreadable error")
    if kind == "upstream":
        body = base64.b64decode(str(data.get("body", "")))
        return UpstreamError(status, body, content_type=str(data.get("content_type") or "application/json"))
    if kind == "request":
        return RequestError(message, status_code=status)
    if kind == "refused":
        return CallRefused(message)
    if kind == "cut":
        return StreamCut(message, status_code=status)
    if kind == "unreachable":
        return UpstreamUnreachable(message, status_code=status)
    return GatewayError(message, status_code=status)


# Signing -------------------------------------------------------------------------------------


def describe_call(credential_id: str, call: UpstreamCall) -> str:
    """The call without its body, for a header (base64url of JSON: names may be any text)."""
    meta = {
        "credential": credential_id,
        "method": call.method,
        "model": call.model,
        "api_version": call.api_version,
        "params": call.params,
    }
    return base64.urlsafe_b64encode(orjson.dumps(meta)).decode()


def read_call(described: str, body: bytes) -> tuple[str, UpstreamCall]:
    """(credential id, call) from `describe_call`'s header; ValueError when it is not one
    (and the RequestError of a model that is no model id)."""
    try:
        meta = orjson.loads(base64.urlsafe_b64decode(described))
        params = {str(k): str(v) for k, v in dict(meta.get("params") or {}).items()}
        call = UpstreamCall(
            method=str(meta["method"]),
            model=None if meta.get("model") is None else bare_model_id(str(meta["model"])),
            body=body,
            api_version=str(meta.get("api_version") or "v1beta"),
            params=params,
        )
        return str(meta["credential"]), call
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError("not a relayed call") from exc


def _mac(secret: bytes, stamp: str, nonce: str, described: str, body: bytes) -> str:
    message = f"{stamp}\n{nonce}\n{described}\n{hashlib.sha256(body).hexdigest()}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(
    secret: bytes, described: str, body: bytes, now: float | None = None, nonce: str | None = None
) -> str:
    """`stamp.nonce.mac`; a fresh nonce each time, so the same call sent twice is two requests."""
    stamp = str(int(now if now is not None else time.time()))
    nonce = nonce or secrets.token_urlsafe(16)  # URL-safe base64 has no "."
    return f"{stamp}.{nonce}.{_mac(secret, stamp, nonce, described, body)}"


def verify(
    secret: bytes, signature: str, described: str, body: bytes, now: float | None = None
) -> str | None:
    """The signature's nonce when it is genuine and recent, else None (the nonce is not yet
    checked against replays: `RelayNonces.first_use` does that)."""
    stamp, _, rest = signature.partition(".")
    nonce, _, mac = rest.partition(".")
    if not stamp.isdigit() or not nonce:
        return None
    if abs((now if now is not None else time.time()) - int(stamp)) > MAX_SKEW_SECONDS:
        return None
    return nonce if hmac.compare_digest(mac, _mac(secret, stamp, nonce, described, body)) else None


SharedOnce = Callable[[str, float], Awaitable[bool | None]]


class RelayNonces:
    """Nonces of signed relays taken so far, each kept as long as its signature could be accepted.

    `shared` (the shared state's `first_use`, with Redis) remembers them for every replica and
    across restarts; it answers None when it cannot, and this process's memory decides instead.
    """

    WINDOW = 2 * MAX_SKEW_SECONDS + 1  # a stamp up to MAX_SKEW in the future stays valid this long

    def __init__(self, shared: SharedOnce | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.shared = shared
        self.clock = clock
        self._seen: dict[str, float] = {}  # nonce -> when it may be forgotten, oldest first

    async def first_use(self, nonce: str) -> bool:
        if self.shared is not None:
            answer = await self.shared(f"relay-nonce:{nonce}", self.WINDOW)
            if answer is not None:
                return answer
        now = self.clock()
        for old, until in list(self._seen.items()):
            if until > now:
                break  # insertion order is expiry order: the rest are younger
            del self._seen[old]
        if nonce in self._seen:
            return False
        self._seen[nonce] = now + self.WINDOW
        return True


# The relaying side ---------------------------------------------------------------------------


class RemoteExecutorCredential(Credential):
    """A tab connected to another replica; `entry` is its line in the shared registry."""

    __slots__ = ("capabilities", "group", "local", "models", "owner", "refused", "url")

    def __init__(self, credential_id: str, entry: Mapping[str, Any]) -> None:
        super().__init__(kind="executor", secret="", id=credential_id, label=str(entry.get("name") or ""))
        self.owner = ""
        self.url = ""
        self.local = ""  # the owner's own loopback address, when it is a worker of `serve --workers`
        self.group = ""  # and the `serve` its workers share
        self.models: frozenset[str] = frozenset()
        self.capabilities: frozenset[str] = frozenset()
        self.refused: set[tuple[str, str | None]] = set()
        self.update(entry)

    def update(self, entry: Mapping[str, Any]) -> None:
        self.owner = str(entry.get("replica") or "")
        self.url = str(entry.get("url") or "").rstrip("/")
        self.local = str(entry.get("local") or "").rstrip("/")
        self.group = str(entry.get("group") or "")
        self.models = frozenset(str(m) for m in entry.get("models") or ())
        # Files and cached contents live in the tab's page: their calls are relayed like the rest
        # (backends/executor_relay_resources.py), uploads included.
        offered = frozenset(str(m) for m in entry.get("capabilities") or ())
        self.capabilities = offered & (ALL_CAPABILITIES | RESOURCE_CAPABILITIES)
        limit = entry.get("max_concurrency")
        self.max_concurrency = int(limit) if isinstance(limit, int) else None

    def serves(self, model: str | None) -> bool:
        return model is None or not self.models or model in self.models

    def offers(self, method: str, model: str | None) -> bool:
        return method in self.capabilities and (method, model) not in self.refused

    def view(self, now: float) -> dict[str, Any]:
        view = super().view(now)
        view.update(state="remote", replica=self.owner, models=sorted(self.models))
        return view


class ExecutorRelay:
    """Sends calls for remote tabs to their owners; one HTTP client for all of them."""

    def __init__(self, secret: bytes, idle_timeout: float) -> None:
        self.secret = secret
        self.idle_timeout = idle_timeout
        # Replicas talk directly: a transport of its own, never through the upstream proxy; made on
        # first use, so a gateway that relays nothing never loads aiohttp for it.
        self.transport = LazyAiohttpTransport(
            proxy=None, connect_timeout=CONNECT_TIMEOUT, read_timeout=idle_timeout + 5.0
        )

    async def unary(self, call: UpstreamCall, credential: RemoteExecutorCredential) -> UpstreamReply:
        body = b""
        async for item in self.items(call, credential):
            body = item  # as from a local tab: a unary answer is its last payload
        return UpstreamReply(200, body)

    async def items(
        self, call: UpstreamCall, credential: RemoteExecutorCredential
    ) -> AsyncGenerator[bytes, None]:
        """The tab's payloads as the owner streams them; raises what the owner's backend raised."""
        described = describe_call(credential.id, call)
        headers = {
            CALL_HEADER: described,
            SIGN_HEADER: sign(self.secret, described, call.body),
            "content-type": "application/octet-stream",
        }
        where = f"executor {credential.label} on replica {credential.owner}"
        try:
            response = await self.transport.stream("POST", credential.url + RELAY_PATH, headers, call.body)
        except UpstreamUnreachable as exc:
            raise UpstreamUnreachable(f"{where} cannot be reached: {exc.message}") from None
        received = 0
        try:
            if response.status != 200:
                raise UpstreamUnreachable(f"{where} refused the relay ({response.status})")
            reader = FrameReader()
            chunks = response.chunks()
            while True:
                try:
                    data = await anext(chunks)
                except StopAsyncIteration:
                    break
                except StreamCut as exc:  # the relay itself broke, not the tab's answer
                    message = f"{where}: the relay broke ({exc.message})"
                    raise (StreamCut if received else UpstreamUnreachable)(message) from None
                for kind, payload in reader.feed(data):
                    if kind == KEEPALIVE:
                        continue
                    if kind == CHUNK:
                        received += 1
                        yield payload
                    elif kind == ERROR:
                        error = error_from(payload)
                        if isinstance(error, CallRefused):
                            credential.refused.add((call.method, call.model))
                        raise error
                    else:
                        return
            raise (StreamCut if received else UpstreamUnreachable)(f"{where}: the relay ended early")
        finally:
            response.close()

    async def aclose(self) -> None:
        await self.transport.aclose()


class RemoteEventStream:
    """A remote tab's stream: the relay starts on the first read, inside the dispatcher's failover."""

    def __init__(
        self, relay: ExecutorRelay, call: UpstreamCall, credential: RemoteExecutorCredential
    ) -> None:
        self._items = relay.items(call, credential)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._items

    async def aclose(self) -> None:
        await self._items.aclose()

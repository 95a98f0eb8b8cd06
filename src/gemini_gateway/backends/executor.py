"""Browser executors as a backend: calls run in a connected tab, results come back over its socket.

The tab forwards the canonical (Gemini-native) call to Gemini with its own access and sends each
GenerateContentResponse back as it arrives, so this backend only moves bytes between the task
queue the hub fills and the dispatcher. Failures map onto the common errors:

- the tab is gone before any payload        UpstreamUnreachable  -> the dispatcher fails over
- the tab is gone after a payload           StreamCut
- the tab reports Google's error answer     UpstreamError (status and body as Google sent them)
- nothing arrives for `idle_timeout`        UpstreamUnreachable / StreamCut with status 504

Giving a task up (client disconnect, timeout) sends `cancel` to the tab, which aborts its fetch.

Tabs that list them also hold Files API files and cached contents (`resource`): the routes' REST
calls become tasks there, uploads included (backends/executor_resources.py); for a tab on another
replica they are relayed to it (backends/executor_relay_resources.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import ClassVar

from gemini_gateway.backends.base import JSON, ResourceReply, ResourceStream, UpstreamCall, UpstreamReply
from gemini_gateway.backends.executor_hub import ExecutorConnection, ExecutorHub, ExecutorTask
from gemini_gateway.backends.executor_protocol import ALL_CAPABILITIES, RESOURCE_CAPABILITIES
from gemini_gateway.backends.executor_relay import ExecutorRelay, RemoteEventStream, RemoteExecutorCredential
from gemini_gateway.backends.executor_relay_resources import relay_resource
from gemini_gateway.backends.executor_resources import (
    CHUNK_GRANULARITY,
    UPLOAD_URL_PREFIX,
    TabUpload,
    TabUploads,
    finish_upload,
    one_shot_parts,
    progress_headers,
    raise_if_ended,
    relay_chunks,
    resource_task,
    upload_error,
    upload_fields,
    upload_start_fields,
)
from gemini_gateway.errors import GatewayError, StreamCut, UpstreamUnreachable
from gemini_gateway.pool.credential import Credential


class ExecutorBackend:
    kind: ClassVar[str] = "executor"

    def __init__(self, hub: ExecutorHub, idle_timeout: float) -> None:
        self.hub = hub
        self.idle_timeout = idle_timeout
        self.uploads = TabUploads()
        # Set while replicas share executors (shared/executors.py): calls for other replicas' tabs.
        self.relay: ExecutorRelay | None = None

    def supports(self, method: str) -> bool:
        # Each tab says which of these it runs (its capabilities); the pool asks it per call.
        return method in ALL_CAPABILITIES or method in RESOURCE_CAPABILITIES

    async def aclose(self) -> None:
        await self.hub.aclose()

    def _relay(self, credential: Credential) -> ExecutorRelay:
        if self.relay is None:
            raise UpstreamUnreachable(f"executor {credential.label} is on another replica: relaying is off")
        return self.relay

    async def unary(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        if isinstance(credential, RemoteExecutorCredential):
            return await self._relay(credential).unary(call, credential)
        connection = self.hub.connection_of(credential)
        task = connection.start(call)
        body = b""
        try:
            while (item := await next_item(connection, task, self.idle_timeout)) is not None:
                body = item  # a unary answer is one chunk; a second would replace, never merge
        except BaseException:
            # Cancelled (client gone) or failed: make sure the tab stops spending quota on it.
            connection.cancel(task, "the gateway gave the call up")
            raise
        return UpstreamReply(200, body)

    async def stream(
        self, call: UpstreamCall, credential: Credential
    ) -> ExecutorEventStream | RemoteEventStream:
        # Returns at once: the tab's verdict (first chunk or error) is the first event, which the
        # dispatcher awaits inside its failover loop, so errors there still fail over.
        if isinstance(credential, RemoteExecutorCredential):
            return RemoteEventStream(self._relay(credential), call, credential)
        connection = self.hub.connection_of(credential)
        return ExecutorEventStream(connection, connection.start(call), self.idle_timeout)

    # Files API and cached contents ------------------------------------------------------------

    async def resource(
        self,
        credential: Credential,
        verb: str,
        target: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResourceReply:
        if isinstance(credential, RemoteExecutorCredential):
            relay = self._relay(credential)
            return await relay_resource(
                relay.transport,
                relay.secret,
                credential,
                verb,
                target,
                params=params,
                body=body,
                headers=headers,
            )
        connection = self.hub.connection_of(credential)
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        if target.startswith(UPLOAD_URL_PREFIX):
            return await self._upload_step(connection, credential, target, body, lowered)
        if target.startswith("upload/"):
            protocol = (
                lowered.get("x-goog-upload-protocol") or (params or {}).get("uploadType") or ""
            ).lower()
            if protocol != "resumable":
                return await self._upload_whole(connection, credential, target, protocol, body, lowered)
            if not isinstance(body, bytes | None):
                raise GatewayError("a resumable start carries its metadata only", status_code=501)
            return self._upload_start(connection, credential, target, body or b"", lowered)
        if not isinstance(body, bytes | None):
            raise GatewayError(f"executors take no streamed body for {verb} {target}", status_code=501)
        method, scope, fields = resource_task(verb, target, params, body or b"")
        answer = await self._answer(connection, connection.start_resource(method, scope, fields))
        return ResourceReply(200, answer, {}, JSON, credential.id)

    async def resource_stream(
        self,
        credential: Credential,
        verb: str,
        target: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResourceStream:
        raise GatewayError("executors do not relay the Interactions API", status_code=501)

    def _upload_start(
        self,
        connection: ExecutorConnection,
        credential: Credential,
        target: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> ResourceReply:
        fields, size = upload_start_fields(target, body, headers)
        task = connection.start_resource("files.upload", "files", fields)
        url = self.uploads.open(TabUpload(connection, task, size))
        answer = {
            "x-goog-upload-status": "active",
            "x-goog-upload-url": url,
            "x-goog-upload-chunk-granularity": str(CHUNK_GRANULARITY),
        }
        return ResourceReply(200, b"", answer, JSON, credential.id)

    async def _upload_whole(
        self,
        connection: ExecutorConnection,
        credential: Credential,
        target: str,
        protocol: str,
        body: bytes | AsyncIterable[bytes] | None,
        headers: Mapping[str, str],
    ) -> ResourceReply:
        """A one-shot upload (media or multipart), as the resumable path does it in one request:
        the metadata opens the `files.upload` task, the media follows in frames as it arrives, the
        body's end is the finalize and the tab's `{"file": ...}` the answer."""
        metadata, mime_type, size, media = await one_shot_parts(protocol, body, headers)
        fields = upload_fields(target, metadata, mime_type, size)
        upload = TabUpload(connection, connection.start_resource("files.upload", "files", fields), size)
        try:
            await relay_chunks(upload, media, self.idle_timeout)
            await finish_upload(upload, self.idle_timeout)
        except BaseException:
            # A malformed or cut body, or a tab that failed: the tab drops the pieces it holds.
            connection.cancel(upload.task, "the upload was given up")
            raise
        answer = await self._answer(connection, upload.task)
        return ResourceReply(200, answer, {"x-goog-upload-status": "final"}, JSON, credential.id)

    async def _upload_step(
        self,
        connection: ExecutorConnection,
        credential: Credential,
        url: str,
        body: bytes | AsyncIterable[bytes] | None,
        headers: Mapping[str, str],
    ) -> ResourceReply:
        """`upload`, `finalize` and `query` of a resumable upload, as Google answers them."""
        upload = self.uploads.get(url)
        if upload is None or upload.connection is not connection:
            # A reconnected tab is a new page: the pieces the old one held are gone.
            raise upload_error(404, "Upload session not found or already finished.")
        raise_if_ended(upload)
        commands = {c.strip() for c in headers.get("x-goog-upload-command", "").lower().split(",")}
        if "query" in commands:
            return ResourceReply(200, b"", progress_headers(upload), JSON, credential.id)
        if "upload" in commands:
            offset = headers.get("x-goog-upload-offset", "0")
            if not offset.isdigit() or int(offset) != upload.received:
                raise upload_error(
                    400, f"Invalid offset {offset}: {upload.received} bytes were received so far."
                )
            if body is not None:
                await relay_chunks(upload, body, self.idle_timeout)
        if "finalize" in commands:
            self.uploads.close(url)
            await finish_upload(upload, self.idle_timeout)
            answer = await self._answer(connection, upload.task)
            return ResourceReply(200, answer, {"x-goog-upload-status": "final"}, JSON, credential.id)
        if "upload" not in commands:
            raise upload_error(400, "X-Goog-Upload-Command must be upload, finalize, query or a combination.")
        return ResourceReply(200, b"", progress_headers(upload), JSON, credential.id)

    async def _answer(self, connection: ExecutorConnection, task: ExecutorTask) -> bytes:
        """The tab's one answer to a resource task (`{}` when it sent none, as for a delete)."""
        answer = b"{}"
        try:
            while (item := await next_item(connection, task, self.idle_timeout)) is not None:
                answer = item
        except BaseException:
            connection.cancel(task, "the gateway gave the call up")
            raise
        return answer


class ExecutorEventStream:
    def __init__(self, connection: ExecutorConnection, task: ExecutorTask, idle_timeout: float) -> None:
        self.connection = connection
        self.task = task
        self.idle_timeout = idle_timeout

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events()

    async def _events(self) -> AsyncIterator[bytes]:
        while (item := await next_item(self.connection, self.task, self.idle_timeout)) is not None:
            yield item

    async def aclose(self) -> None:
        self.connection.cancel(self.task, "the client went away")


async def next_item(connection: ExecutorConnection, task: ExecutorTask, idle: float) -> bytes | None:
    """The task's next payload, None when done; raises the task's error or a timeout."""
    try:
        async with asyncio.timeout(idle):
            item = await task.queue.get()
    except TimeoutError:
        connection.cancel(task, "timed out")
        message = f"executor {connection.name} sent nothing for {idle:g}s"
        raise (StreamCut if task.chunks else UpstreamUnreachable)(message, status_code=504) from None
    if isinstance(item, GatewayError):
        raise item
    return item

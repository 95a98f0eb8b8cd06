"""Gemini Developer API with API keys: the canonical form goes through byte for byte."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import ClassVar

from gemini_gateway.backends.base import (
    INTERACTION_METHODS,
    MODEL_METHODS,
    RESOURCE_METHODS,
    ResourceReply,
    ResourceStream,
    UpstreamCall,
    UpstreamReply,
)
from gemini_gateway.pool.credential import Credential
from gemini_gateway.resource_names import method_path, model_segment
from gemini_gateway.sse import SSEParser
from gemini_gateway.transport.base import Body, Streamed, Transport, error_of, raise_for_status, with_query

JSON = "application/json"


class ApiKeyBackend:
    """Model calls go over `models` (the hot path's transport), resource calls (Files API, cached
    contents, with bodies streamed from the client) over `resources`; both over `via(proxy)` for a
    credential with a proxy of its own."""

    kind: ClassVar[str] = "api_key"

    def __init__(
        self,
        models: Transport,
        resources: Transport,
        base_url: str,
        via: Callable[[str], Transport] | None = None,
    ) -> None:
        self.models = models
        self.resources = resources
        self.base_url = base_url.rstrip("/")
        self.via = via

    def _models(self, credential: Credential) -> Transport:
        if credential.proxy is None or self.via is None:
            return self.models
        return self.via(credential.proxy)

    def _resources(self, credential: Credential) -> Transport:
        if credential.proxy is None or self.via is None:
            return self.resources
        return self.via(credential.proxy)

    async def aclose(self) -> None:
        """Nothing of its own to close: the transports belong to the app."""

    def supports(self, method: str) -> bool:
        return (
            method in MODEL_METHODS
            or method in RESOURCE_METHODS
            or method in INTERACTION_METHODS
            or method in ("models.list", "models.get")
        )

    def url(self, call: UpstreamCall) -> str:
        root = f"{self.base_url}/{call.api_version}/models"
        if call.method == "models.list":
            return root
        if call.method == "models.get":
            return f"{root}/{model_segment(call.model)}"
        url = f"{root}/{model_segment(call.model)}:{call.method}"
        return url + "?alt=sse" if call.stream else url

    def _headers(self, credential: Credential) -> dict[str, str]:
        # The key goes in a header, never the URL, so it cannot leak through logged URLs.
        return {"x-goog-api-key": credential.secret, "content-type": JSON}

    async def unary(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        url = with_query(self.url(call), call.params)
        method = "GET" if call.method.startswith("models.") else "POST"
        transport = self._models(credential)
        reply = raise_for_status(await transport.request(method, url, self._headers(credential), call.body))
        return UpstreamReply(reply.status, reply.body, reply.headers.get("content-type", JSON))

    async def stream(self, call: UpstreamCall, credential: Credential) -> SSEStream:
        url = with_query(self.url(call), call.params)
        answer = await self._models(credential).stream("POST", url, self._headers(credential), call.body)
        if answer.status >= 400:
            raise await error_of(answer)
        return SSEStream(answer)

    async def resource(
        self,
        credential: Credential,
        verb: str,
        target: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResourceReply:
        """`verb` on `target` (a path of names under the API's base URL, or an absolute upload URL)."""
        absolute = target.startswith(("http://", "https://"))
        url = with_query(target if absolute else f"{self.base_url}/{method_path(target)}", params)
        send_headers = {"content-type": JSON, **(headers or {}), "x-goog-api-key": credential.secret}
        reply = raise_for_status(
            await self._resources(credential).request(verb, url, send_headers, body or b"")
        )
        content_type = reply.headers.get("content-type", JSON)
        return ResourceReply(reply.status, reply.body, reply.headers, content_type, credential.id)

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
        url = with_query(f"{self.base_url}/{method_path(target)}", params)
        send_headers = {"content-type": JSON, **(headers or {}), "x-goog-api-key": credential.secret}
        answer = await self._resources(credential).stream(verb, url, send_headers, body or b"")
        if answer.status >= 400:
            raise await error_of(answer)
        return ResourceStream(answer, credential.id)


class SSEStream:
    """SSE payloads from an upstream answer's body; owns the answer and always lets go of it (the
    transport gives the connection back after a whole answer, else closes it, which also stops the
    upstream's work). A cut body ends the stream with the transport's `StreamCut`."""

    def __init__(self, answer: Streamed) -> None:
        self._answer = answer

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events()

    async def _events(self) -> AsyncIterator[bytes]:
        async for group in self.groups():
            for payload in group:
                yield payload

    async def groups(self) -> AsyncGenerator[list[bytes], None]:
        """The payloads in the groups they arrived in: one list per upstream read that held any."""
        parser = SSEParser()
        try:
            async for data in self._answer.chunks():
                if payloads := parser.feed(data):
                    yield payloads
            if rest := parser.close():
                yield rest
        finally:
            self._answer.close()

    async def aclose(self) -> None:
        self._answer.close()

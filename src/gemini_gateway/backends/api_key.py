"""Gemini Developer API with API keys: the canonical form goes through byte for byte."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import ClassVar
from urllib.parse import urlencode

import aiohttp

from gemini_gateway.backends.base import (
    MODEL_METHODS,
    RESOURCE_METHODS,
    UpstreamCall,
    UpstreamReply,
)
from gemini_gateway.errors import StreamCut, UpstreamClosed, UpstreamError, UpstreamUnreachable
from gemini_gateway.pool.credential import Credential
from gemini_gateway.resource_names import model_segment
from gemini_gateway.sse import SSEParser
from gemini_gateway.transport.aiohttp_transport import UpstreamHTTP
from gemini_gateway.transport.http1 import Http1Client, Response

JSON = "application/json"


def _http_method(call: UpstreamCall) -> str:
    return "GET" if call.method.startswith("models.") else "POST"


class ApiKeyBackend:
    kind: ClassVar[str] = "api_key"

    def __init__(self, http: UpstreamHTTP, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def aclose(self) -> None:
        """Nothing of its own to close: the HTTP session belongs to the app."""

    def supports(self, method: str) -> bool:
        return (
            method in MODEL_METHODS or method in RESOURCE_METHODS or method in ("models.list", "models.get")
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

    async def _fast_answer(
        self, fast: Http1Client, call: UpstreamCall, credential: Credential, *, whole: bool
    ) -> tuple[Response, bytes]:
        """The upstream's answer over the lean client, its body read if `whole` (or an error)."""
        url = self.url(call)
        if call.params:
            url += ("&" if "?" in url else "?") + urlencode(call.params)
        headers = list(self._headers(credential).items())
        try:
            answer = await fast.request(_http_method(call), url, headers, call.body or b"")
            body = await answer.read() if whole or answer.status >= 400 else b""
        except TimeoutError as exc:
            raise UpstreamUnreachable("the upstream did not answer in time", status_code=504) from exc
        except UpstreamClosed as exc:
            raise UpstreamUnreachable(f"could not reach the upstream ({exc})") from exc
        if answer.status >= 400:
            raise UpstreamError(answer.status, body, content_type=answer.headers.get("content-type", JSON))
        return answer, body

    async def unary(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        if self.http.fast is not None:
            answer, body = await self._fast_answer(self.http.fast, call, credential, whole=True)
            return UpstreamReply(answer.status, body, answer.headers.get("content-type", JSON))
        try:
            async with self.http.session.request(
                _http_method(call),
                self.url(call),
                data=call.body or None,
                params=call.params or None,
                headers=self._headers(credential),
                proxy=self.http.proxy,
            ) as response:
                body = await response.read()
                content_type = response.headers.get("content-type", JSON)
        except TimeoutError as exc:
            raise UpstreamUnreachable("the upstream did not answer in time", status_code=504) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnreachable(f"could not reach the upstream ({type(exc).__name__})") from exc
        if response.status >= 400:
            raise UpstreamError(response.status, body, content_type=content_type)
        return UpstreamReply(response.status, body, content_type)

    async def stream(self, call: UpstreamCall, credential: Credential) -> SSEStream:
        if self.http.fast is not None:
            answer, _ = await self._fast_answer(self.http.fast, call, credential, whole=False)
            return http1_events(answer)
        try:
            response = await self.http.session.post(
                self.url(call),
                data=call.body,
                params=call.params or None,
                headers=self._headers(credential),
                proxy=self.http.proxy,
            )
        except TimeoutError as exc:
            raise UpstreamUnreachable("the upstream did not answer in time", status_code=504) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnreachable(f"could not reach the upstream ({type(exc).__name__})") from exc
        if response.status >= 400:
            try:
                body = await response.read()
            except (TimeoutError, aiohttp.ClientError):
                body = b""
            finally:
                response.release()
            raise UpstreamError(
                response.status, body, content_type=response.headers.get("content-type", JSON)
            )
        return aiohttp_events(response)


class SSEStream:
    """SSE payloads from an upstream answer's body; owns the answer and always lets go of it.

    `finish(complete)` gives the connection back after a whole answer, or closes it (which also
    stops the upstream's work) after a partial one; it runs once. `cut` names the transport's
    errors, which end the stream as a `StreamCut` the client can see.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        finish: Callable[[bool], None],
        cut: tuple[type[Exception], ...],
    ) -> None:
        self._chunks = chunks
        self._finish = finish
        self._cut = cut
        self._finished = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events()

    async def _events(self) -> AsyncIterator[bytes]:
        async for group in self.groups():
            for payload in group:
                yield payload

    async def groups(self) -> AsyncGenerator[list[bytes], None]:
        """The payloads in the groups they arrived in: one list per upstream read that held any."""
        parser = SSEParser()
        complete = False
        try:
            async for data in self._chunks:
                if payloads := parser.feed(data):
                    yield payloads
            if rest := parser.close():
                yield rest
            complete = True
        except TimeoutError as exc:
            raise StreamCut("the upstream stream stalled", status_code=504) from exc
        except self._cut as exc:
            raise StreamCut(f"the upstream stream was cut ({exc or type(exc).__name__})") from exc
        finally:
            self._let_go(complete)

    def _let_go(self, complete: bool) -> None:
        if not self._finished:
            self._finished = True
            self._finish(complete)

    async def aclose(self) -> None:
        self._let_go(False)


def aiohttp_events(response: aiohttp.ClientResponse) -> SSEStream:
    def finish(complete: bool) -> None:
        if complete:
            response.release()
        else:
            response.close()  # unfinished: the connection cannot be reused

    return SSEStream(response.content.iter_any(), finish, (aiohttp.ClientError,))


def http1_events(response: Response) -> SSEStream:
    # Response.release() keeps a connection only when its answer was read whole.
    return SSEStream(response.iter_chunks(), lambda _: response.release(), (UpstreamClosed,))

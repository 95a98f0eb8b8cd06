"""AI Studio page automation as a backend: a logged-in browser page answers the call.

Each credential of kind "aistudio" is one saved profile (see gemini_gateway.aistudio). A call
is typed into that profile's AI Studio page and the page's own answer is streamed back, one
GenerateContentResponse per event. Failures map onto the common errors, so the dispatcher
fails over and the pool cools profiles like any key:

- the page cannot do the call (media, structured output)   UpstreamUnreachable 501
- no turn on the page in time, page stuck or crashed        UpstreamUnreachable (503 / 504 / 502)
- the account is out of quota                               UpstreamError 429 with RetryInfo
- the page stops mid-answer                                 StreamCut

Closing the stream before its end (the client went away) clicks Stop on the page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

import orjson

from gemini_gateway.aistudio.instance import PageInstance
from gemini_gateway.aistudio.job import PageJob
from gemini_gateway.aistudio.prompt import Unsupported, page_request
from gemini_gateway.aistudio.service import AiStudioService
from gemini_gateway.backends.base import UpstreamCall, UpstreamReply
from gemini_gateway.errors import GatewayError, UpstreamUnreachable
from gemini_gateway.merge.stream import merge_event_bytes
from gemini_gateway.pool.credential import Credential

METHODS = frozenset({"generateContent", "streamGenerateContent"})


class AiStudioPageBackend:
    kind: ClassVar[str] = "aistudio"

    def __init__(self, service: AiStudioService) -> None:
        self.service = service

    def supports(self, method: str) -> bool:
        return method in METHODS

    async def stream(self, call: UpstreamCall, credential: Credential) -> PageEventStream:
        # Returns at once: the page's verdict (first chunk or error) is the first event, which the
        # dispatcher awaits inside its failover loop.
        instance = self._instance(credential)
        if not call.model:
            raise UpstreamUnreachable("the AI Studio page backend needs a model", status_code=400)
        try:
            request = page_request(call.model, call.body)
        except Unsupported as exc:
            raise UpstreamUnreachable(
                f"the AI Studio page cannot serve this call: {exc}", status_code=501
            ) from exc
        self.service.check_budget(instance, call.model)  # rotate before Google refuses
        return PageEventStream(instance, instance.submit(request, call.body))

    async def unary(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        stream = await self.stream(call, credential)
        payloads: list[bytes] = []
        try:
            async for payload in stream:
                payloads.append(payload)
        finally:
            await stream.aclose()  # a no-op once the answer is complete
        return UpstreamReply(200, orjson.dumps(merge_event_bytes(payloads)))

    def _instance(self, credential: Credential) -> PageInstance:
        instance = getattr(credential, "instance", None)
        if not isinstance(instance, PageInstance) or self.service.instance(instance.name) is not instance:
            raise UpstreamUnreachable(f"credential {credential.label} is not a served AI Studio profile")
        return instance

    async def aclose(self) -> None:
        await self.service.aclose()


class PageEventStream:
    def __init__(self, instance: PageInstance, job: PageJob) -> None:
        self.instance = instance
        self.job = job
        # Backstop only: the call's reader and the instance's watchdog end a silent call sooner.
        config = instance.config
        self.idle_limit = config.queue_timeout + config.action_timeout * 4 + config.response_timeout * 2

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events()

    async def _events(self) -> AsyncIterator[bytes]:
        while True:
            try:
                item = await asyncio.wait_for(self.job.queue.get(), self.idle_limit)
            except TimeoutError:
                self.instance.abandon(self.job)
                raise UpstreamUnreachable(
                    "the AI Studio page backend lost track of this call", status_code=504
                ) from None
            if item is None:
                return
            if isinstance(item, GatewayError):
                raise item
            yield item

    async def aclose(self) -> None:
        self.instance.abandon(self.job)

"""The aiohttp transport made on its first use.

aiohttp costs about 8 MB resident and a quarter of a second to import. A gateway that serves
API-key model calls on direct connections (the lean HTTP/1 client's) never needs it; the first
OAuth refresh, Files API call, media URL or admin key check makes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gemini_gateway.transport.base import Body

if TYPE_CHECKING:
    from gemini_gateway.transport.aiohttp_transport import AiohttpReply, AiohttpStreamed, AiohttpTransport


class LazyAiohttpTransport:
    """A `Transport` that builds its `AiohttpTransport` (and imports aiohttp) when first used."""

    __slots__ = ("_made", "connect_timeout", "proxy", "read_timeout")

    def __init__(self, *, proxy: str | None, connect_timeout: float, read_timeout: float) -> None:
        self.proxy, self.connect_timeout, self.read_timeout = proxy, connect_timeout, read_timeout
        self._made: AiohttpTransport | None = None

    def made(self) -> AiohttpTransport:
        """The aiohttp transport itself (for what needs its session: remote media)."""
        if self._made is None:
            from gemini_gateway.transport.aiohttp_transport import AiohttpTransport  # the point of this class

            self._made = AiohttpTransport.create(
                proxy=self.proxy, connect_timeout=self.connect_timeout, read_timeout=self.read_timeout
            )
        return self._made

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = b"",
        *,
        total_timeout: float | None = None,
    ) -> AiohttpReply:
        return await self.made().request(method, url, headers, body, total_timeout=total_timeout)

    async def stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = b"",
        *,
        read_timeout: float | None = None,
    ) -> AiohttpStreamed:
        return await self.made().stream(method, url, headers, body, read_timeout=read_timeout)

    async def aclose(self) -> None:
        if self._made is not None:
            await self._made.aclose()

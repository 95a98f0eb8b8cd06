"""The aiohttp implementation of `Transport`: one shared keep-alive session, any proxy.

It carries what the lean client does not: http(s) and socks proxies, bodies streamed from an
async iterator (uploads), redirects. aiohttp's exceptions end here, as the gateway's errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import orjson
from python_socks import ProxyError as SocksProxyError

from gemini_gateway.errors import ProxyUnreachable, StreamCut, UpstreamUnreachable
from gemini_gateway.transport.base import Body


@dataclass(frozen=True, slots=True)
class AiohttpReply:
    status: int
    headers: Mapping[str, str]  # aiohttp's own, case-insensitive
    body: bytes


# What aiohttp and aiohttp-socks raise when the proxy itself fails: it cannot be reached, it refused
# the tunnel, or (a SOCKS proxy) it could not reach the upstream for us.
# A connect timeout through a proxy is the proxy's too: the connection that failed to open is to it.
_PROXY_FAILURES = (
    aiohttp.ClientProxyConnectionError,
    aiohttp.ClientHttpProxyError,
    aiohttp.ConnectionTimeoutError,
    SocksProxyError,
)


def _unreachable(exc: Exception, proxy: str | None = None) -> UpstreamUnreachable:
    if proxy and (
        isinstance(exc, _PROXY_FAILURES) or type(exc).__module__.startswith(("python_socks", "aiohttp_socks"))
    ):
        return ProxyUnreachable(f"proxy unreachable ({type(exc).__name__})")
    if isinstance(exc, TimeoutError):
        return UpstreamUnreachable("the upstream did not answer in time", status_code=504)
    return UpstreamUnreachable(f"could not reach the upstream ({type(exc).__name__})")


class AiohttpStreamed:
    __slots__ = ("_complete", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        self._complete = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._response.content.iter_any():
                yield data
            self._complete = True
        except TimeoutError as exc:
            raise StreamCut("the upstream stream stalled", status_code=504) from exc
        except aiohttp.ClientError as exc:
            raise StreamCut(f"the upstream stream was cut ({exc or type(exc).__name__})") from exc
        finally:
            self.close()

    async def read(self) -> bytes:
        try:
            body = await self._response.read()
            self._complete = True
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _unreachable(exc) from exc
        finally:
            self.close()
        return body

    def close(self) -> None:
        if self._complete:
            self._response.release()
        else:
            self._response.close()  # unfinished: the connection cannot be reused


class AiohttpTransport:
    def __init__(self, session: aiohttp.ClientSession, proxy: str | None, via: str | None = None) -> None:
        self.session = session
        self.proxy = proxy  # for http(s) proxies, given per request; socks proxies live in the connector
        self.via = via or proxy  # the proxy of either kind, if any: its failures are told apart

    @classmethod
    def create(cls, *, proxy: str | None, connect_timeout: float, read_timeout: float) -> AiohttpTransport:
        timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
        request_proxy: str | None = None
        connector: aiohttp.BaseConnector
        if proxy and urlsplit(proxy).scheme.startswith("socks"):
            from aiohttp_socks import ProxyConnector

            connector = ProxyConnector.from_url(proxy, limit=0, ttl_dns_cache=300)
        else:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
            request_proxy = proxy or None
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
        )
        return cls(session, request_proxy, proxy or None)

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = b"",
        *,
        total_timeout: float | None = None,
    ) -> AiohttpReply:
        try:
            async with self.session.request(
                method,
                url,
                data=body or None,
                headers=headers,
                proxy=self.proxy,
                timeout=self.session.timeout
                if total_timeout is None
                else aiohttp.ClientTimeout(total=total_timeout),
            ) as response:
                return AiohttpReply(response.status, response.headers, await response.read())
        except (TimeoutError, aiohttp.ClientError, SocksProxyError, OSError) as exc:
            raise _unreachable(exc, self.via) from exc

    async def stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = b"",
        *,
        read_timeout: float | None = None,
    ) -> AiohttpStreamed:
        try:
            response = await self.session.request(
                method,
                url,
                data=body or None,
                headers=headers,
                proxy=self.proxy,
                timeout=self.session.timeout if read_timeout is None else self._read_timeout(read_timeout),
            )
        except (TimeoutError, aiohttp.ClientError, SocksProxyError, OSError) as exc:
            raise _unreachable(exc, self.via) from exc
        return AiohttpStreamed(response)

    def _read_timeout(self, read_timeout: float) -> aiohttp.ClientTimeout:
        own = self.session.timeout
        return aiohttp.ClientTimeout(total=None, connect=own.connect, sock_read=read_timeout)

    async def aclose(self) -> None:
        await self.session.close()

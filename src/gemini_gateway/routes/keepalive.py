"""SSE keep-alive: a harmless line every N seconds while the model is silent, for clients behind
proxies that drop a connection idle for longer than their timeout (SSE_KEEPALIVE_SECONDS, off by
default; SSE_KEEPALIVE_ROUTES per path prefix).

Silence counts from the request: when the first event takes longer than N seconds (a thinking
model), the response starts with a 200 and a keep-alive, and a failure after that arrives as the
dialect's error event in the stream, as one after the first event always does.

What each dialect's clients skip:
- OpenAI: an SSE comment (`: keep-alive`), which SSE parsers ignore.
- Anthropic: `event: ping`, as Anthropic's own API sends (its SDKs skip it).
- Gemini: a blank line. google-genai reads any line that is not `data: ` as JSON (a comment
  breaks it), while a blank line between events is a no-op for it and for every SSE parser.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from gemini_gateway.settings import Settings

T = TypeVar("T")
GEMINI_PING = b"\r\n"
OPENAI_PING = b": keep-alive\r\n\r\n"
ANTHROPIC_PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def keepalive_seconds(settings: Settings, path: str) -> float:
    """The keep-alive interval for a route: the longest SSE_KEEPALIVE_ROUTES prefix of `path`,
    else SSE_KEEPALIVE_SECONDS; 0 means off."""
    routes = settings.sse_keepalive_routes
    if routes:
        matches = [prefix for prefix in routes if path.startswith(prefix)]
        if matches:
            return routes[max(matches, key=len)]
    return settings.sse_keepalive_seconds


async def opened(opening: Awaitable[T], every: float, on_idle: Callable[[], Awaitable[None]]) -> T:
    """`opening`'s result, calling `on_idle` each time `every` seconds pass without it."""
    task = asyncio.ensure_future(opening)
    try:
        while True:
            done, _ = await asyncio.wait((task,), timeout=every)
            if done:
                return task.result()
            await on_idle()
    except BaseException:
        await _stop(task)
        raise


async def paced(groups: AsyncIterator[list[bytes]], every: float) -> AsyncGenerator[list[bytes], None]:
    """The groups, with an empty group (a keep-alive to send) each time `every` seconds pass
    without one. Closing it closes `groups`, at once."""
    step: asyncio.Future[list[bytes]] | None = None
    try:
        while True:
            step = asyncio.ensure_future(anext(groups))
            while True:
                done, _ = await asyncio.wait((step,), timeout=every)
                if done:
                    break
                yield []
            try:
                group = step.result()
            except StopAsyncIteration:
                return
            step = None
            yield group
    finally:
        if step is not None:
            await _stop(step)
        close = getattr(groups, "aclose", None)
        if close is not None:
            await close()


async def _stop(task: asyncio.Future[T]) -> None:
    """Cancel a step and wait until it has ended (its source may be closed only then)."""
    task.cancel()
    await asyncio.wait((task,))
    if not task.cancelled():
        task.exception()  # retrieved: an error of an abandoned step is not "never retrieved"

"""Group a stream's events by arrival, so that events that came in one read leave in one write.

An upstream read often holds several events (Google's last events come in a burst; a fast
upstream sends the whole answer at once). Sending each as its own ASGI message costs a socket
write and a TCP segment apiece, on the gateway and on the client: for a 20-event answer that is
most of what relaying it costs. Nothing waits for company here: a group ends as soon as the next
event would have to be awaited, so each event still leaves the moment it can.
"""

from __future__ import annotations

import types
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from typing import Any, TypeVar, cast

T = TypeVar("T")


async def ready_groups(events: AsyncIterator[T]) -> AsyncGenerator[list[T], None]:
    """The items of `events`, in order, in lists of those that were ready without waiting.

    Closing the groups early (a consumer that stops, a failed send) closes `events` too, at once.
    """
    # A step of `events` that was started and had to wait while its group went out.
    waiting: tuple[Generator[Any, Any, T], Any] | None = None
    try:
        group: list[T] = []
        while True:
            step = cast("Generator[Any, Any, T]", events.__anext__())
            try:
                # Run the next step until it finishes (the item was ready) or has to wait for I/O.
                pending = step.send(None)
            except StopIteration as done:
                group.append(done.value)
                continue
            except StopAsyncIteration:
                break
            except BaseException:
                if group:
                    yield group  # what came before the failure still goes out, then the failure
                raise
            if group:
                waiting = (step, pending)
                yield group
                waiting = None
                group = []
            try:
                item = await _resume(step, pending)
            except StopAsyncIteration:
                return
            group.append(item)
        if group:
            yield group
    finally:
        await _let_go(waiting, events)


@types.coroutine
def _resume(step: Generator[Any, Any, T], pending: Any) -> Generator[Any, Any, T]:
    """Finish a step that is waiting on `pending`, as `await` would have (cancellation included)."""
    while True:
        try:
            sent = yield pending  # the task waits on it, as it would have for the step itself
        except BaseException as exc:
            try:
                pending = step.throw(exc)
            except StopIteration as done:
                return cast("T", done.value)
            continue
        try:
            pending = step.send(sent)
        except StopIteration as done:
            return cast("T", done.value)


async def _let_go(waiting: tuple[Generator[Any, Any, Any], Any] | None, source: AsyncIterator[Any]) -> None:
    """Close the source of groups or marks that end early: a step it had started first."""
    if waiting is not None:
        await _abandon(*waiting)
    close = getattr(source, "aclose", None)
    if close is not None:
        await close()


async def _abandon(step: Generator[Any, Any, Any], pending: Any) -> None:
    """End a started step as closing would: GeneratorExit inside it, its cleanup awaited."""
    try:
        pending = step.throw(GeneratorExit())
    except (GeneratorExit, StopIteration, StopAsyncIteration):
        return
    try:
        await _resume(step, pending)
    except (GeneratorExit, StopAsyncIteration):
        return


async def marking_last(items: AsyncIterator[T]) -> AsyncGenerator[tuple[T, bool], None]:
    """Each item of `items` with whether `items` was already known to end after it.

    Known without waiting only: when the end (or more) has not arrived yet, the item goes out at
    once marked not last. A relay uses it to send its last piece and the end of the body in one
    write instead of two.
    """
    waiting: tuple[Generator[Any, Any, T], Any] | None = None
    try:
        try:
            item = await anext(items)
        except StopAsyncIteration:
            return
        while True:
            step = cast("Generator[Any, Any, T]", items.__anext__())
            try:
                pending = step.send(None)
            except StopIteration as done:
                yield item, False
                item = done.value
                continue
            except StopAsyncIteration:
                yield item, True
                return
            except BaseException:
                yield item, False  # the failure follows it
                raise
            waiting = (step, pending)
            yield item, False
            waiting = None
            try:
                item = await _resume(step, pending)
            except StopAsyncIteration:
                return
    finally:
        await _let_go(waiting, items)

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
from typing import Any, TypeVar

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
            try:
                ready, started = start_next(events)
            except StopAsyncIteration:
                break
            except BaseException:
                if group:
                    yield group  # what came before the failure still goes out, then the failure
                raise
            if ready:
                group.append(started)
                continue
            if group:
                waiting = started
                yield group
                waiting = None
                group = []
            try:
                group.append(await resume(*started))
            except StopAsyncIteration:
                return
        if group:
            yield group
    finally:
        await _let_go(waiting, events)


def start_next(items: AsyncIterator[T]) -> tuple[bool, Any]:
    """Run the next step of `items` until it finishes or has to wait for I/O.

    (True, item) when the item was ready; (False, (step, what it waits on)) when it has to wait,
    for `resume` to finish; StopAsyncIteration at the end, and whatever else the step raises.
    """
    # Annotated, not `typing.cast`: a cast is a function call at run time, on every event.
    step: Generator[Any, Any, T] = items.__anext__()  # type: ignore[assignment]
    try:
        pending = step.send(None)
    except StopIteration as done:
        return True, done.value
    return False, (step, pending)


@types.coroutine
def resume(step: Generator[Any, Any, T], pending: Any) -> Generator[Any, Any, T]:
    """Finish a step that is waiting on `pending`, as `await` would have (cancellation included)."""
    while True:
        try:
            sent = yield pending  # the task waits on it, as it would have for the step itself
        except BaseException as exc:
            try:
                pending = step.throw(exc)
            except StopIteration as done:
                value: T = done.value
                return value
            continue
        try:
            pending = step.send(sent)
        except StopIteration as done:
            last: T = done.value
            return last


async def _let_go(waiting: tuple[Generator[Any, Any, Any], Any] | None, source: AsyncIterator[Any]) -> None:
    """Close the source of groups or marks that end early: a step it had started first."""
    if waiting is not None:
        await abandon(*waiting)
    close = getattr(source, "aclose", None)
    if close is not None:
        await close()


async def abandon(step: Generator[Any, Any, Any], pending: Any) -> None:
    """End a started step as closing would: GeneratorExit inside it, its cleanup awaited."""
    try:
        pending = step.throw(GeneratorExit())
    except (GeneratorExit, StopIteration, StopAsyncIteration):
        return
    try:
        await resume(step, pending)
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
            try:
                ready, started = start_next(items)
            except StopAsyncIteration:
                yield item, True
                return
            except BaseException:
                yield item, False  # the failure follows it
                raise
            if ready:
                yield item, False
                item = started
                continue
            waiting = started
            yield item, False
            waiting = None
            try:
                item = await resume(*started)
            except StopAsyncIteration:
                return
    finally:
        await _let_go(waiting, items)

"""The retry and failover loop between a handler and the backends.

A call is tried on one credential after another (never the same one twice) until one answers,
the error is about the request itself, or `max_retries` is spent. Streams are retried only
until their first event with content, because after that bytes have reached the client. An
answer that is empty for no reason (see `gemini_gateway.empty_answers`) is tried elsewhere too;
when no credential does better, the client gets the last empty answer, as Google gave it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import NoReturn, TypeVar, cast

import orjson

from gemini_gateway.backends.base import Backend, EventStream, UpstreamCall, UpstreamReply
from gemini_gateway.coalesce import ready_groups
from gemini_gateway.empty_answers import holds_parts, is_empty_answer, is_empty_stream
from gemini_gateway.errors import (
    CallRefused,
    EmptyAnswer,
    GatewayError,
    NoCredentialAvailable,
    ProxyUnreachable,
    StreamCut,
    UpstreamError,
    UpstreamUnreachable,
    is_error_event,
)
from gemini_gateway.exchange import Attempt, Exchange
from gemini_gateway.pool.classify import (
    Verdict,
    classify_empty,
    classify_error,
    classify_proxy,
    classify_refusal,
    classify_transport,
)
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.pool.quota import Charge, estimated_tokens, input_tokens
from gemini_gateway.pool.sticky import StickyBook, conversation_key
from gemini_gateway.pool.strategy import ACCOUNT_KINDS

_FINISH_MARKERS = (b'"finishReason"', b'"blockReason"')
# How a relayed stream ends until it is known to have ended otherwise (never held against the
# credential: `_relay` releases it neutrally then). Made once: a Verdict is frozen.
_GONE = classify_transport("client went away")
# The calls whose 200 must hold an answer: another credential is asked when it holds none.
ANSWER_METHODS = frozenset({"generateContent"})
# The calls a sticky conversation keeps on one credential (STICKY_SECONDS).
CONVERSATION_METHODS = frozenset({"generateContent", "streamGenerateContent"})
R = TypeVar("R")


class Dispatcher:
    def __init__(
        self,
        pool: CredentialPool,
        backends: Mapping[str, Backend],
        *,
        max_retries: int,
        base_cooldown: float,
        max_cooldown: float,
        binder: Callable[[UpstreamCall], Awaitable[None]] | None = None,
        sticky_seconds: float = 0.0,
    ) -> None:
        self.pool = pool
        # Conversations kept on one credential (pool.sticky); off while `seconds` is 0.
        self.sticky = StickyBook(sticky_seconds, pool.clock)
        self.backends = backends
        self.max_retries = max_retries
        self.base_cooldown = base_cooldown
        self.max_cooldown = max_cooldown
        # Narrows `call.allowed` before a call is placed (credential affinity of files and caches).
        self.binder = binder

    async def unary(self, call: UpstreamCall, exchange: Exchange) -> UpstreamReply:
        return await self.run(call, exchange, lambda backend, credential: backend.unary(call, credential))

    async def run(
        self, call: UpstreamCall, exchange: Exchange, perform: Callable[[Backend, Credential], Awaitable[R]]
    ) -> R:
        """The failover loop of `unary` around any transport: `perform` makes the attempt on the
        backend and credential chosen, raising UpstreamError / UpstreamUnreachable on failure.
        Uploads use it, since they stream bodies and read headers a plain reply does not carry."""
        if self.binder is not None:
            await self.binder(call)
        tried: set[str] = set()
        last_error: GatewayError | None = None
        empty: EmptyAnswer | None = None  # the last empty answer, given when nobody does better
        refused = 0  # credentials that do not offer the call: no attempt, so no retry used up
        sticky = self._conversation(call, exchange)
        while len(tried) - refused <= self.max_retries:
            try:
                credential, charge = await self._acquire(call, tried, last_error, sticky)
            except GatewayError:
                if empty is None:
                    raise
                return cast("R", empty.reply)
            backend = self.backends[credential.kind]
            started = time.perf_counter()
            try:
                result = await perform(backend, credential)
                if call.method in ANSWER_METHODS:
                    _check_answer(result)
            except (UpstreamError, UpstreamUnreachable) as exc:
                verdict = self._failed(call, exchange, credential, exc, started, charge)
                if isinstance(exc, EmptyAnswer):
                    empty = exc
                    continue
                if not verdict.retry:
                    raise
                refused += isinstance(exc, CallRefused)
                # A refusal, or a credential's own fault (a bad key), says less to the client than
                # an upstream's failure of the call: they never replace one.
                if last_error is None or not (isinstance(exc, CallRefused) or verdict.disable_reason):
                    last_error = exc
                continue
            except BaseException as exc:
                self._abandoned(exchange, credential, started, exc)
                raise
            body = getattr(result, "body", None)
            self.pool.settle(charge, input_tokens(body) if isinstance(body, bytes) else None)
            self._served(call, exchange, credential, started, getattr(result, "status", 200))
            if sticky is not None:
                self.sticky.bind(sticky, credential.id)
            return result
        if empty is not None:
            return cast("R", empty.reply)
        self._exhausted(last_error)

    async def stream(self, call: UpstreamCall, exchange: Exchange) -> AsyncGenerator[list[bytes], None]:
        """Open a stream on the first credential that yields an event.

        Returns the events in groups: those that arrived together (in one upstream read), so that
        they can leave together (one write to the client) and pay the relay's costs once.
        """
        if self.binder is not None:
            await self.binder(call)
        tried: set[str] = set()
        last_error: GatewayError | None = None
        empty: EmptyAnswer | None = None  # the last empty stream, given when nobody does better
        refused = 0  # credentials that do not offer the call: no attempt, so no retry used up
        sticky = self._conversation(call, exchange)
        while len(tried) - refused <= self.max_retries:
            try:
                credential, charge = await self._acquire(call, tried, last_error, sticky)
            except GatewayError:
                if empty is None:
                    raise
                return _replay(exchange, empty.events)
            backend = self.backends[credential.kind]
            started = time.perf_counter()
            upstream: EventStream | None = None
            groups: AsyncGenerator[list[bytes], None] | None = None
            try:
                upstream = await backend.stream(call, credential)
                groups = event_groups(upstream)
                first = await anext(groups, None)
                if not first:
                    raise StreamCut("the upstream closed the stream without sending anything")
                if is_error_event(first[0]):
                    raise _error_event(first[0])
                if not holds_parts(first):  # rare: a silent start, or an empty answer
                    first = await _content_or_reason(groups, first)
            except (UpstreamError, UpstreamUnreachable) as exc:
                await _close(upstream, groups)
                verdict = self._failed(call, exchange, credential, exc, started, charge)
                if isinstance(exc, EmptyAnswer):
                    empty = exc
                    continue
                if not verdict.retry:
                    raise
                refused += isinstance(exc, CallRefused)
                # A refusal, or a credential's own fault (a bad key), says less to the client than
                # an upstream's failure of the call: they never replace one.
                if last_error is None or not (isinstance(exc, CallRefused) or verdict.disable_reason):
                    last_error = exc
                continue
            except BaseException as exc:
                await _close(upstream, groups)
                self._abandoned(exchange, credential, started, exc)
                raise
            exchange.upstream_ms += (time.perf_counter() - started) * 1000
            exchange.credential = credential.label
            exchange.credential_id = credential.id
            if sticky is not None:
                self.sticky.bind(sticky, credential.id)
            return self._relay(call, exchange, credential, upstream, groups, first, started, charge)
        if empty is not None:
            return _replay(exchange, empty.events)
        self._exhausted(last_error)

    async def _relay(
        self,
        call: UpstreamCall,
        exchange: Exchange,
        credential: Credential,
        upstream: EventStream,
        groups: AsyncGenerator[list[bytes], None],
        first: list[bytes],
        started: float,
        charge: Charge | None = None,
    ) -> AsyncGenerator[list[bytes], None]:
        tee = exchange.events
        finished = False
        outcome: Verdict | None = _GONE  # None once the stream ended well
        error = ""
        try:
            group: list[bytes] | None = first
            while group is not None:
                sendable, finish, failure = _scan(group)
                finished = finished or finish
                if charge is not None and finish:  # usage rides on the event with the finish reason
                    self.pool.settle(charge, input_tokens(b"".join(group)))
                if tee is not None:
                    tee.extend(sendable if failure is None else [*sendable, failure])
                if sendable:
                    yield sendable
                if failure is not None:
                    raise _error_event(failure)
                group = await anext(groups, None)
            if not finished:
                raise StreamCut("the upstream stream ended before its finish reason")
            outcome = None
        except (StreamCut, UpstreamError) as exc:
            outcome, error = classify_transport("stream cut"), exc.message
            raise StreamCut(exc.message) from exc
        finally:
            await _close(upstream, groups)
            duration = (time.perf_counter() - started) * 1000
            status = 200 if outcome is None else None
            if error or outcome is None:
                self.pool.release(credential, call.model, outcome, error, charge)
            else:
                self.pool.release_neutral(credential)
                error = "client disconnected"
            exchange.attempts.append(
                Attempt(credential.kind, credential.label, status, duration, error or None, started)
            )

    def _conversation(self, call: UpstreamCall, exchange: Exchange) -> str | None:
        """The sticky key of the conversation this call continues, when stickiness is on."""
        if not self.sticky.seconds or call.method not in CONVERSATION_METHODS:
            return None
        return conversation_key(exchange.client_id, call.model, call.body)

    async def _acquire(
        self, call: UpstreamCall, tried: set[str], last_error: GatewayError | None, sticky: str | None = None
    ) -> tuple[Credential, Charge | None]:
        accept = self._accepts(call)
        tokens = estimated_tokens(call.method, call.body)
        prefer = self.sticky.credential_of(sticky) if sticky is not None else None
        while True:
            try:
                credential, charge = self.pool.take(
                    call.model, exclude=tried, accept=accept, tokens=tokens, prefer=prefer
                )
            except NoCredentialAvailable as exc:
                if last_error is None:
                    raise
                if isinstance(last_error, CallRefused) or (
                    isinstance(last_error, UpstreamError) and last_error.status_code == 429
                ):
                    now = self.pool.clock()
                    raise self.pool.unavailable_error(
                        call.model, frozenset(), now, accept, tokens
                    ) from last_error
                raise last_error from exc
            if charge is None or await self._placed(credential, charge, tokens or 0):
                break
        tried.add(credential.id)
        return credential, charge

    async def _placed(self, credential: Credential, charge: Charge, tokens: int) -> bool:
        """Count a charge in the quota counter replicas share, if there is one and the credential
        has limits for the model; False (the credential held back) when other replicas used what
        was left. One Redis round trip per counted call, only with REDIS_URL and known limits."""
        quotas = self.pool.quotas
        if quotas.shared is None:
            return True
        limits, _ = quotas.limits(credential, charge.model)
        if not limits:
            return True
        try:
            wait = await quotas.shared.place(charge, limits, tokens)
        except BaseException:  # cancelled (the client went away): the call is not placed
            self.pool.release_neutral(credential)
            quotas.refund(charge)
            raise
        if not wait:  # counted there, or no shared counter answered (this replica counts alone)
            return True
        self.pool.hold_back(credential, charge, wait)
        return False

    def _accepts(self, call: UpstreamCall) -> Callable[[Credential], bool]:
        """Credentials whose backend can make this call (asked once per kind, not per credential),
        among those the call is bound to."""
        verdicts: dict[str, bool] = {}
        allowed = call.allowed

        def accept(credential: Credential) -> bool:
            if allowed is not None and credential.id not in allowed:
                return False
            verdict = verdicts.get(credential.kind)
            if verdict is None:
                backend = self.backends.get(credential.kind)
                verdict = verdicts[credential.kind] = backend is not None and backend.supports(call.method)
            return verdict and credential.offers(call.method, call.model)

        return accept

    def _failed(
        self,
        call: UpstreamCall,
        exchange: Exchange,
        credential: Credential,
        exc: GatewayError,
        started: float,
        charge: Charge | None = None,
    ) -> Verdict:
        """Book a failed attempt; its verdict says whether to try another credential."""
        duration = (time.perf_counter() - started) * 1000
        exchange.upstream_ms += duration
        status = exc.status_code
        if isinstance(exc, CallRefused):
            verdict = classify_refusal()
        elif isinstance(exc, EmptyAnswer):
            verdict, status = classify_empty(), 200
        elif isinstance(exc, ProxyUnreachable):
            verdict = classify_proxy(self.pool.clock(), self.base_cooldown)
        elif isinstance(exc, UpstreamError):
            verdict = classify_error(
                exc.status_code,
                exc.payload,
                now=self.pool.clock(),
                backoff_level=self.pool.backoff_level(credential, call.model),
                base_cooldown=self.base_cooldown,
                max_cooldown=self.max_cooldown,
                account=credential.kind in ACCOUNT_KINDS and call.model is not None,
            )
        else:
            verdict = classify_transport(type(exc).__name__)
        self.pool.release(credential, call.model, verdict, exc.message, charge, status)
        exchange.attempts.append(
            Attempt(credential.kind, credential.label, status, duration, exc.message[:300], started)
        )
        return verdict

    def _served(
        self, call: UpstreamCall, exchange: Exchange, credential: Credential, started: float, status: int
    ) -> None:
        duration = (time.perf_counter() - started) * 1000
        exchange.upstream_ms += duration
        exchange.credential = credential.label
        exchange.credential_id = credential.id
        self.pool.release(credential, call.model, None)
        exchange.attempts.append(Attempt(credential.kind, credential.label, status, duration, None, started))

    def _abandoned(
        self, exchange: Exchange, credential: Credential, started: float, exc: BaseException
    ) -> None:
        duration = (time.perf_counter() - started) * 1000
        exchange.upstream_ms += duration
        self.pool.release_neutral(credential)
        exchange.attempts.append(
            Attempt(
                credential.kind, credential.label, None, duration, f"abandoned: {type(exc).__name__}", started
            )
        )

    @staticmethod
    def _exhausted(last_error: GatewayError | None) -> NoReturn:
        if last_error is None:  # max_retries + 1 >= 1, so a try always happened
            raise UpstreamUnreachable("no attempt was made")
        raise last_error


def _check_answer(result: object) -> None:
    """Raise `EmptyAnswer` for a 200 that holds no answer and no reason for it."""
    body = getattr(result, "body", None)
    if isinstance(body, bytes) and getattr(result, "status", 200) == 200 and is_empty_answer(body):
        raise EmptyAnswer(
            "the upstream answered 200 with an empty answer (no parts, no reason)", reply=result
        )


async def _content_or_reason(groups: AsyncGenerator[list[bytes], None], first: list[bytes]) -> list[bytes]:
    """The events of a stream that began without content, held back (nothing has reached the
    client) until one carries content, or the stream's finish or end shows it is empty; raises
    `EmptyAnswer` for an empty stream without a reason, and a mid-stream error as its error."""
    held = list(first)
    group: list[bytes] | None = first
    while group is not None and not holds_parts(group):
        if any(_finishes(payload) for payload in group):
            break
        group = await anext(groups, None)
        if group is not None:
            failure = next((payload for payload in group if is_error_event(payload)), None)
            if failure is not None:
                raise _error_event(failure)
            held.extend(group)
    if holds_parts(held) or not is_empty_stream(held):
        return held
    raise EmptyAnswer("the upstream stream ended without content or a reason for it", events=held)


async def _replay(exchange: Exchange, events: list[bytes]) -> AsyncGenerator[list[bytes], None]:
    """A stream already read whole (the last empty one), relayed as one group."""
    if exchange.events is not None:
        exchange.events.extend(events)
    yield events


def _error_event(payload: bytes) -> UpstreamError:
    """A stream event carrying Google's error envelope, as the error it is."""
    try:
        status = int(orjson.loads(payload)["error"]["code"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        status = 500
    return UpstreamError(status, payload)


def event_groups(upstream: EventStream) -> AsyncGenerator[list[bytes], None]:
    """The upstream's events in groups: its own (one per read) where it has them."""
    grouped = getattr(upstream, "groups", None)
    if grouped is not None:
        return cast("AsyncGenerator[list[bytes], None]", grouped())
    return ready_groups(aiter(upstream))


def _finishes(payload: bytes) -> bool:
    # find, not `in`: on CPython 3.11 `bytes in bytes` first tries the needle as an int, raising
    # and clearing a TypeError each time, once or twice for every event of every stream.
    return payload.find(_FINISH_MARKERS[0]) >= 0 or payload.find(_FINISH_MARKERS[1]) >= 0


def _scan(group: list[bytes]) -> tuple[list[bytes], bool, bytes | None]:
    """The events of a group to send, whether one carried a finish reason, and an error event
    that ended the group (Google reports a failure mid-stream as an event of its own)."""
    # Looked for once in the whole group, not event by event (this runs for every event of every
    # stream): no marker has a line break in it, so none is found across two events joined with
    # one. Every error envelope, compact or pretty-printed, has the key `"error"` in it.
    joined = group[0] if len(group) == 1 else b"\n".join(group)
    if joined.find(b'"error"') >= 0:  # rare: the exact test, event by event
        for index, payload in enumerate(group):
            if is_error_event(payload):
                return group[:index], any(_finishes(p) for p in group[:index]), payload
    return group, joined.find(_FINISH_MARKERS[0]) >= 0 or joined.find(_FINISH_MARKERS[1]) >= 0, None


async def _close(upstream: EventStream | None, groups: AsyncGenerator[list[bytes], None] | None) -> None:
    if groups is not None:
        await groups.aclose()
    if upstream is not None:
        await upstream.aclose()

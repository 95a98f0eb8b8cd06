"""What a running fake holds: its configuration, the faults queued per key, and the call log.

One `FakeState` is shared by the server's event loop and the test that drives it (often from
another thread), so fault bookkeeping takes a lock; the call log is an append-only deque.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from gemini_gateway.fake_upstream.interactions import FakeInteractions
from gemini_gateway.fake_upstream.oauth import FakeOAuth
from gemini_gateway.fake_upstream.projects import Projects

FAULT_KINDS = frozenset(
    {
        "429",
        "500",
        "502",
        "503",
        "504",
        "invalid_key",
        "suspended",
        "blocked",
        "bad_request",
        "slow",
        "cut",
        "hang",
        "reply",
        "empty",
    }
)
PER_MINUTE_QUOTA = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
DEFAULT_RETRY_DELAY = "7s"
_DURATION = re.compile(r"^\d+(\.\d+)?s$")


@dataclass(slots=True)
class FakeConfig:
    """Knobs read on every call, so changing them affects the next call."""

    stream_chunks: int = 4  # pieces the answer text is split into when streamed
    chunk_delay_ms: float = 0.0  # pause between stream events
    latency_ms: float = 0.0  # pause before any answer starts
    min_answer_chars: int = 0  # pad text answers to at least this length (bigger benchmark payloads)
    max_calls: int = 100_000  # call log length; older entries drop off (benchmarks run long)

    def merge(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; unknown names and wrong types raise ValueError before anything changes."""
        known = {f.name for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown config field {name!r}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
            if isinstance(getattr(self, name), int) and value != int(value):
                raise ValueError(f"{name} must be an integer")
            if name in ("stream_chunks", "max_calls") and value < 1:
                raise ValueError(f"{name} must be at least 1")
        for name, value in changes.items():
            setattr(self, name, type(getattr(self, name))(value))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Fault:
    """A scripted failure for calls made with `key` (None: any key), optionally only for `model`."""

    kind: str
    key: str | None = None
    model: str | None = None
    count: int | None = None  # calls left to fail; None until reset
    retry_delay: str | None = DEFAULT_RETRY_DELAY  # 429 only; None leaves RetryInfo out
    quota_id: str = PER_MINUTE_QUOTA  # 429 only
    delay_ms: float = 1000.0  # "slow" only
    after_chunks: int = 1  # "cut" on streams only
    message: str | None = None  # replaces the default error message
    answer: list[dict[str, Any]] | None = None  # "reply" only: the GenerateContentResponse(s) to send

    def matches(self, key: str | None, model: str | None) -> bool:
        return (self.key is None or self.key == key) and (self.model is None or self.model == model)

    def to_json(self) -> dict[str, Any]:
        return {"fault": self.kind, **{k: v for k, v in dataclasses.asdict(self).items() if k != "kind"}}


def make_fault(
    key: str | None,
    fault: str,
    *,
    count: int | None = None,
    model: str | None = None,
    retry_delay: str | float | None = DEFAULT_RETRY_DELAY,
    quota_id: str | None = None,
    delay_ms: float = 1000.0,
    after_chunks: int = 1,
    message: str | None = None,
    answer: list[dict[str, Any]] | None = None,
) -> Fault:
    """A checked `Fault` (see `FakeState.add_fault`); raises ValueError on bad options."""
    if fault not in FAULT_KINDS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(sorted(FAULT_KINDS))}")
    if count is not None and (not _is_int(count) or count < 1):
        raise ValueError("count must be a positive integer or null")
    if not _is_int(after_chunks) or after_chunks < 0:
        raise ValueError("after_chunks must be a non-negative integer")
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int | float) or delay_ms < 0:
        raise ValueError("delay_ms must be a non-negative number")
    delay = f"{retry_delay:g}s" if isinstance(retry_delay, int | float) else retry_delay
    if delay is not None and (not isinstance(delay, str) or not _DURATION.match(delay)):
        raise ValueError('retry_delay must be a duration like "7s" or "2.5s", a number of seconds, or null')
    if (fault == "reply") != (answer is not None):
        raise ValueError('"answer" goes with the "reply" fault, and only with it')
    if answer is not None and (
        not isinstance(answer, list) or not answer or not all(isinstance(a, dict) for a in answer)
    ):
        raise ValueError("answer must be a non-empty list of GenerateContentResponse objects")
    return Fault(
        kind=fault,
        key=None if key in (None, "*") else str(key),
        model=str(model).removeprefix("models/") if model else None,
        count=count,
        retry_delay=delay,
        quota_id=quota_id or PER_MINUTE_QUOTA,
        delay_ms=float(delay_ms),
        after_chunks=after_chunks,
        message=message,
        answer=answer,
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(slots=True)
class CallRecord:
    """One call that reached an API route, with the key exactly as the caller sent it."""

    key: str | None
    method: str
    model: str | None
    stream: bool
    version: str
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "method": self.method,
            "model": self.model,
            "stream": self.stream,
            "version": self.version,
            "time": self.time,
        }


class FakeState:
    """Configuration, faults and call log of one fake upstream.

    `valid_keys=None` accepts any non-empty API key; a set accepts only its members (others get
    Google's 400 API_KEY_INVALID).
    """

    def __init__(self, valid_keys: set[str] | None = None, *, config: FakeConfig | None = None) -> None:
        self.valid_keys = valid_keys
        self.config = config or FakeConfig()
        self._faults: list[Fault] = []
        self._calls: deque[CallRecord] = deque(maxlen=self.config.max_calls)
        self._lock = threading.Lock()
        self.oauth = FakeOAuth()  # accounts and tokens of the fake OAuth and Code Assist services
        self.projects = Projects()  # files and cached contents, one project per API key
        self.interactions = FakeInteractions()  # interactions, one store per API key

    @property
    def calls(self) -> list[CallRecord]:
        """Calls so far, oldest first (a copy)."""
        return list(self._calls)

    @property
    def faults(self) -> list[Fault]:
        """Faults still pending, in the order they are matched (a copy)."""
        with self._lock:
            return list(self._faults)

    def record(self, call: CallRecord) -> None:
        if self._calls.maxlen != self.config.max_calls:
            self._calls = deque(self._calls, maxlen=self.config.max_calls)
        self._calls.append(call)

    def add_fault(
        self,
        key: str | None,
        fault: str,
        *,
        count: int | None = None,
        model: str | None = None,
        retry_delay: str | float | None = DEFAULT_RETRY_DELAY,
        quota_id: str | None = None,
        delay_ms: float = 1000.0,
        after_chunks: int = 1,
        message: str | None = None,
        answer: list[dict[str, Any]] | None = None,
    ) -> Fault:
        """Queue a fault for calls with `key` ("*" or None: any key) and, if given, only `model`.

        Faults match in the order added; one with `count` expires after that many calls.
        Kinds: "429" (RESOURCE_EXHAUSTED with QuotaFailure, Help and, unless `retry_delay` is
        None, RetryInfo), "500", "502", "503", "504", "invalid_key", "suspended" (CONSUMER_SUSPENDED,
        naming the calling key in full as Google does), "blocked", "bad_request",
        "slow" (first byte after `delay_ms`), "cut" (drop the connection after `after_chunks`
        stream events, or after the headers of a plain answer), "hang" (never answer),
        "reply" (answer with the given `answer` instead of a derived one: a stream sends each
        object as one event, a unary call gets the first; e.g. a recorded answer of the live API),
        "empty" (a 200 whose one candidate has no parts and finishReason STOP, as Gemini 2.5 Pro
        sometimes answers; a stream of that one event).
        """
        entry = make_fault(
            key,
            fault,
            count=count,
            model=model,
            retry_delay=retry_delay,
            quota_id=quota_id,
            delay_ms=delay_ms,
            after_chunks=after_chunks,
            message=message,
            answer=answer,
        )
        self.add_faults([entry])
        return entry

    def add_faults(self, faults: list[Fault]) -> None:
        with self._lock:
            self._faults.extend(faults)

    def take_fault(self, key: str | None, model: str | None) -> Fault | None:
        """The first fault matching this call, consuming one of its `count`."""
        if not self._faults:  # the common case, checked without the lock
            return None
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(key, model):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            del self._faults[index]
                    return fault
        return None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self, *, config: bool = False) -> None:
        """Forget calls and faults; with `config=True` also restore the default configuration."""
        self.clear_faults()
        self.oauth.reset()
        self.projects.clear()
        self.interactions.clear()
        self._calls.clear()
        if config:
            self.config = FakeConfig()

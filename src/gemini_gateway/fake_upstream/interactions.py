"""Interactions as the fake's projects hold them: stateful conversations, background runs, events.

On Google an interaction lives in the project of the key that created it: another key gets 403
PERMISSION_DENIED for it, whether it gets, cancels, deletes, streams it again or continues it
with `previous_interaction_id`. The fake keeps one `InteractionStore` per key for that.

Shapes follow google-genai's own parser (`google/genai/_gaos/types/interactions/`), which wins
over the docs where they differ: an Interaction carries `id`, `status`, `model` or `agent`,
`created`, `updated`, `steps` (`[{"type": "model_output", "content": [{"type": "text", ...}]}]`)
and `usage` (`total_input_tokens`, `total_output_tokens`, `total_tokens`); stream events carry
`event_type` and `event_id` in their JSON (the SDK picks the variant by `event_type`, not by the
SSE `event:` line, which Google sends as well).

Answers are derived from the conversation, so tests can see that a follow-up continued it: the
reply names its turn number and the first thing the user said.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from gemini_gateway.fake_upstream.errors import FakeApiError, Json
from gemini_gateway.fake_upstream.projects import rfc3339

BACKGROUND_POLLS = 3  # a background interaction completes on this many gets after its creation
AGENTS = frozenset({"deep-research-pro-preview-12-2025", "deep-research-preview"})
_ID_ALPHABET = string.ascii_letters + string.digits


def interaction_denied(interaction_id: str) -> FakeApiError:
    """Google's answer for an interaction of another project."""
    return FakeApiError(
        403, f"You do not have permission to access the Interaction {interaction_id} or it may not exist."
    )


def new_interaction_id() -> str:
    return "v1_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def input_text(value: Any) -> str:
    """Every text the input holds (a string, content blocks, or turns wrapping blocks), joined."""
    if isinstance(value, str):
        return value
    texts: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop(0)
        if isinstance(item, list):
            stack[:0] = item
        elif isinstance(item, dict):
            if isinstance(item.get("text"), str):
                texts.append(item["text"])
            if "content" in item:
                stack.insert(0, item["content"])
    return " ".join(texts)


def tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


@dataclass(slots=True)
class StoredInteraction:
    id: str
    model: str | None
    agent: str | None
    input: Any
    answer: str
    turn: int
    first_words: str
    input_tokens: int
    created: float
    request: Json  # what the client asked, echoed back (system_instruction, tools, configs)
    previous_id: str | None = None
    background: bool = False
    status: str = "completed"
    polls: int = 0
    updated: float = 0.0

    @property
    def output_tokens(self) -> int:
        return tokens(self.answer)

    def usage(self) -> Json:
        return {
            "total_input_tokens": self.input_tokens,
            "total_output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    def to_json(self, *, include_input: bool = False, brief: bool = False) -> Json:
        data: Json = {"id": self.id, "status": self.status, "object": "interaction"}
        data.update({"model": self.model} if self.model else {"agent": self.agent})
        data["created"] = rfc3339(self.created)
        data["updated"] = rfc3339(self.updated or self.created)
        if brief:
            return data
        if self.previous_id:
            data["previous_interaction_id"] = self.previous_id
        for name in ("system_instruction", "tools", "generation_config", "agent_config"):
            if name in self.request:
                data[name] = self.request[name]
        if include_input:
            data["input"] = self.input
        if self.status == "completed":
            data["steps"] = [{"type": "model_output", "content": [{"type": "text", "text": self.answer}]}]
            data["usage"] = self.usage()
        return data


def answer_for(turn: int, text: str, first_words: str, system: str) -> str:
    said = text.strip()[:200] or "nothing"
    reply = f"Turn {turn}: you said {said!r}."
    if turn > 1:
        reply += f" Earlier you began with {first_words!r}."
    if system:
        reply += f" (Following the instruction {system[:60]!r}.)"
    return reply


def chunks_of(text: str, count: int) -> list[str]:
    """`text` in `count` pieces (fewer if it is shorter), split on character boundaries."""
    count = max(1, min(count, len(text)))
    size = -(-len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass(slots=True)
class InteractionStore:
    """One project's interactions, by id."""

    items: dict[str, StoredInteraction] = field(default_factory=dict)


class FakeInteractions:
    """Every project's interactions, plus the hooks tests use to pace a stream."""

    def __init__(self) -> None:
        self._stores: dict[str, InteractionStore] = {}
        self._lock = threading.Lock()  # tests read from another thread
        # Set by a test: a stream waits for it before its last text delta, and `last_sent` is set
        # once that delta has gone out; so a test can see the client got the first delta first.
        self.gate: threading.Event | None = None
        self.last_sent = threading.Event()

    def store(self, key: str) -> InteractionStore:
        with self._lock:
            return self._stores.setdefault(key, InteractionStore())

    def owner_of(self, interaction_id: str) -> str | None:
        """The key whose project holds the interaction (for tests)."""
        with self._lock:
            return next((k for k, s in self._stores.items() if interaction_id in s.items), None)

    def clear(self) -> None:
        with self._lock:
            self._stores.clear()
        self.gate = None
        self.last_sent.clear()

    def find(self, key: str, interaction_id: str) -> StoredInteraction:
        found = self.store(key).items.get(interaction_id)
        if found is None:
            if self.owner_of(interaction_id) is None:
                # Held by no project at all (never made, or deleted): the Interactions API says
                # not_found; one of another project is permission_denied.
                raise FakeApiError(404, f"Interaction {interaction_id} was not found.")
            raise interaction_denied(interaction_id)
        return found

    def create(self, key: str, request: Json) -> StoredInteraction:
        """A new interaction from a checked request; kept unless `store` is false."""
        previous_id = request.get("previous_interaction_id")
        previous = self.find(key, previous_id) if isinstance(previous_id, str) and previous_id else None
        if previous is not None and previous.status != "completed":
            raise FakeApiError(
                400,
                f"The previous interaction {previous.id} is {previous.status}; only a completed "
                "interaction can be continued.",
                status="FAILED_PRECONDITION",
            )
        text = input_text(request.get("input"))
        system = input_text(request.get("system_instruction"))
        turn = previous.turn + 1 if previous else 1
        first = previous.first_words if previous else " ".join(text.split()[:4])
        history = previous.input_tokens + previous.output_tokens if previous else tokens(system)
        now = time.time()
        interaction = StoredInteraction(
            id=new_interaction_id(),
            model=str(request["model"]).removeprefix("models/") if request.get("model") else None,
            agent=request.get("agent"),
            input=request.get("input"),
            answer=answer_for(turn, text, first, system),
            turn=turn,
            first_words=first,
            input_tokens=history + tokens(text),
            created=now,
            updated=now,
            request=request,
            previous_id=previous.id if previous else None,
            background=bool(request.get("background")),
        )
        if interaction.background:
            interaction.status = "in_progress"
        if request.get("store", True) is not False:
            self.store(key).items[interaction.id] = interaction
        return interaction

    def poll(self, key: str, interaction_id: str) -> StoredInteraction:
        """A get: a background interaction moves on one step per poll until it completes."""
        interaction = self.find(key, interaction_id)
        if interaction.status == "in_progress":
            interaction.polls += 1
            if interaction.polls >= BACKGROUND_POLLS:
                interaction.status = "completed"
                interaction.updated = time.time()
        return interaction

    def cancel(self, key: str, interaction_id: str) -> StoredInteraction:
        interaction = self.find(key, interaction_id)
        if interaction.status != "in_progress":
            raise FakeApiError(
                400,
                f"Interaction {interaction_id} is {interaction.status}; only a background interaction "
                "that is still running can be cancelled.",
                status="FAILED_PRECONDITION",
            )
        interaction.status = "cancelled"
        interaction.updated = time.time()
        return interaction

    def delete(self, key: str, interaction_id: str) -> None:
        self.find(key, interaction_id)
        with self._lock:
            self._stores[key].items.pop(interaction_id, None)


def stream_events(interaction: StoredInteraction, pieces: int) -> list[tuple[str, Json]]:
    """(event type, payload) of a whole run, as Google streams it; event ids are positions."""
    steps: list[tuple[str, Json]] = [
        ("interaction.created", {"interaction": interaction.to_json(brief=True) | {"status": "in_progress"}}),
        ("interaction.status_update", {"interaction_id": interaction.id, "status": "in_progress"}),
        ("step.start", {"index": 0, "step": {"type": "model_output"}}),
    ]
    for piece in chunks_of(interaction.answer, pieces):
        steps.append(("step.delta", {"index": 0, "delta": {"type": "text", "text": piece}}))
    steps.append(("step.stop", {"index": 0}))
    steps.append(("interaction.completed", {"interaction": interaction.to_json()}))
    return [
        (kind, {"event_type": kind, **payload, "event_id": f"evt_{n:04d}"})
        for n, (kind, payload) in enumerate(steps)
    ]


def sse_frame(kind: str, payload: Json) -> bytes:
    return b"event: " + kind.encode() + b"\r\ndata: " + orjson.dumps(payload) + b"\r\n\r\n"


DONE_FRAME = b"data: [DONE]\r\n\r\n"


def events_after(events: list[tuple[str, Json]], last_event_id: str | None) -> list[tuple[str, Json]]:
    """The events that follow `last_event_id` (all of them without one); 400 for an unknown id."""
    if not last_event_id:
        return events
    for index, (_, payload) in enumerate(events):
        if payload["event_id"] == last_event_id:
            return events[index + 1 :]
    raise FakeApiError(400, f"last_event_id {last_event_id!r} does not name an event of this interaction.")

"""Merge the events of an interaction stream into the Interaction they add up to.

The stream (see `gemini_gateway.routes.interactions`) opens with `interaction.created` and ends
with `interaction.completed`, whose `interaction` carries the id, status and usage; the steps
come as `step.start` / `step.delta` / `step.stop`. The merged Interaction is the last lifecycle
`interaction` seen, with the streamed steps filled in where it carries none (text deltas joined),
so a record reads like the answer the client assembled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_LIFECYCLE = ("interaction.created", "interaction.completed")


def is_interaction_event(event: dict[str, Any]) -> bool:
    return isinstance(event.get("event_type"), str)


def merge_interaction_events(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    steps: dict[int, dict[str, Any]] = {}
    texts: dict[int, list[str]] = {}
    for event in events:
        kind = event.get("event_type")
        if kind in _LIFECYCLE and isinstance(event.get("interaction"), dict):
            merged = dict(event["interaction"])
        elif kind == "interaction.status_update" and isinstance(event.get("status"), str):
            merged["status"] = event["status"]
        elif kind == "step.start" and isinstance(event.get("step"), dict):
            steps[_index(event)] = dict(event["step"])
        elif kind == "step.delta" and isinstance(event.get("delta"), dict):
            delta = event["delta"]
            if delta.get("type") == "text" and isinstance(delta.get("text"), str):
                texts.setdefault(_index(event), []).append(delta["text"])
    if "steps" not in merged and steps:
        for index, text in texts.items():
            step = steps.setdefault(index, {"type": "model_output"})
            step["content"] = [*(step.get("content") or ()), {"type": "text", "text": "".join(text)}]
        merged["steps"] = [steps[i] for i in sorted(steps)]
    return merged


def _index(event: dict[str, Any]) -> int:
    index = event.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else 0

"""How a profile's page behaves, and what a page instance needs from the service owning it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

    from gemini_gateway.aistudio.instance import PageInstance
    from gemini_gateway.aistudio.job import PageJob


@dataclass(slots=True)
class PageConfig:
    base_url: str
    action_timeout: float
    response_timeout: float
    queue_timeout: float
    queue_depth: int
    quota_cooldown: float
    capture: str = "auto"  # "auto" (hook, helper, DOM), "helper" or "dom"
    helper_url: str | None = None
    grace: float = 3.0
    keep_history: bool = False  # False: Temporary chat is turned on in every chat opened
    # Function calling: "native" (the page's dialog), "emulated" (described in the prompt, see
    # emulated_tools) or "auto" (native, emulated when the page's dialog is missing or fails).
    function_calling: str = "auto"
    # The page rotates its session cookies; they are written back to the profile file after this
    # many calls or this long (0: not on that count), and when the page is closed.
    save_every_calls: int = 20
    save_every_seconds: float = 600.0


class InstanceHost(Protocol):
    """What an instance needs from the service that owns it."""

    config: PageConfig

    async def open_context(self, instance: PageInstance) -> BrowserContext: ...

    def context_closed(self, instance: PageInstance) -> None: ...

    async def helper_call(self, instance: PageInstance, job: PageJob) -> None: ...

    def profile_saved_at(self, instance: PageInstance) -> float: ...

    def record_usage(self, instance: PageInstance, job: PageJob) -> None: ...

    def budget_view(self, instance: PageInstance) -> dict[str, Any]: ...

    def save_state(self, instance: PageInstance, state: dict[str, Any], loaded_at: float) -> float | None: ...

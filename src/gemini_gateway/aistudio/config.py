"""How a profile's page behaves, and what a page instance needs from the service owning it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

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


class InstanceHost(Protocol):
    """What an instance needs from the service that owns it."""

    config: PageConfig

    async def open_context(self, instance: PageInstance) -> BrowserContext: ...

    def context_closed(self, instance: PageInstance) -> None: ...

    async def helper_call(self, instance: PageInstance, job: PageJob) -> None: ...

"""What the admin side keeps for one gateway, found at `gateway.admin`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gemini_gateway.admin.live import HubLogHandler, LiveHub
from gemini_gateway.admin.sessions import SessionStore
from gemini_gateway.settings import Settings

if TYPE_CHECKING:
    from gemini_gateway.context import Gateway
    from gemini_gateway.store.secrets import SecretBox


@dataclass(slots=True)
class AdminState:
    # The settings as the environment gave them, before stored overrides: for "source" and resets.
    base: Settings
    env_fields: frozenset[str]
    sessions: SessionStore
    hub: LiveHub = field(default_factory=LiveHub)
    box: SecretBox | None = None
    log_handler: HubLogHandler | None = None  # feeds the live log while the gateway runs
    stored_settings: dict[str, object] = field(default_factory=dict)  # name -> stored (validated) value
    env_credentials: frozenset[str] = frozenset()  # credential ids that came from GEMINI_API_KEYS
    stored_credentials: set[str] = field(default_factory=set)  # credential ids kept encrypted in the store
    names: dict[str, str] = field(default_factory=dict)  # credential id -> the name an operator gave it
    started: float = field(default_factory=time.time)


def admin_state(gateway: Gateway) -> AdminState:
    state = gateway.admin
    assert state is not None, "admin_middleware builds it"
    return state


def new_state(gateway: Gateway) -> AdminState:
    settings = gateway.settings
    state = AdminState(
        base=settings.model_copy(deep=True),
        env_fields=frozenset(settings.model_fields_set),
        sessions=SessionStore(lambda: gateway.settings.admin_session_hours),
        env_credentials=frozenset(c.id for c in gateway.pool),
    )
    gateway.admin = state
    return state

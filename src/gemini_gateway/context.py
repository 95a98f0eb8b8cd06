"""The services one running gateway is made of, built once in the app lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gemini_gateway.auth import Authenticator
from gemini_gateway.dispatch import Dispatcher
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.settings import Settings

if TYPE_CHECKING:
    from gemini_gateway.store.database import Database
    from gemini_gateway.transport.build import Transports


@dataclass(slots=True)
class Gateway:
    settings: Settings
    pool: CredentialPool
    dispatcher: Dispatcher
    auth: Authenticator
    database: Database | None = None
    transports: Transports | None = None  # built in the lifespan, from settings
    store_error: str | None = None  # why the store is not usable, for /health/ready
    services: dict[str, Any] = field(default_factory=dict)  # optional parts (recorder, ...) by name


def gateway_of(scope: dict[str, Any]) -> Gateway:
    return scope["app"].state.gateway  # type: ignore[no-any-return]

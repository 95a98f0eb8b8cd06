"""The services one running gateway is made of, built once by `create_app` and its lifespan.

The optional parts are typed here but imported only for the type checker: serving code imports
this module, and the admin side (and what only it uses) must not be loaded just to name a type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gemini_gateway.auth import Authenticator
from gemini_gateway.dispatch import Dispatcher
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.settings import Settings

if TYPE_CHECKING:
    from gemini_gateway.admin.state import AdminState
    from gemini_gateway.affinity.binder import Affinity
    from gemini_gateway.aistudio.service import AiStudioService
    from gemini_gateway.backends.executor_hub import ExecutorHub
    from gemini_gateway.metrics import Metrics
    from gemini_gateway.oauth.manager import OAuthManager
    from gemini_gateway.observe import Observer
    from gemini_gateway.pool.healer import Healer
    from gemini_gateway.recorder.recorder import Recorder
    from gemini_gateway.shared import Shared
    from gemini_gateway.store.database import Database
    from gemini_gateway.tracing import Tracing
    from gemini_gateway.transport.build import Transports


@dataclass(slots=True)
class ModelListCache:
    """The upstream's model list as `GET /v1/models` last fetched it, and until when it holds."""

    expires: float = 0.0
    models: list[dict[str, object]] = field(default_factory=list)


@dataclass(slots=True)
class Gateway:
    settings: Settings
    pool: CredentialPool
    dispatcher: Dispatcher
    auth: Authenticator
    # Built by create_app, before anything is served:
    affinity: Affinity | None = None  # files and cached contents bound to the credential holding them
    executors: ExecutorHub | None = None  # browser tabs serving as upstream credentials
    oauth: OAuthManager | None = None  # Code Assist accounts signed in as Gemini CLI
    antigravity: OAuthManager | None = None  # ... and as Antigravity (an AntigravityManager)
    aistudio: AiStudioService | None = None  # AI Studio pages
    admin: AdminState | None = None  # the management side's state (install_admin)
    model_list: ModelListCache = field(default_factory=ModelListCache)
    # Built in the lifespan:
    database: Database | None = None
    transports: Transports | None = None  # from settings
    recorder: Recorder | None = None  # None while recording is off or stopped
    healer: Healer | None = None  # re-checks health-disabled keys on a schedule
    shared: Shared | None = None  # state shared with other replicas (gemini_gateway.shared)
    metrics: Metrics | None = None  # counters for GET /metrics
    tracing: Tracing | None = None  # OpenTelemetry spans, when OTEL_EXPORTER_OTLP_ENDPOINT is set
    # Told how each API call ended (gemini_gateway.observe): metrics, the live log, tracing.
    observers: list[Observer] = field(default_factory=list)
    store_error: str | None = None  # why the store is not usable, for /health/ready


def gateway_of(scope: dict[str, Any]) -> Gateway:
    return scope["app"].state.gateway  # type: ignore[no-any-return]

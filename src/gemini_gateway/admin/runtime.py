"""Runtime settings: every setting with its value and source, validated edits, and live effect.

Values come from defaults, then the environment (`.env` and variables), then values stored in the
database from the admin UI, which win: `settings.StoredOverrides` is that source, so the values
after an edit are the Settings built again (`settings.with_stored`, `stored.rebuilt`); `apply`
makes that new object the gateway's settings (`gateway.settings`, which is read where a value is
used, never kept) and carries the edited values into the components that copied one when built.
`SPECS` says which settings can be edited here and whether an edit takes effect at once ("live")
or at the next start; settings it does not list are shown read-only, so a setting added later is
never editable by accident.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr, ValidationError
from pydantic_core import to_jsonable_python
from sqlalchemy.engine import make_url

from gemini_gateway.errors import RequestError
from gemini_gateway.pool.credential import mask_secret
from gemini_gateway.pool.pool import configure_quotas
from gemini_gateway.pool.proxies import configure_proxies
from gemini_gateway.settings import Settings
from gemini_gateway.transport.build import redact_proxy

if TYPE_CHECKING:
    from gemini_gateway.admin.state import AdminState
    from gemini_gateway.context import Gateway

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
GROUPS = ("Pool", "Dialects", "Recording", "Access", "Upstream", "Server", "Other")


@dataclass(frozen=True, slots=True)
class Spec:
    group: str
    editable: bool = True
    live: bool = True  # an edit takes effect at once; otherwise at the next start
    secret: bool = False  # never shown or audited in full
    note: str | None = None  # why it is read-only here, or where it is managed


_MANAGED_KEYS = "managed on the Pool page"
_BOOTSTRAP = "needed before the database is open: set it in the environment"
SPECS: dict[str, Spec] = {
    "pool_strategy": Spec("Pool"),
    "max_retries": Spec("Pool"),
    "cooldown_base_seconds": Spec("Pool"),
    "cooldown_max_seconds": Spec("Pool"),
    "sticky_seconds": Spec("Pool"),
    "pool_state_flush_seconds": Spec("Pool"),
    "oauth_routing": Spec("Pool"),
    "oauth_weight": Spec("Pool"),
    "quota_tiers": Spec("Pool"),
    "gemini_api_key_tier": Spec("Pool"),
    "credential_tiers": Spec("Pool"),
    "credential_proxies": Spec("Pool", secret=True),
    "model_aliases": Spec("Dialects"),
    "model_suffixes": Spec("Dialects"),
    "media_fetch_max_bytes": Spec("Dialects"),
    "allow_private_media_urls": Spec("Dialects"),
    "max_request_bytes": Spec("Dialects"),
    "sse_keepalive_seconds": Spec("Dialects"),
    "sse_keepalive_routes": Spec("Dialects"),
    "recording_mode": Spec("Recording"),
    "recording_max_body_bytes": Spec("Recording"),
    "recording_route_modes": Spec("Recording"),
    "recording_writer": Spec("Recording", live=False),
    "recording_queue_size": Spec("Recording", live=False),
    "recording_batch_size": Spec("Recording", live=False),
    "recording_batch_ms": Spec("Recording", live=False),
    "recording_write_timeout": Spec("Recording", live=False),
    "recording_retry_seconds": Spec("Recording", live=False),
    "retention_days": Spec("Recording", live=False),
    "retention_max_mb": Spec("Recording", live=False),
    "retention_interval_seconds": Spec("Recording", live=False),
    "cors_origins": Spec("Access"),
    "admin_session_hours": Spec("Access"),
    "gateway_tokens": Spec("Access", editable=False, secret=True, note="managed on the Client tokens page"),
    "admin_token": Spec("Access", editable=False, secret=True, note=_BOOTSTRAP),
    "encryption_key": Spec("Access", editable=False, secret=True, note=_BOOTSTRAP),
    "gemini_api_keys": Spec("Upstream", editable=False, secret=True, note=_MANAGED_KEYS),
    "gemini_base_url": Spec("Upstream", live=False),
    "upstream_proxy": Spec("Upstream", live=False, secret=True),
    "upstream_connect_timeout": Spec("Upstream", live=False),
    "upstream_timeout": Spec("Upstream", live=False),
    "log_level": Spec("Server"),
    "host": Spec("Server", editable=False, note=_BOOTSTRAP),
    "port": Spec("Server", editable=False, note=_BOOTSTRAP),
    "data_dir": Spec("Server", editable=False, note=_BOOTSTRAP),
    "database_url": Spec("Server", editable=False, secret=True, note=_BOOTSTRAP),
}


# For settings whose Field has no description of its own.
HELP = {
    "pool_strategy": "How the next credential is picked: the least busy one, or each in turn",
    "upstream_connect_timeout": "Seconds to open a connection to the upstream",
    "log_level": "Server log verbosity: debug, info, warning, error",
    "host": "Address the server listens on",
    "port": "Port the server listens on",
    "data_dir": "Folder for the SQLite database, the spool, secret.key and admin-token",
}


_SECRET_NAMES = ("_secret", "_token", "_tokens", "_key", "_keys", "_password", "_creds", "_creds_json")


def spec_of(name: str) -> Spec:
    if name in SPECS:
        return SPECS[name]
    # Settings added later are read-only here, and secret if their type or their name says so.
    secret = "SecretStr" in str(Settings.model_fields[name].annotation) or name.endswith(_SECRET_NAMES)
    return Spec("Other", editable=False, live=False, secret=secret, note="not editable at run time")


def _hide_url_password(text: str) -> str:
    """`scheme://user:pass@host` as `scheme://user:***@host`; anything else unchanged."""
    if "://" not in text or "@" not in text:
        return text
    parts = urlsplit(text)
    if not parts.password:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def display(name: str, value: Any) -> Any:
    """A value as the browser may see it: secrets masked, paths and URLs as text."""
    if value is None or value == []:
        return value
    if name == "upstream_proxy":
        return redact_proxy(str(value))
    if name == "database_url":
        return make_url(str(value)).render_as_string(hide_password=True)
    if isinstance(value, SecretStr):
        return "•••••• (set)" if value.get_secret_value() else None
    if isinstance(value, list) and value and isinstance(value[0], SecretStr):
        return [mask_secret(item.get_secret_value()) for item in value]
    if spec_of(name).secret:
        return "•••••• (set)"
    if isinstance(value, str):
        return _hide_url_password(value)
    return to_jsonable_python(value)


def stored_form(settings: Settings, name: str) -> Any:
    """A validated value as JSON for the database."""
    return settings.model_dump(mode="json", include={name})[name]


def validate(settings: Settings, changes: dict[str, Any]) -> Settings:
    """A copy of `settings` with `changes`, each checked by the Settings class; RequestError if not."""
    candidate = settings.model_copy()
    problems: list[str] = []
    for name, raw in changes.items():
        if name not in Settings.model_fields:
            problems.append(f"{name}: no such setting")
            continue
        spec = spec_of(name)
        if not spec.editable:
            problems.append(f"{name}: cannot be changed here ({spec.note})")
            continue
        try:
            Settings.__pydantic_validator__.validate_assignment(candidate, name, raw)
        except ValidationError as exc:
            problems.extend(f"{name}: {e['msg']}" for e in exc.errors())
            continue
        if name == "log_level" and str(candidate.log_level).lower() not in LOG_LEVELS:
            problems.append(f"log_level: one of {', '.join(LOG_LEVELS)}")
    if problems:
        raise RequestError("; ".join(problems), status_code=422)
    return candidate


def _pool(gateway: Gateway) -> bool:
    gateway.pool.strategy = gateway.settings.pool_strategy
    return True


def _routing(gateway: Gateway) -> bool:
    gateway.pool.set_routing(gateway.settings.oauth_routing, gateway.settings.oauth_weight)
    return True


def _quotas(gateway: Gateway) -> bool:
    configure_quotas(gateway.pool, gateway.settings)
    return True


def _dispatcher(gateway: Gateway) -> bool:
    settings, dispatcher = gateway.settings, gateway.dispatcher
    dispatcher.max_retries = settings.max_retries
    dispatcher.base_cooldown = settings.cooldown_base_seconds
    dispatcher.max_cooldown = settings.cooldown_max_seconds
    dispatcher.sticky.seconds = settings.sticky_seconds
    return True


def _proxies(gateway: Gateway) -> bool:
    configure_proxies(gateway.pool, gateway.settings)
    return True


def _recorder(gateway: Gateway) -> bool:
    recorder = gateway.recorder
    if recorder is None:  # recording was off at start: there is no writer to reconfigure
        return False
    recorder.configure(gateway.settings)
    return True


def _log_level(gateway: Gateway) -> bool:
    logging.getLogger().setLevel(gateway.settings.log_level.upper())
    return True


# Settings copied into a component when it was built; the others are read where they are used.
APPLIERS: dict[str, Callable[[Gateway], bool]] = {
    "pool_strategy": _pool,
    "oauth_routing": _routing,
    "oauth_weight": _routing,
    "quota_tiers": _quotas,
    "gemini_api_key_tier": _quotas,
    "credential_tiers": _quotas,
    "max_retries": _dispatcher,
    "cooldown_base_seconds": _dispatcher,
    "cooldown_max_seconds": _dispatcher,
    "sticky_seconds": _dispatcher,
    "recording_mode": _recorder,
    "recording_route_modes": _recorder,
    "credential_proxies": _proxies,
    "recording_max_body_bytes": _recorder,
    "log_level": _log_level,
}


def apply(gateway: Gateway, settings: Settings, names: list[str]) -> dict[str, bool]:
    """Make `settings` (built again from their sources) the gateway's, and carry `names`, the
    values that changed, into what copied them when it was built; True per name when it took
    effect now. The settings object is replaced, never edited: one that was handed out stays as it
    was built."""
    gateway.settings = settings
    effect: dict[str, bool] = {}
    for name in names:
        applier = APPLIERS.get(name)
        effect[name] = spec_of(name).live and (applier(gateway) if applier else True)
    return effect


def describe(gateway: Gateway, state: AdminState) -> list[dict[str, Any]]:
    schema = Settings.model_json_schema()["properties"]
    items = []
    for name in Settings.model_fields:
        spec = spec_of(name)
        stored = name in state.stored_settings
        from_env = name in state.env_fields
        field_schema = schema.get(name, {})
        item: dict[str, Any] = {
            "name": name,
            "env": name.upper(),
            "group": spec.group,
            "description": field_schema.get("description") or HELP.get(name),
            "schema": {k: v for k, v in field_schema.items() if k not in ("title", "description", "default")},
            "value": display(name, getattr(gateway.settings, name)),
            "default": display(name, Settings.model_fields[name].get_default(call_default_factory=True)),
            "source": "stored" if stored else "env" if from_env else "default",
            "editable": spec.editable,
            "live": spec.live,
            "secret": spec.secret,
            "note": spec.note,
            "overrides_env": stored and from_env,
        }
        if stored:
            item["environment_value"] = display(name, getattr(state.base, name))
        items.append(item)
    order = {group: i for i, group in enumerate(GROUPS)}
    items.sort(key=lambda i: order.get(i["group"], len(order)))
    return items

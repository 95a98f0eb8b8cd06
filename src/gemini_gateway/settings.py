"""The gateway's one settings class.

Values come from (highest first) values stored from the admin UI (`load_settings(stored=...)`),
init arguments, environment variables, the `.env` file, and defaults. List settings accept
comma-separated strings (`GEMINI_API_KEYS=a,b,c`) as users of this kind of tool write them, as
well as JSON lists. A Settings is not edited once built: an edit in the admin UI builds new ones
(`with_stored`), which the gateway then serves with (admin/runtime.py).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from gemini_gateway.pool.quota_tiers import DEFAULT_TIERS, merge_tiers

GOOGLE_BASE_URL = "https://generativelanguage.googleapis.com"
VERTEX_BASE_URL = "https://aiplatform.googleapis.com"
CODE_ASSIST_BASE_URL = "https://cloudcode-pa.googleapis.com/v1internal"
# What Gemini CLI accounts are served as of 2026; CODE_ASSIST_MODELS replaces the list.
CODE_ASSIST_MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
)
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
MANUAL_REDIRECT_URI = "https://codeassist.google.com/authcode"
# Antigravity accounts (docs/antigravity.md): the Code Assist root the Antigravity client is started
# with, and the models served until an account's fetchAvailableModels has answered.
ANTIGRAVITY_BASE_URL = "https://daily-cloudcode-pa.sandbox.googleapis.com/v1internal"
ANTIGRAVITY_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview", "gemini-3-flash-preview")
ANTIGRAVITY_REDIRECT_URI = "http://localhost:51121/oauth-callback"
# Values copied from sample configs; running with one of them is always a mistake.
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "your-admin-token",
        "your_token",
        "sk-xxx",
        "xxx",
        "admin",
        "password",
        "secret",
    }
)

# Gemini's HarmBlockThreshold values (categories are open-ended: Google adds new ones).
SAFETY_THRESHOLDS = (
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
)

SecretList = Annotated[list[SecretStr], NoDecode]
StrList = Annotated[list[str], NoDecode]
RouteModes = Annotated[dict[str, Literal["full", "metadata", "off"]], NoDecode]
RouteSeconds = Annotated[dict[str, Annotated[float, Field(ge=0)]], NoDecode]


def _split_list(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import orjson

            return orjson.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


# The stored values the Settings being built reads (see load_settings); none outside it.
_STORED: ContextVar[Mapping[str, Any] | None] = ContextVar("stored_settings", default=None)


class StoredOverrides(PydanticBaseSettingsSource):
    """Values stored in the database from the admin UI: they win over the environment, so that an
    edit made there holds across restarts until it is reset."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name: value for name, value in self.values.items() if name in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        stored = StoredOverrides(settings_cls, _STORED.get() or {})
        return stored, init_settings, env_settings, dotenv_settings, file_secret_settings

    # Upstream access
    gemini_api_keys: SecretList = Field(default_factory=list, description="Gemini API keys (comma-separated)")
    gemini_base_url: str = Field(GOOGLE_BASE_URL, description="Base URL of the Gemini Developer API")
    vertex_express_keys: SecretList = Field(
        default_factory=list, description="Vertex AI express-mode API keys (comma-separated)"
    )
    vertex_base_url: str = Field(VERTEX_BASE_URL, description="Base URL of Vertex AI (express mode)")
    upstream_proxy: str | None = Field(
        None, description="http://, https:// or socks5:// proxy for upstream calls"
    )

    # Who may call the gateway
    gateway_tokens: SecretList = Field(default_factory=list, description="Tokens clients must present")
    admin_token: SecretStr | None = Field(None, description="Token for /api/* and the admin UI")
    cors_origins: StrList = Field(
        default_factory=list,
        description="Origins browsers may call the client API from ('*' for any); never the admin API",
    )
    admin_session_hours: float = Field(12.0, gt=0, description="How long an admin UI login lasts")
    encryption_key: SecretStr | None = Field(
        None, description="Fernet key for secrets stored in the database; default: DATA_DIR/secret.key"
    )

    # Where it runs and keeps things
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite under DATA_DIR")
    redis_url: SecretStr | None = Field(
        None,
        description="Redis for state shared by several replicas (cooldowns, limits, sessions, admin "
        "changes), e.g. redis://127.0.0.1:6379/0; unset: one process keeps it in memory",
    )
    replica_id: str | None = Field(
        None,
        description="This replica's name among several, in shared state, /health, /metrics and records "
        "(default host:pid)",
    )
    replica_url: str | None = Field(
        None,
        description="Where other replicas reach this one (http://host:port) to relay calls to its executor "
        "tabs; default: the address a tab connected to",
    )
    replica_secret: SecretStr | None = Field(
        None,
        description="Signs calls replicas relay to each other; default: derived from the shared secret key "
        "(ENCRYPTION_KEY or DATA_DIR/secret.key)",
    )
    shared_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Without Redis: how often admin changes made by other replicas are looked for",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        None,
        description="OpenTelemetry collector (OTLP/HTTP, e.g. http://collector:4318): a trace span per "
        "request with one per upstream attempt; needs the otel extra; unset: no tracing, nothing loaded",
    )
    log_level: str = "info"
    store_retry_max_seconds: float = Field(
        30.0, gt=0, description="Longest wait between tries to reach a store that was down at start-up"
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for GET /metrics (default: the admin token)"
    )
    max_request_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Largest request body accepted")

    # Client dialects
    model_aliases: dict[str, str] = Field(
        default_factory=dict,
        description='Client model name -> upstream model, JSON: {"gpt-4o":"gemini-2.5-pro"}',
    )
    model_suffixes: bool = Field(
        True,
        description="Honour gemini-balance model suffixes (-search, -nothinking) and list them in /v1/models",
    )
    safety_settings: dict[str, str] = Field(
        default_factory=dict,
        description="Safety thresholds sent where an OpenAI or Anthropic client sent none, JSON: "
        '{"HARM_CATEGORY_HARASSMENT":"BLOCK_NONE","HARM_CATEGORY_CIVIC_INTEGRITY":"OFF"}',
    )
    media_fetch_max_bytes: int = Field(20 * 1024 * 1024, gt=0, description="Largest image fetched from a URL")
    allow_private_media_urls: bool = Field(
        False, description="Let clients make the gateway fetch private URLs"
    )
    sse_keepalive_seconds: float = Field(
        0.0,
        ge=0,
        description="Send a keep-alive on SSE streams after this many silent seconds (0: off), for "
        "clients behind proxies with idle timeouts",
    )
    sse_keepalive_routes: RouteSeconds = Field(
        default_factory=dict,
        description="SSE keep-alive seconds per path prefix, longest wins: '/v1/messages=15,/v1beta=0'",
    )

    # Pool behaviour
    pool_strategy: Literal["least_busy", "round_robin"] = "least_busy"
    max_retries: int = Field(3, ge=0, le=20, description="Retries on another credential after the first try")
    cooldown_base_seconds: float = Field(
        5.0, gt=0, description="First cooldown after a 429 without RetryInfo"
    )
    cooldown_max_seconds: float = Field(600.0, gt=0, description="Cap of the exponential 429 backoff")
    sticky_seconds: float = Field(
        0.0,
        ge=0,
        description="Keep a client's conversation on the credential of its last turn for this long "
        "(0: off), so Google's implicit prompt cache keeps hitting; failover still applies",
    )
    upstream_connect_timeout: float = Field(10.0, gt=0)
    upstream_timeout: float = Field(
        600.0, gt=0, description="Seconds without upstream bytes before giving up"
    )
    pool_state_flush_seconds: float = Field(2.0, gt=0, description="How often pool state is saved")
    # Quota per credential x model (gemini_gateway.pool.quota); tiers in gemini_gateway.pool.quota_tiers
    quota_tiers: dict[str, Any] = Field(
        default_factory=dict,
        description="Rate limits laid over the published tier table, JSON: "
        '{"free":{"gemini-2.5-flash":{"rpm":10,"tpm":250000,"rpd":250}}}',
    )
    # No tier by default: a gateway cannot know which tier a key is on, and holding a paid key to the
    # free tier's 10 RPM would refuse calls Google would serve. Limits named in Google's own 429s
    # are learned either way; an operator who knows the tier sets it.
    gemini_api_key_tier: str = Field(
        "",
        description="Usage tier of API keys: free, tier1, tier2, tier3, one QUOTA_TIERS adds, or '' for none",
    )
    heal_interval_seconds: float = Field(
        300.0, gt=0, description="How often health-disabled keys are re-checked (backoff per reason on top)"
    )
    credential_proxies: dict[str, str] = Field(
        default_factory=dict,
        description="Outbound proxy per credential id as /api/pool shows it (http://, https://, socks5://; "
        '\'\' for direct), over `key|proxy` entries: {"api_key:0123456789ab":"socks5://10.0.0.2:1080"}',
    )
    credential_tiers: dict[str, str] = Field(
        default_factory=dict,
        description='Tier per credential id as /api/pool shows it, over its kind\'s: {"api_key:0123456789ab":"tier1"}',
    )

    # Recording of exchanges (see gemini_gateway.recorder)
    recording_mode: Literal["full", "metadata", "off"] = Field(
        "full", description="full: bodies too; metadata: no bodies (usage still extracted); off: nothing"
    )
    recording_max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=0, description="Bodies longer than this are stored truncated, with a marker"
    )
    recording_route_modes: RouteModes = Field(
        default_factory=dict,
        description="Per-route mode by path prefix, longest wins: '/v1beta/models=full,/v1/embeddings=off'",
    )
    recording_writer: Literal["auto", "process", "inline"] = Field(
        "auto",
        description="process: a writer process builds and stores records, off the event loop's core; "
        "inline: the event loop does it (one process, more CPU per request); auto: process when the "
        "gateway may run on more than one CPU, else inline",
    )
    recording_queue_size: int = Field(10_000, gt=0, description="Records waiting in memory before spooling")
    recording_batch_size: int = Field(200, gt=0, description="Most records written in one transaction")
    recording_batch_ms: float = Field(200.0, ge=0, description="How long the writer gathers a batch")
    recording_write_timeout: float = Field(
        5.0, gt=0, description="Seconds a batch may take before it is spooled to disk instead"
    )
    recording_retry_seconds: float = Field(
        2.0, gt=0, description="How often a down store is probed and the disk spool replayed"
    )
    recording_journal: bool = Field(
        True,
        description="Append each exchange to DATA_DIR/journal as its response completes (no fsync), "
        "so a gateway killed outright loses none: start-up stores what the store lacks",
    )
    retention_days: float = Field(0, ge=0, description="Delete records older than this (0: keep)")
    retention_max_mb: float = Field(
        0, ge=0, description="Delete the oldest records beyond this size (0: no cap)"
    )
    retention_interval_seconds: float = Field(300.0, gt=0, description="How often retention runs")

    # Browser executors (docs/executor-protocol.md)
    executor_tokens: SecretList = Field(
        default_factory=list, description="Tokens executor tabs present on /ws/executor (empty: disabled)"
    )
    executor_heartbeat_seconds: float = Field(
        10.0, gt=0, description="Heartbeat interval; 3 silent intervals drop an executor"
    )

    # Gemini CLI OAuth accounts on the Code Assist backend (gemini_gateway.oauth, backends/code_assist.py)
    code_assist_base_url: str = Field(CODE_ASSIST_BASE_URL, description="Code Assist API root (v1internal)")
    code_assist_models: StrList = Field(
        default_factory=lambda: list(CODE_ASSIST_MODELS),
        description="Models OAuth accounts serve (comma-separated); other models go to keys only",
    )
    code_assist_user_agent: str | None = Field(None, description="User-Agent sent to Code Assist")
    code_assist_onboard_poll_seconds: float = Field(
        5.0, gt=0, description="How often a new account's onboarding operation is polled"
    )
    code_assist_onboard_timeout_seconds: float = Field(
        120.0, gt=0, description="How long onboarding a new account may take"
    )
    oauth_creds_dir: Path | None = Field(
        None, description="Folder of oauth_creds*.json files (default: DATA_DIR/oauth); login saves there"
    )
    oauth_creds_json: SecretStr | None = Field(
        None, description="JSON list of OAuth credentials, for stateless deployments"
    )
    oauth_client_id: str | None = Field(None, description="OAuth client id (an installed-app client)")
    oauth_client_secret: SecretStr | None = Field(None, description="OAuth client secret")
    oauth_token_url: str = Field(GOOGLE_TOKEN_URL, description="OAuth token endpoint")
    oauth_auth_url: str = Field(GOOGLE_AUTH_URL, description="OAuth authorization endpoint")
    oauth_manual_redirect_uri: str = Field(
        MANUAL_REDIRECT_URI, description="Redirect URI of the copy-paste login (no loopback possible)"
    )
    oauth_refresh_skew_seconds: float = Field(
        300.0, ge=0, description="Refresh access tokens this long before they expire"
    )
    oauth_routing: Literal["prefer_keys", "prefer_accounts", "weighted"] = Field(
        "weighted", description="How API keys and OAuth accounts share calls both can serve"
    )
    oauth_weight: float = Field(
        0.5, ge=0, le=1, description="With weighted routing: the share of calls OAuth accounts get"
    )

    # Antigravity accounts (docs/antigravity.md): Google accounts signed in as the Antigravity client
    antigravity_base_url: str = Field(ANTIGRAVITY_BASE_URL, description="Code Assist root Antigravity uses")
    antigravity_models: StrList = Field(
        default_factory=lambda: list(ANTIGRAVITY_MODELS),
        description="Models Antigravity accounts serve until fetchAvailableModels has told their own",
    )
    antigravity_user_agent: str | None = Field(None, description="User-Agent sent for Antigravity accounts")
    antigravity_client_id: str | None = Field(None, description="OAuth client id of Antigravity logins")
    antigravity_client_secret: SecretStr | None = Field(None, description="Its OAuth client secret")
    antigravity_creds_json: SecretStr | None = Field(
        None, description="JSON list of Antigravity credentials, for stateless deployments"
    )
    antigravity_manual_redirect_uri: str = Field(
        ANTIGRAVITY_REDIRECT_URI, description="Redirect URI of the copy-paste Antigravity login"
    )
    antigravity_models_refresh_seconds: float = Field(
        300.0, gt=0, description="How often an account's models and remaining quota are fetched again"
    )

    # AI Studio page automation (docs/aistudio.md): saved logins driven by Playwright
    aistudio_profiles_dir: Path | None = Field(
        None, description="Folder of saved AI Studio logins, one JSON per account (default DATA_DIR/aistudio)"
    )
    aistudio_url: str = Field("https://aistudio.google.com", description="Where the AI Studio page is")
    aistudio_browser: Literal["chromium", "camoufox"] = Field(
        "chromium", description="chromium, or camoufox (the anti-fingerprinting Firefox) when installed"
    )
    aistudio_browser_path: str | None = Field(
        None, description="Browser executable (default: Debian's /usr/bin/chromium, else Playwright's)"
    )
    aistudio_headless: bool = Field(True, description="Run the browser without a window")
    aistudio_proxy: str | None = Field(None, description="Proxy for the browser (http://, socks5://)")
    aistudio_max_contexts: int = Field(
        2, ge=1, description="Browser contexts open at once (each costs hundreds of MB)"
    )
    aistudio_scripts_dir: Path | None = Field(
        None, description="Folder of user scripts mounted into the page"
    )
    aistudio_helper_url: str | None = Field(
        None, description="Optional helper endpoint answering calls with a profile's session (tier 2)"
    )
    aistudio_capture: Literal["auto", "helper", "dom"] = Field(
        "auto", description="How answers are taken: auto (page RPC, then helper, then DOM), helper, dom"
    )
    aistudio_queue_depth: int = Field(4, ge=0, description="Calls that may wait for a busy profile's page")
    aistudio_queue_timeout: float = Field(60.0, gt=0, description="Longest wait for a turn on a page")
    aistudio_action_timeout: float = Field(15.0, gt=0, description="Longest one page action may take")
    aistudio_response_timeout: float = Field(
        90.0, gt=0, description="Page silence before its call fails over and the page is reclaimed"
    )
    aistudio_quota_cooldown: float = Field(
        900.0, gt=0, description="How long a profile rests after the page reports its quota exhausted"
    )
    aistudio_health_seconds: float = Field(120.0, gt=0, description="How often idle pages are checked")
    aistudio_warmup: bool = Field(
        True, description="Open the profiles' pages at start, before the first call"
    )
    aistudio_state_save_requests: int = Field(
        20, ge=0, description="Save a profile's cookies back to its file after this many calls (0: never)"
    )
    aistudio_state_save_seconds: float = Field(
        600.0, ge=0, description="Save a profile's cookies back when this long has passed since the last save"
    )
    aistudio_quota_soft_limit: int = Field(
        650_000,
        ge=0,
        description="Tokens a profile spends on a model per day before it gives way to a fresher profile (0: no limits)",
    )
    aistudio_quota_hard_limit: int = Field(
        800_000,
        ge=0,
        description="Tokens a profile spends on a model per day before it stops until the quota resets",
    )
    aistudio_quota_limits: dict[str, int] = Field(
        default_factory=dict, description='Hard limits of single models, JSON: {"gemini-2.5-pro": 300000}'
    )
    aistudio_function_calling: Literal["auto", "native", "emulated"] = Field(
        "auto",
        description="Function calling on the page: the page's own dialog (native), the tools described "
        "in the prompt and calls read from the answer (emulated), or native falling back to emulated",
    )
    aistudio_keep_history: bool = Field(
        False,
        description="Leave the page's Temporary chat off, so proxied conversations land in the "
        "account's AI Studio history",
    )

    @field_validator(
        "gemini_api_keys",
        "vertex_express_keys",
        "gateway_tokens",
        "cors_origins",
        "executor_tokens",
        "code_assist_models",
        "antigravity_models",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("safety_settings")
    @classmethod
    def _safety(cls, value: dict[str, str]) -> dict[str, str]:
        for category, threshold in value.items():
            if not category.startswith("HARM_CATEGORY_"):
                raise ValueError(f"unknown harm category {category!r} (HARM_CATEGORY_...)")
            if threshold not in SAFETY_THRESHOLDS:
                raise ValueError(
                    f"unknown threshold {threshold!r} for {category}: {', '.join(SAFETY_THRESHOLDS)}"
                )
        return value

    @field_validator(
        "aistudio_profiles_dir",
        "aistudio_browser_path",
        "aistudio_proxy",
        "aistudio_scripts_dir",
        "aistudio_helper_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `AISTUDIO_PROFILES_DIR=` in a .env means "not set", not the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("recording_route_modes", "sse_keepalive_routes", mode="before")
    @classmethod
    def _route_modes(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("{"):
            pairs = (item.rpartition("=") for item in value.split(",") if item.strip())
            return {prefix.strip(): mode.strip() for prefix, _, mode in pairs}
        if isinstance(value, str):
            import orjson

            return orjson.loads(value)
        return value

    @field_validator("recording_writer", mode="after")
    @classmethod
    def _writer_for_the_cpus(cls, value: str) -> str:
        """ "auto" asks for a writer process only when the gateway may use more than one CPU:
        confined to one (taskset, a one-CPU container), a second process would take the same core
        and add IPC and memory. Decided once, here."""
        if value != "auto":
            return value
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpus = os.cpu_count() or 1
        return "process" if cpus > 1 else "inline"

    @field_validator("credential_proxies")
    @classmethod
    def _proxy_urls(cls, value: dict[str, str]) -> dict[str, str]:
        from gemini_gateway.pool.proxies import check_proxy

        return {cid: check_proxy(url) if url else "" for cid, url in value.items()}

    @model_validator(mode="after")
    def _known_tiers(self) -> Settings:
        known = merge_tiers(DEFAULT_TIERS, self.quota_tiers)
        for tier in [self.gemini_api_key_tier, *self.credential_tiers.values()]:
            if tier and tier not in known:
                raise ValueError(f"unknown quota tier {tier!r}; known: {', '.join(sorted(known))}")
        return self

    @field_validator("admin_token", "metrics_token", mode="after")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            name = (info.field_name or "").upper()
            raise ValueError(f"{name} is a placeholder from a sample config; set a real secret")
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("gemini_base_url", "code_assist_base_url", "vertex_base_url", "antigravity_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def resolved_oauth_creds_dir(self) -> Path:
        return self.oauth_creds_dir or self.data_dir / "oauth"

    @property
    def resolved_replica_id(self) -> str:
        # The pid of the process asking: every worker of `serve --workers N` is a replica of its own.
        return self.replica_id or f"{socket.gethostname()}:{os.getpid()}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'gateway.db').as_posix()}"

    def exposure_problem(self) -> str | None:
        """Why serving these settings would be unsafe (and what to change), or None."""
        admin = self.admin_token.get_secret_value() if self.admin_token else None
        if admin is not None and any(t.get_secret_value() == admin for t in self.gateway_tokens):
            return (
                "refusing to start: a token in GATEWAY_TOKENS is also ADMIN_TOKEN, so every client "
                "holding it could manage the gateway (keys, tokens, settings, logs). Give clients "
                "tokens of their own in GATEWAY_TOKENS and keep ADMIN_TOKEN for the admin."
            )
        if self.gateway_tokens or _is_loopback(self.host):
            return None
        return (
            f"refusing to listen on {self.host}: it is reachable from other machines and GATEWAY_TOKENS "
            "is empty, so anyone could spend your Gemini quota. Set GATEWAY_TOKENS=<token>[,<token>...] "
            "or bind HOST=127.0.0.1."
        )


def _is_loopback(host: str) -> bool:
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ConfigurationError(ValueError):
    """Settings that do not validate, said so a user can act on it: one line per setting."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(f"configuration error: {problem}" for problem in problems))
        self.problems = problems


def load_settings(*, stored: Mapping[str, Any] | None = None, **overrides: object) -> Settings:
    """The settings, read the one way every command and the app read them: `overrides` (such as
    command-line options; None means "not given") over the environment, and `stored` (the admin
    UI's values from the database, once it is open) over both."""
    token = _STORED.set(stored)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        ]
        raise ConfigurationError(problems) from None
    finally:
        _STORED.reset(token)


def with_stored(base: Settings, stored: Mapping[str, Any]) -> Settings:
    """`base` (the settings the process started with) built again under `stored` values."""
    return load_settings(stored=stored, **{name: getattr(base, name) for name in base.model_fields_set})

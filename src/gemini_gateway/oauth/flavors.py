"""The two clients a Google account can be signed in as: Gemini CLI and Antigravity.

Both log in with Google's installed-app OAuth flow and call the same `v1internal` Code Assist
backend; they differ in the OAuth client, the scopes, the Code Assist root, the client metadata
(`ideType`), the request envelope (backends/antigravity.py) and where their credentials live. One
`OAuthManager` per flavor holds that flavor's accounts (pool kind "oauth" or "antigravity").

Neither client id nor secret ships with the gateway: the operator sets them (OAUTH_CLIENT_ID /
ANTIGRAVITY_CLIENT_ID and their secrets), as for any installed-app client.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gemini_gateway import __version__
from gemini_gateway.oauth.client import OAuthClient
from gemini_gateway.oauth.tokens import SCOPES

if TYPE_CHECKING:
    from gemini_gateway.settings import Settings

GEMINI_CLI = "oauth"
ANTIGRAVITY = "antigravity"
ANTIGRAVITY_SCOPES = (
    *SCOPES,
    "https://www.googleapis.com/auth/cclog",
    "https://www.googleapis.com/auth/experimentsandconfigs",
)
ANTIGRAVITY_IDE = "ANTIGRAVITY"


@dataclass(frozen=True, slots=True)
class Flavor:
    kind: str  # the pool kind of its accounts
    name: str  # for people: "Gemini CLI", "Antigravity"
    client: OAuthClient
    base_url: str
    user_agent: str
    ide_type: str  # loadCodeAssist's metadata.ideType
    models: frozenset[str]  # served until the account says which (Antigravity: fetchAvailableModels)
    creds_dir: Path
    file_prefix: str  # credential files are `{file_prefix}*.json` in creds_dir
    creds_json: str  # the env list (OAUTH_CREDS_JSON / ANTIGRAVITY_CREDS_JSON), "" when unset
    manual_redirect_uri: str
    callback_path: str  # the loopback redirect's path
    login_command: str  # how a person signs an account in again

    @property
    def env_copy_kind(self) -> str:
        """Store rows keeping what the gateway learned about an env entry of this flavor."""
        return f"{self.kind}_env"


def gemini_cli(settings: Settings) -> Flavor:
    secret = settings.oauth_client_secret.get_secret_value() if settings.oauth_client_secret else None
    client_id = (settings.oauth_client_id or "").strip() or None  # empty (a copied .env.example): unset
    listed = settings.oauth_creds_json.get_secret_value() if settings.oauth_creds_json else ""
    return Flavor(
        kind=GEMINI_CLI,
        name="Gemini CLI",
        client=OAuthClient(client_id, secret or None, settings.oauth_token_url, settings.oauth_auth_url),
        base_url=settings.code_assist_base_url,
        user_agent=settings.code_assist_user_agent or f"gemini-gateway/{__version__}",
        ide_type="IDE_UNSPECIFIED",
        models=frozenset(m.removeprefix("models/") for m in settings.code_assist_models),
        creds_dir=settings.resolved_oauth_creds_dir,
        file_prefix="oauth_creds",
        creds_json=listed,
        manual_redirect_uri=settings.oauth_manual_redirect_uri,
        callback_path="/oauth2callback",
        login_command="gemini-gateway creds login",
    )


def antigravity(settings: Settings) -> Flavor:
    secret = (
        settings.antigravity_client_secret.get_secret_value() if settings.antigravity_client_secret else None
    )
    client_id = (settings.antigravity_client_id or "").strip() or None
    listed = settings.antigravity_creds_json.get_secret_value() if settings.antigravity_creds_json else ""
    client = OAuthClient(
        client_id, secret or None, settings.oauth_token_url, settings.oauth_auth_url, ANTIGRAVITY_SCOPES
    )
    return Flavor(
        kind=ANTIGRAVITY,
        name="Antigravity",
        client=client,
        base_url=settings.antigravity_base_url,
        user_agent=settings.antigravity_user_agent or f"gemini-gateway/{__version__}",
        ide_type=ANTIGRAVITY_IDE,
        models=frozenset(m.removeprefix("models/") for m in settings.antigravity_models),
        creds_dir=settings.resolved_oauth_creds_dir,
        file_prefix="antigravity_creds",
        creds_json=listed,
        manual_redirect_uri=settings.antigravity_manual_redirect_uri,
        callback_path="/oauth-callback",
        login_command="gemini-gateway creds login --antigravity",
    )

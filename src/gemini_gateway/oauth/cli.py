"""`gemini-gateway creds ...`: log Google accounts in for the Code Assist backend, list them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from gemini_gateway.errors import GatewayError
from gemini_gateway.oauth import flavors
from gemini_gateway.oauth.client import OAuthError, OAuthUnreachable
from gemini_gateway.oauth.flavors import Flavor
from gemini_gateway.oauth.login import LoginError, code_from_paste, finish_login, new_login
from gemini_gateway.oauth.onboarding import AccountNotEligible, CodeAssistEndpoint, discover_project
from gemini_gateway.oauth.tokens import OAuthTokens
from gemini_gateway.settings import Settings, load_settings
from gemini_gateway.transport.base import Transport
from gemini_gateway.transport.build import build_transports

# `sources` (it brings the store, SQLAlchemy) and `loopback` (aiohttp's server) are imported by
# the commands that use them: `gemini-gateway` builds this group for every command, even --help.

creds_app = typer.Typer(
    help="Google accounts (Gemini CLI or Antigravity logins) for the Code Assist backend."
)
Echo = Callable[[str], None]


@creds_app.command("login")
def login_command(
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Headless: print the URL, then paste the code here")
    ] = False,
    project: Annotated[
        str | None, typer.Option(help="Google Cloud project id to use (skips discovery)")
    ] = None,
    port: Annotated[int, typer.Option(help="Loopback port for the redirect (0: any free port)")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the browser")] = 300.0,
    antigravity: Annotated[
        bool, typer.Option("--antigravity", help="Sign in as an Antigravity account (docs/antigravity.md)")
    ] = False,
) -> None:
    """Log a Google account in and save oauth_creds_<email>.json (antigravity_creds_<email>.json)
    into OAUTH_CREDS_DIR."""
    import webbrowser

    settings = load_settings()
    opener = None if no_browser else webbrowser.open
    try:
        run_login(
            settings,
            opener=opener,
            project_id=project,
            port=port,
            wait_seconds=timeout,
            flavor=flavors.antigravity(settings) if antigravity else None,
        )
    except LoginError as exc:
        typer.echo(f"login failed: {exc}", err=True)
        raise typer.Exit(1) from None


@creds_app.command("list")
def list_command() -> None:
    """The accounts in OAUTH_CREDS_DIR (email, project, token expiry); never their tokens."""
    from gemini_gateway.oauth import sources

    folder = load_settings().resolved_oauth_creds_dir
    found = sources.load_folder(folder) + sources.load_folder(folder, "antigravity_creds*.json")
    if not found:
        typer.echo(f"no oauth_creds*.json or antigravity_creds*.json in {folder}")
    for tokens, source in found:
        project = tokens.project_id or tokens.code_assist_project or "(discovered on first use)"
        tier = f"  tier {tokens.code_assist_tier}" if tokens.code_assist_tier else ""
        typer.echo(f"{source.path.name}: {tokens.email or 'unknown email'}  project {project}{tier}")


def run_login(
    settings: Settings,
    *,
    opener: Callable[[str], object] | None,
    project_id: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    wait_seconds: float = 300.0,
    read_line: Callable[[], str] = input,
    echo: Echo = typer.echo,
    flavor: Flavor | None = None,
) -> Path:
    """The whole login; `opener` None means the copy-paste flow. Returns the file written."""
    chosen = flavor or flavors.gemini_cli(settings)
    return asyncio.run(
        _login(settings, chosen, opener, project_id, host, port, wait_seconds, read_line, echo),
    )


async def _login(
    settings: Settings,
    flavor: Flavor,
    opener: Callable[[str], object] | None,
    project_id: str | None,
    host: str,
    port: int,
    wait_seconds: float,
    read_line: Callable[[], str],
    echo: Echo,
) -> Path:
    from gemini_gateway.oauth import sources
    from gemini_gateway.oauth.loopback import LoopbackReceiver

    client = flavor.client
    transports = build_transports(
        proxy=settings.upstream_proxy,
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=settings.upstream_timeout,
    )
    try:
        if opener is None:
            pending = new_login(client, flavor.manual_redirect_uri, project_id)
            echo(f"Open this address in a browser and log in:\n\n{pending.url}\n")
            echo("Then paste the code it shows (or the whole address the browser ended on):")
            code = code_from_paste(await asyncio.to_thread(read_line), pending.state)
        else:
            async with LoopbackReceiver(host, port, flavor.callback_path) as receiver:
                pending = new_login(client, receiver.redirect_uri, project_id)
                receiver.expect(pending.state)
                echo(f"Opening a browser to log in. If none opens, visit:\n\n{pending.url}\n")
                await asyncio.to_thread(opener, pending.url)  # a browser launcher may block
                code = await receiver.wait(wait_seconds)
        try:
            tokens = await finish_login(transports.http, client, pending, code)
        except (OAuthError, OAuthUnreachable) as exc:
            raise LoginError(f"exchanging the code failed: {exc}") from None
        await _set_up(settings, flavor, transports.http, tokens, echo)
    finally:
        await transports.aclose()
    path = flavor.creds_dir / sources.file_name_for(tokens.email, flavor.file_prefix)
    await asyncio.to_thread(sources.write_credentials_file, path, tokens)
    echo(f"Logged in as {tokens.email or 'an account without an email claim'}; saved {path}")
    return path


async def _set_up(
    settings: Settings, flavor: Flavor, transport: Transport, tokens: OAuthTokens, echo: Echo
) -> None:
    """Find (or onboard) the account's project now, so problems show at login, not at first use."""
    assert tokens.access_token is not None
    endpoint = CodeAssistEndpoint(transport, flavor.base_url, flavor.user_agent, flavor.ide_type)
    try:
        found = await discover_project(
            endpoint,
            tokens.access_token,
            tokens.project_id,
            poll_seconds=settings.code_assist_onboard_poll_seconds,
            max_wait=settings.code_assist_onboard_timeout_seconds,
        )
    except AccountNotEligible as exc:
        echo(f"warning: the account cannot use Code Assist yet: {exc}")
        return
    except GatewayError as exc:
        echo(f"warning: project discovery failed ({exc.message}); the gateway retries on first use")
        return
    tokens.code_assist_project, tokens.code_assist_tier = found.project, found.tier
    echo(f"Code Assist project {found.project} ({found.tiers.name or found.tier or 'tier unknown'})")
